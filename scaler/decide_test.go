package scaler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC) // a Monday

// group returns n ready instances created an hour before t0.
func group(n int) []Instance {
	out := make([]Instance, n)
	for i := range out {
		out[i] = Instance{ID: fmt.Sprintf("i-%02d", i), Cloud: "a", State: StateRunning, Created: t0.Add(-time.Hour), Ready: true}
	}
	return out
}

// avgSample is one group-level sample of value v over n instances at t0.
func avgSample(v float64, n int) []Sample {
	return []Sample{{At: t0, Value: v, Instances: n}}
}

func spec(min, max int, ps ...Policy) GroupSpec {
	g := GroupSpec{Min: min, Max: max, Policies: ps}
	g.Normalize()
	return g
}

func TestFormulas(t *testing.T) {
	tol := func(v float64) *float64 { return &v }
	lo, hi := func(v float64) *float64 { return &v }, func(v float64) *float64 { return &v }
	cases := []struct {
		name    string
		policy  Policy
		n       int
		avg     float64
		want    int
		formula string
	}{
		{"seed example: 9 VMs at 80% against 60% → +3", Policy{Reactive: &Reactive{Threshold: 0.6}}, 9, 0.8, 12, "reactive: ceil((0.80-0.60)/0.60*9)=3 → 9+3=12"},
		{"reactive scale-in", Policy{Reactive: &Reactive{Threshold: 0.6}}, 10, 0.3, 5, "reactive: floor((0.60-0.30)/0.60*10)=5 → 10-5=5"},
		{"reactive dead band", Policy{Reactive: &Reactive{Threshold: 0.6, ScaleInThreshold: 0.4}}, 10, 0.5, 10, "hold 10"},
		{"reactive separate in-threshold", Policy{Reactive: &Reactive{Threshold: 0.6, ScaleInThreshold: 0.4}}, 10, 0.2, 5, "floor((0.40-0.20)/0.40*10)=5"},
		{"hpa: ceil(3*0.9/0.6)=5", Policy{Target: &TargetTracking{Target: 0.6}}, 3, 0.9, 5, "target: ceil(3*0.90/0.60)=5"},
		{"hpa: within tolerance", Policy{Target: &TargetTracking{Target: 0.6}}, 10, 0.65, 10, "within tolerance"},
		{"hpa: scale in ceil(10*0.5/0.6)=9", Policy{Target: &TargetTracking{Target: 0.6}}, 10, 0.5, 9, "target: ceil(10*0.50/0.60)=9"},
		{"hpa: 200% of target doubles", Policy{Target: &TargetTracking{Target: 0.5, Tolerance: tol(0.1)}}, 4, 1.0, 8, "=8"},
		{"step: +3 above threshold+0.1", Policy{Step: &StepScaling{Threshold: 0.6, Steps: []StepAdjustment{
			{Lower: lo(0), Upper: hi(0.1), Adjustment: 1}, {Lower: lo(0.1), Adjustment: 3}, {Upper: hi(-0.2), Adjustment: -1}}}}, 5, 0.75, 8, "step: 0.75-0.60=+0.15 in step [0.1,+∞) → 5+3=8"},
		{"step: -1 far below", Policy{Step: &StepScaling{Threshold: 0.6, Steps: []StepAdjustment{
			{Lower: lo(0), Adjustment: 1}, {Upper: hi(-0.2), Adjustment: -1}}}}, 5, 0.3, 4, "5-1=4"},
		{"step: percent change 10×25% → +2", Policy{Step: &StepScaling{Threshold: 0.6, AdjustmentType: PercentChangeInCapacity, Steps: []StepAdjustment{
			{Lower: lo(0), Adjustment: 25}}}}, 10, 0.7, 12, "10+25%=10+2"},
		{"step: exact capacity", Policy{Step: &StepScaling{Threshold: 0.6, AdjustmentType: ExactCapacity, Steps: []StepAdjustment{
			{Lower: lo(0), Adjustment: 7}}}}, 3, 0.9, 7, "exact 7"},
		{"simple: +2 above", Policy{Simple: &SimpleScaling{ScaleOutThreshold: 0.7, ScaleInThreshold: 0.3, OutAdjustment: 2}}, 4, 0.8, 6, "simple: 0.80>0.70 → 4+2=6"},
		{"simple: -1 below", Policy{Simple: &SimpleScaling{ScaleOutThreshold: 0.7, ScaleInThreshold: 0.3}}, 4, 0.1, 3, "simple: 0.10<0.30 → 4-1=3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := spec(1, 100, c.policy)
			d := Decide(Input{Group: g, Instances: group(c.n), Metrics: avgSample(c.avg, c.n), Now: t0})
			if d.Desired != c.want {
				t.Fatalf("desired = %d, want %d (%s)", d.Desired, c.want, d.Reason())
			}
			if !strings.Contains(d.Formula, c.formula) {
				t.Fatalf("formula %q does not contain %q", d.Formula, c.formula)
			}
		})
	}
}

