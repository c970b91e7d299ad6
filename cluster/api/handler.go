package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/hashicorp/go-hclog"
)

// Sentinel errors handlers return (wrapped with %w); Wrap maps them to
// status codes. Clients get them back through the client package's errors.
var (
	ErrBadRequest = errors.New("bad request")
	ErrNotFound   = errors.New("not found")
	ErrConflict   = errors.New("conflict")
	// ErrNoLeader: the cluster has no leader right now (503, retry later).
	ErrNoLeader = errors.New("no cluster leader")
	// ErrNotLeader: this node is not the leader and did not forward (421).
	ErrNotLeader = errors.New("not leader")
	// ErrUnavailable: the node cannot serve yet or is shutting down (503).
	ErrUnavailable = errors.New("unavailable")
)

// NotLeaderError is ErrNotLeader with the leader's HTTP address, so the
// caller can follow the redirect.
type NotLeaderError struct {
	LeaderHTTP string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderHTTP == "" {
		return ErrNotLeader.Error()
	}
	return fmt.Sprintf("%v (leader at %s)", ErrNotLeader, e.LeaderHTTP)
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// StatusError carries an explicit HTTP status (for errors no sentinel fits).
type StatusError struct {
	Code int
	Err  error
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }

// HandlerFunc is the shape of every API handler: return the value to encode
// as JSON (nil: 200 with no body unless the handler wrote one) or an error
// that Wrap maps to a status code.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) (any, error)

// StatusOf maps an error to its HTTP status code. Extra classifiers (e.g.
// for fsm errors) can be added by the router's owner with Router.MapError.
func StatusOf(err error) int {
	var se *StatusError
	switch {
	case errors.As(err, &se):
		return se.Code
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict):
		return http.StatusConflict
	case errors.Is(err, ErrNotLeader):
		return http.StatusMisdirectedRequest
	case errors.Is(err, ErrNoLeader), errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Router is an http.Handler whose routes are HandlerFuncs wrapped once.
// Other packages add routes with Handle.
type Router struct {
	mux     *http.ServeMux
	logger  hclog.Logger
	mappers []func(error) int
}

// NewRouter returns an empty router.
func NewRouter(logger hclog.Logger) *Router {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Router{mux: http.NewServeMux(), logger: logger}
}

// MapError adds a classifier consulted before StatusOf; it returns 0 when it
// does not recognise the error.
func (rt *Router) MapError(fn func(error) int) { rt.mappers = append(rt.mappers, fn) }

// Handle registers h for method and path (http.ServeMux pattern syntax,
// e.g. "/v1/peers/{id}"). It panics on a duplicate route, like ServeMux.
func (rt *Router) Handle(method, path string, h HandlerFunc) {
	rt.mux.Handle(method+" "+path, rt.Wrap(h))
}

// HandleHTTP registers a plain http.Handler (for text endpoints, /metrics).
func (rt *Router) HandleHTTP(method, path string, h http.Handler) {
	pattern := path
	if method != "" {
		pattern = method + " " + path
	}
	rt.mux.Handle(pattern, h)
}

// ServeHTTP implements http.Handler.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.mux.ServeHTTP(w, r) }

// Wrap turns a HandlerFunc into an http.Handler writing JSON.
func (rt *Router) Wrap(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &trackingWriter{ResponseWriter: w}
		v, err := h(rw, r)
		if rw.wrote {
			return
		}
		if err != nil {
			code := 0
			for _, m := range rt.mappers {
				if code = m(err); code != 0 {
					break
				}
			}
			if code == 0 {
				code = StatusOf(err)
			}
			body := ErrorResponse{Error: err.Error()}
			var nl *NotLeaderError
			if errors.As(err, &nl) {
				body.Leader = nl.LeaderHTTP
			}
			if code >= 500 {
				rt.logger.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", code, "error", err)
			}
			WriteJSON(w, code, body)
			return
		}
		if v == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		WriteJSON(w, http.StatusOK, v)
	})
}

// WriteJSON writes v as indented JSON with the given status.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// DecodeJSON decodes a request body strictly (unknown fields rejected)
// into v; failures wrap ErrBadRequest.
func DecodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 8<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: decoding body: %v", ErrBadRequest, err)
	}
	return nil
}

type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }
