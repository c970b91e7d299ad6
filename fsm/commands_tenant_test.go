package fsm

import (
	"encoding/json"
	"testing"
	"time"
)

func TestApplyTenantCreatesAndVersions(t *testing.T) {
	h := seeded(t)
	s := h.state()
	tn, ok := s.Tenant("acme")
	if !ok || tn.Version != 1 || tn.PublicIP != "198.18.100.1" || len(tn.Groups) != 1 {
		t.Fatalf("tenant = %+v", tn)
	}
	g, ok := s.Group("acme", "web")
	if !ok || g.Desired != g.Min || g.Network != "net" || string(g.Policy) != `{"type":"dynamic","threshold":0.6}` {
		t.Fatalf("group = %+v", g)
	}
	// Re-apply with the right expected version: version 2, runtime fields kept.
	h.ok(SetDesiredType, SetDesired{Tenant: "acme", Group: "web", Desired: 4, Time: at(5)})
	cmd := acmeTenant()
	cmd.ExpectedVersion = u64(1)
	cmd.Groups[0].Max = 3
	if v := h.ok(ApplyTenantType, cmd).(uint64); v != 2 {
		t.Fatalf("version = %d, want 2", v)
	}
	g, _ = h.state().Group("acme", "web")
	if g.Desired != 3 || g.Max != 3 || g.Cooldown.LastDecision == nil {
		t.Fatalf("after re-apply group = %+v (desired must be clamped to the new max, cooldown kept)", g)
	}
	// A stale expected version is a conflict.
	h.fail(ApplyTenantType, cmd, ErrVersionConflict)
}

