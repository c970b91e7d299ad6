package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"aas/cluster/api"
	"aas/cluster/client"
	"aas/fsm"
)

func TestConfigValidation(t *testing.T) {
	base := func() Config {
		c := testConfig(t, "n1")
		c.setDefaults()
		return c
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		field  string
	}{
		{"no id", func(c *Config) { c.NodeID = "" }, "NodeID"},
		{"slash in id", func(c *Config) { c.NodeID = "a/b" }, "NodeID"},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "DataDir"},
		{"unspecified http", func(c *Config) { c.HTTPAddr = "0.0.0.0:7070" }, "HTTPAddr"},
		{"raft no port", func(c *Config) { c.RaftAddr = "127.0.0.1" }, "RaftAddr"},
		{"bad key", func(c *Config) { c.GossipKey = []byte("short") }, "GossipKey"},
		{"negative expect", func(c *Config) { c.BootstrapExpect = -1 }, "BootstrapExpect"},
		{"lease over heartbeat", func(c *Config) { c.Raft.LeaderLeaseTimeout = 2 * c.Raft.HeartbeatTimeout }, "leader-lease"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.mutate(&c)
			err := c.validate()
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("validate: %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name %s", err, tc.field)
			}
		})
	}
	if c := base(); c.validate() != nil {
		err := c.validate()
		t.Fatalf("valid config rejected: %v", err)
	}
}

func TestRaftProfiles(t *testing.T) {
	for _, name := range []string{ProfileDefault, ProfileTuned, ProfileFast} {
		p, err := RaftProfile(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := p.validate(); err != nil {
			t.Fatalf("%s invalid: %v", name, err)
		}
	}
	if _, err := RaftProfile("warp"); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("unknown profile: %v", err)
	}
}

func TestDataDirBelongsToOneNode(t *testing.T) {
	cfg := testConfig(t, "a")
	cfg.Bootstrap = true
	s := startServer(t, cfg)
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	cfg2 := testConfig(t, "b")
	cfg2.DataDir = cfg.DataDir
	if _, err := New(cfg2); !errors.Is(err, ErrNodeIDMismatch) {
		t.Fatalf("New with another node's data dir: %v, want ErrNodeIDMismatch", err)
	}
	for _, p := range []string{nodeIDFile, filepath.Join(raftDir, raftDBFile), filepath.Join(raftDir, "snapshots")} {
		if _, err := os.Stat(filepath.Join(cfg.DataDir, p)); err != nil {
			t.Errorf("data dir layout: %v", err)
		}
	}
}

