// Package elasticity computes the SPEC Research Group elasticity metrics
// (Herbst et al., "Ready for Rain? A View from SPEC Research on the Future of
// Cloud Metrics", 2016; the BUNGEE benchmark) from a demand and a supply
// curve: how much and how long a scaling policy under- and over-provisions,
// how often it adapts needlessly, and a single elastic speedup score against
// a reference policy.
//
// Demand and supply are step functions given as samples: a sample's value
// holds from its T until the next sample's T, and an end time closes both
// series. Times are in seconds wherever a metric carries a time unit
// (instance-hours, jitter per hour); the other metrics are ratios and do not
// depend on the unit. Definitions are in DESIGN.md.
//
// Pure: no I/O, no clocks, no randomness.
package elasticity

import (
	"cmp"
	"math"
	"slices"
)

// Sample is one point of a step function: V holds from T until the next
// sample (or the end time).
type Sample struct {
	T float64 `json:"t"`
	V float64 `json:"v"`
}

// DemandFloor is the smallest demand the normalised accuracy metrics divide
// by (one resource unit), so that over-provisioning while demand is zero
// (an outage) stays finite.
const DemandFloor = 1.0

// Metrics are the elasticity metrics of one supply curve against one demand
// curve over [Start, End).
type Metrics struct {
	Start    float64 `json:"start"`
	End      float64 `json:"end"`
	Duration float64 `json:"duration"` // End − Start

	// BUNGEE accuracy, in resource units (instances): the average amount
	// under- (U) or over-provisioned, Σ (d−s)⁺ Δt / T and Σ (s−d)⁺ Δt / T.
	AccuracyU float64 `json:"accuracy_u"`
	AccuracyO float64 `json:"accuracy_o"`

	// SPEC accuracy normalised by demand, in percent: 100/T Σ (d−s)⁺/d Δt
	// (0–100) and 100/T Σ (s−d)⁺/d Δt (≥ 0, above 100 when supply exceeds
	// twice the demand on average), d floored at DemandFloor.
	ThetaU float64 `json:"theta_u_pct"`
	ThetaO float64 `json:"theta_o_pct"`

	// Timeshare in percent (0–100): the share of time with s < d (U) or
	// s > d (O).
	TauU float64 `json:"tau_u_pct"`
	TauO float64 `json:"tau_o_pct"`

	// DemandChanges and SupplyChanges count the steps at which the value
	// changes. Jitter is (SupplyChanges − DemandChanges) per hour: positive
	// when the policy adapts more often than demand changes (oscillation),
	// negative when it misses changes (inertia).
	DemandChanges int     `json:"demand_changes"`
	SupplyChanges int     `json:"supply_changes"`
	Jitter        float64 `json:"jitter_per_hour"`

	// Instability in percent (0–100): the share of time in which supply and
	// demand do not move in the same direction (SPEC υ).
	Instability float64 `json:"instability_pct"`

	// InstanceHours is ∫ s dt / 3600: the supply's cost.
	InstanceHours float64 `json:"instance_hours"`
}

// Compute returns the metrics of supply against demand over
// [start, end), start being the earlier of the two series' first samples.
// Before its first sample a series is 0; samples at or after end are
// ignored. Samples should be in increasing T; if they are not, a sorted copy
// is used (the later of two samples with equal T wins). With no samples or
// end ≤ start all metrics are zero.
func Compute(demand, supply []Sample, end float64) Metrics {
	demand, supply = sorted(demand), sorted(supply)
	var m Metrics
	if len(demand) == 0 && len(supply) == 0 {
		return m
	}
	start := math.Inf(1)
	if len(demand) > 0 {
		start = demand[0].T
	}
	if len(supply) > 0 {
		start = min(start, supply[0].T)
	}
	m.Start, m.End = start, end
	if !(end > start) || math.IsInf(end, 0) {
		m.End = start
		return m
	}
	m.Duration = end - start
	T := m.Duration

	var (
		under, over         float64 // ∫ (d−s)⁺, ∫ (s−d)⁺
		underRel, overRel   float64 // the same divided by max(d, DemandFloor)
		underTime, overTime float64
		unstable            float64
		supplyInt           float64
	)
	w := newWalker(demand, supply, start, end)
	for w.next() {
		d, s, dt := w.d, w.s, w.dt
		denom := max(d, DemandFloor)
		switch {
		case d > s:
			under += (d - s) * dt
			underRel += (d - s) / denom * dt
			underTime += dt
		case s > d:
			over += (s - d) * dt
			overRel += (s - d) / denom * dt
			overTime += dt
		}
		supplyInt += s * dt
		// The interval (t_{i-1}, t_i] is attributed to the changes at t_i.
		if w.i > 0 && sign(w.dd) != sign(w.ds) {
			unstable += w.prevDt
		}
		if w.dd != 0 {
			m.DemandChanges++
		}
		if w.ds != 0 {
			m.SupplyChanges++
		}
	}
	m.AccuracyU = under / T
	m.AccuracyO = over / T
	m.ThetaU = 100 * underRel / T
	m.ThetaO = 100 * overRel / T
	m.TauU = 100 * underTime / T
	m.TauO = 100 * overTime / T
	m.Instability = 100 * unstable / T
	m.Jitter = float64(m.SupplyChanges-m.DemandChanges) / T * 3600
	m.InstanceHours = supplyInt / 3600
	return m
}

