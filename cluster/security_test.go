package cluster

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aas/cluster/acl"
	"aas/cluster/client"
	"aas/cluster/tlsutil"
)

func TestSecurityConfigValidation(t *testing.T) {
	long := strings.Repeat("x", acl.MinSecretLen)
	for _, c := range []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"nothing", func(*Config) {}, ""},
		{"acl alone", func(c *Config) { c.ACLEnabled = true }, ""},
		{"acl with bootstrap token", func(c *Config) { c.ACLEnabled, c.ACLBootstrapToken = true, long }, ""},
		{"short bootstrap token", func(c *Config) { c.ACLEnabled, c.ACLBootstrapToken = true, "short" }, "ACLBootstrapToken"},
		{"bootstrap token without acl", func(c *Config) { c.ACLBootstrapToken = long }, "without -acl-enabled"},
		{"short join token", func(c *Config) { c.JoinToken = "short" }, "JoinToken"},
		{"acl with peers, no join token", func(c *Config) { c.ACLEnabled, c.Join = true, []string{"127.0.0.1:1"} }, "needs -join-token"},
		{"acl with peers and join token", func(c *Config) { c.ACLEnabled, c.Join, c.JoinToken = true, []string{"127.0.0.1:1"}, long }, ""},
		{"cert without ca", func(c *Config) { c.TLS = tlsutil.Files{CertFile: "c", KeyFile: "k"} }, "-tls-ca"},
		{"ca alone", func(c *Config) { c.TLS = tlsutil.Files{CAFile: "ca"} }, "without -tls-cert"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t, "v")
			c.mod(&cfg)
			cfg.setDefaults()
			err := cfg.validate()
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.wantErr != "" && (err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), c.wantErr)):
				t.Fatalf("error %v, want ErrInvalidConfig naming %q", err, c.wantErr)
			}
		})
	}
}

// writePKI writes a dev CA and one node certificate for 127.0.0.1.
func writePKI(t *testing.T, name string) tlsutil.Files {
	t.Helper()
	dir := t.TempDir()
	ca, err := tlsutil.GenerateCA("test CA "+name, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteCA(dir); err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.WriteCert(dir, tlsutil.CertOptions{Name: name, IPs: ipLoopback()}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return tlsutil.Files{CertFile: cert, KeyFile: key, CAFile: filepath.Join(dir, tlsutil.CACertFile)}
}

// TestSecureSingleNode: TLS + ACLs + join token on one node: the
// generated bootstrap token reaches OnBootstrapToken once and works over
// HTTPS, requests without it are refused, internal calls need the join
// token, and the keyring and node TLS are exposed.
func TestSecureSingleNode(t *testing.T) {
	files := writePKI(t, "n1")
	join := strings.Repeat("j", 24)
	got := make(chan acl.CreatedToken, 4)
	cfg := testConfig(t, "n1")
	cfg.Bootstrap = true
	cfg.TLS, cfg.ACLEnabled, cfg.JoinToken = files, true, join
	cfg.OnBootstrapToken = func(tok acl.CreatedToken) { got <- tok }
	s := startServer(t, cfg)
	var tok acl.CreatedToken
	select {
	case tok = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("no bootstrap token")
	}
	if s.Keyring() == nil || s.NodeTLS() == nil || s.NodeHTTPClient() == nil {
		t.Fatal("keyring or node TLS missing")
	}
	ccfg, err := tlsutil.ClientConfig(tlsutil.Files{CAFile: files.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	cl := func(token, joinToken string) *client.Client {
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &acl.Transport{Token: token, JoinToken: joinToken,
			Base: &http.Transport{TLSClientConfig: ccfg}}}
		return client.New("https://" + s.HTTPAddr()).WithHTTPClient(hc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, c := range []struct {
		name       string
		token, jt  string
		path       string
		wantStatus int
	}{
		{"management token", tok.Secret, "", "/v1/status/peers", 200},
		{"no token", "", "", "/v1/status/peers", 403},
		{"internal without join token", tok.Secret, "", "/v1/internal/identity", 403},
		{"internal with join token", "", join, "/v1/internal/identity", 200},
		{"wrong join token", "", join + "x", "/v1/status/peers", 403},
	} {
		err := cl(c.token, c.jt).Do(ctx, "GET", c.path, nil, nil)
		code := 200
		var ce *client.Error
		if errors.As(err, &ce) {
			code = ce.Code
		} else if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if code != c.wantStatus {
			t.Errorf("%s: GET %s: %d, want %d (%v)", c.name, c.path, code, c.wantStatus, err)
		}
	}
	select {
	case tok2 := <-got:
		t.Fatalf("a second bootstrap token was handed out: %s", tok2.AccessorID)
	default:
	}
}

func ipLoopback() []net.IP { return []net.IP{net.ParseIP("127.0.0.1")} }
