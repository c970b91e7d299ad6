package fsm

import (
	"math"
	"time"
)

// InstanceLoad is one instance's load at the time of a RecordMetrics point.
type InstanceLoad struct {
	ID  string  `json:"id"`
	CPU float64 `json:"cpu"`
	RPS float64 `json:"rps"`
}

// RecordMetrics appends a group's aggregated point of one scaler
// evaluation to its bounded history, and, when the tenant's LogSamples is
// on, each listed instance's load to that instance's bounded samples
// (instances the FSM no longer knows are skipped: they may have been
// reaped since the measurement). Points must be in time order. The
// tenant's Retention drops points and samples older than Point.Time −
// Retention.
type RecordMetrics struct {
	Tenant    string         `json:"tenant"`
	Group     string         `json:"group"`
	Point     MetricPoint    `json:"point"`
	Instances []InstanceLoad `json:"instances,omitempty"`
}

// AppendActivity appends an entry to the activity log; the FSM assigns its
// Seq, which is the command's result (uint64).
type AppendActivity struct {
	Entry ActivityEntry `json:"entry"`
}

// SetSettings replaces the cluster-wide bounds (zero fields: defaults).
// Lowering a bound trims what is kept now.
type SetSettings struct {
	Settings Settings `json:"settings"`
}

func init() {
	registerCommand("record-metrics", applyRecordMetrics)
	registerCommand("append-activity", applyAppendActivity)
	registerCommand("set-settings", applySetSettings)
}

func finite(vs ...float64) bool {
	for _, v := range vs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

func applyRecordMetrics(s *State, _ uint64, c *RecordMetrics) (any, error) {
	p := c.Point
	if err := checkTime(p.Time); err != nil {
		return nil, err
	}
	k := GroupKey(c.Tenant, c.Group)
	if s.Groups[k] == nil {
		return nil, reject(ErrNotFound, "group %s", k)
	}
	if p.AvgCPU < 0 || p.RPS < 0 || p.Instances < 0 || !finite(p.AvgCPU, p.RPS) ||
		(p.Forecast != nil && (*p.Forecast < 0 || !finite(*p.Forecast))) {
		return nil, invalid("group %s: metric point values must be finite and >= 0", k)
	}
	hist := s.Metrics[k]
	if n := len(hist); n > 0 && !p.Time.After(hist[n-1].Time) {
		return nil, invalid("group %s: metric point at %s is not after the last one at %s",
			k, p.Time.UTC().Format(time.RFC3339Nano), hist[n-1].Time.Format(time.RFC3339Nano))
	}
	for i, l := range c.Instances {
		if l.CPU < 0 || l.RPS < 0 || !finite(l.CPU, l.RPS) {
			return nil, invalid("group %s: instances[%d] (%s): load values must be finite and >= 0", k, i, l.ID)
		}
	}
	p.Time = utc(p.Time)
	if p.Forecast != nil {
		f := *p.Forecast
		p.Forecast = &f
	}
	t := s.Tenants[c.Tenant]
	var cutoff time.Time
	if t != nil && t.Settings.Retention > 0 {
		cutoff = p.Time.Add(-t.Settings.Retention)
	}
	hist = pushBounded(hist, p, s.Settings.MetricHistoryCap)
	s.Metrics[k] = dropBefore(hist, cutoff, func(m MetricPoint) time.Time { return m.Time })
	if t == nil || !t.Settings.LogSamples {
		return nil, nil
	}
	for _, l := range c.Instances {
		inst := s.Instances[l.ID]
		if inst == nil || inst.Tenant != c.Tenant || inst.Group != c.Group {
			continue
		}
		ss := s.Samples[l.ID]
		if n := len(ss); n > 0 && !p.Time.After(ss[n-1].Time) {
			continue
		}
		ss = pushBounded(ss, LoadSample{Time: p.Time, CPU: l.CPU, RPS: l.RPS}, s.Settings.InstanceSampleCap)
		s.Samples[l.ID] = dropBefore(ss, cutoff, func(x LoadSample) time.Time { return x.Time })
	}
	return nil, nil
}

// dropBefore removes the leading elements older than cutoff (zero: none).
func dropBefore[T any](s []T, cutoff time.Time, at func(T) time.Time) []T {
	if cutoff.IsZero() {
		return s
	}
	i := 0
	for i < len(s) && at(s[i]).Before(cutoff) {
		i++
	}
	return s[i:] // reslice only: a snapshot may share the backing array
}

func applyAppendActivity(s *State, _ uint64, c *AppendActivity) (any, error) {
	e := c.Entry
	if err := checkTime(e.Time); err != nil {
		return nil, err
	}
	if e.Kind == "" {
		return nil, invalid("activity entry: kind is missing")
	}
	for k, v := range e.Inputs {
		if !finite(v) {
			return nil, invalid("activity entry: inputs[%q] is not a finite number", k)
		}
	}
	return s.appendActivity(e), nil
}

func applySetSettings(s *State, _ uint64, c *SetSettings) (any, error) {
	st := c.Settings
	for _, f := range []struct {
		name string
		v    int
	}{
		{"activity_cap", st.ActivityCap},
		{"metric_history_cap", st.MetricHistoryCap},
		{"instance_sample_cap", st.InstanceSampleCap},
		{"fired_slot_cap", st.FiredSlotCap},
	} {
		if err := checkCap(f.name, f.v); err != nil {
			return nil, err
		}
	}
	s.Settings = st.withDefaults()
	s.Activity = trimFront(s.Activity, s.Settings.ActivityCap)
	for k, v := range s.Metrics {
		s.Metrics[k] = trimFront(v, s.Settings.MetricHistoryCap)
	}
	for k, v := range s.Samples {
		s.Samples[k] = trimFront(v, s.Settings.InstanceSampleCap)
	}
	for k, v := range s.Evaluations {
		s.Evaluations[k] = trimFront(v, s.Settings.MetricHistoryCap)
	}
	for _, g := range s.Groups {
		g.FiredSlots = trimFront(g.FiredSlots, s.Settings.FiredSlotCap)
	}
	return nil, nil
}
