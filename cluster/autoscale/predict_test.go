package autoscale

import (
	"strings"
	"testing"
	"time"

	"aas/fsm"
	"aas/scaler"
)

func TestPredictiveForecastInBackground(t *testing.T) {
	nodes := startCluster(t, 1, fastOptions())
	s := nodes[0].srv
	spec := scaler.GroupSpec{Min: 1, Max: 10, MetricPeriod: scaler.Duration(time.Second), LeadTime: scaler.Duration(3 * time.Second),
		CooldownOut: -1, CooldownIn: -1,
		Policies: []scaler.Policy{{Name: "forecast", Predictive: &scaler.Predictive{Model: "linear", Bound: "mean"}}}}
	setupTenant(t, s, spec, 2)
	// A rising load already in the replicated history: 40 s from 0.6 to
	// 1.8 instances' worth of CPU, written while the group is suspended.
	apply(t, s, fsm.SetGroupSuspendedType, fsm.SetGroupSuspended{Tenant: "acme", Group: "web", Suspended: true, Time: time.Now()})
	now := time.Now()
	for i := 0; i < 40; i++ {
		apply(t, s, fsm.RecordMetricsType, fsm.RecordMetrics{Tenant: "acme", Group: "web",
			Point: fsm.MetricPoint{Time: now.Add(time.Duration(i-40) * time.Second), AvgCPU: 0.3 + 0.015*float64(i), Instances: 2}})
	}
	resumed := time.Now()
	apply(t, s, fsm.SetGroupSuspendedType, fsm.SetGroupSuspended{Tenant: "acme", Group: "web", Suspended: false, Time: resumed})
	w := newWorld(t, nodes, 0.9)
	w.run(200 * time.Millisecond)
	defer w.close()

	waitFor(t, 30*time.Second, "a predictive scale-out", func() (bool, string) {
		acts := scaleActivity(s)
		return len(acts) > 0, describe(acts)
	})
	act := scaleActivity(s)[0]
	if act.From != 2 || act.To <= 2 || !strings.Contains(act.Reason, "predictive(") || act.Inputs["forecast"] <= 1.8 {
		t.Fatalf("action %+v: want a scale-out by the forecast of a rising load", act)
	}
	var evs []fsm.Evaluation
	for _, e := range evaluations(s) {
		if e.Time.After(resumed) {
			evs = append(evs, e)
		}
	}
	// The first evaluation asked for a fit and went on without waiting.
	if len(evs) == 0 || evs[0].Forecast != nil {
		t.Fatalf("first evaluation %+v has a forecast: the loop waited for the fit", evs)
	}
	var with *fsm.Evaluation
	for i := range evs {
		if evs[i].Forecast != nil {
			with = &evs[i]
			break
		}
	}
	if with == nil || with.Model == "" || with.ForecastUpper == nil || *with.ForecastUpper < *with.Forecast {
		t.Fatalf("no evaluation carries the forecast and its model: %+v", with)
	}
}

func TestChanges(t *testing.T) {
	for _, tc := range []struct {
		dir       scaler.Direction
		to, fsmTo int
		want      bool
	}{
		{scaler.ScaleOut, 4, 3, true},
		{scaler.ScaleOut, 3, 3, false}, // the converger is still creating
		{scaler.ScaleOut, 3, 5, false}, // below an operator's manual 5: not a scale-in
		{scaler.ScaleIn, 2, 3, true},
		{scaler.ScaleIn, 3, 3, false},
		{scaler.ScaleIn, 4, 3, false},
		{scaler.Hold, 2, 3, false}, // a hold never rewrites desired
	} {
		if got := changes(scaler.Decision{Direction: tc.dir, Desired: tc.to}, tc.fsmTo); got != tc.want {
			t.Errorf("changes(%s to %d, desired %d) = %v, want %v", tc.dir, tc.to, tc.fsmTo, got, tc.want)
		}
	}
}

