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

// Points are ordered per cloud: two sites writing at about the same time
// both land, in time order, whatever order their commands commit in.
func TestRecordMetricsPerCloud(t *testing.T) {
	ms := func(sec int, milli int) time.Time { return at(sec).Add(time.Duration(milli) * time.Millisecond) }
	type pt struct {
		cloud string
		time  time.Time
	}
	for _, tc := range []struct {
		name    string
		cap     int
		in      []pt  // applied in this order
		reject  []int // indexes of in that must be rejected
		want    []pt  // the history afterwards
		comment string
	}{
		{name: "two clouds out of order",
			in:   []pt{{"c1", at(10)}, {"c2", ms(9, 990)}, {"c2", at(25)}, {"c1", ms(24, 500)}, {"c1", at(40)}},
			want: []pt{{"c2", ms(9, 990)}, {"c1", at(10)}, {"c1", ms(24, 500)}, {"c2", at(25)}, {"c1", at(40)}}},
		{name: "same time in two clouds",
			in:   []pt{{"c1", at(10)}, {"c2", at(10)}, {"", at(10)}},
			want: []pt{{"c1", at(10)}, {"c2", at(10)}, {"", at(10)}}},
		{name: "not after the same cloud's last point",
			in:     []pt{{"c1", at(10)}, {"c2", at(20)}, {"c1", at(10)}, {"c1", at(5)}, {"c2", at(19)}, {"c1", at(15)}},
			reject: []int{2, 3, 4},
			want:   []pt{{"c1", at(10)}, {"c1", at(15)}, {"c2", at(20)}}},
		{name: "no cloud is one cloud of its own",
			in:     []pt{{"", at(10)}, {"", at(10)}, {"c1", at(5)}},
			reject: []int{1},
			want:   []pt{{"c1", at(5)}, {"", at(10)}}},
		{name: "cap keeps the newest by time",
			cap:  3,
			in:   []pt{{"c1", at(10)}, {"c1", at(20)}, {"c1", at(30)}, {"c2", at(15)}, {"c3", at(5)}},
			want: []pt{{"c2", at(15)}, {"c1", at(20)}, {"c1", at(30)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := seeded(t)
			if tc.cap > 0 {
				h.ok(SetSettingsType, SetSettings{Settings: Settings{MetricHistoryCap: tc.cap}})
			}
			rej := map[int]bool{}
			for _, i := range tc.reject {
				rej[i] = true
			}
			for i, p := range tc.in {
				cmd := RecordMetrics{Tenant: "acme", Group: "web", Point: MetricPoint{Time: p.time, Cloud: p.cloud, Instances: i + 1}}
				if rej[i] {
					h.fail(RecordMetricsType, cmd, ErrBadCommand)
				} else {
					h.ok(RecordMetricsType, cmd)
				}
			}
			got := h.state().MetricHistory("acme", "web")
			if len(got) != len(tc.want) {
				t.Fatalf("history %+v, want %+v", got, tc.want)
			}
			for i, w := range tc.want {
				if got[i].Cloud != w.cloud || !got[i].Time.Equal(w.time) {
					t.Fatalf("history[%d] = %s@%s, want %s@%s (all: %+v)", i, got[i].Cloud, got[i].Time, w.cloud, w.time, got)
				}
			}
		})
	}
}

func TestRecordMetricsCloudValidatedAndRetention(t *testing.T) {
	h := seeded(t)
	h.fail(RecordMetricsType, RecordMetrics{Tenant: "acme", Group: "web", Point: MetricPoint{Time: at(1), Cloud: "bad/cloud"}}, ErrBadCommand)

	cmd := acmeTenant()
	cmd.Tenant.Settings = TenantSettings{Retention: 10 * time.Second}
	h.ok(ApplyTenantType, cmd)
	h.ok(RecordMetricsType, RecordMetrics{Tenant: "acme", Group: "web", Point: MetricPoint{Time: at(30), Cloud: "c1"}})
	// An older point of another cloud inside the retention of the newest
	// point is kept; one older than that goes at once.
	h.ok(RecordMetricsType, RecordMetrics{Tenant: "acme", Group: "web", Point: MetricPoint{Time: at(25), Cloud: "c2"}})
	h.ok(RecordMetricsType, RecordMetrics{Tenant: "acme", Group: "web", Point: MetricPoint{Time: at(5), Cloud: "c3"}})
	hist := h.state().MetricHistory("acme", "web")
	if len(hist) != 2 || hist[0].Cloud != "c2" || hist[1].Cloud != "c1" {
		t.Fatalf("history %+v, want c2@25 and c1@30", hist)
	}
}

// An insertion before the end must not write into a backing array a
// snapshot view may share (fsm/DESIGN.md, Snapshots).
func TestRecordMetricsInsertKeepsSharedArray(t *testing.T) {
	h := seeded(t)
	h.ok(SetSettingsType, SetSettings{Settings: Settings{MetricHistoryCap: 100}})
	for i := 0; i < 4; i++ {
		h.ok(RecordMetricsType, RecordMetrics{Tenant: "acme", Group: "web", Point: MetricPoint{Time: at(10 * i), Cloud: "c1", AvgCPU: float64(i)}})
	}
	var shared []MetricPoint
	h.f.Read(func(s *State) { shared = s.Metrics[GroupKey("acme", "web")] }) // what a snapshot view holds
	before := append([]MetricPoint(nil), shared...)
	if cap(shared) == len(shared) {
		// Make sure an in-place insert would have had room to happen.
		h.ok(RecordMetricsType, RecordMetrics{Tenant: "acme", Group: "web", Point: MetricPoint{Time: at(40), Cloud: "c1"}})
		h.f.Read(func(s *State) { shared = s.Metrics[GroupKey("acme", "web")] })
		before = append([]MetricPoint(nil), shared...)
	}
	if cap(shared) == len(shared) {
		t.Fatalf("no spare capacity (len %d cap %d): the test cannot tell", len(shared), cap(shared))
	}
	h.ok(RecordMetricsType, RecordMetrics{Tenant: "acme", Group: "web", Point: MetricPoint{Time: at(15), Cloud: "c2", AvgCPU: 9}})
	for i := range before {
		if shared[i] != before[i] {
			t.Fatalf("shared element %d changed: %+v, was %+v", i, shared[i], before[i])
		}
	}
	if got := h.state().MetricHistory("acme", "web"); len(got) != len(before)+1 || got[2].Cloud != "c2" {
		t.Fatalf("history %+v", got)
	}
}
