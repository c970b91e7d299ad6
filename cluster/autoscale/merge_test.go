package autoscale

import (
	"math"
	"testing"
	"time"

	"aas/fsm"
	"aas/scaler"
)

func TestMergeClouds(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	c1 := func(s int) fsm.MetricPoint {
		return fsm.MetricPoint{Time: at(s), Cloud: "c1", Instances: 2, AvgCPU: 0.5, RPS: 10, RPSMeasured: true}
	}
	c2 := func(s int) fsm.MetricPoint {
		return fsm.MetricPoint{Time: at(s), Cloud: "c2", Instances: 3, AvgCPU: 0.8, RPS: 30, RPSMeasured: true}
	}
	both := func(s int) fsm.MetricPoint { // c1 + c2: 5 instances, (1 + 2.4) / 5 cpu
		return fsm.MetricPoint{Time: at(s), Instances: 5, AvgCPU: 0.68, RPS: 40, RPSMeasured: true}
	}
	for _, tc := range []struct {
		name   string
		period time.Duration
		in     []fsm.MetricPoint
		want   []fsm.MetricPoint
	}{
		{"single cloud unchanged", time.Minute,
			[]fsm.MetricPoint{c1(0), c1(15), c1(30), c1(200)},
			[]fsm.MetricPoint{c1(0), c1(15), c1(30), c1(200)}},
		{"old points without a cloud unchanged", time.Minute,
			[]fsm.MetricPoint{{Time: at(0), Instances: 2, AvgCPU: 0.7}, {Time: at(1), Instances: 0}, {Time: at(2), Instances: 3, AvgCPU: 0.6}},
			[]fsm.MetricPoint{{Time: at(0), Instances: 2, AvgCPU: 0.7}, {Time: at(1), Instances: 0}, {Time: at(2), Instances: 3, AvgCPU: 0.6}}},
		{"two clouds interleaved give the total", time.Minute,
			[]fsm.MetricPoint{c1(0), c2(7), c1(15), c2(22), c1(30), c2(37)},
			[]fsm.MetricPoint{c1(0), both(7), both(15), both(22), both(30), both(37)}},
		{"same time: one point with both", time.Minute,
			[]fsm.MetricPoint{c1(10), c2(10), c1(25), c2(25)},
			[]fsm.MetricPoint{both(10), both(25)}},
		// c2's gap is 15 s: it is counted up to 37.5 s after its last point.
		{"a cloud that stops reporting drops out", time.Minute,
			[]fsm.MetricPoint{c1(0), c2(7), c1(15), c2(22), c1(30), c1(45), c1(60), c1(75)},
			[]fsm.MetricPoint{c1(0), both(7), both(15), both(22), both(30), both(45), c1(60), c1(75)}},
		// One point only: the period (10 s) is its gap, 25 s of freshness.
		{"unknown gap falls back to the period", 10 * time.Second,
			[]fsm.MetricPoint{c1(0), c2(7), c1(15), c1(30), c1(45)},
			[]fsm.MetricPoint{c1(0), both(7), both(15), both(30), c1(45)}},
		{"rps measured only if every fresh cloud measured it", time.Minute,
			[]fsm.MetricPoint{c1(0), {Time: at(5), Cloud: "c2", Instances: 3, AvgCPU: 0.8, RPS: 0}},
			[]fsm.MetricPoint{c1(0), {Time: at(5), Instances: 5, AvgCPU: 0.68, RPS: 10}}},
		{"a cloud comes back", time.Minute,
			[]fsm.MetricPoint{c1(0), c2(1), c1(15), c2(16), c1(30), c1(45), c1(60), c1(75), c2(80), c1(90)},
			[]fsm.MetricPoint{c1(0), both(1), both(15), both(16), both(30), both(45), c1(60), c1(75), both(80), both(90)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := mergeClouds(tc.in, tc.period)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d points %+v, want %+v", len(got), got, tc.want)
			}
			for i, w := range tc.want {
				g := got[i]
				if !g.Time.Equal(w.Time) || g.Instances != w.Instances || math.Abs(g.AvgCPU-w.AvgCPU) > 1e-9 ||
					g.RPS != w.RPS || g.RPSMeasured != w.RPSMeasured {
					t.Fatalf("point %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// The autoscaler's inputs from a group in two clouds are the group's
// totals, not one cloud's view every other point.
func TestSamplesAndLoadAcrossClouds(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 1, 0, 0, time.UTC)
	var pts []fsm.MetricPoint
	for s := -60; s < 0; s += 15 {
		pts = append(pts,
			fsm.MetricPoint{Time: now.Add(time.Duration(s) * time.Second), Cloud: "a", Instances: 1, AvgCPU: 0.9, RPS: 90, RPSMeasured: true},
			fsm.MetricPoint{Time: now.Add(time.Duration(s+5) * time.Second), Cloud: "b", Instances: 4, AvgCPU: 0.4, RPS: 160, RPSMeasured: true})
	}
	cpu := samples(pts, scaler.MetricCPU, now.Add(-50*time.Second), time.Minute)
	rps := samples(pts, scaler.MetricRPS, now.Add(-50*time.Second), time.Minute)
	if len(cpu) == 0 || len(rps) != len(cpu) {
		t.Fatalf("cpu %+v rps %+v", cpu, rps)
	}
	for i := range cpu {
		// (0.9·1 + 0.4·4) / 5 = 0.5 over 5 instances; 250 rps / 5 = 50.
		if cpu[i].Instances != 5 || math.Abs(cpu[i].Value-0.5) > 1e-9 || math.Abs(rps[i].Value-50) > 1e-9 {
			t.Fatalf("sample %d: cpu %+v rps %+v, want 0.5 and 50 over 5 instances", i, cpu[i], rps[i])
		}
	}
	series, _ := loadSeries(pts, scaler.MetricCPU, 15*time.Second, now, 3)
	rseries, _ := loadSeries(pts, scaler.MetricRPS, 15*time.Second, now, 3)
	for i := range series {
		// total load 0.9 + 1.6 = 2.5 instance units, 250 rps, in every interval
		if math.Abs(series[i]-2.5) > 1e-9 || math.Abs(rseries[i]-250) > 1e-9 {
			t.Fatalf("series cpu %v rps %v, want 2.5 and 250 throughout", series, rseries)
		}
	}
	if len(series) != 3 {
		t.Fatalf("series %v", series)
	}
}
