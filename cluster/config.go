// Package cluster is the controller: a Raft node (TCP transport, BoltDB
// log/stable store, file snapshots) over the replicated fsm, join/leave and
// bootstrap-expect, write forwarding to the leader, the leader loop with its
// leader-only services, gossip membership and hypervisor liveness, and the
// HTTP API. See DESIGN.md beside this file.
package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"aas/cluster/acl"
	"aas/cluster/tlsutil"
)

// ErrInvalidConfig is wrapped by every Config validation failure.
var ErrInvalidConfig = errors.New("cluster: invalid config")

// RaftTiming are the raft timeouts an operator tunes for failover speed
// against false elections.
type RaftTiming struct {
	// HeartbeatTimeout: a follower without contact from the leader for a
	// random time in [HeartbeatTimeout, 2×HeartbeatTimeout) starts an election.
	HeartbeatTimeout time.Duration
	// ElectionTimeout: a candidate without a result after a random time in
	// [ElectionTimeout, 2×ElectionTimeout) starts a new election.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout: a leader without contact from a quorum this long
	// steps down. Must not exceed HeartbeatTimeout.
	LeaderLeaseTimeout time.Duration
	// CommitTimeout: the longest a follower waits for the leader to tell it
	// the commit index without new entries.
	CommitTimeout time.Duration
}

// Raft timing profiles (see DESIGN.md for the measured failover times).
const (
	// ProfileDefault is hashicorp/raft's DefaultConfig: 1s/1s/500ms/50ms.
	ProfileDefault = "default"
	// ProfileTuned suits controllers on one LAN or nearby clouds (RTT well
	// under 50 ms): 300ms/300ms/250ms/20ms.
	ProfileTuned = "tuned"
	// ProfileFast is for tests and the dev agent on loopback: 100ms/100ms/
	// 100ms/10ms. Too aggressive for real networks.
	ProfileFast = "fast"
)

// RaftProfile returns the named timing profile.
func RaftProfile(name string) (RaftTiming, error) {
	switch name {
	case ProfileDefault, "":
		return RaftTiming{time.Second, time.Second, 500 * time.Millisecond, 50 * time.Millisecond}, nil
	case ProfileTuned:
		return RaftTiming{300 * time.Millisecond, 300 * time.Millisecond, 250 * time.Millisecond, 20 * time.Millisecond}, nil
	case ProfileFast:
		return RaftTiming{100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond, 10 * time.Millisecond}, nil
	}
	return RaftTiming{}, fmt.Errorf("%w: raft profile %q (want %s, %s or %s)", ErrInvalidConfig, name, ProfileDefault, ProfileTuned, ProfileFast)
}

func (t RaftTiming) validate() error {
	if t.HeartbeatTimeout < 5*time.Millisecond || t.ElectionTimeout < 5*time.Millisecond ||
		t.LeaderLeaseTimeout < 5*time.Millisecond || t.CommitTimeout < time.Millisecond {
		return fmt.Errorf("%w: raft timeouts too small (heartbeat %v, election %v, leader-lease %v, commit %v)",
			ErrInvalidConfig, t.HeartbeatTimeout, t.ElectionTimeout, t.LeaderLeaseTimeout, t.CommitTimeout)
	}
	if t.LeaderLeaseTimeout > t.HeartbeatTimeout {
		return fmt.Errorf("%w: raft leader-lease timeout %v exceeds heartbeat timeout %v",
			ErrInvalidConfig, t.LeaderLeaseTimeout, t.HeartbeatTimeout)
	}
	return nil
}

