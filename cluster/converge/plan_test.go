package converge

import (
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"aas/fsm"
	"aas/nodes/driver"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// world builds FSM state from commands (applied in order; any rejection
// fails the test).
type world struct {
	t *testing.T
	f *fsm.FSM
	i uint64
}

func newWorld(t *testing.T, clouds map[string]int, hyps ...fsm.Hypervisor) *world {
	w := &world{t: t, f: fsm.New(nil)}
	for name, prio := range clouds {
		w.do(fsm.UpsertCloud{Cloud: fsm.Cloud{Name: name, Priority: prio}})
	}
	for _, h := range hyps {
		w.do(fsm.UpsertHypervisor{Hypervisor: h})
	}
	w.do(fsm.ApplyTenant{Time: t0,
		Tenant: fsm.TenantSpec{Name: "acme", Networks: []fsm.Network{{Name: "net", Subnets: []fsm.Subnet{
			{CIDR: "198.18.1.0/24", RangeStart: "198.18.1.10", RangeEnd: "198.18.1.200"}}}}},
		Groups: []fsm.GroupSpec{{Name: "web", Min: 0, Max: 20}},
	})
	return w
}

func (w *world) do(c fsm.Command) {
	w.t.Helper()
	b, err := fsm.EncodeCommand(c)
	if err != nil {
		w.t.Fatal(err)
	}
	w.i++
	if r := w.f.ApplyBytes(w.i, b); r.Err != nil {
		w.t.Fatalf("%T: %v", c, r.Err)
	}
}

// add creates an instance in a cloud at minute m and moves it to state.
func (w *world) add(id, cloud, hyp string, m int, st fsm.InstanceState) {
	at := t0.Add(time.Duration(m) * time.Minute)
	w.do(fsm.CreateInstances{Time: at, Instances: []fsm.NewInstance{{ID: id, Tenant: "acme", Group: "web", Cloud: cloud}}})
	path := map[fsm.InstanceState][]fsm.InstanceState{
		fsm.StatePending:      nil,
		fsm.StateProvisioning: {fsm.StateProvisioning},
		fsm.StateRunning:      {fsm.StateProvisioning, fsm.StateRunning},
		fsm.StateDraining:     {fsm.StateProvisioning, fsm.StateRunning, fsm.StateDraining},
		fsm.StateFailed:       {fsm.StateProvisioning, fsm.StateRunning, fsm.StateFailed},
	}[st]
	for _, s := range path {
		u := fsm.InstanceUpdate{ID: id, State: s}
		if s == fsm.StateProvisioning {
			u.Hypervisor = hyp
		}
		if s == fsm.StateRunning {
			u.Health = fsm.HealthHealthy
		}
		w.do(fsm.UpdateInstances{Time: at, Updates: []fsm.InstanceUpdate{u}})
	}
}

func (w *world) desired(n int) {
	w.do(fsm.SetDesired{Tenant: "acme", Group: "web", Desired: n, Time: t0.Add(time.Hour)})
}

func (w *world) plans() []Plan {
	var out []Plan
	w.f.Read(func(s *fsm.State) { out = PlanAll(s) })
	return out
}

func hyp(id, cloud string, capacity int, l fsm.Liveness) fsm.Hypervisor {
	return fsm.Hypervisor{ID: id, Cloud: cloud, Driver: "process", APIAddr: "127.0.0.1:1", Capacity: capacity, Liveness: l, Since: t0}
}

// creates summarises a plan's creates as sorted "cloud" entries.
func creates(ps []Plan) string {
	var out []string
	for _, p := range ps {
		for _, c := range p.Create {
			out = append(out, c.Cloud)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// updates summarises a plan's updates in order as "id>state".
func updates(ps []Plan) string {
	var out []string
	for _, p := range ps {
		for _, u := range p.Updates {
			out = append(out, u.ID+">"+string(u.State))
		}
	}
	return strings.Join(out, ",")
}

func TestPlanAll(t *testing.T) {
	two := map[string]int{"a": 1, "b": 2}
	cases := []struct {
		name    string
		hyps    []fsm.Hypervisor
		setup   func(w *world)
		creates string
		updates string
	}{
		{
			name: "scale out fills the preferred cloud, then spills over",
			hyps: []fsm.Hypervisor{hyp("ha", "a", 2, fsm.LivenessAlive), hyp("hb", "b", 10, fsm.LivenessAlive)},
			setup: func(w *world) {
				w.desired(3)
			},
			creates: "a,a,b",
		},
		{
			name: "a cloud without alive hypervisors takes nothing",
			hyps: []fsm.Hypervisor{hyp("ha", "a", 0, fsm.LivenessFailed), hyp("hb", "b", 0, fsm.LivenessAlive)},
			setup: func(w *world) {
				w.desired(2)
			},
			creates: "b,b",
		},
		{
			name: "no hypervisor anywhere: nothing is created",
			hyps: []fsm.Hypervisor{hyp("ha", "a", 0, fsm.LivenessSuspect)},
			setup: func(w *world) {
				w.desired(2)
			},
		},
		{
			name: "existing instances use up hypervisor capacity",
			hyps: []fsm.Hypervisor{hyp("ha", "a", 2, fsm.LivenessAlive), hyp("hb", "b", 0, fsm.LivenessAlive)},
			setup: func(w *world) {
				w.add("i1", "a", "ha", 1, fsm.StateRunning)
				w.desired(3)
			},
			creates: "a,b",
		},
		{
			name: "a failed instance is replaced at once",
			hyps: []fsm.Hypervisor{hyp("ha", "a", 0, fsm.LivenessAlive)},
			setup: func(w *world) {
				w.desired(2)
				w.add("i1", "a", "ha", 1, fsm.StateRunning)
				w.add("i2", "a", "ha", 2, fsm.StateFailed)
			},
			creates: "a",
		},
		{
			name: "scale in: least preferred cloud first, then newest; pending cancelled, provisioning terminated",
			hyps: []fsm.Hypervisor{hyp("ha", "a", 0, fsm.LivenessAlive), hyp("hb", "b", 0, fsm.LivenessAlive)},
			setup: func(w *world) {
				w.desired(5)
				w.add("i1", "a", "ha", 1, fsm.StateRunning)
				w.add("i2", "b", "hb", 2, fsm.StateRunning)
				w.add("i3", "a", "ha", 3, fsm.StateRunning)
				w.add("i4", "a", "ha", 4, fsm.StateProvisioning)
				w.add("i5", "b", "", 5, fsm.StatePending)
				w.desired(1)
			},
			updates: "i5>terminated,i2>draining,i4>terminating,i3>draining",
		},
		{
			name: "protected instances are never drained",
			hyps: []fsm.Hypervisor{hyp("ha", "a", 0, fsm.LivenessAlive)},
			setup: func(w *world) {
				w.desired(2)
				w.add("i1", "a", "ha", 1, fsm.StateRunning)
				w.add("i2", "a", "ha", 2, fsm.StateRunning)
				w.do(fsm.SetInstanceProtected{ID: "i2", Protected: true, Time: t0})
				w.desired(1)
			},
			updates: "i1>draining",
		},
		{
			name: "a draining instance is taken back before creating",
			hyps: []fsm.Hypervisor{hyp("ha", "a", 0, fsm.LivenessAlive)},
			setup: func(w *world) {
				w.desired(3)
				w.add("i1", "a", "ha", 1, fsm.StateRunning)
				w.add("i2", "a", "ha", 2, fsm.StateDraining)
			},
			updates: "i2>running",
			creates: "a",
		},
		{
			name: "converged group: no plan",
			hyps: []fsm.Hypervisor{hyp("ha", "a", 0, fsm.LivenessAlive)},
			setup: func(w *world) {
				w.desired(1)
				w.add("i1", "a", "ha", 1, fsm.StateRunning)
				w.add("i2", "a", "ha", 2, fsm.StateDraining)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, two, tc.hyps...)
			tc.setup(w)
			ps := w.plans()
			if got := creates(ps); got != tc.creates {
				t.Errorf("creates = %q, want %q", got, tc.creates)
			}
			if got := updates(ps); got != tc.updates {
				t.Errorf("updates = %q, want %q", got, tc.updates)
			}
			// Plans are a function of the state.
			if again := w.plans(); creates(again) != creates(ps) || updates(again) != updates(ps) {
				t.Errorf("second plan differs")
			}
		})
	}
}

func TestPlanGroupClouds(t *testing.T) {
	// The group's own preferences override cloud priorities and cap a cloud.
	w := &world{t: t, f: fsm.New(nil)}
	w.do(fsm.UpsertCloud{Cloud: fsm.Cloud{Name: "a", Priority: 1}})
	w.do(fsm.UpsertCloud{Cloud: fsm.Cloud{Name: "b", Priority: 2, Capacity: 3}})
	w.do(fsm.UpsertHypervisor{Hypervisor: hyp("ha", "a", 0, fsm.LivenessAlive)})
	w.do(fsm.UpsertHypervisor{Hypervisor: hyp("hb", "b", 0, fsm.LivenessAlive)})
	w.do(fsm.ApplyTenant{Time: t0,
		Tenant: fsm.TenantSpec{Name: "acme", Networks: []fsm.Network{{Name: "net", Subnets: []fsm.Subnet{
			{CIDR: "198.18.1.0/24", RangeStart: "198.18.1.10", RangeEnd: "198.18.1.200"}}}}},
		Groups: []fsm.GroupSpec{{Name: "web", Min: 6, Max: 20, Clouds: []fsm.CloudPreference{
			{Cloud: "b", Priority: 1}, {Cloud: "a", Priority: 2, Max: 2}, {Cloud: "nowhere", Priority: 3}}}},
	})
	// b (preferred by the group) holds 3 (its cloud capacity), a 2 (the
	// group's max there); the sixth fits nowhere.
	if got := creates(w.plans()); got != "a,a,b,b,b" {
		t.Fatalf("creates = %q", got)
	}
}

func TestInstanceID(t *testing.T) {
	long := strings.Repeat("g", fsm.MaxNameLen)
	seen := map[string]bool{}
	for _, g := range []string{"web", long} {
		for seq := uint64(1); seq <= 50; seq++ {
			id := instanceID(g, 1<<40, seq)
			if !fsm.ValidName(id) || driver.ValidID(id) != nil {
				t.Fatalf("id %q is not valid", id)
			}
			if seen[id] {
				t.Fatalf("id %q twice", id)
			}
			seen[id] = true
		}
	}
	if !slices.ContainsFunc(keysOf(seen), func(s string) bool { return strings.HasPrefix(s, "web-") }) {
		t.Fatal("ids do not start with the group name")
	}
}

func keysOf(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