func TestSingleNodeDevBecomesReady(t *testing.T) {
	cfg := testConfig(t, "dev")
	cfg.Bootstrap = true
	start := time.Now()
	s := startServer(t, cfg)
	c := client.New(s.HTTPAddr())
	waitFor(t, 5*time.Second, "readyz 200", func() (bool, string) {
		ok, text, err := c.Ready(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return ok, text
	})
	t.Logf("dev node ready after %v", time.Since(start))
	_, text, _ := c.Ready(context.Background())
	for _, want := range []string{"raft: ok", "fsm: ok", "leader: ok"} {
		if !strings.Contains(text, want) {
			t.Errorf("readyz lacks %q:\n%s", want, text)
		}
	}
	li, err := c.Leader(context.Background())
	if err != nil || li.ID != "dev" || li.HTTPAddr != s.HTTPAddr() || li.RaftAddr != s.RaftAddr() {
		t.Fatalf("leader = %+v, %v", li, err)
	}
	writeHypervisor(t, s, "hv1")
	hvs, err := c.Hypervisors(context.Background())
	if err != nil || len(hvs) != 1 || hvs[0].ID != "hv1" || hvs[0].Liveness != "alive" {
		t.Fatalf("hypervisors = %+v, %v", hvs, err)
	}
	waitFor(t, 5*time.Second, "health", func() (bool, string) {
		h, err := c.Health(context.Background())
		return err == nil && h.Ready && h.State == "Leader" && h.Hypervisors == 1 && h.Peers == 1 && h.Applied >= h.LastIndex-1, fmt.Sprintf("%+v %v", h, err)
	})
}

func TestNotReadyWithoutCluster(t *testing.T) {
	cfg := testConfig(t, "alone") // neither bootstrap nor join
	s := startServer(t, cfg)
	c := client.New(s.HTTPAddr())
	ok, text, err := c.Ready(context.Background())
	if err != nil || ok {
		t.Fatalf("ready=%v err=%v, want 503", ok, err)
	}
	if !strings.Contains(text, "raft: not part of a cluster") {
		t.Fatalf("readyz text: %q", text)
	}
	_, err = c.Leader(context.Background())
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != http.StatusServiceUnavailable || !errors.Is(err, api.ErrNoLeader) {
		t.Fatalf("leader without cluster: %v, want 503 no leader", err)
	}
}

func TestApplyErrors(t *testing.T) {
	cfg := testConfig(t, "dev")
	cfg.Bootstrap = true
	s := startServer(t, cfg)
	waitAgreedLeader(t, []*Server{s}, 30*time.Second)
	ctx := context.Background()
	tests := []struct {
		name string
		cmd  []byte
		want error
		code int
	}{
		{"unknown type", []byte{250, '{', '}'}, fsm.ErrUnknownCommand, http.StatusUnprocessableEntity},
		{"bad payload", []byte{byte(fsm.SetLivenessType), '{', '}'}, fsm.ErrBadCommand, http.StatusUnprocessableEntity},
		{"empty", nil, api.ErrBadRequest, http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.cmd) > 0 {
				_, err := s.ApplyRaw(ctx, tc.cmd)
				if !errors.Is(err, ErrCommandRejected) || !errors.Is(err, tc.want) {
					t.Fatalf("local apply: %v, want %v", err, tc.want)
				}
			}
			_, err := client.New(s.HTTPAddr()).Apply(ctx, tc.cmd)
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Code != tc.code {
				t.Fatalf("HTTP apply: %v, want status %d", err, tc.code)
			}
		})
	}
}

