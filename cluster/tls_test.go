package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// selfSigned returns a server config and a client trusting it (127.0.0.1).
func selfSigned(t *testing.T) (*tls.Config, *http.Client) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "aas-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	srv := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	cl := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	return srv, cl
}

// TestTLSAndMiddlewareSeams runs a 3-node cluster whose API is HTTPS only:
// discovery, bootstrap-expect and write forwarding go over TLS, and every
// request passes the configured middleware.
func TestTLSAndMiddlewareSeams(t *testing.T) {
	srvTLS, peer := selfSigned(t)
	var seen atomic.Int64
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen.Add(1)
			next.ServeHTTP(w, r)
		})
	}
	var servers []*Server
	for i := 1; i <= 3; i++ {
		cfg := testConfig(t, fmt.Sprintf("s%d", i))
		cfg.BootstrapExpect = 3
		cfg.HTTPTLS, cfg.PeerHTTPClient, cfg.HTTPMiddleware = srvTLS, peer, mw
		if i > 1 {
			cfg.Join = []string{"https://" + servers[0].HTTPAddr()}
		}
		servers = append(servers, startServer(t, cfg))
	}
	var leader *Server
	waitFor(t, 30*time.Second, "a leader with established leadership", func() (bool, string) {
		for _, s := range servers {
			if s.LeadershipEstablished() {
				leader = s
				return true, ""
			}
		}
		return false, ""
	})
	f := followers(servers, leader)
	writeHypervisor(t, f[0], "over-tls") // forwarded over HTTPS
	waitHypervisors(t, servers, []string{"over-tls"})
	if seen.Load() == 0 {
		t.Fatal("middleware saw no request")
	}
	// Plain HTTP is refused.
	resp, err := http.Get("http://" + leader.HTTPAddr() + "/v1/status/leader")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served on a TLS listener")
		}
	}
}