func TestSamples(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	pts := []fsm.MetricPoint{
		{Time: t0, AvgCPU: 0.5, RPS: 100, Instances: 2, RPSMeasured: true},
		{Time: t0.Add(time.Second), AvgCPU: 0.7, RPS: 300, Instances: 3, RPSMeasured: true},
		{Time: t0.Add(2 * time.Second), AvgCPU: 0, RPS: 0, Instances: 0},   // nobody measured
		{Time: t0.Add(3 * time.Second), AvgCPU: 0.6, RPS: 0, Instances: 3}, // CPU only: no rps sample
	}
	for _, tc := range []struct {
		metric scaler.Metric
		since  time.Time
		want   []scaler.Sample
	}{
		{scaler.MetricCPU, t0, []scaler.Sample{{At: t0, Value: 0.5, Instances: 2}, {At: t0.Add(time.Second), Value: 0.7, Instances: 3},
			{At: t0.Add(3 * time.Second), Value: 0.6, Instances: 3}}},
		{scaler.MetricCPU, t0.Add(time.Second), []scaler.Sample{{At: t0.Add(time.Second), Value: 0.7, Instances: 3},
			{At: t0.Add(3 * time.Second), Value: 0.6, Instances: 3}}},
		{scaler.MetricRPS, t0, []scaler.Sample{{At: t0, Value: 50, Instances: 2}, {At: t0.Add(time.Second), Value: 100, Instances: 3}}},
		{scaler.MetricMemory, t0, nil}, // not measured: missing, never zero
	} {
		got := samples(pts, tc.metric, tc.since, time.Minute)
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %+v, want %+v", tc.metric, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("%s[%d]: %+v, want %+v", tc.metric, i, got[i], tc.want[i])
			}
		}
	}
}

func TestLoadSeries(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 10, 0, time.UTC)
	at := func(s float64) time.Time { return now.Add(time.Duration(s * float64(time.Second))) }
	pts := []fsm.MetricPoint{
		{Time: at(-5.5), AvgCPU: 0.5, Instances: 2, RPS: 10, RPSMeasured: true}, // interval (-6,-5]
		{Time: at(-4.2), AvgCPU: 0.5, Instances: 4, RPS: 30, RPSMeasured: true}, // (-5,-4]
		{Time: at(-4.1), AvgCPU: 1.0, Instances: 4, RPS: 50, RPSMeasured: true}, // (-5,-4]
		{Time: at(-1), AvgCPU: 0.25, Instances: 4, RPS: 70, RPSMeasured: true},  // (-2,-1]
		{Time: at(0), AvgCPU: 0.5, Instances: 2, RPS: 90, RPSMeasured: true},    // (-1,0]
	}
	for _, tc := range []struct {
		metric scaler.Metric
		window int
		want   []float64
	}{
		// (-6,-5]=1, (-5,-4]=mean(2,4)=3, two empty → 3, (-2,-1]=1, (-1,0]=1.
		{scaler.MetricCPU, 10, []float64{1, 3, 3, 3, 1, 1}},
		{scaler.MetricCPU, 3, []float64{1, 1}}, // the oldest interval is empty: dropped
		{scaler.MetricRPS, 10, []float64{10, 40, 40, 40, 70, 90}},
	} {
		got, end := loadSeries(pts, tc.metric, time.Second, now, tc.window)
		if !end.Equal(now) || len(got) != len(tc.want) {
			t.Fatalf("%s/%d: %v, want %v", tc.metric, tc.window, got, tc.want)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("%s/%d: %v, want %v", tc.metric, tc.window, got, tc.want)
			}
		}
	}
}

func TestAnchoredShiftsToRecentErrors(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	fit := &fitted{End: t0, Step: time.Second, Mean: []float64{1, 2, 3, 4, 5}, Upper: []float64{2, 3, 4, 5, 6}, Desc: "m"}
	// Two observations since the fit: at t0+1s actual 2 (forecast 1), at
	// t0+2s actual 4 (forecast 2): mean error +1.5.
	f := anchored(fit, []float64{9, 2, 4}, t0.Add(2*time.Second), time.Second)
	if !f.Start.Equal(t0.Add(time.Second)) || f.Mean[2] != 4.5 || f.Upper[2] != 5.5 || f.Model != "m" {
		t.Fatalf("anchored %+v", f)
	}
}
