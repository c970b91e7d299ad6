package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"time"

	"github.com/hashicorp/raft"

	"aas/cluster/api"
	"aas/cluster/client"
)

// ErrJoin wraps a failed join through every given address.
var ErrJoin = errors.New("cluster: join failed")

const (
	identityTimeout  = 2 * time.Second
	maxRedirects     = 3
	joinRetryInitial = 50 * time.Millisecond
)

// inConfiguration reports whether this node is part of a raft configuration.
func (s *Server) inConfiguration() bool {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, srv := range f.Configuration().Servers {
		if srv.ID == raft.ServerID(s.self.ID) {
			return true
		}
	}
	return false
}

// identity is this node as it describes itself to peers right now.
func (s *Server) identity() api.Identity {
	id := s.self
	id.HasState = s.inConfiguration()
	if _, lid := s.raft.LeaderWithID(); lid != "" {
		id.Leader = string(lid)
	}
	return id
}

// discoverLoop runs at start with -join or -bootstrap-expect: it exchanges
// identities with the listed controllers (transitively), joins their gossip,
// and then either joins the existing cluster through one of them or, when
// BootstrapExpect servers without state know each other, bootstraps.
// It retries with jittered exponential back-off until it succeeds.
func (s *Server) discoverLoop() {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.shutdownCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	wait := joinRetryInitial
	for attempt := 1; ; attempt++ {
		done, err := s.discoverOnce(ctx)
		if done {
			return
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil && attempt%10 == 1 {
			s.logger.Info("join: waiting for peers", "attempt", attempt, "error", err)
		}
		jitter := time.Duration(rand.Int64N(int64(wait)/2 + 1))
		if !s.sleepCtx(ctx, wait+jitter) {
			return
		}
		wait = min(wait*2, s.cfg.JoinRetryMax)
	}
}

// discoverOnce is one round of discoverLoop; done reports success.
func (s *Server) discoverOnce(ctx context.Context) (bool, error) {
	peers := s.exchangeIdentities(ctx, s.cfg.Join)
	s.joinGossip(peers)
	if s.inConfiguration() {
		// Restarted with state, or configured by a leader meanwhile: done
		// once a peer answered (gossip rejoined through it), or when there
		// is nobody to ask.
		return len(peers) > 0 || !s.knowsOthers(), nil
	}
	// An existing cluster with a leader: ask to be added.
	for _, p := range peers {
		if p.HasState && p.Leader != "" {
			if _, err := s.addSelfVia(ctx, p.HTTPAddr); err != nil {
				return false, err
			}
			return true, nil
		}
	}
	if s.cfg.BootstrapExpect == 0 {
		return false, fmt.Errorf("%w: no peer with a leader yet", ErrJoin)
	}
	return s.maybeBootstrap()
}

// knowsOthers reports whether -join or the directory names other servers.
func (s *Server) knowsOthers() bool {
	return len(s.cfg.Join) > 0 || len(s.dir.list()) > 1
}

// exchangeIdentities fetches the identity of every address and of every
// controller they know, merging all into the directory. It returns the
// controllers that answered (excluding this node).
func (s *Server) exchangeIdentities(ctx context.Context, seeds []string) []api.Identity {
	key := func(a string) string { return trimScheme(client.NormalizeAddress(a)) }
	asked := map[string]bool{key(s.self.HTTPAddr): true}
	queue := append([]string(nil), seeds...)
	for _, n := range s.dir.list() {
		if n.ID != s.self.ID && n.HTTPAddr != "" {
			queue = append(queue, n.HTTPAddr)
		}
	}
	var answered []api.Identity
	for len(queue) > 0 && ctx.Err() == nil {
		addr := queue[0]
		queue = queue[1:]
		if addr == "" || asked[key(addr)] {
			continue
		}
		asked[key(addr)] = true
		cctx, cancel := context.WithTimeout(ctx, identityTimeout)
		resp, err := s.peer(addr).ExchangeIdentity(cctx, s.identity())
		cancel()
		if err != nil {
			var ce *client.Error
			if errors.As(err, &ce) && (ce.Code == http.StatusForbidden || ce.Code == http.StatusUnauthorized) {
				// A configuration error, not a peer still starting:
				// wrong join token (or ACL policy) on one side.
				s.logger.Warn("join: peer refused us; check -join-token", "peer", addr, "error", err)
			}
			continue
		}
		asked[key(resp.Self.HTTPAddr)] = true
		if resp.Self.ID == s.self.ID {
			continue
		}
		s.dir.merge(resp.Self)
		answered = append(answered, resp.Self)
		for _, k := range resp.Known {
			if k.ID != s.self.ID {
				s.dir.merge(k)
				if !asked[key(k.HTTPAddr)] {
					queue = append(queue, k.HTTPAddr)
				}
			}
		}
	}
	return answered
}

func trimScheme(a string) string {
	if i := len("http://"); len(a) > i && a[:i] == "http://" {
		return a[i:]
	}
	return a
}

// joinGossip joins the gossip pool through the peers' gossip addresses.
func (s *Server) joinGossip(peers []api.Identity) {
	if s.gossip == nil {
		return
	}
	var addrs []string
	for _, p := range peers {
		if p.GossipAddr != "" && p.GossipAddr != s.self.GossipAddr {
			addrs = append(addrs, p.GossipAddr)
		}
	}
	if len(addrs) == 0 {
		return
	}
	if _, err := s.gossip.Join(addrs); err != nil {
		s.logger.Debug("gossip join failed", "addrs", addrs, "error", err)
	}
}

// maybeBootstrap bootstraps the configuration once BootstrapExpect servers
// with the same expectation and no state are known. Every such server
// computes the same set — the BootstrapExpect lowest IDs — and those in it
// bootstrap it; raft accepts identical bootstraps on several servers.
func (s *Server) maybeBootstrap() (bool, error) {
	want := s.cfg.BootstrapExpect
	var cands []api.Identity
	for _, n := range s.dir.list() {
		if n.ID == s.self.ID {
			cands = append(cands, s.identity())
			continue
		}
		if n.BootstrapExpect == want && !n.HasState && n.RaftAddr != "" {
			cands = append(cands, n)
		}
	}
	if len(cands) < want {
		return false, fmt.Errorf("%w: bootstrap-expect %d: %d servers known", ErrJoin, want, len(cands))
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].ID < cands[j].ID })
	cands = cands[:want]
	conf := raft.Configuration{}
	member := false
	for _, c := range cands {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(c.ID), Address: raft.ServerAddress(c.RaftAddr)})
		member = member || c.ID == s.self.ID
	}
	if !member {
		// Others bootstrap; this node joins the result in a later round.
		return false, fmt.Errorf("%w: not among the first %d servers by ID", ErrJoin, want)
	}
	s.logger.Info("bootstrap-expect reached; bootstrapping", "servers", conf.Servers)
	if err := s.raft.BootstrapCluster(conf).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
		return false, fmt.Errorf("bootstrap: %w", err)
	}
	return true, nil
}

