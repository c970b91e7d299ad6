package acl_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aas/cluster"
	"aas/cluster/acl"
	"aas/cluster/api"
	"aas/cluster/client"
	"aas/cluster/clustertest"
	"aas/fsm"
)

const bootstrapSecret = "bootstrap-secret-for-tests-0123456789"
const joinToken = "join-token-for-tests-0123456789"

type env struct {
	srv     *cluster.Server
	dataDir string
	url     string
	apply   acl.ApplyFunc
}

// newEnv starts a real single-node cluster and serves its router behind
// the ACL middleware on 127.0.0.1, with the token endpoints and a
// tenant-scoped probe handler registered the way the server will.
func newEnv(t *testing.T) *env {
	t.Helper()
	cfg := clustertest.Config(t, "n1")
	cfg.Bootstrap = true
	dataDir := cfg.DataDir
	srv := clustertest.Start(t, cfg)
	apply := func(ctx context.Context, c fsm.Command) error {
		_, err := srv.Apply(ctx, c.CommandType(), c)
		return err
	}
	// The server registers the token endpoints itself (acl.Endpoints).
	srv.Handle("GET", "/v1/tenants/{name}", func(w http.ResponseWriter, r *http.Request) (any, error) {
		if err := acl.Authorize(r.Context(), r.PathValue("name")); err != nil {
			return nil, err
		}
		return map[string]string{"tenant": r.PathValue("name")}, nil
	})
	guard, err := acl.NewJoinGuard(joinToken)
	if err != nil {
		t.Fatal(err)
	}
	h := acl.Middleware(&acl.FSMResolver{State: srv.FSM()}, srv.Router(), acl.WithJoinGuard(guard))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return &env{srv: srv, dataDir: dataDir, url: "http://" + ln.Addr().String(), apply: apply}
}

func (e *env) client(token string) *client.Client {
	return client.New(e.url).WithHTTPClient(&http.Client{Timeout: 30 * time.Second, Transport: &acl.Transport{Token: token}})
}

func status(err error) int {
	var ce *client.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	if err == nil {
		return 200
	}
	return -1
}

