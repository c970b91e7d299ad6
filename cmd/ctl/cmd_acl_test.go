package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"aas/cluster/api"
)

// TestClientSecurityFlags: every client command goes through apiClient,
// which sends the token (-token or $CTL_TOKEN, also after a subcommand)
// and verifies an https agent with -ca-file or $CTL_CA_FILE.
func TestClientSecurityFlags(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Aas-Token"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/status/peers":
			_ = json.NewEncoder(w).Encode([]api.Peer{{ID: "p1"}})
		case "/v1/status/leader":
			_ = json.NewEncoder(w).Encode(api.LeaderInfo{ID: "p1"})
		default:
			_ = json.NewEncoder(w).Encode([]any{})
		}
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	hostPort := strings.TrimPrefix(srv.URL, "https://")
	for _, c := range []struct {
		name      string
		env       map[string]string
		args      []string
		wantCode  int
		wantToken string
	}{
		{"flags", nil, []string{"peers", "-address", srv.URL, "-token", "tok-flag", "-ca-file", caFile}, 0, "tok-flag"},
		{"flags after the subcommand", nil, []string{"peers", "-address", srv.URL, "list", "-token", "tok-sub", "-ca-file", caFile}, 0, "tok-sub"},
		{"environment, host:port means https", map[string]string{"CTL_ADDR": hostPort, "CTL_TOKEN": "tok-env", "CTL_CA_FILE": caFile}, []string{"status"}, 0, "tok-env"},
		{"flag wins over environment", map[string]string{"CTL_TOKEN": "tok-env", "CTL_CA_FILE": caFile}, []string{"peers", "-address", srv.URL, "-token", "tok-flag2"}, 0, "tok-flag2"},
		{"no CA: certificate refused", nil, []string{"peers", "-address", srv.URL, "-token", "x"}, 1, ""},
		{"unreadable CA file", nil, []string{"peers", "-address", srv.URL, "-ca-file", filepath.Join(t.TempDir(), "missing.pem")}, 1, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range []string{"CTL_ADDR", "CTL_TOKEN", "CTL_CA_FILE"} {
				t.Setenv(k, c.env[k])
			}
			mu.Lock()
			seen = nil
			mu.Unlock()
			var out, errOut bytes.Buffer
			if code := run(c.args, &out, &errOut); code != c.wantCode {
				t.Fatalf("exit %d, want %d: %s%s", code, c.wantCode, out.String(), errOut.String())
			}
			mu.Lock()
			defer mu.Unlock()
			if c.wantToken == "" {
				if len(seen) != 0 {
					t.Fatalf("request reached the server: %v", seen)
				}
				return
			}
			if len(seen) == 0 {
				t.Fatal("no request reached the server")
			}
			for _, s := range seen {
				if s != c.wantToken {
					t.Fatalf("token %q, want %q", s, c.wantToken)
				}
			}
		})
	}
}