// walker visits the intervals of the merged change grid of two step
// functions.
type walker struct {
	a, b     []Sample // demand, supply
	ia, ib   int      // next unread sample
	t, end   float64  // current interval start, series end
	i        int      // interval index
	d, s, dt float64  // values on the current interval and its length
	dd, ds   float64  // change of d and s at the interval's start (0 at the first)
	prevDt   float64  // length of the previous interval
	started  bool
}

func newWalker(demand, supply []Sample, start, end float64) *walker {
	return &walker{a: demand, b: supply, t: start, end: end, i: -1}
}

// advance consumes the samples with T ≤ t and returns the value then.
func advance(xs []Sample, i *int, t, cur float64) float64 {
	for *i < len(xs) && xs[*i].T <= t {
		cur = xs[*i].V
		*i++
	}
	return cur
}

func (w *walker) next() bool {
	if w.started {
		w.t += w.dt
	}
	if w.t >= w.end {
		return false
	}
	d := advance(w.a, &w.ia, w.t, w.d)
	s := advance(w.b, &w.ib, w.t, w.s)
	nt := w.end
	if w.ia < len(w.a) {
		nt = min(nt, w.a[w.ia].T)
	}
	if w.ib < len(w.b) {
		nt = min(nt, w.b[w.ib].T)
	}
	w.prevDt = w.dt
	if w.started {
		w.dd, w.ds = d-w.d, s-w.s
	}
	w.d, w.s, w.dt = d, s, nt-w.t
	w.started = true
	w.i++
	return true
}

func sign(x float64) int {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

// sorted returns xs if it is sorted by finite T, else a stably sorted copy
// without the samples whose T is NaN or infinite.
func sorted(xs []Sample) []Sample {
	byT := func(a, b Sample) int { return cmp.Compare(a.T, b.T) }
	finite := func(s Sample) bool { return !math.IsNaN(s.T) && !math.IsInf(s.T, 0) }
	if slices.IsSortedFunc(xs, byT) && (len(xs) == 0 || (finite(xs[0]) && finite(xs[len(xs)-1]))) {
		return xs
	}
	c := make([]Sample, 0, len(xs))
	for _, s := range xs {
		if finite(s) {
			c = append(c, s)
		}
	}
	slices.SortStableFunc(c, byT)
	return c
}

// InstanceHours returns ∫ supply dt / 3600 over [first sample, end), times in
// seconds. The caller decides what supply counts (typically booting and
// running instances, since both are paid for).
func InstanceHours(supply []Sample, end float64) float64 {
	return Compute(nil, supply, end).InstanceHours
}

// Overload returns the share of time, in percent (0–100), during which load
// exceeds what supply can serve: load > capacity × supply, i.e. utilisation
// above 100 %. capacity is the load one instance serves at 100 %; the window
// is [earlier first sample, end). Zero supply with positive load is
// overload.
func Overload(load, supply []Sample, capacity, end float64) float64 {
	scaled := make([]Sample, len(supply))
	for i, s := range sorted(supply) {
		scaled[i] = Sample{T: s.T, V: s.V * capacity}
	}
	// Under-provisioning timeshare of capacity against load is exactly the
	// time with load > capacity × supply.
	return Compute(load, scaled, end).TauU
}

// SpeedupFloor is the value (in percent points) below which a metric is
// treated as SpeedupFloor in Speedup's ratios, so that a perfect metric
// yields a large finite ratio instead of a division by zero.
const SpeedupFloor = 0.01

// Speedup returns the elastic speedup ε of a policy against a reference
// (e.g. no scaling, or a fixed-size deployment) as SPEC defines it: the
// geometric mean of the ratios reference/policy of the four metrics θU, θO,
// τU and τO. Above 1 the policy is more elastic than the reference, below 1
// less. Each metric is floored at SpeedupFloor before dividing.
func Speedup(policy, reference Metrics) float64 {
	r := func(ref, pol float64) float64 {
		return max(ref, SpeedupFloor) / max(pol, SpeedupFloor)
	}
	p := r(reference.ThetaU, policy.ThetaU) *
		r(reference.ThetaO, policy.ThetaO) *
		r(reference.TauU, policy.TauU) *
		r(reference.TauO, policy.TauO)
	return math.Pow(p, 0.25)
}
