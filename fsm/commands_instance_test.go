package fsm

import (
	"fmt"
	"testing"
	"time"
)

func TestCreateInstancesAllocatesLowestFreeIP(t *testing.T) {
	h := seeded(t)
	got := h.create("c1", "a", "b", "c")
	for i, inst := range got {
		want := fmt.Sprintf("10.1.0.%d", 10+i)
		if inst.IP != want || inst.State != StatePending || inst.Health != HealthUnknown || inst.Network != "net" || !inst.Created.Equal(at(10)) {
			t.Fatalf("instance %d = %+v, want IP %s pending", i, inst, want)
		}
	}
	// b ends (cancelled): its address is free again and is the lowest free
	// one. (A failed instance's address is quarantined: quarantine_test.go.)
	h.walk("b", StateTerminated)
	if id, ok := h.state().IPOwner("10.1.0.11"); ok {
		t.Fatalf("10.1.0.11 still owned by %s", id)
	}
	if d := h.create("c1", "d"); d[0].IP != "10.1.0.11" {
		t.Fatalf("d got %s, want the freed 10.1.0.11", d[0].IP)
	}
	if e := h.create("c2", "e"); e[0].IP != "10.1.0.13" {
		t.Fatalf("e got %s, want 10.1.0.13", e[0].IP)
	}
	// Every live instance has a distinct IP.
	s := h.state()
	seen := map[string]string{}
	for _, inst := range s.Instances {
		if !inst.Live() {
			continue
		}
		if other, dup := seen[inst.IP]; dup {
			t.Fatalf("%s and %s share %s", inst.ID, other, inst.IP)
		}
		seen[inst.IP] = inst.ID
	}
}

func TestCreateInstancesRejections(t *testing.T) {
	ni := func(mut func(*NewInstance)) CreateInstances {
		n := NewInstance{ID: "x", Tenant: "acme", Group: "web", Cloud: "c1"}
		mut(&n)
		return CreateInstances{Time: at(5), Instances: []NewInstance{n}}
	}
	for _, tc := range []struct {
		name string
		cmd  CreateInstances
		want error
	}{
		{"empty batch", CreateInstances{Time: at(5)}, ErrBadCommand},
		{"no time", CreateInstances{Instances: ni(func(*NewInstance) {}).Instances}, ErrBadCommand},
		{"bad id", ni(func(n *NewInstance) { n.ID = "../x" }), ErrBadCommand},
		{"duplicate id in state", ni(func(n *NewInstance) { n.ID = "a" }), ErrConflict},
		{"duplicate id in batch", CreateInstances{Time: at(5), Instances: []NewInstance{
			{ID: "y", Tenant: "acme", Group: "web", Cloud: "c1"}, {ID: "y", Tenant: "acme", Group: "web", Cloud: "c1"}}}, ErrConflict},
		{"unknown group", ni(func(n *NewInstance) { n.Group = "nope" }), ErrNotFound},
		{"bad address", ni(func(n *NewInstance) { n.Address = "10.1.0.5" }), ErrBadCommand},
		{"bad port", ni(func(n *NewInstance) { n.Address = "10.1.0.5:70000" }), ErrBadCommand},
		{"unknown cloud", ni(func(n *NewInstance) { n.Cloud = "c9" }), ErrNotFound},
		{"unknown hypervisor", ni(func(n *NewInstance) { n.Hypervisor = "h9" }), ErrNotFound},
		{"hypervisor in other cloud", ni(func(n *NewInstance) { n.Hypervisor = "h2" }), ErrBadCommand},
		{"unknown network", ni(func(n *NewInstance) { n.Network = "nope" }), ErrNotFound},
		{"cloud capacity", func() CreateInstances {
			var c CreateInstances
			c.Time = at(5)
			for i := 0; i < 8; i++ { // c1 holds 8, "a" is live already
				c.Instances = append(c.Instances, NewInstance{ID: fmt.Sprintf("n%d", i), Tenant: "acme", Group: "web", Cloud: "c1"})
			}
			return c
		}(), ErrCapacity},
		{"addresses exhausted (rolled back)", func() CreateInstances {
			var c CreateInstances
			c.Time = at(5)
			for i := 0; i < 10; i++ { // range has 10 addresses, "a" holds one
				c.Instances = append(c.Instances, NewInstance{ID: fmt.Sprintf("n%d", i), Tenant: "acme", Group: "web", Cloud: "c2"})
			}
			return c
		}(), ErrCapacity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := seeded(t)
			h.create("c1", "a")
			h.fail(CreateInstancesType, tc.cmd, tc.want)
			// Nothing leaked from the rejected batch: the next address is .11.
			if got := h.create("c2", "z"); got[0].IP != "10.1.0.11" {
				t.Fatalf("after the rejected batch the next IP is %s, want 10.1.0.11", got[0].IP)
			}
		})
	}
}

