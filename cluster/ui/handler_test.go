package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerServesAssets(t *testing.T) {
	h, err := NewHandler()
	if err != nil {
		t.Fatal(err)
	}
	v := h.Version()
	if !isVersion(v) {
		t.Fatalf("version %q is not 12 hex digits", v)
	}
	tests := []struct {
		name, method, path string
		code               int
		contentType        string
		cache              string
		bodyHas            string
	}{
		{"index", "GET", "/ui/", 200, "text/html; charset=utf-8", "no-cache", `assets/` + v + `/app.js`},
		{"index by name", "GET", "/ui/index.html", 200, "text/html; charset=utf-8", "no-cache", "<main"},
		{"versioned module", "GET", "/ui/assets/" + v + "/app.js", 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "import"},
		{"versioned css", "GET", "/ui/assets/" + v + "/style.css", 200, "text/css; charset=utf-8", "public, max-age=31536000, immutable", ":root"},
		{"svg icon", "GET", "/ui/assets/" + v + "/favicon.svg", 200, "image/svg+xml", "public, max-age=31536000, immutable", "<svg"},
		{"unversioned asset", "GET", "/ui/assets/chart.js", 200, "text/javascript; charset=utf-8", "no-cache", "drawChart"},
		{"stale version", "GET", "/ui/assets/000000000000/chart.js", 200, "text/javascript; charset=utf-8", "no-cache", "drawChart"},
		{"head", "HEAD", "/ui/assets/" + v + "/dom.js", 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", ""},
		{"missing asset", "GET", "/ui/assets/" + v + "/nope.js", 404, "", "", ""},
		{"index is not an asset", "GET", "/ui/assets/index.html", 404, "", "", ""},
		{"other path", "GET", "/ui/elsewhere", 404, "", "", ""},
		{"post", "POST", "/ui/", 405, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			res := rec.Result()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.code {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tc.code, body)
			}
			if tc.code != 200 {
				return
			}
			if got := res.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if got := res.Header.Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control %q, want %q", got, tc.cache)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if !strings.Contains(res.Header.Get("Content-Security-Policy"), "script-src 'self'") {
				t.Errorf("Content-Security-Policy %q", res.Header.Get("Content-Security-Policy"))
			}
			if tc.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD returned %d body bytes", len(body))
			}
			if !strings.Contains(string(body), tc.bodyHas) {
				t.Errorf("body lacks %q", tc.bodyHas)
			}
			if strings.Contains(string(body), versionMark) {
				t.Errorf("body still holds %s", versionMark)
			}
		})
	}
}

func TestHandlerETagRevalidation(t *testing.T) {
	h, err := NewHandler()
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/ui/assets/app.js", nil))
	etag := rec.Result().Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	tests := []struct {
		ifNoneMatch string
		code        int
	}{
		{etag, http.StatusNotModified},
		{"W/" + etag, http.StatusNotModified},
		{`"other", ` + etag, http.StatusNotModified},
		{"*", http.StatusNotModified},
		{`"other"`, http.StatusOK},
	}
	for _, tc := range tests {
		req := httptest.NewRequest("GET", "/ui/assets/app.js", nil)
		req.Header.Set("If-None-Match", tc.ifNoneMatch)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("If-None-Match %s: status %d, want %d", tc.ifNoneMatch, rec.Code, tc.code)
		}
	}
}

// TestAssetsSafe guards the rules the page relies on: nothing from other
// origins, no innerHTML with API data, and every module the page imports
// is embedded.
func TestAssetsSafe(t *testing.T) {
	h, err := NewHandler()
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range h.files {
		body := string(a.body)
		// The only absolute URL allowed is the SVG namespace name.
		stripped := strings.ReplaceAll(body, "http://www.w3.org/2000/svg", "")
		for _, bad := range []string{"http://", "https://", "innerHTML", "outerHTML", "eval(", "document.write"} {
			if strings.Contains(stripped, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		for _, line := range strings.Split(body, "\n") {
			_, rest, ok := strings.Cut(line, " from './")
			if !ok {
				continue
			}
			mod, _, _ := strings.Cut(rest, "'")
			if _, ok := h.files[mod]; !ok {
				t.Errorf("%s imports ./%s, which is not embedded", name, mod)
			}
		}
	}
}
