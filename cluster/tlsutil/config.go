// Package tlsutil loads certificates and builds the tls.Configs of aas:
// TLS for the HTTP API (ServerConfig / ClientConfig), mutual TLS for Raft
// and the hypervisor API (MutualConfig plus a client config with a
// certificate), a Raft StreamLayer over mutual TLS, and a small dev CA
// (ECDSA P-256) for `ctl tls`.
package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Sentinel errors.
var (
	// ErrNoCertificate: a config that needs a certificate got none.
	ErrNoCertificate = errors.New("tls: certificate and key required")
	// ErrNoCA: a config that verifies peers got no CA file.
	ErrNoCA = errors.New("tls: CA file required")
	// ErrBadPEM: a file holds no usable PEM data.
	ErrBadPEM = errors.New("tls: bad PEM")
)

// MinVersion is the lowest TLS version aas speaks.
const MinVersion = tls.VersionTLS12

// Files names the PEM files of a node (the -tls-cert, -tls-key and
// -tls-ca flags).
type Files struct {
	CertFile string
	KeyFile  string
	CAFile   string
}

// Enabled reports whether TLS is configured at all (a certificate is set).
func (f Files) Enabled() bool { return f.CertFile != "" || f.KeyFile != "" }

// LoadCAPool reads a PEM file of one or more CA certificates.
func LoadCAPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%w: %s: no CA certificate found", ErrBadPEM, path)
	}
	return pool, nil
}

// LoadKeyPair reads a certificate (chain) and its private key.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return tls.Certificate{}, fmt.Errorf("%w (cert %q, key %q)", ErrNoCertificate, certFile, keyFile)
	}
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: %s / %s: %v", ErrBadPEM, certFile, keyFile, err)
	}
	return c, nil
}

func base() *tls.Config {
	return &tls.Config{MinVersion: MinVersion}
}

// ServerConfig is the HTTP API's server side: it presents the certificate
// and does not ask for client certificates (ACL tokens authenticate API
// clients).
func ServerConfig(f Files) (*tls.Config, error) {
	cert, err := LoadKeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, err
	}
	c := base()
	c.Certificates = []tls.Certificate{cert}
	return c, nil
}

// ClientConfig verifies servers against the CA (RootCAs) and, when a
// certificate and key are given, presents them (needed by a server with
// MutualConfig). Without a CA file the system roots are used.
func ClientConfig(f Files) (*tls.Config, error) {
	c := base()
	if f.CAFile != "" {
		pool, err := LoadCAPool(f.CAFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if f.CertFile != "" || f.KeyFile != "" {
		cert, err := LoadKeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// MutualConfig is a server side that requires a client certificate signed
// by the CA (Raft, hypervisor API). It also carries RootCAs, so a clone
// can dial peers (see StreamLayer).
func MutualConfig(f Files) (*tls.Config, error) {
	if f.CAFile == "" {
		return nil, ErrNoCA
	}
	cert, err := LoadKeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, err
	}
	pool, err := LoadCAPool(f.CAFile)
	if err != nil {
		return nil, err
	}
	c := base()
	c.Certificates = []tls.Certificate{cert}
	c.ClientCAs = pool
	c.RootCAs = pool
	c.ClientAuth = tls.RequireAndVerifyClientCert
	return c, nil
}

// MutualClientConfig is the dialing side of mutual TLS: it presents the
// certificate and verifies the server against the CA.
func MutualClientConfig(f Files) (*tls.Config, error) {
	if f.CAFile == "" {
		return nil, ErrNoCA
	}
	if f.CertFile == "" || f.KeyFile == "" {
		return nil, ErrNoCertificate
	}
	return ClientConfig(f)
}