func TestLifecycleTable(t *testing.T) {
	all := []InstanceState{StatePending, StateProvisioning, StateRunning, StateDraining, StateTerminating, StateTerminated, StateFailed}
	legal := map[[2]InstanceState]bool{}
	for from, tos := range transitions {
		for _, to := range tos {
			legal[[2]InstanceState{from, to}] = true
		}
	}
	for _, from := range all {
		for _, to := range all {
			t.Run(string(from)+"->"+string(to), func(t *testing.T) {
				want := from == to || legal[[2]InstanceState{from, to}]
				if CanTransition(from, to) != want {
					t.Fatalf("CanTransition = %v, want %v", !want, want)
				}
				h := seeded(t)
				h.create("c1", "i")
				if path := pathTo(from); len(path) > 0 {
					h.walk("i", path...)
				}
				u := UpdateInstances{Time: at(60), Updates: []InstanceUpdate{{ID: "i", State: to}}}
				if want {
					h.ok(UpdateInstancesType, u)
					inst, _ := h.state().Instance("i")
					if inst.State != to {
						t.Fatalf("state %s, want %s", inst.State, to)
					}
				} else {
					h.fail(UpdateInstancesType, u, ErrInvalidTransition)
				}
			})
		}
	}
	if CanTransition("bogus", StateRunning) || CanTransition(StateRunning, "bogus") {
		t.Fatal("unknown states accepted")
	}
}

// pathTo returns the states that lead from pending to st.
func pathTo(st InstanceState) []InstanceState {
	switch st {
	case StateProvisioning:
		return []InstanceState{StateProvisioning}
	case StateRunning:
		return []InstanceState{StateProvisioning, StateRunning}
	case StateDraining:
		return []InstanceState{StateProvisioning, StateRunning, StateDraining}
	case StateTerminating:
		return []InstanceState{StateTerminating}
	case StateTerminated:
		return []InstanceState{StateTerminated}
	case StateFailed:
		return []InstanceState{StateFailed}
	}
	return nil
}

func TestUpdateInstances(t *testing.T) {
	h := seeded(t)
	h.create("c1", "a", "b")
	// One batch may walk an instance through several states.
	h.ok(UpdateInstancesType, UpdateInstances{Time: at(30), Updates: []InstanceUpdate{
		{ID: "a", State: StateProvisioning, Hypervisor: "h1"},
		{ID: "a", State: StateRunning, Address: "10.1.0.10:8080", Health: HealthHealthy},
		{ID: "b", State: StateFailed, Reason: "image pull failed"},
	}})
	s := h.state()
	a, _ := s.Instance("a")
	if a.State != StateRunning || a.Hypervisor != "h1" || a.Address != "10.1.0.10:8080" || a.Health != HealthHealthy || !a.Since.Equal(at(30)) {
		t.Fatalf("a = %+v", a)
	}
	if s.LiveCount("acme", "web") != 1 || s.CloudLiveCount("c1") != 1 {
		t.Fatalf("live counts group %d cloud %d, want 1, 1", s.LiveCount("acme", "web"), s.CloudLiveCount("c1"))
	}
	if log := s.ActivityLog(ActivityFilter{Kind: "instance"}); len(log) != 1 {
		t.Fatalf("instance activity %+v, want the failure of b", log)
	}
	for _, tc := range []struct {
		name string
		cmd  UpdateInstances
		want error
	}{
		{"no time", UpdateInstances{Updates: []InstanceUpdate{{ID: "a", Health: HealthHealthy}}}, ErrBadCommand},
		{"empty", UpdateInstances{Time: at(40)}, ErrBadCommand},
		{"unknown instance", UpdateInstances{Time: at(40), Updates: []InstanceUpdate{{ID: "zz", Health: HealthHealthy}}}, ErrNotFound},
		{"unknown state", UpdateInstances{Time: at(40), Updates: []InstanceUpdate{{ID: "a", State: "paused"}}}, ErrBadCommand},
		{"bad address", UpdateInstances{Time: at(40), Updates: []InstanceUpdate{{ID: "a", Address: ":80"}}}, ErrBadCommand},
		{"bad health", UpdateInstances{Time: at(40), Updates: []InstanceUpdate{{ID: "a", Health: "meh"}}}, ErrBadCommand},
		{"unknown hypervisor", UpdateInstances{Time: at(40), Updates: []InstanceUpdate{{ID: "a", Hypervisor: "h9"}}}, ErrNotFound},
		{"hypervisor in other cloud", UpdateInstances{Time: at(40), Updates: []InstanceUpdate{{ID: "a", Hypervisor: "h2"}}}, ErrBadCommand},
		{"terminal is final", UpdateInstances{Time: at(40), Updates: []InstanceUpdate{{ID: "b", State: StateRunning}}}, ErrInvalidTransition},
		{"second step of batch illegal (all or nothing)", UpdateInstances{Time: at(40), Updates: []InstanceUpdate{
			{ID: "a", State: StateDraining}, {ID: "a", State: StateProvisioning}}}, ErrInvalidTransition},
	} {
		t.Run(tc.name, func(t *testing.T) { h.fail(UpdateInstancesType, tc.cmd, tc.want) })
	}
}

