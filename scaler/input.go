package scaler

import (
	"math"
	"time"
)

// InstanceState is an instance's lifecycle state (the fsm's names).
type InstanceState string

// Lifecycle states.
const (
	StatePending      InstanceState = "pending"
	StateProvisioning InstanceState = "provisioning"
	StateRunning      InstanceState = "running"
	StateDraining     InstanceState = "draining"
	StateTerminating  InstanceState = "terminating"
	StateTerminated   InstanceState = "terminated"
	StateFailed       InstanceState = "failed"
)

// Counted reports whether an instance in state s counts towards the group's
// current size (pending, provisioning, running; an empty state is running).
func (s InstanceState) Counted() bool {
	switch s {
	case StatePending, StateProvisioning, StateRunning, "":
		return true
	}
	return false
}

// Instance is one member of the group as the decision sees it.
type Instance struct {
	ID      string        `json:"id"`
	Cloud   string        `json:"cloud"`
	State   InstanceState `json:"state"`
	Created time.Time     `json:"created"`
	// Protected instances are never chosen for scale-in.
	Protected bool `json:"protected,omitempty"`
	// Ready: booted and serving (passing health checks).
	Ready bool `json:"ready"`
}

// Sample is one metric observation. A sample with an empty Instance is a
// group aggregate: Value is the average over Instances serving instances.
// A NaN Value is a missing observation.
type Sample struct {
	At        time.Time `json:"at"`
	Instance  string    `json:"instance,omitempty"`
	Value     float64   `json:"value"`
	Instances int       `json:"instances,omitempty"`
}

// Cloud is a placement target for the group.
type Cloud struct {
	Name string `json:"name"`
	// Priority: lower is preferred (1 before 2).
	Priority int `json:"priority"`
	// Capacity is the number of new instances the cloud can still take for
	// this group; negative = unlimited.
	Capacity int `json:"capacity"`
}

// Forecast is a forecast of the group's total load (the metric summed over
// serving instances, e.g. 12.3 = 12.3 instances' worth of CPU): point i is
// at Start + i×Step.
type Forecast struct {
	Start time.Time     `json:"start"`
	Step  time.Duration `json:"step"`
	Mean  []float64     `json:"mean"`
	Upper []float64     `json:"upper,omitempty"`
	Lower []float64     `json:"lower,omitempty"`
	// Model that produced it, for the explanation.
	Model string `json:"model,omitempty"`
	// Errors are recent errors of the forecaster's horizon peak (actual −
	// forecast), sorted ascending; Predictive.Quantile reads them. From a
	// Predictor they alias its state: valid until its next Observe.
	Errors []float64 `json:"errors,omitempty"`
}

// CooldownState is when the group last scaled in each direction (zero =
// never).
type CooldownState struct {
	LastScaleOut time.Time `json:"last_scale_out"`
	LastScaleIn  time.Time `json:"last_scale_in"`
}

// Recommendation is one past raw recommendation (before the time-based
// guards), kept by the caller for threshold-time and stabilisation.
type Recommendation struct {
	At      time.Time `json:"at"`
	Desired int       `json:"desired"`
	Current int       `json:"current"`
}

// Input is everything a decision depends on; Decide reads nothing else.
type Input struct {
	// Group must be normalized (GroupSpec.Normalize) and valid.
	Group     GroupSpec
	Instances []Instance
	// Metrics holds samples of the group's metric, at least the last
	// max(metric_period, proactive window); older ones are ignored.
	Metrics  []Sample
	Forecast *Forecast
	Clouds   []Cloud
	Cooldown CooldownState
	// History of raw recommendations, oldest first (Decision.Recommendation
	// appended after every decision; PruneHistory keeps it short).
	History []Recommendation
	// Fired holds the schedule slot keys that already fired.
	Fired []string
	// Interval between evaluations (default: the group's metric period).
	Interval time.Duration
	Now      time.Time
}

// PruneHistory drops recommendations older than the longest window g needs.
func PruneHistory(h []Recommendation, g *GroupSpec, now time.Time) []Recommendation {
	keep := max(g.ScaleInStabilization, g.ThresholdTimeIn, g.ThresholdTimeOut).D()
	i := 0
	for i < len(h) && now.Sub(h[i].At) > keep {
		i++
	}
	return h[i:]
}

// observation is the metric window reduced to what the policies need.
type observation struct {
	current int // counted instances
	serving int // ready instances
	booting int
	avg     float64 // average metric over warm ready instances, last period
	load    float64 // avg × serving
	missing bool
	period  time.Duration
	now     time.Time
	in      *Input
}

func (o *observation) hasAvg() bool { return !math.IsNaN(o.avg) }

