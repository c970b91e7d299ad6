package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// Dev CA file names inside a CA directory.
const (
	CACertFile = "ca.pem"
	CAKeyFile  = "ca-key.pem"
)

// Default validities.
const (
	DefaultCAValidity   = 5 * 365 * 24 * time.Hour
	DefaultCertValidity = 365 * 24 * time.Hour
)

// ErrExists: CreateCA or WriteCert would overwrite a file.
var ErrExists = errors.New("tls: file exists")

// CA is a certificate authority held in memory (a dev CA: its key sits
// in a file next to the certificate).
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// GenerateCA makes a self-signed ECDSA P-256 CA valid from now-1h for
// validity (DefaultCAValidity when 0).
func GenerateCA(commonName string, now time.Time, validity time.Duration) (*CA, error) {
	if validity <= 0 {
		validity = DefaultCAValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tls ca: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"aas"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tls ca: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("tls ca: %w", err)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// CertOptions describe a leaf certificate.
type CertOptions struct {
	// Name is the common name (and the file name stem for WriteCert).
	Name string
	// IPs and DNSNames are the subject alternative names. Peers are
	// verified by the host of the address they are dialled at.
	IPs      []net.IP
	DNSNames []string
	// Client makes a client-only certificate (ctl, hypervisor callers);
	// otherwise the certificate is for a node: server and client auth,
	// since controllers both accept and dial Raft connections.
	Client bool
	// Validity from now (DefaultCertValidity when 0); capped by the CA's.
	Validity time.Duration
}

// Issue signs a new ECDSA P-256 key pair and returns certificate and key
// as PEM.
func (ca *CA) Issue(o CertOptions, now time.Time) (certPEM, keyPEM []byte, err error) {
	if o.Name == "" {
		return nil, nil, errors.New("tls cert: name required")
	}
	if !o.Client && len(o.IPs) == 0 && len(o.DNSNames) == 0 {
		return nil, nil, fmt.Errorf("tls cert %q: a server certificate needs at least one IP or DNS name", o.Name)
	}
	if o.Validity <= 0 {
		o.Validity = DefaultCertValidity
	}
	notAfter := now.Add(o.Validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("tls cert: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	if o.Client {
		usage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: o.Name, Organization: []string{"aas"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
		IPAddresses:  o.IPs,
		DNSNames:     o.DNSNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls cert: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("tls cert: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// KeyPair issues a certificate and returns it as a tls.Certificate (tests
// and in-process use).
func (ca *CA) KeyPair(o CertOptions, now time.Time) (tls.Certificate, error) {
	c, k, err := ca.Issue(o, now)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(c, k)
}

// Pool returns a pool holding the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// CertPEM is the CA certificate as PEM.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// WriteCA writes dir/ca.pem (0644) and dir/ca-key.pem (0600); it refuses
// to overwrite either (ErrExists).
func (ca *CA) WriteCA(dir string) error {
	keyDER, err := x509.MarshalECPrivateKey(ca.Key)
	if err != nil {
		return fmt.Errorf("tls ca: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("tls ca: %w", err)
	}
	if err := checkAbsent(filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)); err != nil {
		return err
	}
	if err := writeExclusive(filepath.Join(dir, CAKeyFile), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeExclusive(filepath.Join(dir, CACertFile), ca.CertPEM(), 0o644)
}

// LoadCA reads dir/ca.pem and dir/ca-key.pem.
func LoadCA(dir string) (*CA, error) {
	certFile, keyFile := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	pair, err := LoadKeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s: not an ECDSA key", ErrBadPEM, keyFile)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadPEM, certFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%w: %s: not a CA certificate", ErrBadPEM, certFile)
	}
	return &CA{Cert: cert, Key: key}, nil
}

var certNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// WriteCert issues a certificate and writes dir/NAME.pem (0644) and
// dir/NAME-key.pem (0600), refusing to overwrite (ErrExists). It returns
// the two paths.
func (ca *CA) WriteCert(dir string, o CertOptions, now time.Time) (certFile, keyFile string, err error) {
	if !certNameRE.MatchString(o.Name) {
		return "", "", fmt.Errorf("tls cert: name %q: want 1-63 characters of [A-Za-z0-9_.-] starting with a letter or digit", o.Name)
	}
	certFile, keyFile = filepath.Join(dir, o.Name+".pem"), filepath.Join(dir, o.Name+"-key.pem")
	if err := checkAbsent(certFile, keyFile); err != nil {
		return "", "", err
	}
	c, k, err := ca.Issue(o, now)
	if err != nil {
		return "", "", err
	}
	if err := writeExclusive(keyFile, k, 0o600); err != nil {
		return "", "", err
	}
	if err := writeExclusive(certFile, c, 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

func checkAbsent(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, p)
		}
	}
	return nil
}

func writeExclusive(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		return fmt.Errorf("tls: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("tls: %s: %w", path, err)
	}
	return f.Close()
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tls: serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}
