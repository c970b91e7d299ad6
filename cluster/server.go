package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"aas/cluster/api"
	"aas/cluster/client"
	"aas/cluster/tlsutil"
	"aas/fsm"
)

// Sentinel errors of the controller.
var (
	// ErrNodeIDMismatch: the data dir belongs to another node ID.
	ErrNodeIDMismatch = errors.New("cluster: data dir belongs to another node id")
	// ErrShutdown: the server is shutting down.
	ErrShutdown = errors.New("cluster: server shut down")
	// ErrCommandRejected wraps an error the FSM returned for a command
	// (errors.Is also matches the fsm sentinel when applied locally).
	ErrCommandRejected = errors.New("cluster: command rejected")
)

// Data dir layout (see DESIGN.md).
const (
	nodeIDFile    = "node-id"
	raftDir       = "raft"
	raftDBFile    = "raft.db"
	peersFile     = "peers.json"
	snapshotsKept = 2
)

// Server is one controller: raft node, HTTP API, gossip member.
type Server struct {
	cfg    Config
	logger hclog.Logger

	fsm   *fsm.FSM
	timed *timedFSM // fsm with Apply timed; what raft applies to
	raft  *raft.Raft
	trans *raft.NetworkTransport
	store *raftboltdb.BoltStore
	snaps *raft.FileSnapshotStore

	sec    *security
	dir    *directory
	gossip Membership // nil when gossip is disabled
	self   api.Identity

	router  *api.Router
	httpLn  net.Listener
	httpSrv *http.Server
	// peerHTTP is the pooled client for controller-to-controller calls
	// (forwarding, join); it keeps enough idle connections for batching.
	peerHTTP *http.Client

	leaderNotify chan bool
	leader       leaderState
	// reconcileCh wakes the liveness reconciler (coalesced).
	reconcileCh chan struct{}

	shutdownCh  chan struct{}
	shutdownMu  sync.Mutex
	isShutdown  bool
	doneCh      chan struct{}
	doneOnce    sync.Once
	wg          sync.WaitGroup
	leaveMu     sync.Mutex
	leaving     atomic.Bool
	httpStopped chan struct{}
}

// New opens the data dir, starts raft, gossip and the HTTP API, and
// returns the running server. Shutdown (or Leave) stops it.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger.Named("cluster")
	s := &Server{
		cfg:          cfg,
		logger:       logger,
		fsm:          fsm.New(cfg.Logger),
		leaderNotify: make(chan bool, 16),
		reconcileCh:  make(chan struct{}, 1),
		shutdownCh:   make(chan struct{}),
		doneCh:       make(chan struct{}),
		httpStopped:  make(chan struct{}),
		peerHTTP: &http.Client{Timeout: time.Minute, Transport: &http.Transport{
			MaxIdleConnsPerHost: 128, IdleConnTimeout: time.Minute, ForceAttemptHTTP2: false,
		}},
	}
	s.leader.services = map[string]LeaderServiceFunc{}
	ok := false
	defer func() {
		if !ok {
			s.abortStart()
		}
	}()
	if err := s.openDataDir(); err != nil {
		return nil, err
	}
	sec, err := setupSecurity(&s.cfg)
	if err != nil {
		return nil, err
	}
	s.sec, cfg = sec, s.cfg
	if s.httpLn, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return nil, fmt.Errorf("cluster: http listen %s: %w", cfg.HTTPAddr, err)
	}
	if cfg.RaftStreamLayer != nil {
		s.trans = raft.NewNetworkTransportWithLogger(cfg.RaftStreamLayer, 3, 10*time.Second, cfg.Logger.Named("raft-net"))
	} else if cfg.TLS.Enabled() {
		if s.trans, err = tlsutil.NewRaftTransport(cfg.RaftAddr, nil, cfg.TLS, 3, 10*time.Second, cfg.Logger.Named("raft-net")); err != nil {
			return nil, fmt.Errorf("cluster: raft tls transport %s: %w", cfg.RaftAddr, err)
		}
	} else if s.trans, err = raft.NewTCPTransportWithLogger(cfg.RaftAddr, nil, 3, 10*time.Second, cfg.Logger.Named("raft-net")); err != nil {
		return nil, fmt.Errorf("cluster: raft transport %s: %w", cfg.RaftAddr, err)
	}
	if cfg.PeerHTTPClient != nil {
		s.peerHTTP = cfg.PeerHTTPClient
	}
	s.self = api.Identity{
		ID:              cfg.NodeID,
		Cloud:           cfg.Cloud,
		RaftAddr:        string(s.trans.LocalAddr()),
		HTTPAddr:        s.httpLn.Addr().String(),
		BootstrapExpect: cfg.BootstrapExpect,
	}
	if cfg.GossipAddr != "" {
		g, err := startGossip(gossipSettings{
			NodeID: cfg.NodeID, BindAddr: cfg.GossipAddr, Cloud: cfg.Cloud,
			HTTPAddr: s.self.HTTPAddr, RaftAddr: s.self.RaftAddr,
			Key: cfg.GossipKey, Fast: cfg.GossipFast, Logger: cfg.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("cluster: gossip: %w", err)
		}
		if g != nil {
			s.gossip = g
			s.self.GossipAddr = g.Addr()
		}
	}
	s.dir.merge(s.self)

	if err := s.startRaft(); err != nil {
		return nil, err
	}
	s.router = api.NewRouter(logger.Named("http"))
	s.routes()
	s.securityRoutes()
	handler := s.secureHandler(s.router)
	if cfg.HTTPMiddleware != nil {
		handler = cfg.HTTPMiddleware(handler)
	}
	s.httpSrv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	if cfg.HTTPTLS != nil {
		s.httpLn = tls.NewListener(s.httpLn, cfg.HTTPTLS)
	}

	s.wg.Add(1)
	go s.monitorLeadership()
	go func() {
		defer close(s.httpStopped)
		if err := s.httpSrv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("http server stopped", "error", err)
		}
	}()
	if s.gossip != nil {
		s.wg.Add(1)
		go s.watchGossip()
		s.RegisterLeaderService("liveness", s.runLivenessReconciler)
	}
	// Discovery runs with -join or -bootstrap-expect, and on a restart of
	// a node that knows peers from its directory (to rejoin gossip).
	if cfg.BootstrapExpect > 0 || s.knowsOthers() {
		s.wg.Add(1)
		go s.discoverLoop()
	}
	ok = true
	s.logger.Info("controller started", "id", cfg.NodeID, "http", s.self.HTTPAddr, "raft", s.self.RaftAddr, "gossip", s.self.GossipAddr, "data_dir", cfg.DataDir)
	return s, nil
}