func observe(in *Input) observation {
	g := &in.Group
	o := observation{period: g.MetricPeriod.D(), now: in.Now, in: in, avg: math.NaN()}
	if o.period <= 0 {
		o.period = DefaultMetricPeriod
	}
	warm := map[string]bool(nil)
	perInstance := false
	for _, s := range in.Metrics {
		if s.Instance != "" {
			perInstance = true
			break
		}
	}
	for _, inst := range in.Instances {
		if !inst.State.Counted() {
			continue
		}
		o.current++
		if !inst.Ready {
			o.booting++
			continue
		}
		o.serving++
		if perInstance && (g.WarmUp <= 0 || in.Now.Sub(inst.Created) >= g.WarmUp.D()) {
			if warm == nil {
				warm = make(map[string]bool, len(in.Instances))
			}
			warm[inst.ID] = false
		}
	}
	from := in.Now.Add(-o.period)
	sum, n := 0.0, 0
	if perInstance {
		for _, s := range in.Metrics {
			if s.Instance == "" || !s.At.After(from) || s.At.After(in.Now) || math.IsNaN(s.Value) {
				continue
			}
			if _, ok := warm[s.Instance]; !ok {
				continue
			}
			warm[s.Instance] = true
			sum += s.Value
			n++
		}
		for _, seen := range warm {
			if !seen {
				o.missing = true
			}
		}
	} else {
		for _, s := range in.Metrics {
			if !s.At.After(from) || s.At.After(in.Now) || math.IsNaN(s.Value) {
				continue
			}
			sum += s.Value
			n++
		}
	}
	if n == 0 {
		o.missing = true
	} else {
		o.avg = sum / float64(n)
		o.load = o.avg * float64(o.serving)
	}
	return o
}

// loadSeries returns the group's total load per metric period over the last
// window, oldest first, NaN where no sample fell into a period.
func (o *observation) loadSeries(window time.Duration, buf []float64) []float64 {
	sums, cnt, used := o.bucketLoads(window, buf)
	k := len(sums)
	out := sums // reuse, reversed into oldest-first order
	for i := 0; i < used; i++ {
		if cnt[i] == 0 {
			out[i] = math.NaN()
		} else if cnt[i] > 1 {
			out[i] = sums[i] / cnt[i]
		}
	}
	for i := used; i < k; i++ {
		out[i] = math.NaN()
	}
	for i, j := 0, k-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// loadTail is loadSeries without its leading run of NaN periods: the
// series from the oldest period with a sample to now (empty without one).
func (o *observation) loadTail(window time.Duration, buf []float64) []float64 {
	sums, cnt, used := o.bucketLoads(window, buf)
	out := sums[:used]
	for i := range out {
		if cnt[i] == 0 {
			out[i] = math.NaN()
		} else if cnt[i] > 1 {
			out[i] = sums[i] / cnt[i]
		}
	}
	for i, j := 0, used-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// bucketLoads sums the samples of the last window into periods counted
// back from now (period b is (now−(b+1)P, now−bP]) and counts them; only
// sums[:used] and cnt[:used] are written (used = 1 + the oldest period
// with a sample), so a long window with a short history costs what the
// history costs.
func (o *observation) bucketLoads(window time.Duration, buf []float64) (sums, cnt []float64, used int) {
	k := int(window / o.period)
	if k < 1 {
		k = 1
	}
	if cap(buf) < 2*k {
		buf = make([]float64, 2*k)
	}
	sums, cnt = buf[:k], buf[k:2*k]
	// now − s.At without time.Time.Sub in the loop: when now carries no
	// monotonic reading, Sub is the wall-clock difference (with a
	// saturating overflow check), computed here from Unix seconds and
	// nanoseconds; samples whose second difference is out of range are
	// skipped before the nanosecond arithmetic, so nothing overflows. The
	// bucket index avoids the integer division per sample (a float
	// estimate, corrected exactly).
	span := time.Duration(k) * o.period
	fast := o.now == o.now.Round(0) && span/o.period == time.Duration(k) && span < 1<<60
	nowSec, nowNsec := o.now.Unix(), int64(o.now.Nanosecond())
	maxSec := int64(span/time.Second) + 1
	invP := 1 / float64(o.period)
	for _, s := range o.in.Metrics {
		if math.IsNaN(s.Value) {
			continue
		}
		var b int
		if fast {
			ds := nowSec - s.At.Unix()
			if ds < -1 || ds > maxSec {
				continue // d < 0, or d ≥ span
			}
			d := time.Duration(ds)*time.Second + time.Duration(nowNsec-int64(s.At.Nanosecond()))
			if d < 0 || d >= span {
				continue
			}
			b = int(float64(d) * invP)
			for b > 0 && time.Duration(b)*o.period > d {
				b--
			}
			for time.Duration(b+1)*o.period <= d {
				b++
			}
		} else {
			d := o.now.Sub(s.At)
			if d < 0 {
				continue
			}
			b = int(d / o.period)
		}
		if b >= k {
			continue
		}
		if b >= used { // first sample this far back: clear up to it
			clear(sums[used : b+1])
			clear(cnt[used : b+1])
			used = b + 1
		}
		v := s.Value
		if s.Instance == "" {
			n := s.Instances
			if n <= 0 {
				n = o.serving
			}
			v *= float64(n)
			cnt[b]++
		} else {
			// Per-instance samples add up; count one per period.
			cnt[b] = 1
		}
		sums[b] += v
	}
	return sums, cnt, used
}