func TestReactiveCountsBootingInstances(t *testing.T) {
	// 9 serving at 80% plus 3 already booting: the +3 is under way.
	inst := group(9)
	for i := range 3 {
		inst = append(inst, Instance{ID: fmt.Sprintf("b-%d", i), State: StateProvisioning, Created: t0.Add(-time.Minute)})
	}
	d := Decide(Input{Group: spec(1, 100, Policy{Reactive: &Reactive{Threshold: 0.6}}), Instances: inst, Metrics: avgSample(0.8, 9), Now: t0})
	if d.Desired != 12 || d.Direction != Hold {
		t.Fatalf("got %s", d.Reason())
	}
}

func TestProactiveTrend(t *testing.T) {
	// Total load 10, 11, …, 14 instance-units over the last five minutes;
	// slope 1/min over a 4-min horizon → 18 → ceil(18/0.6) = 30.
	var ms []Sample
	for i := range 5 {
		ms = append(ms, Sample{At: t0.Add(time.Duration(i-4) * time.Minute), Value: float64(10+i) / 10, Instances: 10})
	}
	g := spec(1, 100, Policy{Proactive: &Proactive{Target: 0.6, Window: Duration(5 * time.Minute), Horizon: Duration(4 * time.Minute)}})
	d := Decide(Input{Group: g, Instances: group(10), Metrics: ms, Now: t0})
	if d.Desired != 30 {
		t.Fatalf("got %s", d.Reason())
	}
	// Quantile mode on a flat series: the level is the series itself.
	g = spec(1, 100, Policy{Proactive: &Proactive{Target: 0.5, Window: Duration(5 * time.Minute), Quantile: 0.8}})
	for i := range ms {
		ms[i].Value = 1
	}
	if d := Decide(Input{Group: g, Instances: group(10), Metrics: ms, Now: t0}); d.Desired != 20 {
		t.Fatalf("quantile: got %s", d.Reason())
	}
}

func TestPredictive(t *testing.T) {
	f := &Forecast{Start: t0.Add(time.Minute), Step: time.Minute, Mean: []float64{10, 12, 15, 11, 40}, Upper: []float64{11, 14, 18, 13, 50}}
	cases := []struct {
		p    Predictive
		want int
	}{
		{Predictive{Target: 0.5, Bound: "mean", Horizon: Duration(4 * time.Minute)}, 30},  // peak 15 within 4 min
		{Predictive{Target: 0.5, Bound: "upper", Horizon: Duration(4 * time.Minute)}, 36}, // peak 18
		{Predictive{Target: 0.5, Bound: "mean", Horizon: Duration(5 * time.Minute)}, 80},  // the 40 is in range
	}
	for _, c := range cases {
		p := c.p
		g := spec(1, 100, Policy{Predictive: &p})
		d := Decide(Input{Group: g, Instances: group(10), Metrics: avgSample(0.5, 10), Forecast: f, Now: t0})
		if d.Desired != c.want {
			t.Errorf("%+v: got %s, want %d", c.p, d.Reason(), c.want)
		}
	}
	g := spec(1, 100, Policy{Predictive: &Predictive{Target: 0.5}})
	d := Decide(Input{Group: g, Instances: group(10), Metrics: avgSample(0.5, 10), Now: t0})
	if d.Desired != 10 || !d.Proposals[0].Abstained {
		t.Fatalf("without a forecast the policy must abstain: %s", d.Reason())
	}
}

