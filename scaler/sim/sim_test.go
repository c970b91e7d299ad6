package sim

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"aas/scaler"
	"aas/scaler/trace"
	"aas/scaler/trace/tracetest"
)

// synth builds a trace with step seconds between points.
func synth(step int64, loads ...float64) *trace.Trace {
	tr := &trace.Trace{Name: "synthetic", Step: step}
	for i, l := range loads {
		tr.Points = append(tr.Points, trace.Point{T: int64(i) * step, Load: l})
	}
	return tr
}

func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func named(t *testing.T, name string) Policy {
	t.Helper()
	g, err := scaler.Named(name, scaler.NamedOptions{Target: 0.7, LeadTime: 3 * time.Minute, Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return Policy{Name: name, Spec: g}
}

var benchCfg = Config{Capacity: 10, BootDelay: 3 * time.Minute, Interval: time.Minute, TargetUtilization: 0.7}

func TestConstantLoadKnownAnswers(t *testing.T) {
	// Load 70 per step, capacity 10, target 0.7: demand is exactly 10.
	tr := synth(60, repeat(70, 120)...)
	for _, name := range []string{"none", "reactive", "hpa", "aws-target", "osm", "default"} {
		r, err := Run(tr, named(t, name), benchCfg)
		if err != nil {
			t.Fatal(err)
		}
		m := r.Metrics
		if m.TauU != 0 || m.TauO != 0 || r.Actions != 0 || math.Abs(r.InstanceHours-20) > 1e-9 || r.OverloadPct != 0 {
			t.Errorf("%s: τU %.2f τO %.2f actions %d instance-hours %.3f overload %.2f; want 0 0 0 20 0",
				name, m.TauU, m.TauO, r.Actions, r.InstanceHours, r.OverloadPct)
		}
	}
}

func TestStepUpRespectsBootDelay(t *testing.T) {
	// Demand jumps from 10 to 20 instances at minute 30.
	loads := append(repeat(70, 30), repeat(140, 60)...)
	tr := synth(60, loads...)
	cfg := benchCfg
	cfg.Timeline = true
	for _, name := range []string{"reactive", "hpa", "default"} {
		r, err := Run(tr, named(t, name), cfg)
		if err != nil {
			t.Fatal(err)
		}
		first := int64(-1)
		for _, row := range r.Timeline {
			if row.Ready >= 20 {
				first = row.T
				break
			}
		}
		// The jump is observed at the decision of minute 31 at the earliest;
		// instances ordered then are ready 3 minutes later.
		if first < 31*60+180 {
			t.Errorf("%s: 20 ready at t=%d, before the boot delay allows", name, first)
		}
		if first < 0 {
			t.Errorf("%s: never reached demand", name)
		}
		// Booting instances are paid for: more hours than ready supply.
		if r.InstanceHours <= r.Metrics.InstanceHours {
			t.Errorf("%s: instance-hours %.3f not above ready-hours %.3f", name, r.InstanceHours, r.Metrics.InstanceHours)
		}
	}
}

// TestNeverSeesTheFuture: two traces equal up to minute 60 and different
// after must give the same decisions up to minute 60.
func TestNeverSeesTheFuture(t *testing.T) {
	a := make([]float64, 120)
	b := make([]float64, 120)
	for i := range a {
		a[i] = 50 + 30*math.Sin(float64(i)/7)
		b[i] = a[i]
		if i >= 60 {
			b[i] = 500
		}
	}
	cfg := benchCfg
	cfg.Timeline = true
	for _, name := range []string{"default", "hpa", "proactive", "predictive"} {
		ra, err := Run(synth(60, a...), named(t, name), cfg)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := Run(synth(60, b...), named(t, name), cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i, row := range ra.Timeline {
			if row.T >= 60*60 {
				break
			}
			if rb.Timeline[i].Desired != row.Desired {
				t.Fatalf("%s: decision at t=%d differs (%d vs %d): the policy saw the future", name, row.T, row.Desired, rb.Timeline[i].Desired)
			}
		}
	}
}

func TestCoarseTraceStep(t *testing.T) {
	// 5-minute trace steps with a 1-minute interval: the model ticks at the
	// gcd (60 s) and the load holds within a step.
	tr := synth(300, 70, 70, 140, 140, 140, 70)
	cfg := benchCfg
	cfg.Timeline = true
	r, err := Run(tr, named(t, "hpa"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Timeline) != 29 { // one decision per minute after the first
		t.Fatalf("%d decisions, want 29", len(r.Timeline))
	}
	if r.Metrics.Duration != 1800 {
		t.Fatalf("duration %.0f", r.Metrics.Duration)
	}
}

func TestConfigErrors(t *testing.T) {
	tr := synth(60, 1, 2, 3)
	for _, c := range []Config{
		{Capacity: 0, Interval: time.Minute, TargetUtilization: 0.7},
		{Capacity: 1, Interval: 0, TargetUtilization: 0.7},
		{Capacity: 1, Interval: time.Minute, TargetUtilization: 1.5},
		{Capacity: 1, Interval: time.Minute, TargetUtilization: 0.7, Min: 5, Max: 2},
	} {
		if _, err := Run(tr, named(t, "none"), c); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: err %v, want ErrConfig", c, err)
		}
	}
}

func TestReportFormats(t *testing.T) {
	tr := synth(60, append(repeat(70, 30), repeat(140, 30)...)...)
	rs, capacity, err := Compare(tr, Options{PolicyName: "default", Baselines: []string{"none", "hpa"}, Capacity: 10,
		BootDelay: 3 * time.Minute, Interval: time.Minute, TargetUtilization: 0.7})
	if err != nil {
		t.Fatal(err)
	}
	rep := NewReport("synthetic", capacity, rs)
	var js, md, csv, tab strings.Builder
	for _, w := range []func() error{
		func() error { return rep.WriteJSON(&js) }, func() error { return rep.WriteMarkdown(&md) },
		func() error { return rep.WriteCSV(&csv) }, func() error { return rep.WriteTable(&tab) },
	} {
		if err := w(); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range []string{`"trace": "synthetic"`, `"theta_u"`, `"tau_o"`, `"elastic_speedup"`, `"instance_hours"`, `"overload_pct"`, `"actions"`, `"jitter"`} {
		if !strings.Contains(js.String(), key) {
			t.Errorf("json lacks %s", key)
		}
	}
	if !strings.Contains(md.String(), "| default |") || !strings.Contains(md.String(), "default vs hpa") {
		t.Errorf("markdown:\n%s", md.String())
	}
	if n := strings.Count(csv.String(), "\n"); n != 4 {
		t.Errorf("csv has %d lines", n)
	}
	if rs[1].Name != "none" || rs[1].ElasticSpeedup != 1 {
		t.Errorf("speedup of none against itself = %v", rs[1].ElasticSpeedup)
	}
}

func TestBeats(t *testing.T) {
	cases := []struct {
		p, b PolicyReport
		want bool
	}{
		{PolicyReport{TauU: 5, InstanceHours: 104}, PolicyReport{TauU: 10, InstanceHours: 100}, true},
		{PolicyReport{TauU: 5, InstanceHours: 106}, PolicyReport{TauU: 10, InstanceHours: 100}, false},
		{PolicyReport{TauU: 11, InstanceHours: 50}, PolicyReport{TauU: 10, InstanceHours: 100}, false},
		{PolicyReport{TauU: 10, InstanceHours: 95}, PolicyReport{TauU: 10, InstanceHours: 100}, true},
		{PolicyReport{TauU: 10, InstanceHours: 96}, PolicyReport{TauU: 10, InstanceHours: 100}, false},
	}
	for _, c := range cases {
		if got, why := Beats(c.p, c.b); got != c.want {
			t.Errorf("%+v vs %+v: %v (%s)", c.p, c.b, got, why)
		}
	}
}

// loadTrace reads a trace from ../shared/traces (tracetest: skips on a
// laptop without them, fails in CI).
var loadTrace = tracetest.Load

// BenchmarkSimulateNASAAllBaselines: the whole NASA trace (84k steps) with
// the default policy and every baseline. The "baseline" sub-benchmark is
// the same replay with the fixed-size policy only (the simulator's floor);
// report the ratio.
func BenchmarkSimulateNASAAllBaselines(b *testing.B) {
	tr := loadTrace(b, "nasa_http_1995.csv")
	o := Options{PolicyName: scaler.DefaultPolicyName, Baselines: scaler.Baselines, BootDelay: 3 * time.Minute,
		Interval: time.Minute, TargetUtilization: 0.7}
	var base, all float64
	b.Run("baseline-none-only", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := Compare(tr, Options{PolicyName: "none", BootDelay: o.BootDelay, Interval: o.Interval, TargetUtilization: 0.7}); err != nil {
				b.Fatal(err)
			}
		}
		base = b.Elapsed().Seconds() / float64(b.N)
	})
	b.Run("all", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := Compare(tr, o); err != nil {
				b.Fatal(err)
			}
		}
		all = b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(all, "s/run")
	})
	if base > 0 {
		b.Logf("all policies %.2f s, %.1f× the fixed-size replay (%.2f s)", all, all/base, base)
	}
}

func ExampleCompare() {
	tr := synth(60, repeat(70, 60)...)
	rs, _, _ := Compare(tr, Options{PolicyName: "default", Baselines: []string{"hpa"}, Capacity: 10,
		BootDelay: 3 * time.Minute, Interval: time.Minute, TargetUtilization: 0.7})
	for _, r := range rs {
		fmt.Printf("%s τU=%.0f%% instance-hours=%.0f\n", r.Name, r.Metrics.TauU, r.InstanceHours)
	}
	// Output:
	// default τU=0% instance-hours=10
	// hpa τU=0% instance-hours=10
}
