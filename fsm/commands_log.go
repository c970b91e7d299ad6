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
// reaped since the measurement). Points must be in time order per cloud
// (Point.Cloud; "" is one cloud of its own): a point not after the last
// point of the same cloud is rejected, while points of different clouds may
// arrive in any order and are inserted so that the history stays sorted by
// time. The tenant's Retention drops points and samples older than the
// newest point's time − Retention.
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
	if p.Cloud != "" {
		if err := checkName("group "+k+": metric point cloud", p.Cloud); err != nil {
			return nil, err
		}
	}
	hist := s.Metrics[k]
	// The same cloud's last point: clouds interleave, so search from the end.
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Cloud != p.Cloud {
			continue
		}
		if !p.Time.After(hist[i].Time) {
			return nil, invalid("group %s: metric point of cloud %q at %s is not after its last one at %s",
				k, p.Cloud, p.Time.UTC().Format(time.RFC3339Nano), hist[i].Time.Format(time.RFC3339Nano))
		}
		break
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
	newest := p.Time
	if n := len(hist); n > 0 && hist[n-1].Time.After(newest) {
		newest = hist[n-1].Time
	}
	var cutoff time.Time
	if t != nil && t.Settings.Retention > 0 {
		cutoff = newest.Add(-t.Settings.Retention)
	}
	// Insert after every point not later than p (usually: append).
	pos := len(hist)
	for pos > 0 && hist[pos-1].Time.After(p.Time) {
		pos--
	}
	hist = insertBounded(hist, pos, p, s.Settings.MetricHistoryCap)
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