func TestProtectAndReap(t *testing.T) {
	h := seeded(t)
	h.create("c1", "a", "b")
	h.fail(SetInstanceProtectedType, SetInstanceProtected{ID: "zz", Protected: true, Time: at(1)}, ErrNotFound)
	h.fail(SetInstanceProtectedType, SetInstanceProtected{ID: "a", Protected: true}, ErrBadCommand)
	h.ok(SetInstanceProtectedType, SetInstanceProtected{ID: "a", Protected: true, Time: at(11)})
	if a, _ := h.state().Instance("a"); !a.Protected {
		t.Fatal("a not protected")
	}
	h.walk("b", StateTerminated) // at(20)
	h.fail(ReapInstancesType, ReapInstances{Time: at(90)}, ErrBadCommand)
	if n := h.ok(ReapInstancesType, ReapInstances{Before: at(20), Time: at(90)}).(int); n != 0 {
		t.Fatalf("reaped %d before its time", n)
	}
	if n := h.ok(ReapInstancesType, ReapInstances{Before: at(21), Time: at(90)}).(int); n != 1 {
		t.Fatalf("reaped %d, want 1", n)
	}
	s := h.state()
	if _, ok := s.Instance("b"); ok {
		t.Fatal("b still there")
	}
	if got := s.GroupInstances("acme", "web"); len(got) != 1 || got[0].ID != "a" {
		t.Fatalf("group instances %v", got)
	}
}

func TestCloudAndHypervisorCommands(t *testing.T) {
	h := seeded(t)
	h.fail(UpsertCloudType, UpsertCloud{Cloud: Cloud{Name: ""}}, ErrBadCommand)
	h.fail(UpsertCloudType, UpsertCloud{Cloud: Cloud{Name: "c3", Capacity: -1}}, ErrBadCommand)
	h.fail(DeleteCloudType, DeleteCloud{Name: "c9"}, ErrNotFound)
	h.create("c2", "a")
	h.fail(DeleteCloudType, DeleteCloud{Name: "c2"}, ErrInUse)
	h.ok(UpdateInstancesType, UpdateInstances{Time: at(30), Updates: []InstanceUpdate{{ID: "a", State: StateProvisioning, Hypervisor: "h2"}}})
	h.fail(RemoveHypervisorType, RemoveHypervisor{ID: "h2"}, ErrInUse)
	h.fail(RemoveHypervisorType, RemoveHypervisor{ID: "h9"}, ErrNotFound)
	h.walk("a", StateFailed)
	h.ok(DeleteCloudType, DeleteCloud{Name: "c2"})
	h.ok(RemoveHypervisorType, RemoveHypervisor{ID: "h2"})

	h.fail(UpsertHypervisorType, UpsertHypervisor{Hypervisor: Hypervisor{}}, ErrBadCommand)
	h.fail(UpsertHypervisorType, UpsertHypervisor{Hypervisor: Hypervisor{ID: "h3", Liveness: "zombie"}}, ErrBadCommand)
	h.fail(SetLivenessType, SetLiveness{ID: "h9", Liveness: LivenessFailed, Time: at(50)}, ErrNotFound)
	h.fail(SetLivenessType, SetLiveness{ID: "h1", Liveness: "zombie", Time: at(50)}, ErrBadCommand)
	h.ok(SetLivenessType, SetLiveness{ID: "h1", Liveness: LivenessFailed, Time: at(50)})
	h.ok(SetLivenessType, SetLiveness{ID: "h1", Liveness: LivenessFailed, Time: at(60)})
	hv := h.state().HypervisorList("c1")
	if len(hv) != 1 || hv[0].Liveness != LivenessFailed || !hv[0].Since.Equal(at(50)) {
		t.Fatalf("hypervisors %+v (since must stay at the first change)", hv)
	}
	cl := h.state().CloudList()
	if len(cl) != 1 || cl[0].Name != "c1" {
		t.Fatalf("clouds %+v", cl)
	}
	_ = time.Second
}