// addSelfVia asks the controller at addr to add this node as a voter,
// following "not leader" redirects.
func (s *Server) addSelfVia(ctx context.Context, addr string) (api.AddVoterResponse, error) {
	me := s.identity()
	for hop := 0; ; hop++ {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := s.peer(addr).AddVoter(cctx, me)
		cancel()
		var ce *client.Error
		if errors.As(err, &ce) && errors.Is(err, api.ErrNotLeader) && ce.Leader != "" && hop < maxRedirects {
			s.logger.Debug("join: following redirect", "from", addr, "to", ce.Leader)
			addr = ce.Leader
			continue
		}
		if err != nil {
			return resp, fmt.Errorf("%w: via %s: %w", ErrJoin, addr, err)
		}
		s.dir.merge(resp.Leader)
		for _, k := range resp.Known {
			if k.ID != s.self.ID {
				s.dir.merge(k)
			}
		}
		return resp, nil
	}
}

// JoinCluster makes this node join the cluster that one of addrs (HTTP
// addresses of controllers) belongs to: it exchanges identities, joins
// gossip and asks the leader (through whichever node answers, following
// redirects) to add it as a voter. It tries each address in turn.
func (s *Server) JoinCluster(ctx context.Context, addrs []string) (api.JoinResponse, error) {
	if len(addrs) == 0 {
		return api.JoinResponse{}, fmt.Errorf("%w: no address to join", api.ErrBadRequest)
	}
	var errs []error
	for _, a := range addrs {
		peers := s.exchangeIdentities(ctx, []string{a})
		s.joinGossip(peers)
		resp, err := s.addSelfVia(ctx, a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return api.JoinResponse{Via: a, Leader: resp.Leader.ID}, nil
	}
	return api.JoinResponse{}, errors.Join(errs...)
}

// addVoter is the leader's side of a join: it removes a stale entry with
// the same ID or the same address (a node that came back with a new data
// dir or address), then adds the node as a voter.
func (s *Server) addVoter(n api.Identity) error {
	if n.ID == "" || n.RaftAddr == "" {
		return fmt.Errorf("%w: join request needs id and raft_addr", api.ErrBadRequest)
	}
	if n.ID == s.self.ID || n.RaftAddr == s.self.RaftAddr {
		if n.ID == s.self.ID && n.RaftAddr == s.self.RaftAddr {
			return nil
		}
		return fmt.Errorf("%w: node %s at %s collides with the leader %s at %s", api.ErrConflict, n.ID, n.RaftAddr, s.self.ID, s.self.RaftAddr)
	}
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("raft configuration: %w", err)
	}
	for _, srv := range f.Configuration().Servers {
		sameID := srv.ID == raft.ServerID(n.ID)
		sameAddr := srv.Address == raft.ServerAddress(n.RaftAddr)
		switch {
		case sameID && sameAddr:
			if srv.Suffrage == raft.Voter {
				s.dir.merge(n)
				return nil // already a voter
			}
		case sameID || sameAddr:
			s.logger.Info("removing stale raft server before join", "id", srv.ID, "addr", srv.Address, "joining_id", n.ID, "joining_addr", n.RaftAddr)
			if err := s.raft.RemoveServer(srv.ID, 0, 0).Error(); err != nil {
				return s.raftWriteErr("remove stale server", err)
			}
		}
	}
	if err := s.verifyRaftPeer(n.RaftAddr); err != nil {
		s.logger.Warn("refusing to add a voter whose raft address fails mutual TLS", "id", n.ID, "addr", n.RaftAddr, "error", err)
		return err
	}
	s.dir.merge(n)
	s.logger.Info("adding voter", "id", n.ID, "addr", n.RaftAddr)
	if err := s.raft.AddVoter(raft.ServerID(n.ID), raft.ServerAddress(n.RaftAddr), 0, 0).Error(); err != nil {
		return s.raftWriteErr("add voter", err)
	}
	return nil
}

