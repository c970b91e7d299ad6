package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"aas/cluster/acl"
	"aas/cluster/api"
	"aas/cluster/secrets"
	"aas/cluster/tlsutil"
	"aas/fsm"
)

// security is what Config's security fields turn into at start (see
// cluster/acl/DESIGN.md for the threat model and the flags).
type security struct {
	// keyring seals and opens tenant secrets (never nil after New).
	keyring *secrets.Keyring
	// nodeTLS is the client side of mutual TLS towards hypervisor agents
	// (nil without TLS).
	nodeTLS *tls.Config
	// join authenticates server-to-server calls (nil without a join token).
	join *acl.JoinGuard
}

// validateSecurity checks the security fields of c (called from validate).
func (c *Config) validateSecurity() error {
	if c.TLS.Enabled() {
		if c.TLS.CertFile == "" || c.TLS.KeyFile == "" || c.TLS.CAFile == "" {
			return fmt.Errorf("%w: TLS needs all of -tls-cert, -tls-key and -tls-ca (got cert %q, key %q, ca %q)",
				ErrInvalidConfig, c.TLS.CertFile, c.TLS.KeyFile, c.TLS.CAFile)
		}
	} else if c.TLS.CAFile != "" {
		return fmt.Errorf("%w: -tls-ca %q given without -tls-cert and -tls-key", ErrInvalidConfig, c.TLS.CAFile)
	}
	if c.JoinToken != "" && len(c.JoinToken) < acl.MinSecretLen {
		return fmt.Errorf("%w: field JoinToken (-join-token) has %d characters, want at least %d", ErrInvalidConfig, len(c.JoinToken), acl.MinSecretLen)
	}
	if c.ACLBootstrapToken != "" {
		if !c.ACLEnabled {
			return fmt.Errorf("%w: -acl-bootstrap-token given without -acl-enabled", ErrInvalidConfig)
		}
		if len(c.ACLBootstrapToken) < acl.MinSecretLen {
			return fmt.Errorf("%w: field ACLBootstrapToken (-acl-bootstrap-token) has %d characters, want at least %d",
				ErrInvalidConfig, len(c.ACLBootstrapToken), acl.MinSecretLen)
		}
	}
	// With ACLs on, server-to-server calls are authenticated by the join
	// token; without one, a multi-server cluster could not forward writes.
	if c.ACLEnabled && c.JoinToken == "" && (c.BootstrapExpect > 1 || len(c.Join) > 0) {
		return fmt.Errorf("%w: -acl-enabled with other servers (-join or -bootstrap-expect > 1) needs -join-token", ErrInvalidConfig)
	}
	return nil
}

// setupSecurity loads the keys and certificates named in cfg and fills in
// the transport seams it derives from them (HTTPTLS, PeerHTTPClient).
// Seams set explicitly by the caller win.
func setupSecurity(cfg *Config) (*security, error) {
	sec := &security{}
	kr, created, err := secrets.LoadOrGenerate(cfg.SecretsKeyFile, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("cluster: secrets key: %w", err)
	}
	if created {
		cfg.Logger.Named("cluster").Info("generated the secrets key; copy it to every controller",
			"path", cfg.DataDir+"/"+secrets.KeyFileName, "key_id", kr.PrimaryKeyID())
	}
	sec.keyring = kr
	if cfg.JoinToken != "" {
		if sec.join, err = acl.NewJoinGuard(cfg.JoinToken); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
		}
	}
	var peerTLS *tls.Config
	if cfg.TLS.Enabled() {
		if cfg.HTTPTLS == nil {
			if cfg.HTTPTLS, err = tlsutil.ServerConfig(cfg.TLS); err != nil {
				return nil, fmt.Errorf("cluster: https api: %w", err)
			}
		}
		if peerTLS, err = tlsutil.MutualClientConfig(cfg.TLS); err != nil {
			return nil, fmt.Errorf("cluster: peer tls: %w", err)
		}
		if sec.nodeTLS, err = tlsutil.MutualClientConfig(cfg.TLS); err != nil {
			return nil, fmt.Errorf("cluster: node api tls: %w", err)
		}
	}
	if cfg.PeerHTTPClient == nil && (peerTLS != nil || cfg.JoinToken != "") {
		base := &http.Transport{MaxIdleConnsPerHost: 128, IdleConnTimeout: time.Minute, TLSClientConfig: peerTLS}
		cfg.PeerHTTPClient = &http.Client{Timeout: time.Minute, Transport: &acl.Transport{JoinToken: cfg.JoinToken, Base: base}}
	}
	return sec, nil
}

