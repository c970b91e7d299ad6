package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var loopback = []net.IP{net.IPv4(127, 0, 0, 1)}

// devPKI writes a CA and certificates into a temp dir, as `ctl tls` does.
type devPKI struct {
	dir string
	ca  *CA
}

func newPKI(t *testing.T) *devPKI {
	t.Helper()
	dir := t.TempDir()
	ca, err := GenerateCA("aas test CA", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteCA(dir); err != nil {
		t.Fatal(err)
	}
	return &devPKI{dir: dir, ca: ca}
}

func (p *devPKI) files(t *testing.T, name string, client bool) Files {
	t.Helper()
	o := CertOptions{Name: name, Client: client}
	if !client {
		o.IPs = loopback
	}
	cert, key, err := p.ca.WriteCert(p.dir, o, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return Files{CertFile: cert, KeyFile: key, CAFile: filepath.Join(p.dir, CACertFile)}
}

// serve runs an HTTPS server with cfg on 127.0.0.1 and counts the requests
// that reach the handler.
func serve(t *testing.T, cfg *tls.Config) (addr string, hits *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hits = new(atomic.Int64)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			io.WriteString(w, "ok")
		}),
		ErrorLog:          nullLog(),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.Serve(tls.NewListener(ln, cfg))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), hits
}

func get(client *http.Client, url string) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func httpsClient(cfg *tls.Config) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