// openDataDir creates the layout and checks the node ID it was made for.
func (s *Server) openDataDir() error {
	dd := s.cfg.DataDir
	if err := os.MkdirAll(filepath.Join(dd, raftDir), 0o700); err != nil {
		return fmt.Errorf("cluster: data dir: %w", err)
	}
	idPath := filepath.Join(dd, nodeIDFile)
	b, err := os.ReadFile(idPath)
	switch {
	case err == nil:
		if got := strings.TrimSpace(string(b)); got != s.cfg.NodeID {
			return fmt.Errorf("%w: %s holds %q, this node is %q", ErrNodeIDMismatch, idPath, got, s.cfg.NodeID)
		}
	case os.IsNotExist(err):
		if err := os.WriteFile(idPath, []byte(s.cfg.NodeID+"\n"), 0o600); err != nil {
			return fmt.Errorf("cluster: data dir: %w", err)
		}
	default:
		return fmt.Errorf("cluster: data dir: %w", err)
	}
	if s.dir, err = loadDirectory(filepath.Join(dd, peersFile)); err != nil {
		return err
	}
	return nil
}

func (s *Server) startRaft() error {
	cfg := s.cfg
	var err error
	base := filepath.Join(cfg.DataDir, raftDir)
	if s.store, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(base, raftDBFile), NoSync: cfg.RaftNoSync}); err != nil {
		return fmt.Errorf("cluster: raft log store: %w", err)
	}
	if s.snaps, err = raft.NewFileSnapshotStoreWithLogger(base, snapshotsKept, cfg.Logger.Named("raft-snap")); err != nil {
		return fmt.Errorf("cluster: raft snapshot store: %w", err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.Raft.HeartbeatTimeout
	rc.ElectionTimeout = cfg.Raft.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.Raft.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.Raft.CommitTimeout
	rc.NotifyCh = s.leaderNotify
	// A removed server stays up as a follower without configuration, so it
	// can be joined again with `ctl join` without a restart.
	rc.ShutdownOnRemove = false
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.SnapshotInterval > 0 {
		rc.SnapshotInterval = cfg.SnapshotInterval
	}
	rc.Logger = cfg.Logger.Named("raft")
	hasState, err := raft.HasExistingState(s.store, s.store, s.snaps)
	if err != nil {
		return fmt.Errorf("cluster: raft state: %w", err)
	}
	s.timed = &timedFSM{FSM: s.fsm}
	if s.raft, err = raft.NewRaft(rc, s.timed, s.store, s.store, s.snaps, s.trans); err != nil {
		return fmt.Errorf("cluster: raft: %w", err)
	}
	if hasState {
	}
	if cfg.Bootstrap && !hasState {
		s.logger.Info("bootstrapping single-node cluster")
		if err := s.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{s.raftServer()}}).Error(); err != nil {
			return fmt.Errorf("cluster: bootstrap: %w", err)
		}
	}
	return nil
}