func TestGuards(t *testing.T) {
	reactive := Policy{Name: "r", Reactive: &Reactive{Threshold: 0.6}}
	cases := []struct {
		name  string
		mod   func(*Input)
		want  int
		guard string
	}{
		{"max clamp", func(in *Input) { in.Group.Max = 11 }, 11, "max: 12 clamped to 11"},
		{"min raise", func(in *Input) { in.Group.Min = 15 }, 15, "min: 12 raised to 15"},
		{"cooldown out", func(in *Input) { in.Cooldown.LastScaleOut = t0.Add(-time.Minute) }, 9, "cooldown"},
		{"cooldown over", func(in *Input) { in.Cooldown.LastScaleOut = t0.Add(-3 * time.Minute) }, 12, ""},
		{"cooldown blocks in after out", func(in *Input) {
			in.Metrics = avgSample(0.3, 9)
			in.Cooldown.LastScaleOut = t0.Add(-time.Minute)
		}, 9, "cooldown: last scaling"},
		{"threshold-time not met", func(in *Input) { in.Group.ThresholdTimeOut = Duration(3 * time.Minute) }, 9, "threshold-time"},
		{"threshold-time met", func(in *Input) {
			in.Group.ThresholdTimeOut = Duration(3 * time.Minute)
			in.History = []Recommendation{{At: t0.Add(-2 * time.Minute), Desired: 12, Current: 9}, {At: t0.Add(-time.Minute), Desired: 12, Current: 9}}
		}, 12, ""},
		{"threshold-time broken run", func(in *Input) {
			in.Group.ThresholdTimeOut = Duration(3 * time.Minute)
			in.History = []Recommendation{{At: t0.Add(-2 * time.Minute), Desired: 12, Current: 9}, {At: t0.Add(-time.Minute), Desired: 9, Current: 9}}
		}, 9, "threshold-time"},
		{"stabilisation keeps the window's max", func(in *Input) {
			in.Metrics = avgSample(0.3, 9)
			in.Group.ScaleInStabilization = Duration(5 * time.Minute)
			in.History = []Recommendation{{At: t0.Add(-10 * time.Minute), Desired: 9, Current: 9}, {At: t0.Add(-2 * time.Minute), Desired: 7, Current: 9}}
		}, 7, "stabilisation"},
		{"rate limit out", func(in *Input) { in.Group.MaxStepOut = 2 }, 11, "rate limit: +2"},
		{"rate limit percent", func(in *Input) { in.Group.MaxStepOut = 1; in.Group.MaxStepOutPercent = 20 }, 11, "rate limit: +2"},
		{"rate limit in", func(in *Input) { in.Metrics = avgSample(0.1, 9); in.Group.MaxStepIn = 1 }, 8, "rate limit: -1"},
		{"no metrics: reactive abstains", func(in *Input) { in.Metrics = nil }, 9, ""},
		{"NaN sample: reactive abstains", func(in *Input) { in.Metrics = avgSample(math.NaN(), 9) }, 9, ""},
		{"stale sample: the trend would scale in, missing data forbids it", func(in *Input) {
			in.Group = spec(1, 100, Policy{Name: "p", Proactive: &Proactive{Target: 0.6, Window: Duration(15 * time.Minute)}})
			in.Metrics = []Sample{{At: t0.Add(-10 * time.Minute), Value: 0.1, Instances: 9}, {At: t0.Add(-9 * time.Minute), Value: 0.1, Instances: 9}}
		}, 9, "missing metrics"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := Input{Group: spec(1, 100, reactive), Instances: group(9), Metrics: avgSample(0.8, 9), Now: t0}
			c.mod(&in)
			d := Decide(in)
			if d.Desired != c.want {
				t.Fatalf("desired %d, want %d: %s", d.Desired, c.want, d.Reason())
			}
			joined := strings.Join(d.Guards, "; ")
			if c.guard != "" && !strings.Contains(joined, c.guard) {
				t.Fatalf("guards %q lack %q", joined, c.guard)
			}
			if c.guard == "" && joined != "" {
				t.Fatalf("unexpected guards %q", joined)
			}
		})
	}
}

func TestWarmUpAndPerInstanceMetrics(t *testing.T) {
	inst := group(3)
	inst[2].Created = t0.Add(-time.Minute) // young, at 100%
	ms := []Sample{{At: t0, Instance: "i-00", Value: 0.6}, {At: t0, Instance: "i-01", Value: 0.6}, {At: t0, Instance: "i-02", Value: 1.0}}
	g := spec(1, 100, Policy{Target: &TargetTracking{Target: 0.6}})
	g.WarmUp = Duration(5 * time.Minute)
	d := Decide(Input{Group: g, Instances: inst, Metrics: ms, Now: t0})
	if d.Desired != 3 || d.Inputs.Average != 0.6 {
		t.Fatalf("warm-up: young instance must be ignored: %s (avg %.2f)", d.Reason(), d.Inputs.Average)
	}
	g.WarmUp = 0
	if d := Decide(Input{Group: g, Instances: inst, Metrics: ms, Now: t0}); d.Desired != 4 {
		t.Fatalf("without warm-up: %s", d.Reason())
	}
	// One warm instance without a sample: missing data, no scale-in.
	low := []Sample{{At: t0, Instance: "i-00", Value: 0.1}, {At: t0, Instance: "i-01", Value: 0.1}}
	if d := Decide(Input{Group: g, Instances: inst, Metrics: low, Now: t0}); d.Desired != 3 || !d.Inputs.Missing {
		t.Fatalf("missing instance metric: %s", d.Reason())
	}
}

