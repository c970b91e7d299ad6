package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// quarantineEnd is the second (relative to t0) a failure at sec stops
// quarantining its address.
func quarantineEnd(sec int) int { return sec + int(IPQuarantine/time.Second) }

// createAt creates pending instances of acme/web in cloud c2 (no capacity
// limit) at a given second and returns the result.
func (h *harness) createAt(sec int, ids ...string) ApplyResult {
	h.t.Helper()
	var ni []NewInstance
	for _, id := range ids {
		ni = append(ni, NewInstance{ID: id, Tenant: "acme", Group: "web", Cloud: "c2"})
	}
	return h.try(CreateInstancesType, CreateInstances{Time: at(sec), Instances: ni})
}

// TestIPQuarantineTable: "b" (10.1.0.11, between a and c) ends by the
// given path (walk: one second per step from at(20)); "d" is created at
// createAt and must get want — b's address only when b terminated normally
// or its failure is at least IPQuarantine old.
func TestIPQuarantineTable(t *testing.T) {
	const freed, next = "10.1.0.11", "10.1.0.13"
	pr, run, dr, tg := StateProvisioning, StateRunning, StateDraining, StateTerminating
	for _, tc := range []struct {
		name     string
		path     []InstanceState
		createAt int
		want     string
	}{
		{"failed from pending, at once", []InstanceState{StateFailed}, 20, next},
		{"failed from provisioning", []InstanceState{pr, StateFailed}, 100, next},
		{"failed from running, a second before the end", []InstanceState{pr, run, StateFailed}, quarantineEnd(22) - 1, next},
		{"failed from draining", []InstanceState{pr, run, dr, StateFailed}, quarantineEnd(23) - 1, next},
		{"failed from terminating, at the end", []InstanceState{pr, run, tg, StateFailed}, quarantineEnd(23), freed},
		{"failed from running, long after", []InstanceState{pr, run, StateFailed}, 3600, freed},
		{"terminated (cancelled), at once", []InstanceState{StateTerminated}, 20, freed},
		{"terminated (scale-in), at once", []InstanceState{pr, run, dr, tg, StateTerminated}, 24, freed},
		{"terminated after terminating, at once", []InstanceState{tg, StateTerminated}, 21, freed},
		{"still draining (live)", []InstanceState{pr, run, dr}, 3600, next},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := seeded(t)
			h.createAt(10, "a", "b", "c")
			h.walk("b", tc.path...)
			if id, ok := h.state().IPOwner(freed); ok != (tc.path[len(tc.path)-1].Live()) {
				t.Fatalf("IPOwner(%s) = %q, %v", freed, id, ok)
			}
			// A replica restored from a snapshot taken now (no allocation
			// hints) must pick the same address.
			g := &harness{t: t, f: snapshotRestore(t, h.f), index: h.index}
			for _, x := range []*harness{h, g} {
				r := x.createAt(tc.createAt, "d")
				if r.Err != nil {
					t.Fatal(r.Err)
				}
				if got := r.Value.([]Instance)[0].IP; got != tc.want {
					t.Fatalf("d got %s, want %s", got, tc.want)
				}
			}
			if !bytes.Equal(h.json(), g.json()) {
				t.Fatal("restored replica differs")
			}
		})
	}
}

