package acl

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

type noTokens struct{}

func (noTokens) Resolve(string) (Identity, error) {
	return Identity{}, fmt.Errorf("%w", ErrTokenNotFound)
}

// The dashboard's page and static files are served without a token (the
// browser cannot send one before the user types it); its data and every
// other path still need one, and only GET/HEAD are open.
func TestDefaultPolicyOpenPaths(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	h := Middleware(noTokens{}, next)
	cases := []struct {
		method, path string
		want         int
	}{
		{"GET", "/readyz", 200},
		{"GET", "/v1/health", 200},
		{"GET", "/", 200},
		{"GET", "/ui/", 200},
		{"HEAD", "/ui/assets/app.js", 200},
		{"GET", "/ui/assets/v1/style.css", 200},
		{"POST", "/ui/", 403},
		{"GET", "/ui/api/clouds", 403},
		{"GET", "/ui/../v1/tenants", 403},
		{"GET", "/v1/tenants", 403},
		{"GET", "/metrics", 403},
		{"GET", "/v1/status/leader", 403},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if rec.Code != c.want {
			t.Errorf("%s %s: status %d, want %d", c.method, c.path, rec.Code, c.want)
		}
	}
}
