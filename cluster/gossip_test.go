package cluster

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	"aas/cluster/client"
	"aas/fsm"
	"aas/nodes/gossip"
)

func TestPlanLiveness(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	hv := func(id string, l fsm.Liveness) *fsm.Hypervisor {
		return &fsm.Hypervisor{ID: id, Cloud: "c", Driver: "process", APIAddr: "a:1", GossipAddr: "g:1", Capacity: 2, Liveness: l}
	}
	mem := func(id, state string) Member {
		return Member{ID: id, Role: RoleHypervisor, Cloud: "c", Driver: "process", APIAddr: "a:1", Addr: "g:1", Capacity: 2, State: state}
	}
	type want struct {
		t fsm.MessageType
		l fsm.Liveness
	}
	tests := []struct {
		name    string
		members []Member
		fsm     map[string]*fsm.Hypervisor
		want    []want
	}{
		{"new alive member registered", []Member{mem("h", MemberAlive)}, nil, []want{{fsm.UpsertHypervisorType, fsm.LivenessAlive}}},
		{"in sync: nothing", []Member{mem("h", MemberAlive)}, map[string]*fsm.Hypervisor{"h": hv("h", fsm.LivenessAlive)}, nil},
		{"suspect", []Member{mem("h", MemberSuspect)}, map[string]*fsm.Hypervisor{"h": hv("h", fsm.LivenessAlive)}, []want{{fsm.SetLivenessType, fsm.LivenessSuspect}}},
		{"dead → failed", []Member{mem("h", MemberDead)}, map[string]*fsm.Hypervisor{"h": hv("h", fsm.LivenessAlive)}, []want{{fsm.SetLivenessType, fsm.LivenessFailed}}},
		{"left → left", []Member{mem("h", MemberLeft)}, map[string]*fsm.Hypervisor{"h": hv("h", fsm.LivenessAlive)}, []want{{fsm.SetLivenessType, fsm.LivenessLeft}}},
		{"failed comes back", []Member{mem("h", MemberAlive)}, map[string]*fsm.Hypervisor{"h": hv("h", fsm.LivenessFailed)}, []want{{fsm.SetLivenessType, fsm.LivenessAlive}}},
		{"forgotten by gossip → failed", nil, map[string]*fsm.Hypervisor{"h": hv("h", fsm.LivenessAlive)}, []want{{fsm.SetLivenessType, fsm.LivenessFailed}}},
		{"forgotten after leaving: nothing", nil, map[string]*fsm.Hypervisor{"h": hv("h", fsm.LivenessLeft)}, nil},
		{"servers ignored", []Member{{ID: "s", Role: RoleServer, State: MemberDead}}, nil, nil},
		{"metadata change re-registers", []Member{func() Member { m := mem("h", MemberAlive); m.Capacity = 9; return m }()},
			map[string]*fsm.Hypervisor{"h": hv("h", fsm.LivenessAlive)}, []want{{fsm.UpsertHypervisorType, fsm.LivenessAlive}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := planLiveness(tc.members, tc.fsm, now)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d commands %+v, want %d", len(got), got, len(tc.want))
			}
			for i, c := range got {
				if c.t != tc.want[i].t {
					t.Fatalf("command %d type %s, want %s", i, fsm.CommandName(c.t), fsm.CommandName(tc.want[i].t))
				}
				var l fsm.Liveness
				switch p := c.payload.(type) {
				case fsm.UpsertHypervisor:
					l = p.Hypervisor.Liveness
				case fsm.SetLiveness:
					l = p.Liveness
					if !p.Time.Equal(now) {
						t.Errorf("time %v, want the input %v", p.Time, now)
					}
				}
				if l != tc.want[i].l {
					t.Fatalf("command %d liveness %s, want %s", i, l, tc.want[i].l)
				}
			}
		})
	}
}

