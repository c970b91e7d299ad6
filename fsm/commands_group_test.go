package fsm

import (
	"testing"
	"time"
)

func TestSetDesired(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cmd        SetDesired
		wantTo     int
		wantOutAt  time.Time
		wantInAt   time.Time
		wantReason string
	}{
		{"scale out", SetDesired{Desired: 3, Source: SourceScaler, Policy: "dynamic", Reason: "ceil((0.8-0.6)/0.6*1)"}, 3, at(100), time.Time{}, "ceil((0.8-0.6)/0.6*1)"},
		{"clamped to max", SetDesired{Desired: 9}, 5, at(100), time.Time{}, "requested 9, clamped to [1,5]"},
		{"clamped to min is no change", SetDesired{Desired: 0, Source: SourceScaler}, 1, time.Time{}, time.Time{}, "requested 0, clamped to [1,5]"},
		{"unchanged", SetDesired{Desired: 1}, 1, time.Time{}, time.Time{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := seeded(t)
			c := tc.cmd
			c.Tenant, c.Group, c.Time = "acme", "web", at(100)
			c.Inputs = map[string]float64{"avg_cpu": 0.8}
			c.FiredSlots = []string{"sched-1@2026-11-23T12:00"}
			if got := h.ok(SetDesiredType, c).(int); got != tc.wantTo {
				t.Fatalf("result %d, want %d", got, tc.wantTo)
			}
			s := h.state()
			g, _ := s.Group("acme", "web")
			if g.Desired != tc.wantTo || !g.Cooldown.LastScaleOut.Equal(tc.wantOutAt) || !g.Cooldown.LastScaleIn.Equal(tc.wantInAt) {
				t.Fatalf("group desired %d cooldown %+v", g.Desired, g.Cooldown)
			}
			d := g.Cooldown.LastDecision
			if d == nil || d.From != 1 || d.To != tc.wantTo || d.Requested != c.Desired || d.Inputs["avg_cpu"] != 0.8 {
				t.Fatalf("last decision %+v", d)
			}
			if !g.HasFired(c.FiredSlots[0]) {
				t.Fatal("slot not recorded")
			}
			log := s.ActivityLog(ActivityFilter{Kind: "scale"})
			if len(log) != 1 || log[0].From != 1 || log[0].To != tc.wantTo || log[0].Reason != tc.wantReason || log[0].Inputs["avg_cpu"] != 0.8 {
				t.Fatalf("activity %+v", log)
			}
		})
	}
}

func TestSetDesiredScaleInStampsIn(t *testing.T) {
	h := seeded(t)
	h.ok(SetDesiredType, SetDesired{Tenant: "acme", Group: "web", Desired: 4, Time: at(1)})
	h.ok(SetDesiredType, SetDesired{Tenant: "acme", Group: "web", Desired: 2, Time: at(2), Source: SourceScaler})
	g, _ := h.state().Group("acme", "web")
	if !g.Cooldown.LastScaleOut.Equal(at(1)) || !g.Cooldown.LastScaleIn.Equal(at(2)) || g.Cooldown.LastDecision.Direction != DirectionIn {
		t.Fatalf("cooldown %+v", g.Cooldown)
	}
}

func TestSetDesiredRejections(t *testing.T) {
	base := SetDesired{Tenant: "acme", Group: "web", Desired: 2, Time: at(1)}
	for _, tc := range []struct {
		name string
		mut  func(*SetDesired)
		want error
	}{
		{"unknown group", func(c *SetDesired) { c.Group = "nope" }, ErrNotFound},
		{"unknown tenant", func(c *SetDesired) { c.Tenant = "nope" }, ErrNotFound},
		{"no time", func(c *SetDesired) { c.Time = time.Time{} }, ErrBadCommand},
		{"negative", func(c *SetDesired) { c.Desired = -1 }, ErrBadCommand},
		{"bad source", func(c *SetDesired) { c.Source = "cron" }, ErrBadCommand},
		{"bad direction", func(c *SetDesired) { c.Direction = "up" }, ErrBadCommand},
		{"bad placement", func(c *SetDesired) { c.Placement = map[string]int{"c1": -1} }, ErrBadCommand},
		{"empty slot", func(c *SetDesired) { c.FiredSlots = []string{""} }, ErrBadCommand},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := seeded(t)
			c := base
			tc.mut(&c)
			h.fail(SetDesiredType, c, tc.want)
		})
	}
}

func TestSuspendedGroupRefusesScalerOnly(t *testing.T) {
	h := seeded(t)
	h.fail(SetGroupSuspendedType, SetGroupSuspended{Tenant: "acme", Group: "nope", Suspended: true, Time: at(1)}, ErrNotFound)
	h.fail(SetGroupSuspendedType, SetGroupSuspended{Tenant: "acme", Group: "web", Suspended: true}, ErrBadCommand)
	h.ok(SetGroupSuspendedType, SetGroupSuspended{Tenant: "acme", Group: "web", Suspended: true, Time: at(1), Reason: "maintenance"})
	h.fail(SetDesiredType, SetDesired{Tenant: "acme", Group: "web", Desired: 3, Time: at(2), Source: SourceScaler}, ErrSuspended)
	h.ok(SetDesiredType, SetDesired{Tenant: "acme", Group: "web", Desired: 3, Time: at(2), Source: SourceManual})
	h.ok(SetGroupSuspendedType, SetGroupSuspended{Tenant: "acme", Group: "web", Suspended: false, Time: at(3)})
	h.ok(SetDesiredType, SetDesired{Tenant: "acme", Group: "web", Desired: 4, Time: at(4), Source: SourceScaler})
	if n := len(h.state().ActivityLog(ActivityFilter{Kind: "group"})); n != 2 {
		t.Fatalf("%d group activity entries, want 2 (suspend, resume)", n)
	}
}

func TestFiredSlotsAreBounded(t *testing.T) {
	h := seeded(t)
	h.ok(SetSettingsType, SetSettings{Settings: Settings{FiredSlotCap: 3}})
	for i := 0; i < 5; i++ {
		h.ok(SetDesiredType, SetDesired{Tenant: "acme", Group: "web", Desired: 2, Time: at(i + 1), Source: SourceScaler,
			FiredSlots: []string{"slot-" + itoa(i), "slot-" + itoa(i)}})
	}
	g, _ := h.state().Group("acme", "web")
	want := []string{"slot-2", "slot-3", "slot-4"}
	if len(g.FiredSlots) != 3 || g.FiredSlots[0] != want[0] || g.FiredSlots[2] != want[2] {
		t.Fatalf("fired slots %v, want %v", g.FiredSlots, want)
	}
}