// removePeer is the leader's side of DELETE /v1/peers/ID.
func (s *Server) removePeer(id string) error {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("raft configuration: %w", err)
	}
	for _, srv := range f.Configuration().Servers {
		if srv.ID == raft.ServerID(id) {
			if err := s.raft.RemoveServer(srv.ID, 0, 0).Error(); err != nil {
				return s.raftWriteErr("remove server", err)
			}
			s.logger.Info("removed raft server", "id", id)
			return nil
		}
	}
	return fmt.Errorf("%w: no raft server %q", api.ErrNotFound, id)
}

// raftWriteErr maps raft's leadership errors to api.ErrNotLeader.
func (s *Server) raftWriteErr(what string, err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
		return fmt.Errorf("%s: %w", what, s.notLeader())
	}
	if errors.Is(err, raft.ErrRaftShutdown) {
		return fmt.Errorf("%s: %w", what, ErrShutdown)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// notLeader returns a NotLeaderError naming the leader's HTTP address, or
// ErrNoLeader when there is none.
func (s *Server) notLeader() error {
	li, ok := s.Leader()
	if !ok {
		return api.ErrNoLeader
	}
	return &api.NotLeaderError{LeaderHTTP: li.HTTPAddr}
}

// Leave leaves the cluster gracefully: the node is removed from the raft
// configuration (by itself when leader, else by the leader), then leaves
// gossip. Done fires afterwards; the caller shuts the server down.
func (s *Server) Leave(ctx context.Context) error {
	s.leaveMu.Lock()
	defer s.leaveMu.Unlock()
	s.leaving.Store(true)
	var err error
	if s.inConfiguration() && !s.soleVoter() {
		err = s.leaveRaft(ctx)
	}
	if s.gossip != nil {
		if gerr := s.gossip.Leave(5 * time.Second); gerr != nil {
			s.logger.Warn("gossip leave failed", "error", gerr)
		}
	}
	if err != nil {
		return err
	}
	s.logger.Info("left the cluster")
	s.doneOnce.Do(func() { close(s.doneCh) })
	return nil
}

// soleVoter reports whether this node is the only voter (a single-node
// cluster cannot remove its last voter; leaving is then just stopping).
func (s *Server) soleVoter() bool {
	f := s.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	voters := 0
	for _, srv := range f.Configuration().Servers {
		if srv.Suffrage == raft.Voter {
			voters++
		}
	}
	return voters == 1
}

func (s *Server) leaveRaft(ctx context.Context) error {
	wait := joinRetryInitial
	for {
		var err error
		if s.IsLeader() {
			err = s.removePeer(s.self.ID)
		} else if li, ok := s.Leader(); ok && li.HTTPAddr != "" {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = s.peer(li.HTTPAddr).RemovePeer(cctx, s.self.ID)
			cancel()
			if errors.Is(err, api.ErrNotFound) {
				err = nil
			}
		} else {
			err = api.ErrNoLeader
		}
		if err == nil || !s.inConfiguration() {
			return nil
		}
		s.logger.Debug("leave: retrying", "error", err)
		if !s.sleepCtx(ctx, wait) {
			return fmt.Errorf("leave: %w", err)
		}
		wait = min(wait*2, time.Second)
	}
}

// forwardClient returns a client for the leader's HTTP API.
func (s *Server) leaderClient() (*client.Client, error) {
	li, ok := s.Leader()
	if !ok {
		return nil, api.ErrNoLeader
	}
	if li.HTTPAddr == "" {
		s.refreshDirectory()
		if li, ok = s.Leader(); !ok || li.HTTPAddr == "" {
			return nil, fmt.Errorf("%w: leader %s has no known HTTP address", api.ErrNoLeader, li.ID)
		}
	}
	return s.peer(li.HTTPAddr), nil
}

// refreshDirectory re-exchanges identities with every known controller.
func (s *Server) refreshDirectory() {
	ctx, cancel := context.WithTimeout(context.Background(), identityTimeout)
	defer cancel()
	s.exchangeIdentities(ctx, s.cfg.Join)
}

// isForwarded reports whether a request was already forwarded once.
func isForwarded(r *http.Request) bool { return r.URL.Query().Get("forwarded") == "1" }

// Joiner is anything that joins a gossip pool (a *gossip.Node).
type Joiner interface {
	Join(addrs []string) (int, error)
}

// JoinWithRetry joins addrs, retrying with jittered exponential back-off
// (capped at maxWait) until one contact succeeds or ctx ends. The
// hypervisor agent uses it to join the controllers' gossip.
func JoinWithRetry(ctx context.Context, j Joiner, addrs []string, maxWait time.Duration) error {
	if maxWait <= 0 {
		maxWait = 5 * time.Second
	}
	wait := joinRetryInitial
	for {
		n, err := j.Join(addrs)
		if err == nil && n > 0 {
			return nil
		}
		jitter := time.Duration(rand.Int64N(int64(wait)/2 + 1))
		t := time.NewTimer(wait + jitter)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: %v (last error: %v)", ErrJoin, ctx.Err(), err)
		case <-t.C:
		}
		wait = min(wait*2, maxWait)
	}
}