func gossipConfig(t testing.TB, id string, key []byte) Config {
	cfg := testConfig(t, id)
	cfg.GossipAddr = "127.0.0.1:0"
	// LAN gossip timing, not the fast profile: on loaded shared cores under
	// -race, 150ms probe timeouts declare live members dead.
	cfg.GossipKey = key
	return cfg
}

// startHypervisor starts a hypervisor gossip member joined to addr.
func startHypervisor(t testing.TB, id, join string, key []byte) *gossip.Node {
	t.Helper()
	n, err := gossip.Start(gossip.Config{
		NodeID: id, BindAddr: "127.0.0.1:0", Key: key,
		Meta: gossip.Meta{NodeID: id, Role: gossip.RoleHypervisor, Cloud: "c1", Driver: "process", Capacity: 8, APIAddr: "127.0.0.1:7073"},
	})
	if err != nil {
		t.Fatalf("start hypervisor %s: %v", id, err)
	}
	t.Cleanup(func() { _ = n.Shutdown() })
	if _, err := n.Join([]string{join}); err != nil {
		t.Fatalf("hypervisor %s join %s: %v", id, join, err)
	}
	return n
}

// waitLiveness waits until every controller records id with one of want.
func waitLiveness(t testing.TB, servers []*Server, id string, timeout time.Duration, want ...fsm.Liveness) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%s %v on every controller", id, want), func() (bool, string) {
		for _, s := range servers {
			if got := hypervisorState(s)[id]; !slices.Contains(want, got) {
				return false, fmt.Sprintf("%s sees %q", s.ID(), got)
			}
		}
		return true, ""
	})
}

// registered: alive, or suspect when a loaded machine delays a probe.
var registered = []fsm.Liveness{fsm.LivenessAlive, fsm.LivenessSuspect}

func TestHypervisorLivenessFromGossip(t *testing.T) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	// Three controllers with encrypted gossip, formed by bootstrap-expect.
	var servers []*Server
	for i := 1; i <= 3; i++ {
		cfg := gossipConfig(t, fmt.Sprintf("s%d", i), key)
		cfg.BootstrapExpect = 3
		if i > 1 {
			cfg.Join = []string{servers[0].HTTPAddr()}
		}
		servers = append(servers, startServer(t, cfg))
	}
	leader := waitAgreedLeader(t, servers, 30*time.Second)
	f := followers(servers, leader)

	// Hypervisors join through a follower's gossip address.
	killed := startHypervisor(t, "hv-killed", f[0].GossipAddr(), key)
	leaving := startHypervisor(t, "hv-leaving", f[1].GossipAddr(), key)
	waitLiveness(t, servers, "hv-killed", 30*time.Second, registered...)
	waitLiveness(t, servers, "hv-leaving", 30*time.Second, registered...)

	hvs, err := client.New(f[0].HTTPAddr()).Hypervisors(context.Background())
	if err != nil || len(hvs) != 2 || hvs[0].Driver != "process" || hvs[0].Capacity != 8 || hvs[0].Cloud != "c1" {
		t.Fatalf("hypervisors = %+v, %v", hvs, err)
	}

	// Killed without leaving → failed; left gracefully → left.
	if err := killed.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if err := leaving.Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	_ = leaving.Shutdown()
	waitLiveness(t, servers, "hv-killed", 30*time.Second, fsm.LivenessFailed)
	waitLiveness(t, servers, "hv-leaving", 30*time.Second, fsm.LivenessLeft)

	// The controllers know each other's HTTP addresses through gossip meta.
	members, err := client.New(leader.HTTPAddr()).Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]int{}
	for _, m := range members {
		roles[m.Role]++
	}
	if roles[RoleServer] != 3 {
		t.Fatalf("members %+v: want 3 servers", members)
	}

	// After a leader change the new leader keeps writing liveness.
	if err := leader.Shutdown(); err != nil {
		t.Fatal(err)
	}
	nl := waitAgreedLeader(t, f, 30*time.Second)
	back := startHypervisor(t, "hv-new", nl.GossipAddr(), key)
	waitLiveness(t, f, "hv-new", 30*time.Second, registered...)
	_ = back
}
