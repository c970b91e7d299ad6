package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net/netip"
	"testing"
	"time"
)

// gen produces random commands over a small universe, valid and invalid
// mixed, so that collisions (duplicate IDs, exhausted ranges, illegal
// transitions, deletes with live instances) happen often.
type gen struct {
	r   *rand.Rand
	sec int
	s   *State // current state (read only), to aim at existing instances
	ids int
}

func (g *gen) pick(xs ...string) string { return xs[g.r.Intn(len(xs))] }

func (g *gen) now() time.Time {
	g.sec += 1 + g.r.Intn(5)
	return at(g.sec)
}

func (g *gen) tenant(name string, n int) ApplyTenant {
	c := ApplyTenant{
		Tenant: TenantSpec{
			Name:     name,
			PublicIP: fmt.Sprintf("198.18.200.%d", n),
			Networks: []Network{{Name: "net", Subnets: []Subnet{{
				CIDR: fmt.Sprintf("10.%d.0.0/24", n), Gateway: fmt.Sprintf("10.%d.0.1", n),
				RangeStart: fmt.Sprintf("10.%d.0.10", n), RangeEnd: fmt.Sprintf("10.%d.0.%d", n, 12+g.r.Intn(8))}}}},
			Settings: TenantSettings{LogSamples: g.r.Intn(2) == 0, Retention: time.Duration(g.r.Intn(3)) * 20 * time.Second},
		},
		Time: g.now(),
	}
	for _, gn := range []string{"g1", "g2"} {
		if g.r.Intn(4) == 0 {
			continue
		}
		min := g.r.Intn(3)
		c.Groups = append(c.Groups, GroupSpec{Name: gn, Min: min, Max: min + 1 + g.r.Intn(4),
			Policy: json.RawMessage(fmt.Sprintf(`{"threshold":%d}`, g.r.Intn(100)))})
	}
	if g.r.Intn(10) == 0 { // overlap with another tenant's range
		c.Tenant.Networks[0].Subnets[0] = Subnet{CIDR: "10.1.0.0/24", RangeStart: "10.1.0.10", RangeEnd: "10.1.0.30"}
	}
	return c
}