func TestScheduledSlotsFireOnce(t *testing.T) {
	// 09:00–10:00 Europe/Berlin on weekdays needs 5; t0 is Monday 12:00 UTC
	// = 13:00 Berlin, so use a 13:00 slot.
	sched := Policy{Name: "office", Scheduled: &Scheduled{Cron: "0 13 * * 1-5", Duration: Duration(time.Hour), Count: 5, TimeZone: "Europe/Berlin"}}
	g := spec(1, 20, sched)
	now := t0.Add(20 * time.Minute)
	d := Decide(Input{Group: g, Instances: group(2), Now: now})
	wantKey := "office@2026-03-02T12:00:00Z"
	if d.Desired != 5 || len(d.Fired) != 1 || d.Fired[0] != wantKey {
		t.Fatalf("first: desired %d fired %v: %s", d.Desired, d.Fired, d.Reason())
	}
	d = Decide(Input{Group: g, Instances: group(5), Now: now.Add(time.Minute), Fired: d.Fired})
	if len(d.Fired) != 0 || d.Desired != 5 {
		t.Fatalf("second: fired again %v, desired %d", d.Fired, d.Desired)
	}
	// After the slot: back to min.
	d = Decide(Input{Group: g, Instances: group(5), Now: t0.Add(90 * time.Minute), Fired: []string{wantKey}})
	if d.Desired != 1 || len(d.Fired) != 0 {
		t.Fatalf("after slot: %s", d.Reason())
	}
	// Custom: dynamic wants fewer, the static count is the floor.
	g = spec(1, 20, sched, Policy{Name: "r", Reactive: &Reactive{Threshold: 0.6}})
	d = Decide(Input{Group: g, Instances: group(8), Metrics: []Sample{{At: now, Value: 0.1, Instances: 8}}, Now: now})
	if d.Desired != 5 || d.Policy != "scheduled" {
		t.Fatalf("custom floor: %s", d.Reason())
	}
	// Custom: dynamic wants more than the static count → dynamic wins.
	d = Decide(Input{Group: g, Instances: group(9), Metrics: []Sample{{At: now, Value: 0.8, Instances: 9}}, Now: now})
	if d.Desired != 12 || d.Policy != "r" {
		t.Fatalf("custom out: %s", d.Reason())
	}
	if g.Kind() != KindCustom {
		t.Fatalf("kind %s", g.Kind())
	}
}

func TestCustomScaleInOnlyIfAllAgree(t *testing.T) {
	g := spec(1, 100,
		Policy{Name: "a", Reactive: &Reactive{Threshold: 0.6}},
		Policy{Name: "b", Target: &TargetTracking{Target: 0.3}})
	// avg 0.35: a wants in (floor((0.6-0.35)/0.6*10)=4 → 6), b holds (within tolerance 0.35/0.3=1.17 → out!).
	d := Decide(Input{Group: g, Instances: group(10), Metrics: avgSample(0.35, 10), Now: t0})
	if d.Desired != 12 || d.Policy != "b" {
		t.Fatalf("any asks out → out: %s", d.Reason())
	}
	d = Decide(Input{Group: g, Instances: group(10), Metrics: avgSample(0.2, 10), Now: t0})
	// a: 10-3=7 (floor(0.667*10)=6 → 4)…; b: ceil(10*0.2/0.3)=7 → both in, highest wins.
	if d.Direction != ScaleIn || d.Desired != 7 {
		t.Fatalf("all agree → highest: %s", d.Reason())
	}
}

