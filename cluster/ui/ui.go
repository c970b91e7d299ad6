// Package ui is the operator dashboard served at /ui/: one HTML page, a
// style sheet and a few ES modules, embedded in the binary. The page polls
// the controller's JSON API (status, hypervisors, tenants, groups,
// instances, activity, metrics) every two seconds and draws its charts as
// inline SVG; nothing is loaded from outside the controller. See DESIGN.md.
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"

	"aas/cluster"
	"aas/cluster/api"
	"aas/fsm"
)

// Prefix is where the dashboard is mounted.
const Prefix = "/ui/"

// ErrRegistered: Register was called twice for the same server.
var ErrRegistered = errors.New("ui routes already registered")

//go:embed assets
var assetFS embed.FS

// versionMark in index.html is replaced by the assets' content hash, so
// that every asset URL changes when any asset changes (see DESIGN.md).
const versionMark = "{{VERSION}}"

// Handler serves the dashboard: index.html at /ui/ and the assets under
// /ui/assets/. It expects the full request path (mount it at Prefix
// without stripping).
type Handler struct {
	version string
	index   []byte
	files   map[string]asset
}

type asset struct {
	body        []byte
	contentType string
	etag        string
}

var _ http.Handler = (*Handler)(nil)

// contentTypes are set explicitly (not sniffed, not from the host's
// mime.types, which differs between machines).
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
}

// NewHandler loads the embedded assets. It fails only if the binary was
// built with a broken asset tree.
func NewHandler() (*Handler, error) {
	h := &Handler{files: map[string]asset{}}
	sum := sha256.New()
	var names []string
	err := fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ui: assets: %w", err)
	}
	sort.Strings(names)
	for _, p := range names {
		b, err := assetFS.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("ui: asset %s: %w", p, err)
		}
		ct, ok := contentTypes[path.Ext(p)]
		if !ok {
			ct = "application/octet-stream"
		}
		fsum := sha256.Sum256(b)
		name := strings.TrimPrefix(p, "assets/")
		h.files[name] = asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(fsum[:8]) + `"`}
		sum.Write([]byte(name))
		sum.Write(fsum[:])
	}
	idx, ok := h.files["index.html"]
	if !ok {
		return nil, errors.New("ui: assets/index.html is missing")
	}
	delete(h.files, "index.html")
	h.version = hex.EncodeToString(sum.Sum(nil)[:6])
	h.index = bytes.ReplaceAll(idx.body, []byte(versionMark), []byte(h.version))
	return h, nil
}

// Version is the content hash of the embedded assets (it appears in every
// asset URL the page uses).
func (h *Handler) Version() string { return h.version }

// securityHeaders apply to every response of the dashboard. The policy
// allows only same-origin scripts, styles and fetches.
func securityHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
		"img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	securityHeaders(w)
	rest, ok := strings.CutPrefix(r.URL.Path, Prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	switch {
	case rest == "" || rest == "index.html":
		w.Header().Set("Content-Type", contentTypes[".html"])
		// The page names the current asset version: always revalidate it.
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Length", strconv.Itoa(len(h.index)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(h.index)
		}
		return
	case strings.HasPrefix(rest, "assets/"):
		h.serveAsset(w, r, strings.TrimPrefix(rest, "assets/"))
		return
	}
	http.NotFound(w, r)
}

// serveAsset serves assets/VERSION/NAME (immutable: cached for a year) or
// assets/NAME and assets/OTHERVERSION/NAME (revalidated by ETag).
func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request, rest string) {
	cache := "no-cache"
	if v, name, ok := strings.Cut(rest, "/"); ok && isVersion(v) {
		rest = name
		if v == h.version {
			cache = "public, max-age=31536000, immutable"
		}
	}
	a, ok := h.files[rest]
	if !ok {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("Cache-Control", cache)
	hd.Set("ETag", a.etag)
	if match := r.Header.Get("If-None-Match"); match != "" && etagMatches(match, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", strconv.Itoa(len(a.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(a.body)
	}
}

func isVersion(s string) bool {
	if len(s) != 12 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// Register mounts the dashboard on srv: GET /ui/ (and everything under
// it), a redirect from / to /ui/, and the read-only JSON the public API
// does not offer yet (GET /ui/api/clouds, GET /ui/api/evaluations). Call
// it once, after cluster.New.
func Register(srv *cluster.Server) (err error) {
	h, err := NewHandler()
	if err != nil {
		return err
	}
	defer func() {
		// Router.Handle panics on a duplicate pattern, like ServeMux.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrRegistered, r)
		}
	}()
	rt := srv.Router()
	st := stateAPI{srv: srv}
	rt.Handle("GET", Prefix+"api/clouds", st.handleClouds)
	rt.Handle("GET", Prefix+"api/evaluations", st.handleEvaluations)
	rt.HandleHTTP("GET", Prefix, h)
	rt.HandleHTTP("GET", "/{$}", http.RedirectHandler(Prefix, http.StatusFound))
	return nil
}

// stateAPI serves the read-only views of the replicated state the page
// needs and /v1 does not have.
type stateAPI struct{ srv *cluster.Server }

// Cloud is one entry of GET /ui/api/clouds: a cloud of the replicated
// state with its live instance count.
type Cloud struct {
	fsm.Cloud
	Live int `json:"live"`
}

func (s stateAPI) handleClouds(w http.ResponseWriter, r *http.Request) (any, error) {
	out := []Cloud{}
	s.srv.FSM().Read(func(st *fsm.State) {
		live := map[string]int{}
		for _, in := range st.Instances {
			if in.Live() {
				live[in.Cloud]++
			}
		}
		for _, c := range st.Clouds {
			out = append(out, Cloud{Cloud: *c, Live: live[c.Name]})
		}
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Priority != out[j].Priority {
			return out[i].Priority < out[j].Priority
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// maxEvaluations bounds one answer of /ui/api/evaluations.
const maxEvaluations = 2000

// GroupEvaluations is one group's recent scaler evaluations (forecast
// mean and upper band) in GET /ui/api/evaluations.
type GroupEvaluations struct {
	Tenant      string           `json:"tenant"`
	Group       string           `json:"group"`
	Evaluations []fsm.Evaluation `json:"evaluations"`
}

func (s stateAPI) handleEvaluations(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	limit := 300
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%w: query parameter limit: %q is not a positive integer", api.ErrBadRequest, v)
		}
		limit = min(n, maxEvaluations)
	}
	tn := q.Get("tenant")
	out := []GroupEvaluations{}
	s.srv.FSM().Read(func(st *fsm.State) {
		for _, g := range st.Groups {
			if tn != "" && g.Tenant != tn {
				continue
			}
			evs := st.Evaluations[fsm.GroupKey(g.Tenant, g.Name)]
			if len(evs) > limit {
				evs = evs[len(evs)-limit:]
			}
			out = append(out, GroupEvaluations{Tenant: g.Tenant, Group: g.Name, Evaluations: append([]fsm.Evaluation(nil), evs...)})
		}
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tenant != out[j].Tenant {
			return out[i].Tenant < out[j].Tenant
		}
		return out[i].Group < out[j].Group
	})
	return out, nil
}
