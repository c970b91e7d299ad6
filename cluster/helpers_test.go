package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"aas/cluster/client"
	"aas/fsm"
	"aas/internal/poll"
	"aas/internal/testlog"
)

// testConfig is a node on 127.0.0.1 with free ports and fast timings.
func testConfig(t testing.TB, id string) Config {
	// Slower than the fast profile: tests run under -race on few, shared,
	// heavily loaded cores, where 100ms timeouts cause election storms.
	timing := RaftTiming{HeartbeatTimeout: 500 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond,
		LeaderLeaseTimeout: 500 * time.Millisecond, CommitTimeout: 20 * time.Millisecond}
	return Config{
		NodeID:            id,
		Cloud:             "c-" + id,
		DataDir:           t.TempDir(),
		HTTPAddr:          "127.0.0.1:0",
		RaftAddr:          "127.0.0.1:0",
		Raft:              timing,
		JoinRetryMax:      300 * time.Millisecond,
		ReconcileInterval: 200 * time.Millisecond,
		Logger:            testlog.New(t, id),
	}
}

// startServer starts a node and shuts it down at the end of the test.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("start %s: %v", cfg.NodeID, err)
	}
	t.Cleanup(func() { _ = s.Shutdown() })
	return s
}

// restartConfig reuses a stopped node's data dir and addresses.
func restartConfig(t testing.TB, s *Server) Config {
	cfg := s.cfg
	cfg.HTTPAddr, cfg.RaftAddr = s.HTTPAddr(), s.RaftAddr()
	if s.GossipAddr() != "" {
		cfg.GossipAddr = s.GossipAddr()
	}
	cfg.Bootstrap = false
	return cfg
}

// waitFor polls cond until it holds or the deadline passes.
var waitFor = poll.Until

// startCluster starts n servers with bootstrap-expect n; each joins the
// first one (the first joins nobody: it learns the others from their calls).
func startCluster(t testing.TB, n int) []*Server {
	t.Helper()
	servers := make([]*Server, 0, n)
	first := testConfig(t, "s1")
	first.BootstrapExpect = n
	servers = append(servers, startServer(t, first))
	for i := 2; i <= n; i++ {
		cfg := testConfig(t, fmt.Sprintf("s%d", i))
		cfg.BootstrapExpect = n
		cfg.Join = []string{servers[0].HTTPAddr()}
		servers = append(servers, startServer(t, cfg))
	}
	waitAgreedLeader(t, servers, 30*time.Second)
	return servers
}

// waitAgreedLeader waits until every server's /v1/status/leader names the
// same leader, which is one of them, and returns it.
func waitAgreedLeader(t testing.TB, servers []*Server, timeout time.Duration) *Server {
	t.Helper()
	var leader *Server
	waitFor(t, timeout, "all nodes to agree on one leader", func() (bool, string) {
		leader = nil
		ids := map[string]bool{}
		var seen []string
		for _, s := range servers {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			li, err := client.New(s.HTTPAddr()).Leader(ctx)
			cancel()
			if err != nil {
				return false, fmt.Sprintf("%s: %v", s.ID(), err)
			}
			ids[li.ID] = true
			seen = append(seen, s.ID()+"→"+li.ID)
			if li.HTTPAddr == "" {
				return false, s.ID() + " does not know the leader's HTTP address"
			}
		}
		if len(ids) != 1 {
			return false, strings.Join(seen, " ")
		}
		for _, s := range servers {
			if ids[s.ID()] && s.LeadershipEstablished() {
				leader = s
			}
		}
		return leader != nil, "leader not among servers or not established: " + strings.Join(seen, " ")
	})
	return leader
}

// followers returns the servers other than leader.
func followers(servers []*Server, leader *Server) []*Server {
	var out []*Server
	for _, s := range servers {
		if s != leader {
			out = append(out, s)
		}
	}
	return out
}

// peerIDs is the raft configuration as "id@addr" sorted.
func peerIDs(t testing.TB, s *Server) []string {
	f := s.Raft().GetConfiguration()
	if err := f.Error(); err != nil {
		return nil
	}
	var out []string
	for _, srv := range f.Configuration().Servers {
		out = append(out, string(srv.ID)+"@"+string(srv.Address))
	}
	sort.Strings(out)
	return out
}

// hypervisorIDs reads the FSM's hypervisors with liveness.
func hypervisorState(s *Server) map[string]fsm.Liveness {
	out := map[string]fsm.Liveness{}
	s.FSM().Read(func(st *fsm.State) {
		for id, h := range st.Hypervisors {
			out[id] = h.Liveness
		}
	})
	return out
}

// writeHypervisor commits a hypervisor registration through s.
func writeHypervisor(t testing.TB, s *Server, id string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := s.Apply(ctx, fsm.UpsertHypervisorType, fsm.UpsertHypervisor{Hypervisor: fsm.Hypervisor{ID: id, Cloud: "c1", Driver: "process", Capacity: 4}})
	if err != nil {
		t.Fatalf("apply via %s: %v", s.ID(), err)
	}
	return res.Index
}

// waitHypervisors waits until every server's FSM holds the ids.
func waitHypervisors(t testing.TB, servers []*Server, ids []string) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("%d hypervisors on every node", len(ids)), func() (bool, string) {
		for _, s := range servers {
			got := hypervisorState(s)
			for _, id := range ids {
				if _, ok := got[id]; !ok {
					return false, fmt.Sprintf("%s lacks %s (has %d)", s.ID(), id, len(got))
				}
			}
		}
		return true, ""
	})
}