func TestCron(t *testing.T) {
	cases := []struct {
		expr string
		at   time.Time
		want bool
	}{
		{"*/15 * * * *", time.Date(2026, 1, 1, 10, 30, 0, 0, time.UTC), true},
		{"*/15 * * * *", time.Date(2026, 1, 1, 10, 31, 0, 0, time.UTC), false},
		{"0 9 * * 1-5", time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), true},  // Monday
		{"0 9 * * 1-5", time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), false}, // Sunday
		{"0 0 1 * 7", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), true},    // dom or dow (Sunday the 1st)
		{"0 0 1 * 7", time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), true},    // a Sunday
		{"0 0 1 * 7", time.Date(2026, 3, 9, 0, 0, 0, 0, time.UTC), false},
		{"5,10 8-9 * 1,6 *", time.Date(2026, 6, 3, 9, 10, 0, 0, time.UTC), true},
	}
	for _, c := range cases {
		cr, err := ParseCron(c.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := cr.Match(c.at); got != c.want {
			t.Errorf("%q at %s = %v", c.expr, c.at, got)
		}
	}
	for _, bad := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "*/0 * * * *", "a * * * *", "5-1 * * * *"} {
		if _, err := ParseCron(bad); err == nil {
			t.Errorf("%q: want error", bad)
		}
	}
}

func TestValidateNamesField(t *testing.T) {
	cases := []struct {
		g     GroupSpec
		field string
	}{
		{GroupSpec{Min: 3, Max: 2}, "min"},
		{GroupSpec{Min: 0, Max: 0}, "max"},
		{GroupSpec{Max: 2, Metric: "disk"}, "metric"},
		{GroupSpec{Max: 2, Policies: []Policy{{}}}, "policies[0]"},
		{GroupSpec{Max: 2, Policies: []Policy{{Scheduled: &Scheduled{Cron: "bad", Duration: Duration(time.Hour)}}}}, "policies[0].scheduled.cron"},
		{GroupSpec{Max: 2, Policies: []Policy{{Scheduled: &Scheduled{Cron: "* * * * *", Duration: Duration(time.Hour), TimeZone: "Mars/Base"}}}}, "time_zone"},
		{GroupSpec{Max: 2, Policies: []Policy{{Reactive: &Reactive{Threshold: 0.5, ScaleInThreshold: 0.7}}}}, "scale_in_threshold"},
		{GroupSpec{Max: 2, Policies: []Policy{{Predictive: &Predictive{Bound: "p99"}}}}, "predictive.bound"},
	}
	for _, c := range cases {
		c.g.Normalize()
		err := c.g.Validate()
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%+v: error %v does not name %q", c.g, err, c.field)
		}
	}
}

func TestDecodeGroupSpec(t *testing.T) {
	good := `min: 2
max: 10
cooldown_out: 60s
scale_in_stabilization: 300
policies:
  - name: cpu
    target: {target: 0.6}
  - scheduled: {cron: "0 9 * * 1-5", duration: 8h, count: 4, time_zone: Europe/Berlin}
`
	g, err := DecodeGroupSpec([]byte(good), "g.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if g.CooldownOut.D() != time.Minute || g.CooldownIn.D() != DefaultCooldown || g.ScaleInStabilization.D() != 5*time.Minute || *g.Policies[0].Target.Tolerance != 0.1 {
		t.Fatalf("decoded %+v", g)
	}
	_, err = DecodeGroupSpec([]byte("min: 1\nmax: 3\npolicies:\n  - reactive: {threshhold: 0.5}\n"), "bad.yaml")
	if err == nil || !strings.Contains(err.Error(), "line 4") || !strings.Contains(err.Error(), "threshhold") || !strings.Contains(err.Error(), "bad.yaml") {
		t.Fatalf("unknown key: %v", err)
	}
	if _, err := DecodeGroupSpec([]byte(`{"min": 1, "max": 3, "policies": [{"simple": {"scale_out_threshold": 0.8}}]}`), "p.json"); err != nil {
		t.Fatalf("json: %v", err)
	}
}