func (g *gen) command() (MessageType, any) {
	tenants := []string{"t1", "t2", "t3"}
	existing := func() *Instance {
		if g.s == nil || len(g.s.Instances) == 0 {
			return nil
		}
		keys := sortedKeys(g.s.Instances)
		return g.s.Instances[keys[g.r.Intn(len(keys))]]
	}
	inst := func() string {
		if e := existing(); e != nil && g.r.Intn(5) > 0 {
			return e.ID
		}
		return fmt.Sprintf("i%d", g.r.Intn(g.ids+1))
	}
	switch g.r.Intn(18) {
	case 0:
		return UpsertCloudType, UpsertCloud{Cloud: Cloud{Name: g.pick("c1", "c2", "c3"), Priority: g.r.Intn(3), Capacity: g.r.Intn(12)}}
	case 1:
		if g.r.Intn(4) > 0 {
			return UpsertCloudType, UpsertCloud{Cloud: Cloud{Name: g.pick("c1", "c2", "c3"), Capacity: 2 * g.r.Intn(10)}}
		}
		return DeleteCloudType, DeleteCloud{Name: g.pick("c1", "c2", "c3")}
	case 2, 3:
		n := 1 + g.r.Intn(3)
		c := g.tenant(tenants[n-1], n)
		if g.r.Intn(3) == 0 {
			c.ExpectedVersion = u64(uint64(g.r.Intn(4)))
		}
		return ApplyTenantType, c
	case 4:
		if g.r.Intn(3) > 0 {
			n := 1 + g.r.Intn(3)
			return ApplyTenantType, g.tenant(tenants[n-1], n)
		}
		return DeleteTenantType, DeleteTenant{Name: g.pick(tenants...), Time: g.now()}
	case 5:
		return SetDesiredType, SetDesired{Tenant: g.pick(tenants...), Group: g.pick("g1", "g2"), Desired: g.r.Intn(8), Time: g.now(),
			Source: g.pick(SourceManual, SourceScaler), Inputs: map[string]float64{"cpu": g.r.Float64()},
			FiredSlots: []string{fmt.Sprintf("s%d", g.r.Intn(6))}}
	case 6:
		return SetGroupSuspendedType, SetGroupSuspended{Tenant: g.pick(tenants...), Group: g.pick("g1", "g2"), Suspended: g.r.Intn(2) == 0, Time: g.now()}
	case 7, 8, 9:
		var c CreateInstances
		c.Time = g.now()
		for i := 0; i < 1+g.r.Intn(2); i++ {
			id := fmt.Sprintf("i%d", g.ids)
			if g.r.Intn(8) == 0 {
				id = inst() // maybe a duplicate
			} else {
				g.ids++
			}
			cloud := g.pick("c1", "c2", "c3")
			hv := ""
			if g.r.Intn(2) == 0 {
				hv = map[string]string{"c1": "h1", "c2": "h2", "c3": "h1"}[cloud]
			}
			tn, gn := g.pick(tenants...), g.pick("g1", "g2")
			if len(g.s.Groups) > 0 && g.r.Intn(4) > 0 { // mostly an existing group
				gr := g.s.Groups[sortedKeys(g.s.Groups)[g.r.Intn(len(g.s.Groups))]]
				tn, gn = gr.Tenant, gr.Name
			}
			c.Instances = append(c.Instances, NewInstance{ID: id, Tenant: tn, Group: gn,
				Cloud: cloud, Hypervisor: hv})
		}
		return CreateInstancesType, c
	case 10, 11, 12:
		var c UpdateInstances
		c.Time = g.now()
		states := []InstanceState{"", StateProvisioning, StateRunning, StateDraining, StateTerminating, StateTerminated, StateFailed}
		for i := 0; i < 1+g.r.Intn(2); i++ {
			st := states[g.r.Intn(len(states))]
			id := inst()
			if e := g.s.Instances[id]; e != nil && g.r.Intn(4) > 0 {
				if next := transitions[e.State]; len(next) > 0 {
					st = next[g.r.Intn(len(next))]
					if g.r.Intn(3) > 0 && next[0] != StateTerminating {
						st = next[0] // mostly forward along the happy path
					}
				}
			}
			c.Updates = append(c.Updates, InstanceUpdate{ID: id, State: st,
				Health: Health(g.pick("", "healthy", "unhealthy"))})
		}
		return UpdateInstancesType, c
	case 13:
		return SetInstanceProtectedType, SetInstanceProtected{ID: inst(), Protected: g.r.Intn(2) == 0, Time: g.now()}
	case 14:
		now := g.now()
		return ReapInstancesType, ReapInstances{Before: now.Add(-time.Duration(g.r.Intn(30)) * time.Second), Time: now}
	case 15:
		// Several clouds' sites write with their own clocks: a point may
		// be older than another cloud's last one (or its own: rejected).
		// (Derived from the clock, not drawn: the other commands' random
		// sequence stays as it was.)
		now := g.now()
		c := RecordMetrics{Tenant: g.pick(tenants...), Group: g.pick("g1", "g2"),
			Point: MetricPoint{Time: now.Add(-time.Duration(g.sec*7919%8000) * time.Millisecond), AvgCPU: g.r.Float64(),
				RPS: g.r.Float64() * 100, Instances: g.r.Intn(5), Cloud: []string{"", "c1", "c2"}[g.sec%3], RPSMeasured: g.sec%2 == 0}}
		for i := 0; i < g.r.Intn(4); i++ {
			c.Instances = append(c.Instances, InstanceLoad{ID: inst(), CPU: g.r.Float64()})
		}
		return RecordMetricsType, c
	case 17:
		return g.aclCommand() // commands_acl_test.go
	default:
		switch g.r.Intn(6) {
		case 5:
			return g.evalCommand() // commands_eval_test.go
		case 0:
			return SetSettingsType, SetSettings{Settings: Settings{ActivityCap: g.r.Intn(30), MetricHistoryCap: g.r.Intn(10),
				InstanceSampleCap: g.r.Intn(5), FiredSlotCap: g.r.Intn(4)}}
		case 1:
			id := g.pick("h1", "h2")
			return UpsertHypervisorType, UpsertHypervisor{Hypervisor: Hypervisor{ID: id, Cloud: map[string]string{"h1": "c1", "h2": "c2"}[id], Capacity: 4}}
		case 2:
			return SetLivenessType, SetLiveness{ID: g.pick("h1", "h2"), Liveness: Liveness(g.pick("alive", "suspect", "failed")), Time: g.now()}
		case 3:
			return RemoveHypervisorType, RemoveHypervisor{ID: g.pick("h1", "h2")}
		default:
			return AppendActivityType, AppendActivity{Entry: ActivityEntry{Time: g.now(), Kind: "note", Tenant: g.pick(tenants...)}}
		}
	}
}