func TestBootstrapExpectThreeNodesAgree(t *testing.T) {
	servers := startCluster(t, 3)
	leader := waitAgreedLeader(t, servers, 30*time.Second)
	for _, s := range servers {
		if got := peerIDs(t, s); len(got) != 3 {
			t.Errorf("%s sees configuration %v, want 3 servers", s.ID(), got)
		}
	}
	peers, err := client.New(servers[0].HTTPAddr()).Peers(context.Background())
	if err != nil || len(peers) != 3 {
		t.Fatalf("peers = %+v, %v", peers, err)
	}
	leaders := 0
	for _, p := range peers {
		if p.Leader {
			leaders++
			if p.ID != leader.ID() {
				t.Errorf("peers names %s leader, status says %s", p.ID, leader.ID())
			}
		}
		if p.HTTPAddr == "" || p.Suffrage != "Voter" {
			t.Errorf("peer %+v lacks http address or is no voter", p)
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders in %+v", leaders, peers)
	}
}

func TestWriteOnFollowerIsForwarded(t *testing.T) {
	servers := startCluster(t, 3)
	leader := waitAgreedLeader(t, servers, 30*time.Second)
	f := followers(servers, leader)
	idx := writeHypervisor(t, f[0], "via-follower")
	if idx == 0 {
		t.Fatal("forwarded apply returned index 0")
	}
	// Through the HTTP API of the other follower too.
	cmd, err := fsm.Encode(fsm.UpsertHypervisorType, fsm.UpsertHypervisor{Hypervisor: fsm.Hypervisor{ID: "via-http", Cloud: "c2"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.New(f[1].HTTPAddr()).Apply(context.Background(), cmd)
	if err != nil || res.Index <= idx {
		t.Fatalf("HTTP apply via follower: %+v, %v", res, err)
	}
	waitHypervisors(t, servers, []string{"via-follower", "via-http"})
}

func TestLeaderShutdownElectsNewLeader(t *testing.T) {
	servers := startCluster(t, 3)
	old := waitAgreedLeader(t, servers, 30*time.Second)
	writeHypervisor(t, old, "before")
	if err := old.Shutdown(); err != nil {
		t.Fatal(err)
	}
	rest := followers(servers, old)
	nl := waitAgreedLeader(t, rest, 30*time.Second)
	if nl == old {
		t.Fatal("old leader still leader")
	}
	writeHypervisor(t, rest[0], "after")
	waitHypervisors(t, rest, []string{"before", "after"})
}

func TestNodeRestartKeepsState(t *testing.T) {
	servers := startCluster(t, 3)
	leader := waitAgreedLeader(t, servers, 30*time.Second)
	writeHypervisor(t, leader, "h1")
	waitHypervisors(t, servers, []string{"h1"})
	victim := followers(servers, leader)[0]
	cfg := restartConfig(t, victim)
	if err := victim.Shutdown(); err != nil {
		t.Fatal(err)
	}
	writeHypervisor(t, leader, "h2") // committed while the victim is down
	back := startServer(t, cfg)
	servers = append(followers(servers, victim), back)
	waitAgreedLeader(t, servers, 30*time.Second)
	waitHypervisors(t, servers, []string{"h1", "h2"})
}

func TestAllNodesRestartedLoseNoCommittedWrite(t *testing.T) {
	servers := startCluster(t, 3)
	leader := waitAgreedLeader(t, servers, 30*time.Second)
	var want []string
	for i := range 20 {
		id := fmt.Sprintf("w%02d", i)
		writeHypervisor(t, servers[i%3], id) // through leader and followers
		want = append(want, id)
	}
	_ = leader
	var cfgs []Config
	for _, s := range servers {
		cfgs = append(cfgs, restartConfig(t, s))
	}
	for _, s := range servers {
		if err := s.Shutdown(); err != nil {
			t.Fatal(err)
		}
	}
	var back []*Server
	for _, c := range cfgs {
		back = append(back, startServer(t, c))
	}
	waitAgreedLeader(t, back, 30*time.Second)
	waitHypervisors(t, back, want)
	for _, s := range back {
		if got := len(hypervisorState(s)); got != len(want) {
			t.Errorf("%s has %d hypervisors, want %d", s.ID(), got, len(want))
		}
	}
}

func TestFourthNodeJoinsThroughFollower(t *testing.T) {
	servers := startCluster(t, 3)
	leader := waitAgreedLeader(t, servers, 30*time.Second)
	writeHypervisor(t, leader, "pre")
	fourth := startServer(t, testConfig(t, "s4"))
	f := followers(servers, leader)[0]
	// `ctl join`: the client asks the 4th agent to join via a follower.
	resp, err := client.New(fourth.HTTPAddr()).Join(context.Background(), f.HTTPAddr())
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	if resp.Leader != leader.ID() {
		t.Errorf("join reports leader %q, want %q", resp.Leader, leader.ID())
	}
	all := append(servers, fourth)
	waitAgreedLeader(t, all, 30*time.Second)
	waitFor(t, 10*time.Second, "4 voters everywhere", func() (bool, string) {
		for _, s := range all {
			if p := peerIDs(t, s); len(p) != 4 {
				return false, fmt.Sprintf("%s: %v", s.ID(), p)
			}
		}
		return true, ""
	})
	waitHypervisors(t, []*Server{fourth}, []string{"pre"})
	writeHypervisor(t, fourth, "from-4th")
	waitHypervisors(t, all, []string{"pre", "from-4th"})
}

func TestStalePeerReplaced(t *testing.T) {
	servers := startCluster(t, 3)
	leader := waitAgreedLeader(t, servers, 30*time.Second)
	victim := followers(servers, leader)[0]
	oldAddr := victim.RaftAddr()
	if err := victim.Shutdown(); err != nil {
		t.Fatal(err)
	}
	rest := followers(servers, victim)

	// Same ID, new data dir and new raft address.
	sameID := startServer(t, testConfig(t, victim.ID()))
	if _, err := sameID.JoinCluster(context.Background(), []string{rest[1].HTTPAddr()}); err != nil {
		t.Fatalf("rejoin with same id: %v", err)
	}
	want := []string{victim.ID() + "@" + sameID.RaftAddr()}
	waitFor(t, 10*time.Second, "stale entry with same ID replaced", func() (bool, string) {
		p := peerIDs(t, leader)
		return len(p) == 3 && slices.Contains(p, want[0]) && !slices.Contains(p, victim.ID()+"@"+oldAddr), fmt.Sprint(p)
	})

	// Same raft address, another ID: the entry at that address goes.
	addr := sameID.RaftAddr()
	if err := sameID.Shutdown(); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, "newcomer")
	cfg.RaftAddr = addr
	newcomer := startServer(t, cfg)
	if _, err := newcomer.JoinCluster(context.Background(), []string{rest[0].HTTPAddr()}); err != nil {
		t.Fatalf("join at reused address: %v", err)
	}
	waitFor(t, 10*time.Second, "stale entry with same address replaced", func() (bool, string) {
		p := peerIDs(t, leader)
		return len(p) == 3 && slices.Contains(p, "newcomer@"+addr), fmt.Sprint(p)
	})
	waitAgreedLeader(t, append(rest, newcomer), 15*time.Second)
}

func TestLeaveAndRemovePeer(t *testing.T) {
	servers := startCluster(t, 3)
	leader := waitAgreedLeader(t, servers, 30*time.Second)
	f := followers(servers, leader)
	// A follower leaves gracefully.
	if err := client.New(f[0].HTTPAddr()).Leave(context.Background()); err != nil {
		t.Fatalf("leave: %v", err)
	}
	select {
	case <-f[0].Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after leave")
	}
	waitFor(t, 10*time.Second, "2 voters after leave", func() (bool, string) {
		p := peerIDs(t, leader)
		return len(p) == 2 && !slices.Contains(p, f[0].ID()+"@"+f[0].RaftAddr()), fmt.Sprint(p)
	})
	_ = f[0].Shutdown()
	// Remove the other follower through itself (forwarded to the leader).
	c := client.New(f[1].HTTPAddr())
	if err := c.RemovePeer(context.Background(), f[1].ID()); err != nil {
		t.Fatalf("remove peer: %v", err)
	}
	waitFor(t, 10*time.Second, "1 voter after remove", func() (bool, string) {
		p := peerIDs(t, leader)
		return len(p) == 1, fmt.Sprint(p)
	})
	err := client.New(leader.HTTPAddr()).RemovePeer(context.Background(), "nope")
	if !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("remove unknown peer: %v, want not found", err)
	}
	// The single remaining node still commits.
	writeHypervisor(t, leader, "solo")
}

func TestLeaderLeaves(t *testing.T) {
	servers := startCluster(t, 3)
	leader := waitAgreedLeader(t, servers, 30*time.Second)
	writeHypervisor(t, leader, "kept")
	if err := leader.Leave(context.Background()); err != nil {
		t.Fatalf("leader leave: %v", err)
	}
	_ = leader.Shutdown()
	rest := followers(servers, leader)
	nl := waitAgreedLeader(t, rest, 30*time.Second)
	waitFor(t, 10*time.Second, "2 voters without the old leader", func() (bool, string) {
		p := peerIDs(t, nl)
		return len(p) == 2 && !slices.Contains(p, leader.ID()+"@"+leader.RaftAddr()), fmt.Sprint(p)
	})
	writeHypervisor(t, rest[0], "after-leave")
	waitHypervisors(t, rest, []string{"kept", "after-leave"})
}

func TestRestartedNodeWithoutJoinRejoinsGossip(t *testing.T) {
	var servers []*Server
	for i := 1; i <= 3; i++ {
		cfg := gossipConfig(t, fmt.Sprintf("s%d", i), nil)
		cfg.BootstrapExpect = 3
		if i > 1 {
			cfg.Join = []string{servers[0].HTTPAddr()}
		}
		servers = append(servers, startServer(t, cfg))
	}
	waitAgreedLeader(t, servers, 30*time.Second)
	// s1 has no -join: after a restart it finds the others from peers.json.
	cfg := restartConfig(t, servers[0])
	if err := servers[0].Shutdown(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	back := startServer(t, cfg)
	all := []*Server{back, servers[1], servers[2]}
	waitAgreedLeader(t, all, 30*time.Second)
	t.Logf("leader agreed %v after restart", time.Since(t0))
	defer func() { t.Logf("gossip converged %v after restart", time.Since(t0)) }()
	waitFor(t, 20*time.Second, "restarted s1 alive in everyone's gossip", func() (bool, string) {
		for _, s := range all {
			alive := 0
			for _, m := range s.Membership().Members() {
				if m.Role == RoleServer && m.State == MemberAlive {
					alive++
				}
			}
			if alive != 3 {
				return false, fmt.Sprintf("%s sees %d alive servers", s.ID(), alive)
			}
		}
		return true, ""
	})
}