func TestAPIRefusesPlainHTTP(t *testing.T) {
	pki := newPKI(t)
	node := pki.files(t, "node1", false)
	scfg, err := ServerConfig(node)
	if err != nil {
		t.Fatal(err)
	}
	addr, hits := serve(t, scfg)

	// Plain HTTP never reaches the handler (Go's TLS server answers 400
	// to a request that is not a TLS handshake).
	code, err := get(&http.Client{Timeout: 10 * time.Second}, "http://"+addr+"/v1/status/leader")
	if err == nil && code/100 == 2 {
		t.Fatalf("plain HTTP got %d", code)
	}
	if hits.Load() != 0 {
		t.Fatal("a plain HTTP request reached the handler")
	}
	// A TLS client that trusts the CA gets through.
	ccfg, err := ClientConfig(Files{CAFile: node.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := get(httpsClient(ccfg), "https://"+addr+"/"); err != nil || code != 200 {
		t.Fatalf("TLS client: %d %v", code, err)
	}
	// A TLS client that does not trust the CA refuses the server.
	if _, err := get(httpsClient(&tls.Config{MinVersion: MinVersion}), "https://"+addr+"/"); err == nil {
		t.Fatal("client without the CA accepted the server certificate")
	}
	if hits.Load() != 1 {
		t.Fatalf("handler hits = %d, want 1", hits.Load())
	}
}

func TestMutualTLSRequiresCASignedClientCert(t *testing.T) {
	pki := newPKI(t)
	foreign := newPKI(t)
	server := pki.files(t, "hv1", false)
	mcfg, err := MutualConfig(server)
	if err != nil {
		t.Fatal(err)
	}
	addr, hits := serve(t, mcfg)

	trustOnly := Files{CAFile: server.CAFile}
	foreignCert := foreign.files(t, "intruder", true)
	foreignCert.CAFile = server.CAFile // trusts our server, presents a foreign cert
	for _, tc := range []struct {
		name  string
		files Files
		ok    bool
	}{
		{"client cert from the CA", pki.files(t, "ctl", true), true},
		{"node cert from the CA", pki.files(t, "node2", false), true},
		{"no client cert", trustOnly, false},
		{"client cert from a foreign CA", foreignCert, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ClientConfig(tc.files)
			if err != nil {
				t.Fatal(err)
			}
			before := hits.Load()
			code, err := get(httpsClient(cfg), "https://"+addr+"/")
			if tc.ok && (err != nil || code != 200) {
				t.Fatalf("refused: %d %v", code, err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("accepted with status %d", code)
			}
			if !tc.ok && hits.Load() != before {
				t.Fatal("request reached the handler")
			}
		})
	}
}

func TestServerCertIsCheckedAgainstAddress(t *testing.T) {
	pki := newPKI(t)
	// Certificate for another IP: a client dialling 127.0.0.1 must refuse it.
	cert, key, err := pki.ca.WriteCert(pki.dir, CertOptions{Name: "elsewhere", IPs: []net.IP{net.ParseIP("198.18.0.9")}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	scfg, err := ServerConfig(Files{CertFile: cert, KeyFile: key})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := serve(t, scfg)
	ccfg, _ := ClientConfig(Files{CAFile: filepath.Join(pki.dir, CACertFile)})
	_, err = get(httpsClient(ccfg), "https://"+addr+"/")
	var hostErr x509.HostnameError
	if !errors.As(err, &hostErr) {
		t.Fatalf("want a hostname verification error, got %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	pki := newPKI(t)
	ok := pki.files(t, "n", false)
	garbage := filepath.Join(pki.dir, "garbage.pem")
	os.WriteFile(garbage, []byte("not pem"), 0o600)
	for _, tc := range []struct {
		name  string
		build func(Files) (*tls.Config, error)
		files Files
		want  error
		names string // substring the error must contain
	}{
		{"server without cert", ServerConfig, Files{}, ErrNoCertificate, ""},
		{"server missing key file", ServerConfig, Files{CertFile: ok.CertFile, KeyFile: filepath.Join(pki.dir, "nope.pem")}, ErrBadPEM, "nope.pem"},
		{"mutual without CA", MutualConfig, Files{CertFile: ok.CertFile, KeyFile: ok.KeyFile}, ErrNoCA, ""},
		{"mutual with garbage CA", MutualConfig, Files{CertFile: ok.CertFile, KeyFile: ok.KeyFile, CAFile: garbage}, ErrBadPEM, "garbage.pem"},
		{"client with missing CA", ClientConfig, Files{CAFile: filepath.Join(pki.dir, "missing-ca.pem")}, os.ErrNotExist, "missing-ca.pem"},
		{"mutual client without cert", MutualClientConfig, Files{CAFile: ok.CAFile}, ErrNoCertificate, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.build(tc.files)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.names) {
				t.Fatalf("error %q does not name %q", err, tc.names)
			}
		})
	}
}

func TestDevCAFiles(t *testing.T) {
	pki := newPKI(t)
	if err := pki.ca.WriteCA(pki.dir); !errors.Is(err, ErrExists) {
		t.Fatalf("second WriteCA = %v, want ErrExists", err)
	}
	loaded, err := LoadCA(pki.dir)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Cert.Equal(pki.ca.Cert) {
		t.Fatal("loaded CA differs")
	}
	for _, f := range []struct {
		name string
		mode os.FileMode
	}{{CAKeyFile, 0o600}, {CACertFile, 0o644}} {
		fi, err := os.Stat(filepath.Join(pki.dir, f.name))
		if err != nil || fi.Mode().Perm() != f.mode {
			t.Fatalf("%s: %v mode %v, want %v", f.name, err, fi.Mode().Perm(), f.mode)
		}
	}
	node := pki.files(t, "node1", false)
	client := pki.files(t, "ops", true)
	if _, _, err := loaded.WriteCert(pki.dir, CertOptions{Name: "node1", IPs: loopback}, time.Now()); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite = %v, want ErrExists", err)
	}
	for _, tc := range []struct {
		files     Files
		wantUsage []x509.ExtKeyUsage
		wantIPs   int
	}{
		{node, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, 1},
		{client, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, 0},
	} {
		pair, err := LoadKeyPair(tc.files.CertFile, tc.files.KeyFile)
		if err != nil {
			t.Fatal(err)
		}
		leaf, _ := x509.ParseCertificate(pair.Certificate[0])
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pki.ca.Pool(), KeyUsages: tc.wantUsage}); err != nil {
			t.Fatalf("%s does not verify for %v: %v", leaf.Subject.CommonName, tc.wantUsage, err)
		}
		if len(leaf.IPAddresses) != tc.wantIPs || len(leaf.ExtKeyUsage) != len(tc.wantUsage) {
			t.Fatalf("%s: IPs %v usage %v", leaf.Subject.CommonName, leaf.IPAddresses, leaf.ExtKeyUsage)
		}
		if leaf.NotAfter.Sub(leaf.NotBefore) > DefaultCertValidity+2*time.Hour {
			t.Fatalf("validity %v", leaf.NotAfter.Sub(leaf.NotBefore))
		}
	}
	for _, bad := range []CertOptions{{Name: "../x", IPs: loopback}, {Name: "", IPs: loopback}, {Name: "nosan"}} {
		if _, _, err := loaded.WriteCert(pki.dir, bad, time.Now()); err == nil {
			t.Fatalf("WriteCert(%+v) succeeded", bad)
		}
	}
}