func TestACLEndToEnd(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	tok, created, err := acl.Bootstrap(ctx, e.apply, bootstrapSecret, time.Now())
	if err != nil || !created || tok.Secret != bootstrapSecret || !tok.Management {
		t.Fatalf("bootstrap: %+v %v %v", tok, created, err)
	}
	// A second start (or another controller) does not create another.
	if _, created, err := acl.Bootstrap(ctx, e.apply, "", time.Now()); err != nil || created {
		t.Fatalf("second bootstrap: created=%v err=%v", created, err)
	}
	mgmt := e.client(bootstrapSecret)
	acme, err := acl.CreateToken(ctx, mgmt, acl.CreateRequest{Tenant: "acme", Description: "acme ops"})
	if err != nil || acme.Secret == "" || acme.Tenant != "acme" {
		t.Fatalf("create acme token: %+v %v", acme, err)
	}
	globex, err := acl.CreateToken(ctx, mgmt, acl.CreateRequest{Tenant: "globex"})
	if err != nil {
		t.Fatal(err)
	}
	acmeC, globexC := e.client(acme.Secret), e.client(globex.Secret)

	get := func(c *client.Client, path string) int { return status(c.Do(ctx, "GET", path, nil, nil)) }
	for _, tc := range []struct {
		name   string
		c      *client.Client
		method string
		path   string
		want   int
	}{
		{"no token", e.client(""), "GET", "/v1/tenants/acme", 403},
		{"unknown token", e.client("not-a-token-at-all"), "GET", "/v1/tenants/acme", 403},
		{"no token on status", e.client(""), "GET", "/v1/status/leader", 403},
		{"health is open", e.client(""), "GET", "/v1/health", 200},
		{"tenant reads own tenant", acmeC, "GET", "/v1/tenants/acme", 200},
		{"tenant cannot read another tenant", acmeC, "GET", "/v1/tenants/globex", 403},
		{"other tenant symmetric", globexC, "GET", "/v1/tenants/acme", 403},
		{"management reads any tenant", mgmt, "GET", "/v1/tenants/globex", 200},
		{"tenant reads status", acmeC, "GET", "/v1/status/leader", 200},
		{"tenant cannot list tokens", acmeC, "GET", "/v1/acl/tokens", 403},
		{"tenant cannot make peers leave", acmeC, "POST", "/v1/leave", 403},
		{"tenant cannot remove peers", acmeC, "DELETE", "/v1/peers/n1", 403},
		{"tenant cannot call internal apply", acmeC, "POST", "/v1/internal/apply", 403},
		{"management cannot call internal without join token", mgmt, "GET", "/v1/internal/identity", 403},
		{"tenant path traversal is cleaned", acmeC, "GET", "/v1/tenants/acme/../globex", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := status(tc.c.Do(ctx, tc.method, tc.path, nil, nil)); got != tc.want {
				t.Fatalf("%s %s = %d, want %d", tc.method, tc.path, got, tc.want)
			}
		})
	}
	resp, err := http.Get(e.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusForbidden {
		t.Fatal("/readyz needs a token")
	}
	// Server-to-server calls with the join token pass.
	joinC := client.New(e.url).WithHTTPClient(&http.Client{Transport: &acl.Transport{JoinToken: joinToken}})
	if _, err := joinC.Identity(ctx); err != nil {
		t.Fatalf("internal call with join token: %v", err)
	}
	wrongJoin := client.New(e.url).WithHTTPClient(&http.Client{Transport: &acl.Transport{JoinToken: joinToken + "x"}})
	if _, err := wrongJoin.Identity(ctx); status(err) != 403 {
		t.Fatalf("internal call with a wrong join token: %v", err)
	}

	// Self, list (no secrets), delete.
	if id, err := acl.Self(ctx, acmeC); err != nil || id.Tenant != "acme" || id.Management {
		t.Fatalf("self = %+v %v", id, err)
	}
	var raw []byte
	if err := mgmt.Do(ctx, "GET", "/v1/acl/tokens", nil, &raw); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{acme.Secret, globex.Secret, bootstrapSecret, acl.HashSecret(acme.Secret)} {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatalf("token list shows a secret or hash: %s", raw)
		}
	}
	list, err := acl.ListTokens(ctx, mgmt)
	if err != nil || len(list) != 3 {
		t.Fatalf("list = %+v %v", list, err)
	}
	if err := acl.DeleteToken(ctx, acmeC, globex.AccessorID); status(err) != 403 {
		t.Fatalf("tenant deleting a token: %v", err)
	}
	if err := acl.DeleteToken(ctx, mgmt, acme.AccessorID); err != nil {
		t.Fatal(err)
	}
	if got := get(acmeC, "/v1/tenants/acme"); got != 403 {
		t.Fatalf("deleted token still works: %d", got)
	}
	if err := acl.DeleteToken(ctx, mgmt, acme.AccessorID); status(err) != 404 {
		t.Fatalf("second delete: %v", err)
	}
	if err := acl.DeleteToken(ctx, mgmt, tok.AccessorID); status(err) != 409 {
		t.Fatalf("deleting the last management token: %v", err)
	}
	for _, bad := range []acl.CreateRequest{{}, {Management: true, Tenant: "x"}, {Tenant: "../etc"}} {
		if _, err := acl.CreateToken(ctx, mgmt, bad); status(err) != 400 {
			t.Fatalf("create %+v: %v", bad, err)
		}
	}

	// Secrets never reach the Raft log or snapshots.
	if err := e.srv.Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Shutdown(); err != nil {
		t.Fatal(err)
	}
	sawDB := false
	filepath.WalkDir(e.dataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, _ := os.ReadFile(p)
		sawDB = sawDB || strings.HasSuffix(p, "raft.db")
		for _, s := range []string{acme.Secret, globex.Secret, bootstrapSecret} {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("token secret in %s", p)
			}
		}
		return nil
	})
	if !sawDB {
		t.Fatal("no raft.db found")
	}
}