// next generates one encoded command aimed at the current state.
func (g *gen) next(t testing.TB, s *State) []byte {
	g.s = s
	typ, cmd := g.command()
	b, err := Encode(typ, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// encodedLog generates a log of n commands by applying them to a scratch
// FSM as it goes.
func encodedLog(t testing.TB, seed int64, n int) [][]byte {
	g := &gen{r: rand.New(rand.NewSource(seed))}
	f := New(nil)
	log := make([][]byte, n)
	for i := range log {
		f.Read(func(s *State) { log[i] = g.next(t, s) })
		f.ApplyBytes(uint64(i+1), log[i])
	}
	return log
}

func snapshotRestore(t testing.TB, f *FSM) *FSM {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := New(nil)
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestPropertyReplicasAndSnapshots(t *testing.T) {
	seeds := 25
	if testing.Short() {
		seeds = 5
	}
	for seed := int64(1); seed <= int64(seeds); seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			log := encodedLog(t, seed, 400)
			a, b := newHarness(t), newHarness(t)
			cut := 100 + int(seed*37)%250 // where a replica is rebuilt from a snapshot
			okCount := 0
			okByType := map[MessageType]int{}
			for i, entry := range log {
				before := a.json()
				ra := a.f.ApplyBytes(uint64(i+1), entry)
				rb := b.f.ApplyBytes(uint64(i+1), entry)
				if (ra.Err == nil) != (rb.Err == nil) {
					t.Fatalf("entry %d (%s): replicas disagree: %v vs %v", i, CommandName(MessageType(entry[0])), ra.Err, rb.Err)
				}
				if ra.Err != nil {
					if !bytes.Equal(before, a.json()) {
						t.Fatalf("entry %d (%s) failed (%v) but changed the state", i, CommandName(MessageType(entry[0])), ra.Err)
					}
				} else {
					okCount++
					okByType[MessageType(entry[0])]++
				}
				a.f.Read(func(s *State) { checkInvariants(t, i, s) })
				if i == cut {
					b.f = snapshotRestore(t, b.f)
					if !bytes.Equal(a.json(), b.json()) {
						t.Fatalf("entry %d: state after snapshot+restore differs", i)
					}
				}
			}
			if !bytes.Equal(a.json(), b.json()) {
				t.Fatal("replicas diverged (one restored from a snapshot midway)")
			}
			if okCount < len(log)/4 || okByType[CreateInstancesType] < 5 || okByType[UpdateInstancesType] < 10 {
				t.Fatalf("only %d of %d commands succeeded (%v): the generator exercises too little", okCount, len(log), okByType)
			}
			final := snapshotRestore(t, a.f)
			if !bytes.Equal(a.json(), (&harness{t: t, f: final}).json()) {
				t.Fatal("final snapshot+restore differs")
			}
		})
	}
}

