package site_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"aas/cluster"
	"aas/cluster/converge"
	"aas/fsm"
	"aas/nodes"
)

// TestLeaderFailoverNoDuplicates: three controllers (raft over TCP on
// loopback), a converger on each (it runs on whoever leads), the site
// reconciler on s1, one hypervisor agent. Each round scales the group
// down to 2 and waits, then scales it to 6 and stops the leader while the
// new instances are being created, restarts it from its data dir, and
// waits until exactly 6 run: afterwards the agent runs exactly the FSM's
// live instances (no duplicate, no orphan). AAS_FAILOVER_ROUNDS overrides
// the 10 rounds (3 with -short).
func TestLeaderFailoverNoDuplicates(t *testing.T) {
	rounds := 10
	if testing.Short() {
		rounds = 3
	}
	if v, err := strconv.Atoi(os.Getenv("AAS_FAILOVER_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	log := testLogger(t)
	timing := cluster.RaftTiming{HeartbeatTimeout: 500 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond,
		LeaderLeaseTimeout: 500 * time.Millisecond, CommitTimeout: 20 * time.Millisecond}
	cfgs := make([]cluster.Config, 3)
	servers := make([]*cluster.Server, 3)
	start := func(i int) {
		t.Helper()
		srv, err := cluster.New(cfgs[i])
		if err != nil {
			t.Fatalf("start s%d: %v", i+1, err)
		}
		servers[i] = srv
		conv, err := converge.New(converge.Config{Cluster: srv, Logger: log, Interval: 300 * time.Millisecond,
			ReapInterval: 500 * time.Millisecond, ReapAfter: 3 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		srv.RegisterLeaderService("converge", conv.Run)
	}
	t.Cleanup(func() {
		for _, s := range servers {
			if s != nil {
				_ = s.Shutdown()
			}
		}
	})
	for i := range cfgs {
		cfgs[i] = cluster.Config{NodeID: fmt.Sprintf("s%d", i+1), Cloud: "local", DataDir: t.TempDir(),
			HTTPAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0", BootstrapExpect: 3, Raft: timing,
			JoinRetryMax: 300 * time.Millisecond, Logger: log}
		if i > 0 {
			cfgs[i].Join = []string{servers[0].HTTPAddr()}
		}
		start(i)
		cfgs[i].HTTPAddr, cfgs[i].RaftAddr = servers[i].HTTPAddr(), servers[i].RaftAddr()
	}
	leaderOf := func() int {
		t.Helper()
		idx := -1
		waitFor(t, 30*time.Second, "an established leader", func() (bool, string) {
			for i, s := range servers {
				if s != nil && s.LeadershipEstablished() {
					idx = i
					return true, ""
				}
			}
			return false, "none"
		})
		return idx
	}
	li := leaderOf()

	agent := startAgent(t, log, "hv1")
	l := &lab{t: t, srv: servers[li], home: servers[0], agent: agent, client: nodes.NewClient(agent.URL(), nil), log: log}
	seed(t, l.apply, agent.Addr())
	l.startReconciler()
	t.Cleanup(l.stopReconciler)
	l.converged(2)

	for round := range rounds {
		l.setDesired(2)
		l.converged(2)
		l.setDesired(6)
		waitFor(t, 20*time.Second, "creation under way", func() (bool, string) {
			n := 0
			for _, in := range l.instances() {
				if in.State == fsm.StatePending || in.State == fsm.StateProvisioning {
					n++
				}
			}
			return n > 0, summary(l.instances())
		})
		// Stop the leader now, in the middle of the creates.
		if li == 0 {
			l.stopReconciler()
		}
		if err := servers[li].Shutdown(); err != nil {
			t.Fatalf("round %d: shutdown s%d: %v", round, li+1, err)
		}
		servers[li] = nil
		old := li
		li = leaderOf()
		l.srv = servers[li]
		cfgs[old].Join = nil
		start(old)
		if old == 0 {
			l.home = servers[0]
			l.startReconciler()
		}
		t.Logf("round %d: stopped leader s%d during creation; new leader s%d", round, old+1, li+1)
		l.converged(6)
	}
	// converged checked agent == FSM after every round; check once more
	// after a few more passes that nothing appeared late.
	final := l.converged(6)
	agentNow, err := l.agentIDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(agentNow) != len(final) {
		t.Fatalf("agent runs %d instances, FSM counts %d", len(agentNow), len(final))
	}
}