func TestNamedPoliciesValid(t *testing.T) {
	for _, n := range NamedPolicies() {
		g, err := Named(n, NamedOptions{Target: 0.7})
		if err != nil {
			t.Fatal(err)
		}
		if err := g.Validate(); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if _, err := Named("nope", NamedOptions{}); err == nil {
		t.Fatal("want ErrUnknownPolicy")
	}
}

// TestProperties checks invariants over random inputs: the result is
// always within [min, max]; missing metrics never scale in; a cooldown is
// respected (unless min/max force a change).
func TestProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	kinds := []func() Policy{
		func() Policy { return Policy{Reactive: &Reactive{Threshold: 0.2 + r.Float64()*0.7}} },
		func() Policy { return Policy{Target: &TargetTracking{Target: 0.2 + r.Float64()*0.7}} },
		func() Policy {
			return Policy{Simple: &SimpleScaling{ScaleOutThreshold: 0.7, ScaleInThreshold: 0.3, OutAdjustment: float64(1 + r.IntN(3))}}
		},
		func() Policy {
			return Policy{Proactive: &Proactive{Target: 0.6, Quantile: r.Float64() * 0.95, Window: Duration(10 * time.Minute)}}
		},
		func() Policy { return Policy{Proactive: &Proactive{Target: 0.6, Confidence: r.Float64() * 2}} },
	}
	for i := 0; i < 3000; i++ {
		min := r.IntN(5)
		max := min + 1 + r.IntN(30)
		g := GroupSpec{Min: min, Max: max, Policies: []Policy{kinds[r.IntN(len(kinds))]()}}
		if r.IntN(3) == 0 {
			g.Policies = append(g.Policies, kinds[r.IntN(len(kinds))]())
		}
		g.ScaleInStabilization = Duration(time.Duration(r.IntN(5)) * time.Minute)
		g.Normalize()
		n := r.IntN(40)
		inst := group(n)
		for j := range inst {
			inst[j].Ready = r.IntN(5) > 0
			inst[j].Protected = r.IntN(10) == 0
		}
		var ms []Sample
		missing := r.IntN(4) == 0
		for k := 0; k < 10 && !missing; k++ {
			v := r.Float64() * 1.5
			if r.IntN(10) == 0 {
				v = math.NaN()
			}
			ms = append(ms, Sample{At: t0.Add(-time.Duration(k) * time.Minute), Value: v, Instances: n})
		}
		in := Input{Group: g, Instances: inst, Metrics: ms, Now: t0}
		cool := r.IntN(2) == 0
		if cool {
			in.Cooldown = CooldownState{LastScaleOut: t0.Add(-30 * time.Second), LastScaleIn: t0.Add(-30 * time.Second)}
		}
		d := Decide(in)
		protectedNote := strings.Contains(strings.Join(d.Guards, ";"), "protected")
		if d.Desired > max && !protectedNote || d.Desired < min {
			t.Fatalf("case %d: desired %d outside [%d,%d]: %s", i, d.Desired, min, max, d.Reason())
		}
		if missing && d.Desired < d.Current && d.Current <= max {
			t.Fatalf("case %d: scale-in on missing data: %s", i, d.Reason())
		}
		if cool && d.Current >= min && d.Current <= max && d.Desired != d.Current {
			t.Fatalf("case %d: cooldown ignored: %s", i, d.Reason())
		}
		for _, id := range d.Placement.Remove {
			for _, x := range inst {
				if x.ID == id && x.Protected {
					t.Fatalf("case %d: protected %s drained", i, id)
				}
			}
		}
	}
}

func TestShortCycle(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	shape := []float64{34, 30, 25, 25, 29, 41, 26, 18, 25, 29, 28, 15, 12, 13, 13}
	cyc := make([]float64, 90)
	noise := make([]float64, 90)
	ramp := make([]float64, 90)
	for i := range cyc {
		cyc[i] = shape[i%15] + r.NormFloat64()*0.5
		noise[i] = 20 + r.NormFloat64()*4
		ramp[i] = float64(i) + r.NormFloat64()
	}
	if p, _ := shortCycle(cyc); p != 15 {
		t.Errorf("15-period cycle: got %d", p)
	}
	for name, y := range map[string][]float64{"noise": noise, "ramp": ramp} {
		if p, rr := shortCycle(y); p != 0 {
			t.Errorf("%s: false cycle %d (r=%.2f)", name, p, rr)
		}
	}
	// The cyclic level: 5 cycles of history, target 1: the next 4 steps'
	// phases are 34, 30, 25, 25 (phase of now is 14) → peak 34.
	var ms []Sample
	for i := range 75 {
		ms = append(ms, Sample{At: t0.Add(-time.Duration(74-i) * time.Minute), Value: shape[i%15] / 10, Instances: 10})
	}
	g := spec(1, 100, Policy{Proactive: &Proactive{Target: 1, Window: Duration(30 * time.Minute), Quantile: 0.8,
		CycleWindow: Duration(75 * time.Minute), Horizon: Duration(4 * time.Minute)}})
	d := Decide(Input{Group: g, Instances: group(10), Metrics: ms, Now: t0})
	if d.Desired != 34 || !strings.Contains(d.Formula, "cycle of 15") {
		t.Fatalf("cyclic: %s", d.Reason())
	}
}