// checkInvariants recomputes the derived index and the uniqueness rules
// from the exported state.
func checkInvariants(t testing.TB, i int, s *State) {
	t.Helper()
	ips := map[netip.Addr]string{}
	liveGroup := map[string]int{}
	liveCloud := map[string]int{}
	for id, inst := range s.Instances {
		if id != inst.ID || !inst.State.Valid() {
			t.Fatalf("entry %d: bad instance %q %+v", i, id, inst)
		}
		if !inst.Live() {
			continue
		}
		a := netip.MustParseAddr(inst.IP)
		if other, dup := ips[a]; dup {
			t.Fatalf("entry %d: %s and %s both hold %s", i, id, other, a)
		}
		ips[a] = id
		liveGroup[GroupKey(inst.Tenant, inst.Group)]++
		liveCloud[inst.Cloud]++
		if s.Groups[GroupKey(inst.Tenant, inst.Group)] == nil {
			t.Fatalf("entry %d: live instance %s has no group", i, id)
		}
		inRange := false
		for _, r := range s.idx.ranges[inst.Tenant][inst.Network] {
			inRange = inRange || r.contains(a)
		}
		if !inRange {
			t.Fatalf("entry %d: %s holds %s outside its ranges", i, id, a)
		}
	}
	checkQuarantine(t, i, s)
	if len(ips) != len(s.idx.ipOwner) {
		t.Fatalf("entry %d: %d live IPs, index has %d", i, len(ips), len(s.idx.ipOwner))
	}
	for k, n := range liveGroup {
		if s.idx.liveByGroup[k] != n {
			t.Fatalf("entry %d: group %s live %d, index %d", i, k, n, s.idx.liveByGroup[k])
		}
	}
	for k, n := range liveCloud {
		if s.idx.liveByCloud[k] != n {
			t.Fatalf("entry %d: cloud %s live %d, index %d", i, k, n, s.idx.liveByCloud[k])
		}
	}
	if len(liveGroup) != len(s.idx.liveByGroup) || len(liveCloud) != len(s.idx.liveByCloud) {
		t.Fatalf("entry %d: stale live counters %v %v", i, s.idx.liveByGroup, s.idx.liveByCloud)
	}
	for name, tn := range s.Tenants {
		for _, gn := range tn.Groups {
			if s.Groups[GroupKey(name, gn)] == nil {
				t.Fatalf("entry %d: tenant %s lists missing group %s", i, name, gn)
			}
		}
	}
	for k, g := range s.Groups {
		if s.Tenants[g.Tenant] == nil {
			t.Fatalf("entry %d: group %s without tenant", i, k)
		}
		if g.Desired < g.Min || g.Desired > g.Max {
			t.Fatalf("entry %d: group %s desired %d outside [%d,%d]", i, k, g.Desired, g.Min, g.Max)
		}
		if len(g.FiredSlots) > s.Settings.FiredSlotCap {
			t.Fatalf("entry %d: group %s has %d fired slots", i, k, len(g.FiredSlots))
		}
	}
	if len(s.Activity) > s.Settings.ActivityCap {
		t.Fatalf("entry %d: activity %d > cap %d", i, len(s.Activity), s.Settings.ActivityCap)
	}
	for k, m := range s.Metrics {
		if len(m) > s.Settings.MetricHistoryCap {
			t.Fatalf("entry %d: metrics %s %d > cap", i, k, len(m))
		}
		last := map[string]time.Time{}
		for j, p := range m {
			if j > 0 && p.Time.Before(m[j-1].Time) {
				t.Fatalf("entry %d: metrics %s not sorted by time at %d", i, k, j)
			}
			if l, ok := last[p.Cloud]; ok && !p.Time.After(l) {
				t.Fatalf("entry %d: metrics %s: cloud %q not increasing at %d", i, k, p.Cloud, j)
			}
			last[p.Cloud] = p.Time
		}
	}
	for k, e := range s.Evaluations {
		if len(e) > s.Settings.MetricHistoryCap || s.Groups[k] == nil {
			t.Fatalf("entry %d: evaluations %s: %d entries (cap %d), group exists %v", i, k, len(e), s.Settings.MetricHistoryCap, s.Groups[k] != nil)
		}
	}
}

// checkQuarantine checks the IP quarantine: the index matches the failed
// instances, no live instance was given an address a failed instance of
// its tenant still had in quarantine when it was created (the generator's
// clock only moves forward), and the allocation hints hold.
func checkQuarantine(t testing.TB, i int, s *State) {
	t.Helper()
	want := map[string]map[netip.Addr]int{}
	for _, f := range s.Instances {
		if f.State != StateFailed {
			continue
		}
		a := netip.MustParseAddr(f.IP)
		if want[f.Tenant] == nil {
			want[f.Tenant] = map[netip.Addr]int{}
		}
		want[f.Tenant][a]++
		if !f.QuarantinedUntil().Equal(f.Since.Add(IPQuarantine)) {
			t.Fatalf("entry %d: failed %s quarantined until %v", i, f.ID, f.QuarantinedUntil())
		}
		for _, l := range s.Instances {
			if l.Live() && l.Tenant == f.Tenant && l.IP == f.IP && l.Created.Before(f.QuarantinedUntil()) {
				t.Fatalf("entry %d: %s got %s at %v, in quarantine after %s failed at %v", i, l.ID, l.IP, l.Created, f.ID, f.Since)
			}
		}
	}
	if len(want) != len(s.idx.quarantine) {
		t.Fatalf("entry %d: quarantine index has %d tenants, want %d", i, len(s.idx.quarantine), len(want))
	}
	for tn, m := range want {
		if len(m) != len(s.idx.quarantine[tn]) {
			t.Fatalf("entry %d: tenant %s: %d quarantined addresses indexed, want %d", i, tn, len(s.idx.quarantine[tn]), len(m))
		}
		for a, n := range m {
			if len(s.idx.quarantine[tn][a]) != n {
				t.Fatalf("entry %d: tenant %s: %s has %d quarantine entries, want %d", i, tn, a, len(s.idx.quarantine[tn][a]), n)
			}
		}
	}
	for tn, nets := range s.idx.ranges {
		for _, rs := range nets {
			for _, r := range rs {
				h, ok := s.idx.lowFree[r]
				if !ok {
					continue
				}
				for a := r.start; a.IsValid() && a.Compare(h) < 0 && a.Compare(r.end) <= 0; a = a.Next() {
					_, live := s.idx.ipOwner[a]
					if _, q := s.idx.quarantine[tn][a]; !live && !q {
						t.Fatalf("entry %d: %s is free but below the hint %s of %s", i, a, h, r)
					}
				}
			}
		}
	}
}