func TestApplyTenantRejections(t *testing.T) {
	other := func(mut func(*ApplyTenant)) ApplyTenant {
		c := acmeTenant()
		c.Tenant.Name = "other"
		c.Tenant.PublicIP = "198.18.100.2"
		c.Tenant.Networks[0].Subnets[0] = Subnet{CIDR: "10.2.0.0/24", RangeStart: "10.2.0.10", RangeEnd: "10.2.0.200"}
		mut(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		cmd  ApplyTenant
		want error
	}{
		{"bad name", other(func(c *ApplyTenant) { c.Tenant.Name = "a/b" }), ErrBadCommand},
		{"no time", other(func(c *ApplyTenant) { c.Time = time.Time{} }), ErrBadCommand},
		{"expected version for new tenant", other(func(c *ApplyTenant) { c.ExpectedVersion = u64(3) }), ErrVersionConflict},
		{"bad public ip", other(func(c *ApplyTenant) { c.Tenant.PublicIP = "45.45.45" }), ErrBadCommand},
		{"public ip taken", other(func(c *ApplyTenant) { c.Tenant.PublicIP = "198.18.100.1" }), ErrConflict},
		{"negative retention", other(func(c *ApplyTenant) { c.Tenant.Settings.Retention = -1 }), ErrBadCommand},
		{"bad cidr", other(func(c *ApplyTenant) { c.Tenant.Networks[0].Subnets[0].CIDR = "10.2.0.0/33" }), ErrBadCommand},
		{"host bits", other(func(c *ApplyTenant) { c.Tenant.Networks[0].Subnets[0].CIDR = "10.2.0.1/24" }), ErrBadCommand},
		{"range outside subnet", other(func(c *ApplyTenant) { c.Tenant.Networks[0].Subnets[0].RangeEnd = "10.3.0.1" }), ErrBadCommand},
		{"range reversed", other(func(c *ApplyTenant) { c.Tenant.Networks[0].Subnets[0].RangeStart = "10.2.0.250" }), ErrBadCommand},
		{"gateway in range", other(func(c *ApplyTenant) { c.Tenant.Networks[0].Subnets[0].Gateway = "10.2.0.11" }), ErrBadCommand},
		{"gateway outside subnet", other(func(c *ApplyTenant) { c.Tenant.Networks[0].Subnets[0].Gateway = "10.9.0.1" }), ErrBadCommand},
		{"range overlaps other tenant", other(func(c *ApplyTenant) {
			c.Tenant.Networks[0].Subnets[0] = Subnet{CIDR: "10.1.0.0/16", RangeStart: "10.1.0.15", RangeEnd: "10.1.1.10"}
		}), ErrConflict},
		{"subnets overlap within tenant", other(func(c *ApplyTenant) {
			c.Tenant.Networks = append(c.Tenant.Networks, Network{Name: "n2", Subnets: []Subnet{{CIDR: "10.2.0.128/25", RangeStart: "10.2.0.250", RangeEnd: "10.2.0.251"}}})
		}), ErrConflict},
		{"network twice", other(func(c *ApplyTenant) { c.Tenant.Networks = append(c.Tenant.Networks, c.Tenant.Networks[0]) }), ErrBadCommand},
		{"network without subnets", other(func(c *ApplyTenant) { c.Tenant.Networks[0].Subnets = nil }), ErrBadCommand},
		{"group twice", other(func(c *ApplyTenant) { c.Groups = append(c.Groups, c.Groups[0]) }), ErrBadCommand},
		{"min > max", other(func(c *ApplyTenant) { c.Groups[0].Min = 6 }), ErrBadCommand},
		{"max zero", other(func(c *ApplyTenant) { c.Groups[0].Min, c.Groups[0].Max = 0, 0 }), ErrBadCommand},
		{"negative min", other(func(c *ApplyTenant) { c.Groups[0].Min = -1 }), ErrBadCommand},
		{"unknown group network", other(func(c *ApplyTenant) { c.Groups[0].Network = "nope" }), ErrNotFound},
		{"network ambiguous", other(func(c *ApplyTenant) {
			c.Tenant.Networks = append(c.Tenant.Networks, Network{Name: "n2", Subnets: []Subnet{{CIDR: "10.4.0.0/24", RangeStart: "10.4.0.2", RangeEnd: "10.4.0.3"}}})
		}), ErrBadCommand},
		{"cloud twice", other(func(c *ApplyTenant) { c.Groups[0].Clouds = append(c.Groups[0].Clouds, c.Groups[0].Clouds[0]) }), ErrBadCommand},
		{"negative drain", other(func(c *ApplyTenant) { c.Groups[0].DrainPeriod = -1 }), ErrBadCommand},
		{"bad group name", other(func(c *ApplyTenant) { c.Groups[0].Name = "" }), ErrBadCommand},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := seeded(t)
			h.fail(ApplyTenantType, tc.cmd, tc.want)
		})
	}
	// The unchanged "other" tenant is accepted: the table's failures are
	// caused by their one mutation.
	h := seeded(t)
	h.ok(ApplyTenantType, other(func(*ApplyTenant) {}))
}

func TestApplyTenantProtectsLiveInstances(t *testing.T) {
	h := seeded(t)
	insts := h.create("c1", "a")
	if insts[0].IP != "10.1.0.10" {
		t.Fatalf("first IP = %s", insts[0].IP)
	}
	// Shrinking the range away from a live instance's IP is refused.
	cmd := acmeTenant()
	cmd.Tenant.Networks[0].Subnets[0].RangeStart = "10.1.0.11"
	h.fail(ApplyTenantType, cmd, ErrInUse)
	// Moving a group with live instances to another network is refused.
	cmd = acmeTenant()
	cmd.Tenant.Networks = append(cmd.Tenant.Networks, Network{Name: "n2", Subnets: []Subnet{{CIDR: "10.5.0.0/24", RangeStart: "10.5.0.2", RangeEnd: "10.5.0.9"}}})
	cmd.Groups[0].Network = "n2"
	h.fail(ApplyTenantType, cmd, ErrInUse)
	// Growing the range is fine.
	cmd = acmeTenant()
	cmd.Tenant.Networks[0].Subnets[0].RangeEnd = "10.1.0.99"
	h.ok(ApplyTenantType, cmd)
}

