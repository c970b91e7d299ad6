package e2e

// Security acceptance at binary level (issue 4): real `ctl agent`
// processes on 127.0.0.1 with ACLs, TLS, a join token and sealed tenant
// secrets, driven through HTTP and the ctl client commands.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"aas/cluster/api"
	"aas/cluster/client"
	"aas/cluster/secrets"
	"aas/cluster/tlsutil"
	"aas/e2e/clusterproc"
	"aas/nodes"
)

// secretLine finds a token secret printed by the agent or ctl.
var secretLine = regexp.MustCompile(`SecretID:\s+(\S+)`)

// ctlRun runs ctl with extra environment variables and returns its
// combined output and error (for commands expected to fail).
func ctlRun(bin string, env []string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// ctlOK runs ctl and fails the test on an error.
func ctlOK(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	out, err := ctlRun(bin, env, args...)
	if err != nil {
		t.Fatalf("ctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// flatTenant writes a seed-format tenant file on lab addresses.
func flatTenant(t *testing.T, dir, name string, octet int) string {
	t.Helper()
	body := fmt.Sprintf(`t_name: %[1]s
nw_name: %[1]s_nw
subnet_addr: 198.18.%[2]d.1
subnet_mask: 255.255.255.0
subnet: 198.18.%[2]d.0/24
dhcp_start: 198.18.%[2]d.2
dhcp_end: 198.18.%[2]d.254
min_containers: 0
max_containers: 3
threshold: 0.3
public_ip: 198.18.%[3]d.10
should_log: 1
should_encrypt_pwd: 0
policy: dynamic
`, name, octet, octet+100)
	p := filepath.Join(dir, name+".yml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// httpStatus sends one request with an optional ACL token and returns
// the status and body.
func httpStatus(t *testing.T, hc *http.Client, method, url, token string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("X-Aas-Token", token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitLeaderAt polls the leader endpoint through c until it answers.
func waitLeaderAt(t *testing.T, n *clusterproc.Node, c *client.Client) api.LeaderInfo {
	t.Helper()
	var li api.LeaderInfo
	waitFor(t, 60*time.Second, n.ID+" has a leader", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var err error
		li, err = c.Leader(ctx)
		if err != nil {
			return false, err.Error() + "\n" + tail(n.Log(), 1500)
		}
		return true, ""
	})
	return li
}

// TestSecurityACL: with -acl-enabled, no token → 403; a tenant token
// reads and changes only its tenant; the management token (generated and
// printed once on stdout) can do everything; a password of a tenant with
// encrypt_passwords never appears in plaintext in the data dir (raft.db,
// snapshots) or the log, and a re-applied file diffs as unchanged.
func TestSecurityACL(t *testing.T) {
	bin, dir := ctlBin(t)
	lab := &clusterproc.Lab{Bin: bin, Dir: dir, ServerArgs: []string{"-raft-profile", "tuned", "-lb", "none",
		"-acl-enabled", "-raft-snapshot-threshold", "4", "-raft-snapshot-interval", "500ms"}}
	s1, err := lab.NewServer("s1", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s1.Kill() })
	if err := s1.Start(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + s1.HTTP
	hc := &http.Client{Timeout: 10 * time.Second}

	// The generated bootstrap token is printed once, on stdout.
	var mgmt string
	waitFor(t, 60*time.Second, "the bootstrap token on the agent's stdout", func() (bool, string) {
		m := secretLine.FindStringSubmatch(s1.Log())
		if m == nil {
			return false, tail(s1.Log(), 2000)
		}
		mgmt = m[1]
		return true, ""
	})
	if n := strings.Count(s1.Log(), mgmt); n != 1 {
		t.Fatalf("the bootstrap secret appears %d times in the agent's output, want exactly once", n)
	}

	env := func(token string) []string { return []string{client.EnvAddress + "=" + s1.HTTP, "CTL_TOKEN=" + token} }
	// Tenant tokens, made with the ctl client ($CTL_TOKEN).
	tokenFor := func(tenant string) string {
		out := ctlOK(t, bin, env(mgmt), "acl", "token", "create", "-tenant", tenant, "-description", "e2e")
		m := secretLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no secret in %q", out)
		}
		return m[1]
	}
	acme, globex := tokenFor("acme"), tokenFor("globex")
	acmeFile, globexFile := flatTenant(t, dir, "acme", 30), flatTenant(t, dir, "globex", 31)
	ctlOK(t, bin, env(mgmt), "tenant", "apply", acmeFile)
	ctlOK(t, bin, env(mgmt), "tenant", "apply", globexFile)
	globexYAML, err := os.ReadFile(globexFile)
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name, token, method, path string
		body                      []byte
		want                      int
	}{
		{"no token: tenants", "", "GET", "/v1/tenants", nil, 403},
		{"no token: a tenant", "", "GET", "/v1/tenants/acme", nil, 403},
		{"no token: leader", "", "GET", "/v1/status/leader", nil, 403},
		{"no token: apply", "", "PUT", "/v1/tenants/globex", globexYAML, 403},
		{"unknown token", "not-a-token-of-this-cluster-000", "GET", "/v1/tenants/acme", nil, 403},
		{"open: health", "", "GET", "/v1/health", nil, 200},
		{"acme reads acme", acme, "GET", "/v1/tenants/acme", nil, 200},
		{"acme reads acme's groups", acme, "GET", "/v1/tenants/acme/groups", nil, 200},
		{"acme reads globex", acme, "GET", "/v1/tenants/globex", nil, 403},
		{"acme lists globex's groups", acme, "GET", "/v1/tenants/globex/groups", nil, 403},
		{"acme changes globex", acme, "PUT", "/v1/tenants/globex", globexYAML, 403},
		{"acme diffs globex", acme, "POST", "/v1/tenants/globex/diff", globexYAML, 403},
		{"acme scales globex", acme, "POST", "/v1/tenants/globex/groups/globex/scale", []byte(`{"desired":1}`), 403},
		{"acme deletes globex", acme, "DELETE", "/v1/tenants/globex", nil, 403},
		{"acme reads globex's activity", acme, "GET", "/v1/activity?tenant=globex", nil, 403},
		{"acme exports globex's metrics", acme, "GET", "/v1/metrics/export?tenant=globex", nil, 403},
		{"acme lists tokens", acme, "GET", "/v1/acl/tokens", nil, 403},
		{"acme reads /metrics", acme, "GET", "/metrics", nil, 403},
		{"acme reads settings", acme, "GET", "/v1/settings", nil, 403},
		{"acme removes a peer", acme, "DELETE", "/v1/peers/s1", nil, 403},
		{"globex reads globex", globex, "GET", "/v1/tenants/globex", nil, 200},
		{"globex reads acme", globex, "GET", "/v1/tenants/acme", nil, 403},
		{"management reads acme", mgmt, "GET", "/v1/tenants/acme", nil, 200},
		{"management reads globex", mgmt, "GET", "/v1/tenants/globex", nil, 200},
		{"management diffs globex", mgmt, "POST", "/v1/tenants/globex/diff", globexYAML, 200},
		{"management lists tokens", mgmt, "GET", "/v1/acl/tokens", nil, 200},
		{"management reads /metrics", mgmt, "GET", "/metrics", nil, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, body := httpStatus(t, hc, c.method, base+c.path, c.token, c.body)
			if code != c.want {
				t.Fatalf("%s %s: status %d, want %d: %s", c.method, c.path, code, c.want, body)
			}
		})
	}

	// Lists are filtered to the caller's tenant.
	for _, c := range []struct {
		path, token, must, mustNot string
	}{
		{"/v1/tenants", acme, `"acme"`, `"globex"`},
		{"/v1/tenants", globex, `"globex"`, `"acme"`},
		{"/v1/groups", acme, `"acme"`, `"globex"`},
	} {
		code, body := httpStatus(t, hc, "GET", base+c.path, c.token, nil)
		if code != 200 || !strings.Contains(body, c.must) || strings.Contains(body, c.mustNot) {
			t.Fatalf("GET %s as %s: %d %s (want %s, not %s)", c.path, c.must, code, body, c.must, c.mustNot)
		}
	}
	code, body := httpStatus(t, hc, "GET", base+"/v1/tenants", mgmt, nil)
	if code != 200 || !strings.Contains(body, `"acme"`) || !strings.Contains(body, `"globex"`) {
		t.Fatalf("management list: %d %s", code, body)
	}

	// The ctl client: the -token flag and $CTL_TOKEN reach the agent.
	if out, err := ctlRun(bin, env(acme), "tenant", "get", "globex"); err == nil || !strings.Contains(out, "permission denied") {
		t.Fatalf("ctl tenant get globex with acme's token: err %v, output %q", err, out)
	}
	if out := ctlOK(t, bin, env(""), "tenant", "get", "acme", "-token", acme); !strings.Contains(out, "acme") {
		t.Fatalf("ctl tenant get acme -token: %q", out)
	}
	if out, err := ctlRun(bin, env(""), "tenant", "delete", "acme"); err == nil {
		t.Fatalf("ctl tenant delete without a token succeeded: %q", out)
	}

	// Sealed secrets: unique plaintexts in the rich example.
	pw, sv := "pw-"+randHex(t, 12), "sv-"+randHex(t, 12)
	rich, err := os.ReadFile(filepath.Join(repoRoot(t), "examples", "rich-tenant.yml"))
	if err != nil {
		t.Fatal(err)
	}
	shop := strings.Replace(strings.Replace(string(rich), "password: change-me", "password: "+pw, 1), "value: s3cret", "value: "+sv, 1)
	if !strings.Contains(shop, pw) || !strings.Contains(shop, sv) || !strings.Contains(shop, "encrypt_passwords: true") {
		t.Fatal("examples/rich-tenant.yml changed: cannot place the test passwords")
	}
	shopFile := filepath.Join(dir, "shop.yml")
	if err := os.WriteFile(shopFile, []byte(shop), 0o600); err != nil {
		t.Fatal(err)
	}
	ctlOK(t, bin, env(mgmt), "tenant", "apply", shopFile)
	got := ctlOK(t, bin, env(mgmt), "tenant", "get", "shop")
	if strings.Contains(got, pw) || strings.Contains(got, sv) || strings.Contains(got, secrets.Prefix) {
		t.Fatalf("tenant get shows a secret:\n%s", got)
	}
	if out := ctlOK(t, bin, env(mgmt), "tenant", "diff", shopFile); !strings.Contains(out, "no changes") {
		t.Fatalf("re-diff of the applied file shows changes (sealing is randomised; diff must not):\n%s", out)
	}
	changed := strings.Replace(shop, pw, pw+"-new", 1)
	if err := os.WriteFile(shopFile, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := ctlOK(t, bin, env(mgmt), "tenant", "diff", shopFile); !strings.Contains(out, "password") || strings.Contains(out, pw) {
		t.Fatalf("diff of a changed password: want the password path, never its value:\n%s", out)
	}
	// More writes, so that raft takes a snapshot (threshold 4).
	for i := range 6 {
		ctlOK(t, bin, env(mgmt), "acl", "token", "create", "-tenant", fmt.Sprintf("t%d", i))
	}
	snapDir := filepath.Join(s1.DataDir, "raft", "snapshots")
	// A finished snapshot (raft writes into NAME.tmp and renames it when
	// complete) that holds the sealed tenant.
	waitFor(t, 60*time.Second, "a finished raft snapshot with the tenant in "+snapDir, func() (bool, string) {
		m, _ := filepath.Glob(filepath.Join(snapDir, "*", "state.bin"))
		for _, p := range m {
			if strings.HasSuffix(filepath.Dir(p), ".tmp") {
				continue
			}
			if data, err := os.ReadFile(p); err == nil && bytes.Contains(data, []byte(secrets.Prefix)) {
				return true, p
			}
		}
		return false, fmt.Sprint(m)
	})
	var sealedSeen []string
	err = filepath.WalkDir(s1.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, plain := range []string{pw, sv, mgmt, acme, globex} {
			if bytes.Contains(data, []byte(plain)) {
				t.Errorf("%s holds a plaintext secret %q", p, plain[:6]+"…")
			}
		}
		if bytes.Contains(data, []byte(secrets.Prefix)) {
			sealedSeen = append(sealedSeen, filepath.Base(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The check is not vacuous: the sealed forms are in the log store and
	// in the snapshot.
	if !contains(sealedSeen, "raft.db") || !contains(sealedSeen, "state.bin") {
		t.Fatalf("sealed secrets found only in %v, want raft.db and a snapshot's state.bin", sealedSeen)
	}
	if log := s1.Log(); strings.Contains(log, pw) || strings.Contains(log, sv) {
		t.Fatal("the agent's output holds a tenant password")
	}
}

// repoRoot walks up from the package dir to the directory holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	d, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		up := filepath.Dir(d)
		if up == d {
			t.Fatal("go.mod not found above the test's directory")
		}
		d = up
	}
}

// testPKI is a dev CA with node certificates, made with `ctl tls`.
type testPKI struct {
	dir string
}

func newPKI(t *testing.T, bin, dir string) testPKI {
	t.Helper()
	ctlOK(t, bin, nil, "tls", "ca", "create", "-dir", dir)
	return testPKI{dir: dir}
}

// cert issues NAME.pem / NAME-key.pem for 127.0.0.1 and returns the
// files (with this CA).
func (p testPKI) cert(t *testing.T, bin, name string, client bool) tlsutil.Files {
	t.Helper()
	args := []string{"tls", "cert", "create", "-ca-dir", p.dir, "-name", name, "-ip", "127.0.0.1"}
	if client {
		args = append(args, "-client")
	}
	ctlOK(t, bin, nil, args...)
	return tlsutil.Files{CertFile: filepath.Join(p.dir, name+".pem"), KeyFile: filepath.Join(p.dir, name+"-key.pem"),
		CAFile: filepath.Join(p.dir, tlsutil.CACertFile)}
}

func tlsArgs(f tlsutil.Files) []string {
	return []string{"-tls-cert", f.CertFile, "-tls-key", f.KeyFile, "-tls-ca", f.CAFile}
}

// httpsClient trusts files.CAFile (and presents a certificate if given).
func httpsClient(t *testing.T, f tlsutil.Files) *http.Client {
	t.Helper()
	cfg, err := tlsutil.ClientConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// TestSecurityTLS: with -tls-*, the API refuses plain HTTP; a server
// with a CA-signed certificate joins over mutual-TLS Raft, one whose
// certificate comes from a foreign CA does not (even when it trusts our
// CA and knows the join token), nor does one without the join token; a
// hypervisor's node API serves only callers with a CA-signed certificate,
// and a hypervisor with a foreign certificate is not usable by a
// controller's node client.
func TestSecurityTLS(t *testing.T) {
	bin, dir := ctlBin(t)
	pki := newPKI(t, bin, filepath.Join(dir, "pki"))
	evil := newPKI(t, bin, filepath.Join(dir, "evil-pki"))
	joinToken := "join-" + randHex(t, 16)
	lab := &clusterproc.Lab{Bin: bin, Dir: dir, ServerArgs: []string{"-raft-profile", "tuned", "-lb", "none", "-log-level", "debug"}}

	var procs []*clusterproc.Node
	t.Cleanup(func() {
		for _, n := range procs {
			_ = n.Kill()
		}
	})
	start := func(n *clusterproc.Node) {
		t.Helper()
		procs = append(procs, n)
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
	}
	s1Files := pki.cert(t, bin, "s1", false)
	s1, err := lab.NewServer("s1", 1)
	if err != nil {
		t.Fatal(err)
	}
	s1.Args = append(s1.Args, append(tlsArgs(s1Files), "-join-token", joinToken)...)
	start(s1)
	c1 := client.New("https://" + s1.HTTP).WithHTTPClient(httpsClient(t, tlsutil.Files{CAFile: s1Files.CAFile}))
	waitLeaderAt(t, s1, c1)

	// Plain HTTP never reaches a handler.
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + s1.HTTP + "/v1/status/leader"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK || strings.Contains(string(b), `"id"`) {
			t.Fatalf("plain HTTP answered %d %s", resp.StatusCode, b)
		}
	}
	// The ctl client verifies the agent with $CTL_CA_FILE (host:port → https).
	ctlEnv := []string{client.EnvAddress + "=" + s1.HTTP, "CTL_CA_FILE=" + s1Files.CAFile}
	if out := ctlOK(t, bin, ctlEnv, "status"); !strings.Contains(out, "Leader: s1") {
		t.Fatalf("ctl status over https: %q", out)
	}
	// Without the CA the client refuses the agent's certificate.
	if out, err := ctlRun(bin, []string{client.EnvAddress + "=https://" + s1.HTTP}, "status"); err == nil {
		t.Fatalf("ctl status trusted an unknown CA: %q", out)
	}

	// s2: CA-signed certificate and the join token → joins.
	s2Files := pki.cert(t, bin, "s2", false)
	s2, err := lab.NewServer("s2", 0, s1.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	s2.Args = append(s2.Args, append(tlsArgs(s2Files), "-join-token", joinToken)...)
	start(s2)
	peersOf := func() map[string]bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		ps, err := c1.Peers(ctx)
		if err != nil {
			return nil
		}
		out := map[string]bool{}
		for _, p := range ps {
			out[p.ID] = true
		}
		return out
	}
	waitFor(t, 60*time.Second, "s2 in the raft configuration", func() (bool, string) {
		p := peersOf()
		return p["s2"], fmt.Sprint(p) + "\n" + tail(s2.Log(), 1500)
	})
	// A write replicates to s2 over mutual-TLS Raft: s2 knows the leader.
	c2 := client.New("https://" + s2.HTTP).WithHTTPClient(httpsClient(t, tlsutil.Files{CAFile: s2Files.CAFile}))
	if li := waitLeaderAt(t, s2, c2); li.ID != "s1" {
		t.Fatalf("s2 sees leader %q, want s1", li.ID)
	}

	// rogue: a foreign-CA certificate, trusting both CAs (so its HTTPS
	// calls to s1 succeed) and holding the join token. Raft's mutual TLS
	// refuses it, so it never enters the configuration.
	rogueFiles := evil.cert(t, bin, "rogue", false)
	bundle := filepath.Join(dir, "both-cas.pem")
	a, _ := os.ReadFile(s1Files.CAFile)
	b, _ := os.ReadFile(rogueFiles.CAFile)
	if err := os.WriteFile(bundle, append(append([]byte{}, a...), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	rogueFiles.CAFile = bundle
	rogue, err := lab.NewServer("rogue", 0, s1.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	rogue.Args = append(rogue.Args, append(tlsArgs(rogueFiles), "-join-token", joinToken)...)
	start(rogue)
	// nojoin: a CA-signed certificate but a wrong join token.
	njFiles := pki.cert(t, bin, "nojoin", false)
	nojoin, err := lab.NewServer("nojoin", 0, s1.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	nojoin.Args = append(nojoin.Args, append(tlsArgs(njFiles), "-join-token", "wrong-"+randHex(t, 16))...)
	start(nojoin)
	waitFor(t, 60*time.Second, "s1 refusing the rogue's raft certificate and the wrong join token", func() (bool, string) {
		l := s1.Log()
		return strings.Contains(l, "refusing to add a voter") && strings.Contains(l, "rogue") &&
			strings.Contains(nojoin.Log(), "join token"), tail(s1.Log(), 1500) + "\n---nojoin\n" + tail(nojoin.Log(), 800)
	})
	if p := peersOf(); p["rogue"] || p["nojoin"] || !p["s1"] || !p["s2"] || len(p) != 2 {
		t.Fatalf("raft configuration %v, want exactly s1 and s2", p)
	}

	// Hypervisor agents: the node API over mutual TLS.
	hvFiles := pki.cert(t, bin, "hv1", false)
	hv, err := lab.NewHypervisor("hv1", "cloud-s1", s1.Gossip)
	if err != nil {
		t.Fatal(err)
	}
	hv.Args = append(hv.Args, tlsArgs(hvFiles)...)
	start(hv)
	evilHVFiles := evil.cert(t, bin, "hv-evil", false)
	hvEvil, err := lab.NewHypervisor("hv-evil", "cloud-s1", s1.Gossip)
	if err != nil {
		t.Fatal(err)
	}
	hvEvil.Args = append(hvEvil.Args, tlsArgs(evilHVFiles)...)
	start(hvEvil)
	apiAddrs := map[string]string{}
	waitFor(t, 60*time.Second, "both hypervisors in /v1/hypervisors with https API addresses", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		hvs, err := c1.Hypervisors(ctx)
		if err != nil {
			return false, err.Error()
		}
		for _, h := range hvs {
			apiAddrs[h.ID] = h.APIAddr
		}
		return strings.HasPrefix(apiAddrs["hv1"], "https://") && strings.HasPrefix(apiAddrs["hv-evil"], "https://"),
			fmt.Sprint(apiAddrs) + "\n" + tail(hv.Log(), 800)
	})
	// The controller's node client: mutual TLS with s1's certificate (what
	// cluster.Server.NodeHTTPClient builds).
	ctrlTLS, err := tlsutil.MutualClientConfig(s1Files)
	if err != nil {
		t.Fatal(err)
	}
	ctrlHC := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: ctrlTLS}}
	noCert, err := tlsutil.ClientConfig(tlsutil.Files{CAFile: s1Files.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	evilCtrl, err := tlsutil.MutualClientConfig(evil.cert(t, bin, "evil-ctl", true))
	if err != nil {
		t.Fatal(err)
	}
	evilCtrl.RootCAs = noCert.RootCAs // trusts our CA, presents a foreign certificate
	for _, c := range []struct {
		name   string
		hv     string
		tls    *tls.Config
		wantOK bool
	}{
		{"controller certificate", "hv1", ctrlTLS, true},
		{"no client certificate", "hv1", noCert, false},
		{"foreign-CA client certificate", "hv1", evilCtrl, false},
		{"hypervisor with a foreign certificate", "hv-evil", ctrlTLS, false},
	} {
		t.Run("node API/"+c.name, func(t *testing.T) {
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: c.tls}}
			if c.tls == ctrlTLS {
				hc = ctrlHC
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// Term 0: a read without fencing (the controller's calls carry
			// the current term; a made-up one could be stale).
			_, err := nodes.NewClient(apiAddrs[c.hv], hc).List(ctx, 0)
			if c.wantOK && err != nil {
				t.Fatalf("list instances: %v", err)
			}
			if !c.wantOK {
				if err == nil {
					t.Fatal("the node API served the request")
				}
				var ce *tls.CertificateVerificationError
				if !errors.As(err, &ce) && !strings.Contains(err.Error(), "tls") && !strings.Contains(err.Error(), "certificate") {
					t.Fatalf("want a TLS failure, got %v", err)
				}
			}
		})
	}
	// Plain HTTP to the node API is refused too.
	plainURL := strings.Replace(apiAddrs["hv1"], "https://", "http://", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := nodes.NewClient(plainURL, &http.Client{Timeout: 5 * time.Second}).List(ctx, 1); err == nil {
		t.Fatal("the node API answered plain HTTP")
	}
}