// secureHandler puts the ACL middleware (or, without ACLs, the join
// token guard of the internal calls) in front of the router.
func (s *Server) secureHandler(next http.Handler) http.Handler {
	switch {
	case s.cfg.ACLEnabled:
		opts := []acl.Option{acl.WithLogger(s.logger)}
		if s.sec.join != nil {
			opts = append(opts, acl.WithJoinGuard(s.sec.join))
		}
		return acl.Middleware(&acl.FSMResolver{State: s.fsm}, next, opts...)
	case s.sec.join != nil:
		return s.sec.join.Protect(next, acl.DefaultPolicy().InternalPrefix)
	}
	return next
}

// securityRoutes adds the ACL token endpoints and, with ACLs on, the
// leader service that bootstraps the first management token.
func (s *Server) securityRoutes() {
	e := &acl.Endpoints{State: s.fsm, Apply: s.applyCommand, Logger: s.logger}
	e.Register(s.Handle)
	if s.cfg.ACLEnabled {
		s.RegisterLeaderService("acl-bootstrap", s.runACLBootstrap)
	}
}

// applyCommand adapts Apply to acl.ApplyFunc.
func (s *Server) applyCommand(ctx context.Context, c fsm.Command) error {
	_, err := s.Apply(ctx, c.CommandType(), c)
	return err
}

// runACLBootstrap creates the bootstrap management token once per
// cluster (the FSM accepts a bootstrap command only while no management
// token exists), then idles until leadership ends.
func (s *Server) runACLBootstrap(ctx context.Context) error {
	done := false
	s.fsm.Read(func(st *fsm.State) { done = st.ACLBootstrapped() })
	if !done {
		tok, created, err := acl.Bootstrap(ctx, s.applyCommand, s.cfg.ACLBootstrapToken, time.Now())
		if err != nil {
			return err
		}
		if created {
			s.logger.Info("ACL bootstrap management token created", "accessor", tok.AccessorID, "given", s.cfg.ACLBootstrapToken != "")
			if s.cfg.ACLBootstrapToken == "" && s.cfg.OnBootstrapToken != nil {
				s.cfg.OnBootstrapToken(tok)
			}
		}
	}
	<-ctx.Done()
	return nil
}

// ErrUntrustedPeer: a joining server's Raft address does not present a
// certificate signed by the cluster CA (valid for that address), so it
// would never take part in the Raft group; it is not added (403).
var ErrUntrustedPeer = errors.New("cluster: raft peer has no certificate from the cluster CA")

// raftProbeTimeout bounds the TLS handshake with a joining server.
const raftProbeTimeout = 5 * time.Second

// verifyRaftPeer checks, with TLS on, that the Raft address of a joining
// server completes a mutual-TLS handshake: it presents a certificate from
// our CA valid for that address and accepts ours. Without it AddVoter
// would put a member into the configuration that can never replicate
// (and counts towards the quorum). Without TLS it does nothing.
func (s *Server) verifyRaftPeer(raftAddr string) error {
	if !s.cfg.TLS.Enabled() || s.sec.nodeTLS == nil {
		return nil
	}
	host, _, err := net.SplitHostPort(raftAddr)
	if err != nil {
		return fmt.Errorf("%w: raft address %q: %v", api.ErrBadRequest, raftAddr, err)
	}
	cfg := s.sec.nodeTLS.Clone()
	cfg.ServerName = host
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: raftProbeTimeout}, Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), raftProbeTimeout)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", raftAddr)
	if err != nil {
		return &api.StatusError{Code: http.StatusForbidden, Err: fmt.Errorf("%w: %s: %v", ErrUntrustedPeer, raftAddr, err)}
	}
	return conn.Close()
}

// Keyring seals and opens tenant secrets (AES-256-GCM under the cluster
// key from Config.SecretsKeyFile or DATA_DIR/secrets.key). The site
// reconciler opens a sealed template password with Keyring().Open right
// before it hands it to a driver.
func (s *Server) Keyring() *secrets.Keyring { return s.sec.keyring }

// NodeTLS is the client-side mutual TLS config for hypervisor agents'
// node API (our certificate, the cluster CA); nil without TLS.
func (s *Server) NodeTLS() *tls.Config {
	if s.sec.nodeTLS == nil {
		return nil
	}
	return s.sec.nodeTLS.Clone()
}

// NodeHTTPClient is an HTTP client for the hypervisor agents' node API:
// mutual TLS with this controller's certificate when TLS is configured,
// nil otherwise (callers then use their default client).
func (s *Server) NodeHTTPClient() *http.Client {
	c := s.NodeTLS()
	if c == nil {
		return nil
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: c, MaxIdleConnsPerHost: 16, IdleConnTimeout: time.Minute}}
}

// TLSEnabled reports whether the API, Raft and the node API use TLS.
func (s *Server) TLSEnabled() bool { return s.cfg.TLS.Enabled() }

// ACLEnabled reports whether API requests need ACL tokens.
func (s *Server) ACLEnabled() bool { return s.cfg.ACLEnabled }
