package fsm

import (
	"testing"
	"time"
)

func TestRecordMetrics(t *testing.T) {
	h := seeded(t)
	h.create("c1", "a")
	h.ok(SetSettingsType, SetSettings{Settings: Settings{MetricHistoryCap: 3, InstanceSampleCap: 2}})
	fc := 1.5
	for i := 0; i < 5; i++ {
		h.ok(RecordMetricsType, RecordMetrics{Tenant: "acme", Group: "web",
			Point:     MetricPoint{Time: at(100 + i), AvgCPU: float64(i) / 10, RPS: float64(i), Instances: 1, Forecast: &fc},
			Instances: []InstanceLoad{{ID: "a", CPU: float64(i) / 10, RPS: float64(i)}, {ID: "gone", CPU: 1}}})
	}
	s := h.state()
	hist := s.MetricHistory("acme", "web")
	if len(hist) != 3 || !hist[0].Time.Equal(at(102)) || hist[2].RPS != 4 || hist[2].Forecast == nil || *hist[2].Forecast != 1.5 {
		t.Fatalf("history %+v, want the newest 3 points", hist)
	}
	samples := s.InstanceSamples("a")
	if len(samples) != 2 || samples[1].RPS != 4 || !samples[0].Time.Equal(at(103)) {
		t.Fatalf("samples %+v, want the newest 2", samples)
	}
	if _, ok := s.Samples["gone"]; ok {
		t.Fatal("samples kept for an unknown instance")
	}

	for _, tc := range []struct {
		name string
		cmd  RecordMetrics
		want error
	}{
		{"unknown group", RecordMetrics{Tenant: "acme", Group: "nope", Point: MetricPoint{Time: at(200)}}, ErrNotFound},
		{"no time", RecordMetrics{Tenant: "acme", Group: "web"}, ErrBadCommand},
		{"not after last", RecordMetrics{Tenant: "acme", Group: "web", Point: MetricPoint{Time: at(104)}}, ErrBadCommand},
		{"negative cpu", RecordMetrics{Tenant: "acme", Group: "web", Point: MetricPoint{Time: at(200), AvgCPU: -1}}, ErrBadCommand},
		{"negative sample", RecordMetrics{Tenant: "acme", Group: "web", Point: MetricPoint{Time: at(200)},
			Instances: []InstanceLoad{{ID: "a", RPS: -3}}}, ErrBadCommand},
	} {
		t.Run(tc.name, func(t *testing.T) { h.fail(RecordMetricsType, tc.cmd, tc.want) })
	}
}

func TestRecordMetricsRespectsTenantSettings(t *testing.T) {
	h := seeded(t)
	cmd := acmeTenant()
	cmd.Tenant.Settings = TenantSettings{LogSamples: false, Retention: 10 * time.Second}
	h.ok(ApplyTenantType, cmd)
	h.create("c1", "a")
	for _, sec := range []int{0, 5, 12, 20} {
		h.ok(RecordMetricsType, RecordMetrics{Tenant: "acme", Group: "web", Point: MetricPoint{Time: at(sec), Instances: 1},
			Instances: []InstanceLoad{{ID: "a", CPU: 0.5}}})
	}
	s := h.state()
	if n := len(s.InstanceSamples("a")); n != 0 {
		t.Fatalf("%d samples kept with log_samples off", n)
	}
	hist := s.MetricHistory("acme", "web")
	if len(hist) != 2 || !hist[0].Time.Equal(at(12)) {
		t.Fatalf("history %+v, want points within 10s of the newest", hist)
	}
}

func TestActivityLogBoundedAndOrdered(t *testing.T) {
	h := newHarness(t)
	h.fail(AppendActivityType, AppendActivity{Entry: ActivityEntry{Kind: "note"}}, ErrBadCommand)
	h.fail(AppendActivityType, AppendActivity{Entry: ActivityEntry{Time: at(1)}}, ErrBadCommand)
	h.ok(SetSettingsType, SetSettings{Settings: Settings{ActivityCap: 4}})
	for i := 1; i <= 10; i++ {
		tenant := "t1"
		if i%2 == 0 {
			tenant = "t2"
		}
		if seq := h.ok(AppendActivityType, AppendActivity{Entry: ActivityEntry{Time: at(i), Kind: "note", Tenant: tenant, Seq: 999}}).(uint64); seq != uint64(i) {
			t.Fatalf("seq %d, want %d (assigned by the FSM)", seq, i)
		}
	}
	s := h.state()
	if len(s.Activity) != 4 || s.Activity[0].Seq != 7 || s.Activity[3].Seq != 10 {
		t.Fatalf("activity %+v, want seq 7..10", s.Activity)
	}
	if got := s.ActivityLog(ActivityFilter{Tenant: "t2", AfterSeq: 7}); len(got) != 2 || got[0].Seq != 8 {
		t.Fatalf("filtered %+v", got)
	}
	if got := s.ActivityLog(ActivityFilter{Limit: 1}); len(got) != 1 || got[0].Seq != 10 {
		t.Fatalf("limit %+v", got)
	}
	// Lowering the cap trims at once.
	h.ok(SetSettingsType, SetSettings{Settings: Settings{ActivityCap: 2}})
	if s := h.state(); len(s.Activity) != 2 || s.Activity[0].Seq != 9 || s.Settings.MetricHistoryCap != DefaultMetricHistoryCap {
		t.Fatalf("after trim: %+v settings %+v", s.Activity, s.Settings)
	}
	h.fail(SetSettingsType, SetSettings{Settings: Settings{ActivityCap: -1}}, ErrBadCommand)
	h.fail(SetSettingsType, SetSettings{Settings: Settings{MetricHistoryCap: MaxCap + 1}}, ErrBadCommand)
}