// Config configures a controller.
type Config struct {
	// NodeID is this controller's raft server ID and gossip name.
	NodeID string
	// Cloud is the cloud this controller runs (informational for now).
	Cloud string
	// DataDir holds the raft log, snapshots and the peer directory; it
	// survives restarts (layout in DESIGN.md).
	DataDir string
	// HTTPAddr, RaftAddr, GossipAddr are host:port to bind and advertise;
	// port 0 picks a free port. The host must be an address peers can reach
	// (not 0.0.0.0). GossipAddr "" disables gossip.
	HTTPAddr   string
	RaftAddr   string
	GossipAddr string
	// GossipKey is the optional gossip encryption key (16, 24 or 32 bytes).
	GossipKey []byte
	// GossipFast selects the gossip test timing (loopback only).
	GossipFast bool

	// Bootstrap makes a node with no raft state bootstrap a configuration
	// with only itself (the dev agent).
	Bootstrap bool
	// BootstrapExpect: when this many servers (including this one) with
	// the same expectation and no raft state have discovered each other
	// through Join, the configuration is bootstrapped with them.
	BootstrapExpect int
	// Join lists controller HTTP addresses to discover and join.
	Join []string
	// JoinRetryMax caps the back-off between join rounds (default 5s).
	JoinRetryMax time.Duration

	// Raft is the timing; zero fields take ProfileDefault's values.
	Raft RaftTiming
	// RaftNoSync skips fsync on the log (benchmarks only: unsafe).
	RaftNoSync bool
	// SnapshotThreshold and SnapshotInterval override raft's defaults
	// (8192 entries, 120s) when non-zero.
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration

	// ReconcileInterval is how often the leader re-reads gossip into the
	// FSM even without a change notification (default 5s).
	ReconcileInterval time.Duration

	// Logger is the root of this node's log tree (nil: discard).
	Logger hclog.Logger

	// Seams for transport security (all optional):
	//
	// RaftStreamLayer replaces the plain TCP raft transport (e.g. a TLS
	// stream layer); its Addr is advertised and RaftAddr is not bound.
	RaftStreamLayer raft.StreamLayer
	// HTTPTLS serves the HTTP API over TLS; controllers then call each
	// other with https:// and PeerHTTPClient.
	HTTPTLS *tls.Config
	// PeerHTTPClient is the client for controller-to-controller calls
	// (forwarding, join, discovery); nil: a pooled plain client.
	PeerHTTPClient *http.Client
	// HTTPMiddleware wraps the API handler (outside the ACL checks).
	HTTPMiddleware func(http.Handler) http.Handler

	// Security (all optional; see security.go and cluster/acl/DESIGN.md):
	//
	// TLS names the PEM files (-tls-cert, -tls-key, -tls-ca). When set:
	// the HTTP API is HTTPS only (tlsutil.ServerConfig, no client
	// certificates), Raft runs over mutual TLS (a peer needs a certificate
	// signed by the CA, with an IP SAN for its Raft address), peers are
	// called over https presenting our certificate, and NodeHTTPClient
	// speaks mutual TLS to the hypervisor agents. All three files are
	// required together.
	TLS tlsutil.Files
	// ACLEnabled puts acl.Middleware in front of the API: every request
	// but /readyz and /v1/health needs a token (403 otherwise).
	ACLEnabled bool
	// ACLBootstrapToken is the secret of the first management token
	// (at least 16 characters); empty with ACLEnabled: one is generated
	// and handed to OnBootstrapToken once. Ignored once the cluster has a
	// management token.
	ACLBootstrapToken string
	// OnBootstrapToken receives a generated bootstrap token (the agent
	// prints it once on stdout; never logged).
	OnBootstrapToken func(acl.CreatedToken)
	// JoinToken (at least 16 characters) authenticates server-to-server
	// calls (/v1/internal/...): a server without it cannot join, forward
	// writes or add voters. Required with ACLEnabled when there are other
	// servers.
	JoinToken string
	// SecretsKeyFile is the cluster key sealing tenant secrets
	// (should_encrypt_pwd); "" uses DataDir/secrets.key, generated at
	// first start. All controllers need the same key.
	SecretsKeyFile string
}

func (c *Config) setDefaults() {
	d, _ := RaftProfile(ProfileDefault)
	if c.Raft.HeartbeatTimeout == 0 {
		c.Raft.HeartbeatTimeout = d.HeartbeatTimeout
	}
	if c.Raft.ElectionTimeout == 0 {
		c.Raft.ElectionTimeout = d.ElectionTimeout
	}
	if c.Raft.LeaderLeaseTimeout == 0 {
		c.Raft.LeaderLeaseTimeout = min(d.LeaderLeaseTimeout, c.Raft.HeartbeatTimeout)
	}
	if c.Raft.CommitTimeout == 0 {
		c.Raft.CommitTimeout = d.CommitTimeout
	}
	if c.JoinRetryMax == 0 {
		c.JoinRetryMax = 5 * time.Second
	}
	if c.ReconcileInterval == 0 {
		c.ReconcileInterval = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
}

func (c *Config) validate() error {
	if c.NodeID == "" {
		return fmt.Errorf("%w: field NodeID (-node-id) is empty", ErrInvalidConfig)
	}
	if strings.ContainsAny(c.NodeID, "/ \t\n") {
		return fmt.Errorf("%w: field NodeID %q must not contain '/' or spaces", ErrInvalidConfig, c.NodeID)
	}
	if c.DataDir == "" {
		return fmt.Errorf("%w: field DataDir (-data-dir) is empty", ErrInvalidConfig)
	}
	if err := checkAdvertisable("HTTPAddr (-http-addr)", c.HTTPAddr); err != nil {
		return err
	}
	if c.RaftStreamLayer == nil {
		if err := checkAdvertisable("RaftAddr (-raft-addr)", c.RaftAddr); err != nil {
			return err
		}
	}
	if c.GossipAddr != "" {
		if err := checkAdvertisable("GossipAddr (-gossip-addr)", c.GossipAddr); err != nil {
			return err
		}
	}
	switch len(c.GossipKey) {
	case 0, 16, 24, 32:
	default:
		return fmt.Errorf("%w: field GossipKey (-encrypt) is %d bytes, want 16, 24 or 32", ErrInvalidConfig, len(c.GossipKey))
	}
	if c.BootstrapExpect < 0 {
		return fmt.Errorf("%w: field BootstrapExpect (-bootstrap-expect) is %d", ErrInvalidConfig, c.BootstrapExpect)
	}
	if c.Bootstrap && c.BootstrapExpect > 1 {
		return fmt.Errorf("%w: Bootstrap and BootstrapExpect %d exclude each other", ErrInvalidConfig, c.BootstrapExpect)
	}
	if err := c.validateSecurity(); err != nil {
		return err
	}
	return c.Raft.validate()
}

func checkAdvertisable(name, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: field %s %q: %v", ErrInvalidConfig, name, addr, err)
	}
	if port == "" {
		return fmt.Errorf("%w: field %s %q has no port", ErrInvalidConfig, name, addr)
	}
	ip := net.ParseIP(host)
	if host == "" || (ip != nil && ip.IsUnspecified()) {
		return fmt.Errorf("%w: field %s %q: give an address peers can reach, not an unspecified host", ErrInvalidConfig, name, addr)
	}
	return nil
}