// peer returns a client for another controller's HTTP API.
func (s *Server) peer(addr string) *client.Client {
	if s.cfg.HTTPTLS != nil && !strings.Contains(addr, "://") {
		addr = "https://" + addr
	}
	return client.New(addr).WithHTTPClient(s.peerHTTP)
}

func (s *Server) raftServer() raft.Server {
	return raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(s.self.ID), Address: raft.ServerAddress(s.self.RaftAddr)}
}

// ID is this controller's node ID.
func (s *Server) ID() string { return s.self.ID }

// HTTPAddr is the address the HTTP API listens on (host:port).
func (s *Server) HTTPAddr() string { return s.self.HTTPAddr }

// RaftAddr is the raft transport address.
func (s *Server) RaftAddr() string { return s.self.RaftAddr }

// GossipAddr is the gossip address ("" without gossip).
func (s *Server) GossipAddr() string { return s.self.GossipAddr }

// FSM is the replicated state; read it with FSM().Read.
func (s *Server) FSM() *fsm.FSM { return s.fsm }

// Raft exposes the raft node for advanced callers (stats, tests).
func (s *Server) Raft() *raft.Raft { return s.raft }

// Router is the HTTP router; other packages add routes with Handle.
func (s *Server) Router() *api.Router { return s.router }

// Handle adds an API route (see api.Router.Handle).
func (s *Server) Handle(method, path string, h api.HandlerFunc) { s.router.Handle(method, path, h) }

// Membership is the gossip layer (nil when disabled).
func (s *Server) Membership() Membership { return s.gossip }

// Done is closed when the server has left the cluster or was shut down;
// the agent exits when it fires.
func (s *Server) Done() <-chan struct{} { return s.doneCh }

// IsLeader reports whether this node is the raft leader.
func (s *Server) IsLeader() bool { return s.raft.State() == raft.Leader }

// Term is the current raft term (a fencing token for external actions).
func (s *Server) Term() uint64 { return s.raft.CurrentTerm() }

// VerifyLeader confirms with a quorum that this node is still the leader;
// call it before any action outside the replicated state.
func (s *Server) VerifyLeader() error {
	// raft answers a verify queued just before it shut down never; bound
	// the wait so a leader service cannot hang shutdown.
	fut := s.raft.VerifyLeader()
	done := make(chan error, 1)
	go func() { done <- fut.Error() }()
	timeout := 4 * s.cfg.Raft.HeartbeatTimeout
	if timeout < time.Second {
		timeout = time.Second
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%w: %v", api.ErrNotLeader, err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("%w: leadership not confirmed within %v", api.ErrNotLeader, timeout)
	case <-s.shutdownCh:
		return fmt.Errorf("%w: shutting down", api.ErrNotLeader)
	}
}

// Leader returns the current leader as raft sees it, with its HTTP address
// from the directory. ok is false when there is no leader.
func (s *Server) Leader() (api.LeaderInfo, bool) {
	addr, id := s.raft.LeaderWithID()
	if id == "" {
		return api.LeaderInfo{}, false
	}
	li := api.LeaderInfo{ID: string(id), RaftAddr: string(addr)}
	if n, ok := s.dir.get(string(id)); ok {
		li.HTTPAddr = n.HTTPAddr
	}
	return li, true
}

// Shutdown stops the server without leaving: the others see it fail.
func (s *Server) Shutdown() error {
	s.shutdownMu.Lock()
	if s.isShutdown {
		s.shutdownMu.Unlock()
		return nil
	}
	s.isShutdown = true
	close(s.shutdownCh)
	s.shutdownMu.Unlock()
	s.logger.Info("shutting down")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_ = s.httpSrv.Shutdown(ctx)
	cancel()
	<-s.httpStopped
	var errs []error
	if err := s.raft.Shutdown().Error(); err != nil {
		errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
	}
	s.wg.Wait()
	if s.gossip != nil {
		if err := s.gossip.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("gossip shutdown: %w", err))
		}
	}
	s.closeResources()
	s.peerHTTP.CloseIdleConnections()
	s.doneOnce.Do(func() { close(s.doneCh) })
	return errors.Join(errs...)
}

// abortStart releases what a failed New opened.
func (s *Server) abortStart() {
	if s.raft != nil {
		_ = s.raft.Shutdown().Error()
	}
	if s.gossip != nil {
		_ = s.gossip.Shutdown()
	}
	if s.httpLn != nil {
		_ = s.httpLn.Close()
	}
	s.closeResources()
}

// closeResources closes the raft transport and stores.
func (s *Server) closeResources() {
	if s.trans != nil {
		_ = s.trans.Close()
	}
	if s.store != nil {
		_ = s.store.Close()
	}
}

// shuttingDown reports whether Shutdown was called.
func (s *Server) shuttingDown() bool {
	select {
	case <-s.shutdownCh:
		return true
	default:
		return false
	}
}

// sleepCtx waits d or until ctx or the server is done; false if cut short.
func (s *Server) sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.shutdownCh:
		return false
	}
}
