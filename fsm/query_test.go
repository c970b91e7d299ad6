package fsm

import (
	"testing"
)

func TestQueriesReturnCopies(t *testing.T) {
	h := seeded(t)
	h.create("c1", "a", "b")
	h.create("c2", "c")
	h.walk("b", StateFailed)
	h.ok(UpdateInstancesType, UpdateInstances{Time: at(40), Updates: []InstanceUpdate{{ID: "c", State: StateProvisioning, Hypervisor: "h2"}}})
	h.f.Read(func(s *State) {
		if got := s.TenantNames(); len(got) != 1 || got[0] != "acme" {
			t.Fatalf("tenant names %v", got)
		}
		if got := s.GroupInstances("acme", "web"); len(got) != 3 {
			t.Fatalf("group instances %d, want 3 (failed ones included)", len(got))
		}
		live := s.LiveGroupInstances("acme", "web")
		if len(live) != 2 || live[0].ID != "a" || live[1].ID != "c" || s.LiveCount("acme", "web") != 2 {
			t.Fatalf("live instances %+v", live)
		}
		byCloud := s.LiveInstancesByCloud("acme", "web")
		if len(byCloud["c1"]) != 1 || len(byCloud["c2"]) != 1 {
			t.Fatalf("by cloud %v", byCloud)
		}
		if got := s.CloudInstances("c1"); len(got) != 2 || got[0].ID != "a" || got[1].ID != "b" {
			t.Fatalf("cloud instances %+v", got)
		}
		if got := s.HypervisorInstances("h2"); len(got) != 1 || got[0].ID != "c" {
			t.Fatalf("hypervisor instances %+v", got)
		}
		if got := s.TenantGroups("acme"); len(got) != 1 || got[0].Name != "web" {
			t.Fatalf("tenant groups %+v", got)
		}
		if got := s.AllGroups(); len(got) != 1 || got[0].Key() != "acme/web" {
			t.Fatalf("all groups %+v", got)
		}
		if id, ok := s.IPOwner("10.1.0.12"); !ok || id != "c" {
			t.Fatalf("owner of 10.1.0.12 = %q %v", id, ok)
		}
		// Mutating what a query returned must not touch the state.
		g, _ := s.Group("acme", "web")
		g.Policy[0] = 'X'
		g.Clouds[0].Cloud = "mutated"
		live[0].State = StateFailed
		tn, _ := s.Tenant("acme")
		tn.Networks[0].Subnets[0].CIDR = "mutated"
		byCloud["c1"][0].IP = "mutated"
	})
	s := h.state()
	g, _ := s.Group("acme", "web")
	tn, _ := s.Tenant("acme")
	a, _ := s.Instance("a")
	if g.Policy[0] != '{' || g.Clouds[0].Cloud != "c1" || tn.Networks[0].Subnets[0].CIDR != "10.1.0.0/24" || a.State != StatePending || a.IP != "10.1.0.10" {
		t.Fatal("a query result aliases the state")
	}
}

func TestCloneIsDeep(t *testing.T) {
	h := seeded(t)
	h.create("c1", "a")
	h.ok(SetDesiredType, SetDesired{Tenant: "acme", Group: "web", Desired: 2, Time: at(50), Inputs: map[string]float64{"x": 1}})
	before := h.json()
	h.f.Read(func(s *State) {
		c := s.Clone()
		c.Instances["a"].State = StateFailed
		c.Groups["acme/web"].Cooldown.LastDecision.Inputs["x"] = 2
		c.Tenants["acme"].Networks[0].Name = "mutated"
		c.Activity[0].Reason = "mutated"
	})
	if string(before) != string(h.json()) {
		t.Fatal("mutating a clone changed the state")
	}
}