func TestAuthorizeWithoutACLs(t *testing.T) {
	ctx := context.Background()
	if err := acl.Authorize(ctx, "any"); err != nil {
		t.Fatalf("ACLs off: %v", err)
	}
	tctx := acl.WithIdentity(ctx, acl.Identity{AccessorID: "a", Tenant: "acme"})
	for _, tc := range []struct {
		ctx    context.Context
		tenant string
		ok     bool
	}{
		{tctx, "acme", true},
		{tctx, "globex", false},
		{tctx, "", false},
		{acl.WithIdentity(ctx, acl.Identity{AccessorID: "m", Management: true}), "globex", true},
		{acl.WithIdentity(ctx, acl.Identity{AccessorID: "odd"}), "", false},
	} {
		err := acl.Authorize(tc.ctx, tc.tenant)
		if (err == nil) != tc.ok {
			t.Fatalf("Authorize(%q) = %v, want ok=%v", tc.tenant, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, acl.ErrPermissionDenied) || api.StatusOf(err) != 403) {
			t.Fatalf("error %v: not a 403 ErrPermissionDenied", err)
		}
	}
	if acl.AuthorizeManagement(tctx) == nil {
		t.Fatal("tenant token passed AuthorizeManagement")
	}
}

func TestTokenFromRequest(t *testing.T) {
	for _, tc := range []struct {
		hdr  map[string]string
		want string
	}{
		{map[string]string{acl.TokenHeader: "a"}, "a"},
		{map[string]string{"Authorization": "Bearer b"}, "b"},
		{map[string]string{"Authorization": "bearer  c "}, "c"},
		{map[string]string{"Authorization": "Basic d"}, ""},
		{map[string]string{acl.TokenHeader: "a", "Authorization": "Bearer b"}, "a"},
		{nil, ""},
	} {
		r, _ := http.NewRequest("GET", "http://127.0.0.1/", nil)
		for k, v := range tc.hdr {
			r.Header.Set(k, v)
		}
		if got := acl.TokenFromRequest(r); got != tc.want {
			t.Errorf("%v: got %q want %q", tc.hdr, got, tc.want)
		}
	}
}

func TestJoinGuard(t *testing.T) {
	if _, err := acl.NewJoinGuard("short"); err == nil {
		t.Fatal("short join token accepted")
	}
	g, err := acl.NewJoinGuard(joinToken)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tok string
		ok  bool
	}{{joinToken, true}, {joinToken + "x", false}, {joinToken[:len(joinToken)-1], false}, {"", false}} {
		if g.Valid(tc.tok) != tc.ok {
			t.Errorf("Valid(%q) != %v", tc.tok, tc.ok)
		}
	}
	protected := 0
	ph := g.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { protected++ }), "/v1/internal", "/v1/join")
	for _, tc := range []struct {
		path, token string
		want        int
	}{
		{"/v1/internal/apply", "", 403},
		{"/v1/join", "wrong-token-0123456789", 403},
		{"/v1/internal/../internal/apply", "", 403},
		{"/v1/internal/apply", joinToken, 200},
		{"/v1/status/leader", "", 200},
		{"/v1/internalx", "", 200},
	} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("POST", tc.path, nil)
		if tc.token != "" {
			r.Header.Set(acl.JoinTokenHeader, tc.token)
		}
		ph.ServeHTTP(rec, r)
		if rec.Code != tc.want {
			t.Errorf("Protect %s token=%q: %d, want %d", tc.path, tc.token, rec.Code, tc.want)
		}
	}
	if protected != 3 {
		t.Errorf("handler ran %d times, want 3", protected)
	}
	called := false
	h := g.Wrap(func(w http.ResponseWriter, r *http.Request) (any, error) { called = true; return nil, nil })
	r, _ := http.NewRequest("POST", "http://127.0.0.1/v1/join", nil)
	if _, err := h(nil, r); !errors.Is(err, acl.ErrJoinToken) || api.StatusOf(err) != 403 || called {
		t.Fatalf("without token: %v called=%v", err, called)
	}
	r.Header.Set(acl.JoinTokenHeader, joinToken)
	if _, err := h(nil, r); err != nil || !called {
		t.Fatalf("with token: %v called=%v", err, called)
	}
}
