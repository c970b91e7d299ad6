package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"

	"aas/cluster/acl"
	"aas/cluster/tlsutil"
)

// Environment variables the agent reads when the matching flag is empty,
// so that secrets need not appear on a command line (ps, shell history).
const (
	envACLBootstrapToken = "AAS_ACL_BOOTSTRAP_TOKEN"
	envJoinToken         = "AAS_JOIN_TOKEN"
)

// agentSecurity are the security flags of `ctl agent` (see
// cluster/acl/DESIGN.md and docs/security.md).
type agentSecurity struct {
	tlsCert, tlsKey, tlsCA string
	aclEnabled             bool
	aclBootstrapToken      string
	joinToken              string
	secretsKeyFile         string
}

// addAgentSecurityFlags defines the security flags on fs.
func addAgentSecurityFlags(fs *flag.FlagSet, s *agentSecurity) {
	fs.StringVar(&s.tlsCert, "tls-cert", "", "PEM certificate of this node (IP SAN for its addresses): HTTPS API, mutual TLS for Raft and the hypervisor API")
	fs.StringVar(&s.tlsKey, "tls-key", "", "PEM private key of -tls-cert")
	fs.StringVar(&s.tlsCA, "tls-ca", "", "PEM CA certificate every peer's certificate must be signed by (required with -tls-cert)")
	fs.BoolVar(&s.aclEnabled, "acl-enabled", false, "servers: require an ACL token on every API request except /readyz and /v1/health")
	fs.StringVar(&s.aclBootstrapToken, "acl-bootstrap-token", "", "servers: secret of the first management token (>= 16 chars; default $"+envACLBootstrapToken+"; empty: generated and printed once on stdout)")
	fs.StringVar(&s.joinToken, "join-token", "", "servers: shared secret of server-to-server calls, required to join (>= 16 chars; default $"+envJoinToken+")")
	fs.StringVar(&s.secretsKeyFile, "secrets-key-file", "", "servers: cluster key sealing tenant passwords (64 hex digits, mode 0600; default DATA_DIR/secrets.key, generated)")
}

// resolve fills empty secrets from the environment and checks the flag
// combinations that do not depend on the role.
func (s *agentSecurity) resolve() error {
	if s.aclBootstrapToken == "" {
		s.aclBootstrapToken = os.Getenv(envACLBootstrapToken)
	}
	if s.joinToken == "" {
		s.joinToken = os.Getenv(envJoinToken)
	}
	files := s.files()
	if files.Enabled() || files.CAFile != "" {
		if files.CertFile == "" || files.KeyFile == "" || files.CAFile == "" {
			return fmt.Errorf("TLS needs all of -tls-cert, -tls-key and -tls-ca (got %q, %q, %q)", files.CertFile, files.KeyFile, files.CAFile)
		}
	}
	return nil
}

// files are the TLS PEM files.
func (s *agentSecurity) files() tlsutil.Files {
	return tlsutil.Files{CertFile: s.tlsCert, KeyFile: s.tlsKey, CAFile: s.tlsCA}
}

// nodeAPITLS is the hypervisor API's server config: mutual TLS (a caller
// needs a certificate signed by -tls-ca); nil without TLS.
func (s *agentSecurity) nodeAPITLS() (*tls.Config, error) {
	if !s.files().Enabled() {
		return nil, nil
	}
	c, err := tlsutil.MutualConfig(s.files())
	if err != nil {
		return nil, fmt.Errorf("hypervisor API TLS: %w", err)
	}
	return c, nil
}

// stdoutMu serialises the agent's own lines on stdout.
var stdoutMu sync.Mutex

// printBootstrapToken returns the callback that shows a generated
// bootstrap management token once, on stdout only (never in the log).
func printBootstrapToken(stdout io.Writer) func(acl.CreatedToken) {
	return func(tok acl.CreatedToken) {
		stdoutMu.Lock()
		defer stdoutMu.Unlock()
		fmt.Fprintf(stdout, "ACL bootstrap token (management, shown once; store it safely):\nAccessorID:  %s\nSecretID:    %s\n", tok.AccessorID, tok.Secret)
	}
}
