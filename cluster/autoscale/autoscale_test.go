package autoscale

import (
	"strings"
	"testing"
	"time"

	"aas/scaler"
)

// reactiveSpec is the seed's dynamic policy: threshold 60 %, evaluated
// every second.
func reactiveSpec(cooldownOut, cooldownIn, stabilisation time.Duration) scaler.GroupSpec {
	return scaler.GroupSpec{Min: 1, Max: 10, MetricPeriod: scaler.Duration(time.Second),
		CooldownOut: scaler.Duration(cooldownOut), CooldownIn: scaler.Duration(cooldownIn),
		ScaleInStabilization: scaler.Duration(stabilisation),
		Policies:             []scaler.Policy{{Name: "seed", Reactive: &scaler.Reactive{Threshold: 0.6}}}}
}

func fastOptions() Options { return Options{Tick: 100 * time.Millisecond} }

func TestScaleOutThenInAfterCooldown(t *testing.T) {
	nodes := startCluster(t, 1, fastOptions())
	s := nodes[0].srv
	const cooldownIn, stab = 3 * time.Second, 2 * time.Second
	setupTenant(t, s, reactiveSpec(time.Minute, cooldownIn, stab), 2)
	w := newWorld(t, nodes, 0.9)
	w.run(200 * time.Millisecond)
	defer w.close()

	// High CPU: the seed's formula, ceil((0.90-0.60)/0.60*2)=1 → 3.
	waitFor(t, 30*time.Second, "a scale-out in the activity log", func() (bool, string) {
		acts := scaleActivity(s)
		return len(acts) > 0, describe(acts)
	})
	out := scaleActivity(s)[0]
	if out.From != 2 || out.To != 3 || out.Policy != "seed" ||
		!strings.Contains(out.Reason, "reactive: ceil((0.90-0.60)/0.60*2)=1 → 2+1=3") {
		t.Fatalf("first action %+v, want 2→3 by the seed's reactive formula", out)
	}
	if out.Inputs["serving"] != 2 || out.Inputs["average"] != 0.9 {
		t.Fatalf("inputs %v, want serving 2, average 0.9", out.Inputs)
	}

	// Low CPU once the third instance serves: floor((0.60-0.10)/0.60*3)=2 → 1.
	waitFor(t, 30*time.Second, "three instances", func() (bool, string) {
		evs := evaluations(s)
		return len(evs) > 0 && evs[len(evs)-1].Serving == 3, ""
	})
	w.setCPU(0.1)
	lowFrom := time.Now()
	waitFor(t, 60*time.Second, "a scale-in in the activity log", func() (bool, string) {
		acts := scaleActivity(s)
		return len(acts) > 1, describe(acts)
	})
	in := scaleActivity(s)[1]
	if in.From != 3 || in.To >= 3 || !strings.Contains(in.Reason, "reactive: floor((0.60-0.10)/0.60*3)") {
		t.Fatalf("second action %+v, want a scale-in from 3 by the seed's formula", in)
	}
	if gap := in.Time.Sub(out.Time); gap < cooldownIn {
		t.Fatalf("scale-in %v after the scale-out, want at least the cooldown %v", gap, cooldownIn)
	}
	// The window counts from the last high recommendation, which the
	// evaluation before the drop made: up to one metric period (1 s) early.
	if gap := in.Time.Sub(lowFrom); gap < stab-time.Second {
		t.Fatalf("scale-in %v after the load dropped, want at least the stabilisation window %v", gap, stab)
	}
	// Before the scale-in, evaluations asked for it and were held.
	held := false
	for _, e := range evaluations(s) {
		if e.Time.After(lowFrom) && e.Time.Before(in.Time) && e.Recommended < e.Current && e.Desired == e.Current {
			held = true
		}
	}
	if !held {
		t.Fatal("no evaluation shows a scale-in recommendation held by the guards")
	}
}

func TestMissingMetricsNeverScaleIn(t *testing.T) {
	nodes := startCluster(t, 1, fastOptions())
	s := nodes[0].srv
	// No cooldown, no stabilisation: only the missing-metrics guard stands
	// between an idle-looking group and a scale-in.
	setupTenant(t, s, reactiveSpec(-1, -1, 0), 3)
	w := newWorld(t, nodes, -1) // instances run, no metric ever arrives
	w.run(200 * time.Millisecond)
	defer w.close()

	waitFor(t, 30*time.Second, "five evaluations of three serving instances without metrics", func() (bool, string) {
		n := 0
		for _, e := range evaluations(s) {
			if e.Serving == 3 {
				if !e.Missing || e.Average != 0 {
					t.Fatalf("evaluation %+v: want missing metrics, not zeros", e)
				}
				n++
			}
		}
		return n >= 5, ""
	})
	if acts := scaleActivity(s); len(acts) != 0 {
		t.Fatalf("scaling without metrics: %s", describe(acts))
	}
	if g := group(s); g.Desired != 3 {
		t.Fatalf("desired %d, want 3 kept", g.Desired)
	}

	// The same group with idle metrics does scale in: the guard was what
	// held it.
	w.setCPU(0.05)
	waitFor(t, 30*time.Second, "a scale-in once metrics arrive", func() (bool, string) {
		acts := scaleActivity(s)
		return len(acts) > 0 && acts[0].To < 3, describe(acts)
	})
}

func TestNewLeaderHonoursCooldown(t *testing.T) {
	if testing.Short() {
		t.Skip("three-node failover")
	}
	nodes := startCluster(t, 3, fastOptions())
	leader := waitLeader(t, nodes, nil)
	const cooldownOut = 12 * time.Second
	setupTenant(t, leader.srv, reactiveSpec(cooldownOut, -1, 0), 2)
	w := newWorld(t, nodes, 0.9)
	w.markDown(leader) // send through a follower: it stays up
	w.run(200 * time.Millisecond)
	defer w.close()

	var first time.Time
	waitFor(t, 30*time.Second, "the first scale-out", func() (bool, string) {
		acts := scaleActivity(leader.srv)
		if len(acts) > 0 {
			first = acts[0].Time
		}
		return len(acts) > 0, describe(acts)
	})
	if err := leader.srv.Shutdown(); err != nil {
		t.Fatal(err)
	}
	next := waitLeader(t, nodes, leader)
	elected := time.Now()
	t.Logf("leader %s → %s, %v after the scale-out", leader.srv.ID(), next.srv.ID(), time.Since(first))

	// The new leader evaluates the still overloaded group and wants more,
	// but the replicated cooldown holds it until first + cooldown.
	waitFor(t, 30*time.Second, "the new leader's held evaluations", func() (bool, string) {
		for _, e := range evaluations(next.srv) {
			if e.Time.After(elected) && e.Serving == 3 && e.Recommended > e.Current && e.Desired == e.Current {
				return true, ""
			}
		}
		return false, ""
	})
	waitFor(t, 60*time.Second, "the second scale-out after the cooldown", func() (bool, string) {
		acts := scaleActivity(next.srv)
		return len(acts) > 1, describe(acts)
	})
	acts := scaleActivity(next.srv)
	if gap := acts[1].Time.Sub(acts[0].Time); gap < cooldownOut {
		t.Fatalf("second scale-out %v after the first, inside the cooldown %v: %s", gap, cooldownOut, describe(acts))
	}
	if acts[1].From != 3 {
		t.Fatalf("second action %+v, want from 3 (no duplicate of the first)", acts[1])
	}
}