// TestIPQuarantineExhausted: when only quarantined addresses are left the
// create fails with ErrCapacity naming the subnet, changes nothing, and
// succeeds once the quarantine is over — lowest address first.
func TestIPQuarantineExhausted(t *testing.T) {
	h := seeded(t)
	var ids []string
	for i := 0; i < 10; i++ { // the whole range .10-.19
		ids = append(ids, fmt.Sprintf("n%d", i))
	}
	if r := h.createAt(10, ids...); r.Err != nil {
		t.Fatal(r.Err)
	}
	// n5 (.15) fails at 20, n2 (.12) at 30, n9 (.19) is scaled in.
	h.ok(UpdateInstancesType, UpdateInstances{Time: at(20), Updates: []InstanceUpdate{{ID: "n5", State: StateFailed, Reason: "gone"}}})
	h.ok(UpdateInstancesType, UpdateInstances{Time: at(30), Updates: []InstanceUpdate{{ID: "n2", State: StateFailed}}})
	h.walk("n9", StateTerminated)

	// One free address (.19): a single instance gets it ...
	if r := h.createAt(40, "x"); r.Err != nil || r.Value.([]Instance)[0].IP != "10.1.0.19" {
		t.Fatalf("x: %+v", r)
	}
	// ... then nothing is left but the two quarantined addresses.
	for _, sec := range []int{41, quarantineEnd(20) - 1} {
		r := h.createAt(sec, "y")
		if !errors.Is(r.Err, ErrCapacity) || !errors.Is(r.Err, ErrBadCommand) {
			t.Fatalf("at %d: %v, want ErrCapacity", sec, r.Err)
		}
		for _, want := range []string{"acme/net", "subnet 10.1.0.0/24", "2 addresses quarantined", at(quarantineEnd(20)).Format(time.RFC3339)} {
			if !strings.Contains(r.Err.Error(), want) {
				t.Errorf("error %q does not say %q", r.Err, want)
			}
		}
	}
	// A rejected batch changes nothing (and rolls back what it allocated).
	h.fail(CreateInstancesType, CreateInstances{Time: at(50), Instances: []NewInstance{{ID: "y", Tenant: "acme", Group: "web", Cloud: "c2"}}}, ErrCapacity)

	// n5's quarantine ends first: a batch of two gets .15 and fails whole.
	h.fail(CreateInstancesType, CreateInstances{Time: at(quarantineEnd(20)), Instances: []NewInstance{
		{ID: "y", Tenant: "acme", Group: "web", Cloud: "c2"}, {ID: "z", Tenant: "acme", Group: "web", Cloud: "c2"}}}, ErrCapacity)
	if r := h.createAt(quarantineEnd(20), "y"); r.Err != nil || r.Value.([]Instance)[0].IP != "10.1.0.15" {
		t.Fatalf("y: %+v", r)
	}
	if r := h.createAt(quarantineEnd(30)-1, "z"); !errors.Is(r.Err, ErrCapacity) || !strings.Contains(r.Err.Error(), "1 address quarantined") {
		t.Fatalf("z before n2's quarantine ended: %v", r.Err)
	}
	if r := h.createAt(quarantineEnd(30), "z"); r.Err != nil || r.Value.([]Instance)[0].IP != "10.1.0.12" {
		t.Fatalf("z: %+v", r)
	}
}

// TestIPQuarantineOtherSubnet: a network with a second subnet allocates
// there while the first has only quarantined addresses left.
func TestIPQuarantineOtherSubnet(t *testing.T) {
	h := seeded(t)
	at2 := acmeTenant()
	at2.Tenant.Networks[0].Subnets = []Subnet{
		{CIDR: "10.1.0.0/24", RangeStart: "10.1.0.10", RangeEnd: "10.1.0.11"},
		{CIDR: "10.1.1.0/24", RangeStart: "10.1.1.10", RangeEnd: "10.1.1.11"},
	}
	at2.Time = at(1)
	h.ok(ApplyTenantType, at2)
	h.createAt(10, "a", "b")
	h.walk("a", StateFailed)
	for i, want := range []string{"10.1.1.10", "10.1.1.11"} {
		r := h.createAt(30+i, fmt.Sprintf("x%d", i))
		if r.Err != nil || r.Value.([]Instance)[0].IP != want {
			t.Fatalf("x%d: %+v, want %s", i, r, want)
		}
	}
	r := h.createAt(40, "y")
	if !errors.Is(r.Err, ErrCapacity) || !strings.Contains(r.Err.Error(), "subnet 10.1.0.0/24 (range 10.1.0.10-10.1.0.11): 1 address") ||
		strings.Contains(r.Err.Error(), "10.1.1.0/24") {
		t.Fatalf("y: %v", r.Err)
	}
}

// TestIPQuarantineReap: reap-instances keeps a failed instance while its
// address is quarantined (the rule must stay derivable from the state),
// terminated ones go as before.
func TestIPQuarantineReap(t *testing.T) {
	h := seeded(t)
	h.createAt(10, "a", "b", "c")
	h.walk("a", StateFailed)     // at(20)
	h.walk("b", StateTerminated) // at(20)
	reap := func(before, now int) int {
		t.Helper()
		return h.ok(ReapInstancesType, ReapInstances{Before: at(before), Time: at(now)}).(int)
	}
	if n := reap(100, 100); n != 1 {
		t.Fatalf("reaped %d, want only the terminated b", n)
	}
	if n := reap(quarantineEnd(20)+100, quarantineEnd(20)-1); n != 0 {
		t.Fatalf("reaped %d during the quarantine", n)
	}
	s := h.state()
	a, ok := s.Instance("a")
	if !ok {
		t.Fatal("failed a reaped during its quarantine")
	}
	if !a.QuarantinedUntil().Equal(at(quarantineEnd(20))) || a.Reapable(at(1000), at(quarantineEnd(20)-1)) || !a.Reapable(at(1000), at(quarantineEnd(20))) {
		t.Fatalf("a: until %v, reapable %v/%v", a.QuarantinedUntil(), a.Reapable(at(1000), at(quarantineEnd(20)-1)), a.Reapable(at(1000), at(quarantineEnd(20))))
	}
	// Still quarantined: the next instance skips .10 (b's .11 is free).
	if r := h.createAt(quarantineEnd(20)-1, "d"); r.Err != nil || r.Value.([]Instance)[0].IP != "10.1.0.11" {
		t.Fatalf("d: %+v", r)
	}
	if n := reap(quarantineEnd(20)+100, quarantineEnd(20)); n != 1 {
		t.Fatalf("reaped %d after the quarantine, want a", n)
	}
	if r := h.createAt(quarantineEnd(20), "e"); r.Err != nil || r.Value.([]Instance)[0].IP != "10.1.0.10" {
		t.Fatalf("e: %+v", r)
	}
}

