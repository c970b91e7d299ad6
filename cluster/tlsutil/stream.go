package tlsutil

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

var _ raft.StreamLayer = (*StreamLayer)(nil)

// HandshakeTimeout bounds a TLS handshake on a Raft connection, so that a
// peer that connects and says nothing cannot hold a connection forever.
const HandshakeTimeout = 10 * time.Second

// StreamLayer is a raft.StreamLayer over mutual TLS: inbound connections
// must present a certificate signed by the CA, outbound ones present ours
// and verify the peer's. Use it with raft.NewNetworkTransport.
type StreamLayer struct {
	ln        net.Listener
	advertise net.Addr
	server    *tls.Config
	client    *tls.Config
}

// NewStreamLayer listens on bind (host:port; port 0 picks one). server
// must require client certificates (MutualConfig); client must carry a
// certificate and RootCAs (MutualClientConfig). advertise may be nil
// (the listener's address).
func NewStreamLayer(bind string, advertise net.Addr, server, client *tls.Config) (*StreamLayer, error) {
	if server == nil || client == nil {
		return nil, errors.New("tls stream layer: server and client configs required")
	}
	if server.ClientAuth != tls.RequireAndVerifyClientCert {
		return nil, errors.New("tls stream layer: server config must require and verify client certificates (MutualConfig)")
	}
	if len(client.Certificates) == 0 && client.GetClientCertificate == nil {
		return nil, fmt.Errorf("tls stream layer: client config: %w", ErrNoCertificate)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("tls stream layer: listen %s: %w", bind, err)
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	if ta, ok := advertise.(*net.TCPAddr); !ok || ta.IP == nil || ta.IP.IsUnspecified() {
		ln.Close()
		return nil, fmt.Errorf("tls stream layer: advertise address %v is not a routable host:port", advertise)
	}
	return &StreamLayer{ln: ln, advertise: advertise, server: server, client: client}, nil
}

// Dial connects to a peer and completes the TLS handshake within timeout.
// The peer's certificate must be valid for the host of address (IP SAN).
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	cfg := s.client.Clone()
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(string(address))
		if err != nil {
			return nil, fmt.Errorf("tls stream layer: %w", err)
		}
		cfg.ServerName = host
	}
	d := &net.Dialer{Timeout: timeout}
	conn, err := tls.DialWithDialer(d, "tcp", string(address), cfg)
	if err != nil {
		return nil, fmt.Errorf("tls stream layer: dial %s: %w", address, err)
	}
	return conn, nil
}

// Accept waits for the next connection. The handshake runs on the first
// read or write (in raft's per-connection goroutine, not in the accept
// loop), bounded by HandshakeTimeout; a peer without a CA-signed
// certificate fails there and raft drops the connection.
func (s *StreamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &handshakeConn{Conn: tls.Server(c, s.server)}, nil
}

// Close stops the listener.
func (s *StreamLayer) Close() error { return s.ln.Close() }

// Addr is the advertised address.
func (s *StreamLayer) Addr() net.Addr { return s.advertise }

// handshakeConn runs the server handshake once, with a deadline, before
// the first read or write.
type handshakeConn struct {
	*tls.Conn
	once sync.Once
	err  error
}

func (c *handshakeConn) handshake() error {
	c.once.Do(func() {
		_ = c.Conn.SetDeadline(time.Now().Add(HandshakeTimeout))
		c.err = c.Conn.Handshake()
		_ = c.Conn.SetDeadline(time.Time{})
		if c.err != nil {
			c.Conn.Close()
		}
	})
	return c.err
}

func (c *handshakeConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *handshakeConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// NewRaftTransport is the mutual-TLS replacement for
// raft.NewTCPTransportWithLogger: it builds MutualConfig and
// MutualClientConfig from files, a StreamLayer on bind, and a
// NetworkTransport over it.
func NewRaftTransport(bind string, advertise net.Addr, files Files, maxPool int, timeout time.Duration, logger hclog.Logger) (*raft.NetworkTransport, error) {
	server, err := MutualConfig(files)
	if err != nil {
		return nil, err
	}
	client, err := MutualClientConfig(files)
	if err != nil {
		return nil, err
	}
	sl, err := NewStreamLayer(bind, advertise, server, client)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: sl, MaxPool: maxPool, Timeout: timeout, Logger: logger,
	}), nil
}
