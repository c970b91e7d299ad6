package lbsync

import (
	"context"
	"net"
	"net/netip"
	"reflect"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/cluster"
	"aas/fsm"
	"aas/internal/poll"
)

func inst(id, cloud string, st fsm.InstanceState, h fsm.Health, addr string) fsm.Instance {
	return fsm.Instance{ID: id, Cloud: cloud, State: st, Health: h, Address: addr}
}

func TestLBBackendsGateUnprovenPerCloud(t *testing.T) {
	const (
		run   = fsm.StateRunning
		drain = fsm.StateDraining
		ok    = fsm.HealthHealthy
		bad   = fsm.HealthUnhealthy
		unk   = fsm.HealthUnknown
	)
	for _, tc := range []struct {
		name string
		live []fsm.Instance
		want []backend
	}{
		{
			name: "unknown instance waits while its cloud has a healthy one",
			live: []fsm.Instance{inst("a", "c1", run, ok, "10.0.0.1:80"), inst("b", "c1", run, unk, "10.0.0.2:80")},
			want: []backend{{ID: "a", Cloud: "c1", Addr: "10.0.0.1:80"}},
		},
		{
			name: "a cloud whose only instance is unknown keeps serving it, whatever other clouds have",
			live: []fsm.Instance{inst("a", "c1", run, ok, "10.0.0.1:80"), inst("b", "c2", run, unk, "10.0.1.1:80")},
			want: []backend{{ID: "a", Cloud: "c1", Addr: "10.0.0.1:80"}, {ID: "b", Cloud: "c2", Addr: "10.0.1.1:80", Unproven: true}},
		},
		{
			name: "no health results at all (no checks configured): every running instance",
			live: []fsm.Instance{inst("a", "c1", run, unk, "10.0.0.1:80"), inst("b", "c1", run, "", "10.0.0.2:80")},
			want: []backend{{ID: "a", Cloud: "c1", Addr: "10.0.0.1:80", Unproven: true}, {ID: "b", Cloud: "c1", Addr: "10.0.0.2:80", Unproven: true}},
		},
		{
			name: "an unhealthy instance proves nothing: unknown ones serve beside it (it drains)",
			live: []fsm.Instance{inst("a", "c1", run, bad, "10.0.0.1:80"), inst("b", "c1", run, unk, "10.0.0.2:80")},
			want: []backend{{ID: "a", Cloud: "c1", Addr: "10.0.0.1:80", Draining: true}, {ID: "b", Cloud: "c1", Addr: "10.0.0.2:80", Unproven: true}},
		},
		{
			name: "a healthy draining instance does not gate: it takes no new connections",
			live: []fsm.Instance{inst("a", "c1", drain, ok, "10.0.0.1:80"), inst("b", "c1", run, unk, "10.0.0.2:80")},
			want: []backend{{ID: "a", Cloud: "c1", Addr: "10.0.0.1:80", Draining: true}, {ID: "b", Cloud: "c1", Addr: "10.0.0.2:80", Unproven: true}},
		},
		{
			name: "a healthy instance without an address does not gate",
			live: []fsm.Instance{inst("a", "c1", run, ok, ""), inst("b", "c1", run, unk, "10.0.0.2:80")},
			want: []backend{{ID: "b", Cloud: "c1", Addr: "10.0.0.2:80", Unproven: true}},
		},
		{
			name: "other states are no target; sorted by ID",
			live: []fsm.Instance{
				inst("z", "c1", run, ok, "10.0.0.9:80"),
				inst("p", "c1", fsm.StatePending, unk, ""),
				inst("q", "c1", fsm.StateProvisioning, unk, "10.0.0.3:80"),
				inst("r", "c1", fsm.StateTerminating, ok, "10.0.0.4:80"),
				inst("b", "c1", run, ok, "10.0.0.2:80"),
			},
			want: []backend{{ID: "b", Cloud: "c1", Addr: "10.0.0.2:80"}, {ID: "z", Cloud: "c1", Addr: "10.0.0.9:80"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := lbBackends(tc.live); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("lbBackends =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

// The master's weight for a cloud is exactly the number of targets that
// cloud's LB will take new connections on.
func TestMasterWeightsMatchCloudSets(t *testing.T) {
	const (
		run = fsm.StateRunning
		ok  = fsm.HealthHealthy
		unk = fsm.HealthUnknown
		bad = fsm.HealthUnhealthy
	)
	live := []fsm.Instance{
		// c1 (own): 1 healthy + 1 unknown (gated) → 1
		inst("a1", "c1", run, ok, "198.18.1.2:80"), inst("a2", "c1", run, unk, "198.18.1.3:80"),
		// c2: 2 healthy, 1 unknown (gated), 1 unhealthy (draining), a duplicate address → 2
		inst("b1", "c2", run, ok, "198.18.2.2:80"), inst("b2", "c2", run, ok, "198.18.2.3:80"),
		inst("b3", "c2", run, unk, "198.18.2.4:80"), inst("b4", "c2", run, bad, "198.18.2.5:80"),
		inst("b5", "c2", run, ok, "198.18.2.3:80"),
		// c3: only unknown ones → both serve → 2
		inst("c1", "c3", run, unk, "198.18.3.2:80"), inst("c2", "c3", run, unk, "198.18.3.3:80"),
		// c4: only an unhealthy one → its LB un-drains it, the master sends nothing
		inst("d1", "c4", run, bad, "198.18.4.2:80"),
		// c5: an unparsable address only → nothing
		inst("e1", "c5", run, ok, "not-an-address"),
	}
	g := groupView{Tenant: "t", Name: "web", Key: "t/web", Port: 80, PublicIP: "198.18.5.5", Backends: lbBackends(live)}
	addrs := map[string]netip.Addr{}
	for i, c := range []string{"c2", "c3", "c4", "c5"} {
		addrs[c] = netip.AddrFrom4([4]byte{198, 18, 0, byte(2 + i)})
	}
	ports := map[string]int{"t/web": 20001}
	svcs := masterServices([]groupView{g}, "c1", StaticCloudAddrs(addrs), ports, true, hclog.NewNullLogger())
	if len(svcs) != 1 {
		t.Fatalf("master services: %+v", svcs)
	}
	weight := map[string]int{}
	for _, b := range svcs[0].Backends {
		cloud := "c1"
		for c, a := range addrs {
			if b.Addr.Addr() == a {
				cloud = c
			}
		}
		weight[cloud] += b.Weight
	}
	for _, c := range []string{"c1", "c2", "c3", "c4", "c5"} {
		active := 0
		for _, s := range cloudServices([]groupView{g}, c, netip.MustParseAddr("198.18.9.9"), ports, true) {
			for _, b := range s.Backends {
				if !b.Draining {
					active++
				}
			}
		}
		if c == "c4" {
			active = 0 // all draining: the cloud LB's fallback, not a share the master sends
		}
		if weight[c] != active {
			t.Errorf("cloud %s: master weight %d, cloud LB's active targets %d", c, weight[c], active)
		}
	}
	want := map[string]int{"c1": 1, "c2": 2, "c3": 2}
	if !reflect.DeepEqual(weight, want) {
		t.Errorf("weights %v, want %v", weight, want)
	}
}

func TestProvenClouds(t *testing.T) {
	b := func(id, cloud string, draining, unproven bool) backend {
		return backend{ID: id, Cloud: cloud, Addr: "198.18.1.1:80", Draining: draining, Unproven: unproven}
	}
	for _, tc := range []struct {
		name string
		bs   []backend
		want []string
	}{
		{"a cloud with only unproven targets waits while another is proven",
			[]backend{b("a", "c1", false, false), b("b", "c2", false, true), b("c", "c2", true, false)}, []string{"a"}},
		{"a proven cloud keeps its draining targets",
			[]backend{b("a", "c1", false, false), b("d", "c1", true, false), b("b", "c2", false, true)}, []string{"a", "d"}},
		{"no proven target anywhere: all kept (never a black hole)",
			[]backend{b("a", "c1", false, true), b("b", "c2", false, true), b("c", "c3", true, false)}, []string{"a", "b", "c"}},
		{"a draining healthy target proves nothing",
			[]backend{b("a", "c1", true, false), b("b", "c2", false, true)}, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gs := []groupView{{Key: "t/web", Backends: tc.bs}}
			got := provenClouds(gs)
			var ids []string
			for _, x := range got[0].Backends {
				ids = append(ids, x.ID)
			}
			if !reflect.DeepEqual(ids, tc.want) {
				t.Fatalf("kept %v, want %v", ids, tc.want)
			}
			if len(gs[0].Backends) != len(tc.bs) {
				t.Fatal("provenClouds changed its input")
			}
		})
	}
}

func TestLiveClouds(t *testing.T) {
	b := func(id, cloud string, draining bool) backend {
		return backend{ID: id, Cloud: cloud, Addr: "198.18.1.1:80", Draining: draining}
	}
	ids := func(bs []backend) []string {
		var out []string
		for _, x := range bs {
			out = append(out, x.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		bs     []backend
		states map[string]cloudState
		want   []string
	}{
		{"alive clouds and own cloud kept, dead one removed",
			[]backend{b("a", "own", false), b("b", "c2", false), b("c", "c3", false)},
			map[string]cloudState{"c2": cloudAlive, "c3": cloudDead}, []string{"a", "b"}},
		{"unknown clouds wait while own cloud serves",
			[]backend{b("a", "own", false), b("b", "c2", false)},
			map[string]cloudState{}, []string{"a"}},
		{"unknown clouds wait while an alive cloud serves",
			[]backend{b("b", "c2", false), b("c", "c3", false)},
			map[string]cloudState{"c2": cloudAlive}, []string{"b"}},
		{"only unknown clouds: kept (the probe has not answered yet)",
			[]backend{b("b", "c2", false), b("c", "c3", false), b("d", "c4", false)},
			map[string]cloudState{"c4": cloudDead}, []string{"b", "c"}},
		{"own cloud only draining does not count as serving",
			[]backend{b("a", "own", true), b("b", "c2", false)},
			map[string]cloudState{}, []string{"a", "b"}},
		{"every cloud dead: the group is left as it is",
			[]backend{b("b", "c2", false), b("c", "c3", false)},
			map[string]cloudState{"c2": cloudDead, "c3": cloudDead}, []string{"b", "c"}},
		{"own cloud is never removed",
			[]backend{b("a", "own", false), b("b", "c2", false)},
			map[string]cloudState{"own": cloudDead, "c2": cloudAlive}, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gs := []groupView{{Key: "t/web", Backends: tc.bs}}
			got := liveClouds(gs, "own", func(c string) cloudState { return tc.states[c] })
			if !reflect.DeepEqual(ids(got[0].Backends), tc.want) {
				t.Fatalf("kept %v, want %v", ids(got[0].Backends), tc.want)
			}
			if len(gs[0].Backends) != len(tc.bs) {
				t.Fatal("liveClouds changed its input")
			}
		})
	}
}

func TestProbeTargets(t *testing.T) {
	addrs := StaticCloudAddrs(map[string]netip.Addr{"c2": netip.MustParseAddr("198.18.0.2"), "c3": netip.MustParseAddr("198.18.0.3")})
	gs := []groupView{
		{Key: "t/b", PublicIP: "198.18.5.5", Backends: []backend{{ID: "1", Cloud: "c2"}, {ID: "2", Cloud: "c3"}}},
		{Key: "t/a", PublicIP: "198.18.5.5", Backends: []backend{{ID: "3", Cloud: "c2"}, {ID: "4", Cloud: "c3", Draining: true},
			{ID: "5", Cloud: "own"}, {ID: "6", Cloud: "c9"}}},
		{Key: "t/0", Backends: []backend{{ID: "7", Cloud: "c2"}}}, // no public IP: the master does not send
	}
	got := probeTargets(gs, "own", addrs, map[string]int{"t/a": 20001, "t/b": 20002, "t/0": 20000})
	want := map[string]netip.AddrPort{
		"c2": netip.MustParseAddrPort("198.18.0.2:20001"), // t/a sorts first
		"c3": netip.MustParseAddrPort("198.18.0.3:20002"), // t/a has only a draining one there
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("probeTargets = %v, want %v", got, want)
	}
}

func TestGossipCloudsAndNeedsProbe(t *testing.T) {
	ms := []cluster.Member{
		{ID: "s1", Role: cluster.RoleServer, Cloud: "c1", State: cluster.MemberAlive},
		{ID: "s2", Role: cluster.RoleServer, Cloud: "c2", State: cluster.MemberSuspect},
		{ID: "s3", Role: cluster.RoleServer, Cloud: "c3", State: cluster.MemberDead},
		{ID: "s3b", Role: cluster.RoleServer, Cloud: "c3", State: cluster.MemberAlive},
		{ID: "h4", Role: cluster.RoleHypervisor, Cloud: "c4", State: cluster.MemberAlive},
	}
	known, down := gossipClouds(ms)
	var k, d []string
	for c := range known {
		k = append(k, c)
	}
	for c := range down {
		d = append(d, c)
	}
	sort.Strings(k)
	sort.Strings(d)
	if !reflect.DeepEqual(k, []string{"c1", "c2", "c3"}) || !reflect.DeepEqual(d, []string{"c2"}) {
		t.Fatalf("known %v down %v; want [c1 c2 c3] and [c2]", k, d)
	}
	for _, tc := range []struct {
		st          cloudState
		known, down bool
		want        bool
	}{
		{cloudAlive, true, false, false}, // steady state: no probe traffic
		{cloudAlive, true, true, true},   // gossip doubts it
		{cloudAlive, false, false, true}, // gossip knows nothing: keep probing
		{cloudUnknown, true, false, true},
		{cloudDead, true, false, true},
	} {
		if got := needsProbe(tc.st, tc.known, tc.down); got != tc.want {
			t.Errorf("needsProbe(%v, known %v, down %v) = %v, want %v", tc.st, tc.known, tc.down, got, tc.want)
		}
	}
}

// cloudLiveness against real TCP on loopback: a listening LB is alive, a
// closed port dead; closing the listener turns the cloud dead within a few
// probe intervals (gossip knows nothing here, so alive clouds are probed
// on); each change wakes the pass.
func TestCloudLivenessProbes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	var wakes atomic.Int32
	l := newCloudLiveness(MasterConfig{ProbeInterval: 50 * time.Millisecond, ProbeTimeout: 500 * time.Millisecond,
		Dial: (&net.Dialer{}).DialContext}, hclog.NewNullLogger(), func() { wakes.Add(1) })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	l.setTargets(map[string]netip.AddrPort{
		"up":   netip.MustParseAddrPort(ln.Addr().String()),
		"down": netip.MustParseAddrPort(closedAddr),
	})
	poll.Until(t, 5*time.Second, "verdicts", func() (bool, string) {
		return l.state("up") == cloudAlive && l.state("down") == cloudDead,
			"up " + l.state("up").String() + ", down " + l.state("down").String()
	})
	if wakes.Load() < 2 {
		t.Errorf("%d wake-ups for two verdicts", wakes.Load())
	}
	ln.Close()
	poll.Until(t, 5*time.Second, "closed LB turns dead", func() (bool, string) {
		return l.state("up") == cloudDead, l.state("up").String()
	})
	// A new term forgets everything.
	l.reset()
	if l.state("down") != cloudUnknown {
		t.Fatalf("after reset: %v", l.state("down"))
	}
}