func TestRemovingGroupDrainsItsInstances(t *testing.T) {
	h := seeded(t)
	h.create("c1", "p", "q", "r")
	h.walk("q", StateProvisioning)
	h.walk("r", StateProvisioning, StateRunning)
	cmd := acmeTenant()
	cmd.Groups = []GroupSpec{{Name: "api", Min: 0, Max: 2}}
	h.ok(ApplyTenantType, cmd)
	s := h.state()
	g, ok := s.Group("acme", "web")
	if !ok || !g.Deleting || g.Desired != 0 {
		t.Fatalf("web = %+v, want deleting with desired 0", g)
	}
	want := map[string]InstanceState{"p": StateTerminated, "q": StateTerminating, "r": StateDraining}
	for id, st := range want {
		if inst, _ := s.Instance(id); inst.State != st {
			t.Errorf("%s: state %s, want %s", id, inst.State, st)
		}
	}
	// Re-adding a group still being deleted is refused.
	h.fail(ApplyTenantType, acmeTenant(), ErrDeleting)
	// When the last live instance ends, the group goes.
	h.walk("q", StateTerminated)
	h.walk("r", StateTerminating, StateTerminated)
	s = h.state()
	if _, ok := s.Group("acme", "web"); ok {
		t.Fatal("group web still exists after its last instance terminated")
	}
	if tn, _ := s.Tenant("acme"); len(tn.Groups) != 1 || tn.Groups[0] != "api" {
		t.Fatalf("tenant groups = %v", tn.Groups)
	}
}

func TestDeleteTenant(t *testing.T) {
	t.Run("without instances goes at once", func(t *testing.T) {
		h := seeded(t)
		h.fail(DeleteTenantType, DeleteTenant{Name: "acme", Time: at(1), ExpectedVersion: u64(9)}, ErrVersionConflict)
		h.fail(DeleteTenantType, DeleteTenant{Name: "nope", Time: at(1)}, ErrNotFound)
		h.fail(DeleteTenantType, DeleteTenant{Name: "acme"}, ErrBadCommand)
		h.ok(DeleteTenantType, DeleteTenant{Name: "acme", Time: at(1), ExpectedVersion: u64(1)})
		s := h.state()
		if len(s.Tenants) != 0 || len(s.Groups) != 0 {
			t.Fatalf("tenants %v groups %v remain", s.Tenants, s.Groups)
		}
		// Its range and public IP are free again.
		h.ok(ApplyTenantType, acmeTenant())
	})
	t.Run("with live instances drains first", func(t *testing.T) {
		h := seeded(t)
		h.create("c1", "a")
		h.walk("a", StateProvisioning, StateRunning)
		h.ok(DeleteTenantType, DeleteTenant{Name: "acme", Time: at(30)})
		h.ok(DeleteTenantType, DeleteTenant{Name: "acme", Time: at(31)}) // idempotent
		tn, ok := h.state().Tenant("acme")
		if !ok || !tn.Deleting {
			t.Fatalf("tenant = %+v, want deleting", tn)
		}
		h.fail(ApplyTenantType, acmeTenant(), ErrDeleting)
		h.fail(CreateInstancesType, CreateInstances{Time: at(32), Instances: []NewInstance{{ID: "b", Tenant: "acme", Group: "web", Cloud: "c1"}}}, ErrDeleting)
		h.walk("a", StateTerminating, StateTerminated)
		if _, ok := h.state().Tenant("acme"); ok {
			t.Fatal("tenant still exists after its last instance terminated")
		}
	})
}

func TestGroupPolicyIsOpaque(t *testing.T) {
	h := seeded(t)
	cmd := acmeTenant()
	cmd.Groups[0].Policy = json.RawMessage(`{"anything":[1,2,{"nested":true}]}`)
	cmd.Groups[0].Template = json.RawMessage(`{"driver":"docker","image":"nginx"}`)
	h.ok(ApplyTenantType, cmd)
	g, _ := h.state().Group("acme", "web")
	if string(g.Policy) != `{"anything":[1,2,{"nested":true}]}` || string(g.Template) != `{"driver":"docker","image":"nginx"}` {
		t.Fatalf("policy %s template %s", g.Policy, g.Template)
	}
}
