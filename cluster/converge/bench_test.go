package converge

import (
	"fmt"
	"testing"
	"time"

	"aas/fsm"
)

// benchState is 3 clouds, 30 hypervisors, 500 groups of 10 running
// instances, half of them with desired changed (250 scale out by 2, 250 in
// by 2): a large cluster's pass.
func benchState(b *testing.B) *fsm.FSM {
	w := &world{t: &testing.T{}, f: fsm.New(nil)}
	apply := func(c fsm.Command) {
		enc, err := fsm.EncodeCommand(c)
		if err != nil {
			b.Fatal(err)
		}
		w.i++
		if r := w.f.ApplyBytes(w.i, enc); r.Err != nil {
			b.Fatalf("%T: %v", c, r.Err)
		}
	}
	for c := range 3 {
		apply(fsm.UpsertCloud{Cloud: fsm.Cloud{Name: fmt.Sprintf("c%d", c), Priority: c}})
		for h := range 10 {
			apply(fsm.UpsertHypervisor{Hypervisor: hyp(fmt.Sprintf("c%d-h%d", c, h), fmt.Sprintf("c%d", c), 0, fsm.LivenessAlive)})
		}
	}
	const groups = 500
	for g := range groups {
		tn := fmt.Sprintf("t%d", g)
		apply(fsm.ApplyTenant{Time: t0,
			Tenant: fsm.TenantSpec{Name: tn, Networks: []fsm.Network{{Name: "net", Subnets: []fsm.Subnet{{
				CIDR: fmt.Sprintf("10.%d.%d.0/24", g/256, g%256), RangeStart: fmt.Sprintf("10.%d.%d.10", g/256, g%256),
				RangeEnd: fmt.Sprintf("10.%d.%d.200", g/256, g%256)}}}}},
			Groups: []fsm.GroupSpec{{Name: "web", Min: 0, Max: 20}},
		})
		apply(fsm.SetDesired{Tenant: tn, Group: "web", Desired: 10, Time: t0})
		var ni []fsm.NewInstance
		for i := range 10 {
			ni = append(ni, fsm.NewInstance{ID: fmt.Sprintf("%s-i%d", tn, i), Tenant: tn, Group: "web", Cloud: fmt.Sprintf("c%d", i%3)})
		}
		apply(fsm.CreateInstances{Time: t0, Instances: ni})
		var ups []fsm.InstanceUpdate
		for i := range 10 {
			id := fmt.Sprintf("%s-i%d", tn, i)
			ups = append(ups, fsm.InstanceUpdate{ID: id, State: fsm.StateProvisioning, Hypervisor: fmt.Sprintf("c%d-h%d", i%3, g%10)},
				fsm.InstanceUpdate{ID: id, State: fsm.StateRunning, Health: fsm.HealthHealthy})
		}
		apply(fsm.UpdateInstances{Time: t0, Updates: ups})
		d := 12
		if g%2 == 1 {
			d = 8
		}
		apply(fsm.SetDesired{Tenant: tn, Group: "web", Desired: d, Time: t0.Add(time.Minute)})
	}
	return w.f
}

// BenchmarkPlanAll measures one converger pass's planning. Baseline: the
// read every pass needs anyway — copying each group and its live instances
// out of the state (AllGroups + LiveGroupInstances).
func BenchmarkPlanAll(b *testing.B) {
	f := benchState(b)
	b.Run("baseline-read", func(b *testing.B) {
		for b.Loop() {
			f.Read(func(s *fsm.State) {
				for _, g := range s.AllGroups() {
					_ = s.LiveGroupInstances(g.Tenant, g.Name)
				}
			})
		}
	})
	// gather is what a pass holds the FSM's read lock for.
	b.Run("gather", func(b *testing.B) {
		for b.Loop() {
			f.Read(func(s *fsm.State) { _ = Gather(s) })
		}
	})
	b.Run("plan", func(b *testing.B) {
		var n int
		for b.Loop() {
			var in Inputs
			f.Read(func(s *fsm.State) { in = Gather(s) })
			n = len(Decide(in))
		}
		if n != 500 {
			b.Fatalf("%d plans, want 500", n)
		}
	})
}