// TestIPQuarantineSnapshotDeterminism replays one log on a replica and on
// replicas restored from a snapshot after every entry: results and states
// must be identical (the restored ones start without allocation hints).
func TestIPQuarantineSnapshotDeterminism(t *testing.T) {
	h := seeded(t)
	base := h.index
	ni := func(ids ...string) []NewInstance {
		var out []NewInstance
		for _, id := range ids {
			out = append(out, NewInstance{ID: id, Tenant: "acme", Group: "web", Cloud: "c2"})
		}
		return out
	}
	fail := func(sec int, id string) []byte {
		return mustEncode(t, UpdateInstances{Time: at(sec), Updates: []InstanceUpdate{{ID: id, State: StateFailed}}})
	}
	create := func(sec int, ids ...string) []byte {
		return mustEncode(t, CreateInstances{Time: at(sec), Instances: ni(ids...)})
	}
	q := quarantineEnd(0)
	log := [][]byte{
		create(10, "a", "b", "c", "d", "e", "f", "g", "h"), // .10-.17
		fail(20, "a"), fail(100, "c"),
		mustEncode(t, UpdateInstances{Time: at(100), Updates: []InstanceUpdate{{ID: "e", State: StateTerminated}}}),
		create(110, "x"),      // .14 (e's)
		create(110, "y", "z"), // .18, .19
		create(111, "w"),      // only .10 and .12 left, quarantined
		fail(120, "y"),
		create(20+q, "w"),  // .10: a's quarantine is over, c's and y's are not
		create(99+q, "v"),  // nothing
		create(100+q, "v"), // .12
		mustEncode(t, ReapInstances{Before: at(1000), Time: at(100 + q)}), // a, c, e go; y stays
		create(119+q, "u"),      // nothing: .18 is y's
		create(120+q, "u", "t"), // .18, then nothing
		create(120+q, "u"),      // .18
	}
	want := []string{"10.1.0.10 10.1.0.11 10.1.0.12 10.1.0.13 10.1.0.14 10.1.0.15 10.1.0.16 10.1.0.17", "ok", "ok", "ok", "10.1.0.14", "10.1.0.18 10.1.0.19", "capacity", "ok",
		"10.1.0.10", "capacity", "10.1.0.12", "ok", "capacity", "capacity", "10.1.0.18"}
	result := func(r ApplyResult) string {
		if r.Err != nil {
			return Reason(r.Err)
		}
		if insts, ok := r.Value.([]Instance); ok {
			var ips []string
			for _, in := range insts {
				ips = append(ips, in.IP)
			}
			return strings.Join(ips, " ")
		}
		return "ok"
	}
	apply := func(f *FSM, i int) string { return result(f.ApplyBytes(base+uint64(i)+1, log[i])) }
	ref := h.f
	for i := range log {
		if got := apply(ref, i); got != want[i] {
			t.Fatalf("entry %d: %s, want %s", i, got, want[i])
		}
	}
	for cut := 0; cut <= len(log); cut++ {
		g := newHarness(t)
		g.f = seeded(t).f
		for i := 0; i < cut; i++ {
			apply(g.f, i)
		}
		g.f = snapshotRestore(t, g.f)
		for i := cut; i < len(log); i++ {
			if got := apply(g.f, i); got != want[i] {
				t.Fatalf("restored after %d entries: entry %d: %s, want %s", cut, i, got, want[i])
			}
		}
		if !bytes.Equal(g.json(), h.json()) {
			t.Fatalf("restored after %d entries: final state differs", cut)
		}
	}
}
