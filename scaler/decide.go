package scaler

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Direction of a decision.
type Direction string

// Directions.
const (
	Hold     Direction = "hold"
	ScaleOut Direction = "out"
	ScaleIn  Direction = "in"
)

// Observed is the reduced input a decision reports.
type Observed struct {
	Current int     `json:"current"`
	Serving int     `json:"serving"`
	Booting int     `json:"booting"`
	Average float64 `json:"average"` // NaN-free: 0 when missing
	Load    float64 `json:"load"`
	Missing bool    `json:"missing"`
}

// Decision is the result of Decide; it explains itself.
type Decision struct {
	Current   int       `json:"current"`
	Desired   int       `json:"desired"`
	Direction Direction `json:"direction"`
	// Policy that won (its name), and its formula with the numbers in.
	Policy  string `json:"policy"`
	Formula string `json:"formula"`
	// Inputs as observed, every policy's proposal, the guards that applied.
	Inputs    Observed   `json:"inputs"`
	Proposals []Proposal `json:"proposals,omitempty"`
	Guards    []string   `json:"guards,omitempty"`
	Placement Placement  `json:"placement"`
	// Fired lists schedule slot keys that fired now (store them and pass
	// them back in Input.Fired).
	Fired []string `json:"fired,omitempty"`
	// Recommendation to append to the history for the next decision.
	Recommendation Recommendation `json:"recommendation"`
}

// Reason is a one-line explanation: the winning policy's formula, the
// guards, the placement.
func (d *Decision) Reason() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d→%d by %s: %s", d.Direction, d.Current, d.Desired, d.Policy, d.Formula)
	if len(d.Guards) > 0 {
		b.WriteString("; guards: ")
		b.WriteString(strings.Join(d.Guards, "; "))
	}
	if p := d.Placement.String(); p != "" {
		b.WriteString("; ")
		b.WriteString(p)
	}
	return b.String()
}

var crons sync.Map // expression → Cron

func cachedCron(expr string) (Cron, error) {
	if c, ok := crons.Load(expr); ok {
		return c.(Cron), nil
	}
	c, err := ParseCron(expr)
	if err == nil {
		crons.Store(expr, c)
	}
	return c, err
}

// SlotKey is the key a scheduled policy's slot fires under.
func SlotKey(policy string, start time.Time) string {
	return policy + "@" + start.UTC().Format(time.RFC3339)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Decide computes the group's desired size and placement from in. It is
// pure: the same input gives the same decision, and nothing outside in is
// read (time is in.Now).
func Decide(in Input) Decision {
	if in.Group.MetricPeriod == 0 { // not normalized: work on a copy
		g := in.Group.Clone()
		g.Normalize()
		in.Group = g
	}
	g := &in.Group
	o := observe(&in)
	d := Decision{Current: o.current, Direction: Hold}
	d.Inputs = Observed{Current: o.current, Serving: o.serving, Booting: o.booting, Load: o.load, Missing: o.missing}
	if o.hasAvg() {
		d.Inputs.Average = o.avg
	}
	interval := in.Interval
	if interval <= 0 {
		interval = o.period
	}

	// Static: active slots set a floor (the custom rule) and fire once.
	floor, floorBy := -1, ""
	dynamic := 0
	for i := range g.Policies {
		p := &g.Policies[i]
		if p.Scheduled == nil {
			dynamic++
			continue
		}
		s := p.Scheduled
		c, err := cachedCron(s.Cron)
		if err != nil {
			d.Guards = append(d.Guards, fmt.Sprintf("%s: %v", p.Name, err))
			continue
		}
		loc, err := loadLocation(s.TimeZone)
		if err != nil {
			d.Guards = append(d.Guards, fmt.Sprintf("%s: %v", p.Name, err))
			continue
		}
		start, ok := c.LatestStart(in.Now, s.Duration.D(), loc)
		if !ok {
			continue
		}
		key := SlotKey(p.Name, start)
		if !contains(in.Fired, key) {
			d.Fired = append(d.Fired, key)
		}
		if s.Count > floor {
			floor, floorBy = s.Count, fmt.Sprintf("scheduled %s: slot %s (%s for %s) needs %d", p.Name, start.Format("2006-01-02 15:04 MST"), s.Cron, s.Duration, s.Count)
		}
	}

	// Dynamic: scale out if any asks, scale in only if all agree (= max).
	desired := o.current
	switch {
	case dynamic > 0:
		var scratch [512]float64
		d.Proposals = make([]Proposal, 0, dynamic)
		best := -1
		for i := range g.Policies {
			p := &g.Policies[i]
			if p.Scheduled != nil {
				continue
			}
			pr := propose(p, &o, scratch[:0])
			d.Proposals = append(d.Proposals, pr)
			if best < 0 || pr.Desired > d.Proposals[best].Desired {
				best = len(d.Proposals) - 1
			}
		}
		desired = d.Proposals[best].Desired
		d.Policy, d.Formula = d.Proposals[best].Policy, d.Proposals[best].Formula
	case floor >= 0:
		desired, d.Policy, d.Formula = floor, "scheduled", floorBy
	case len(g.Policies) > 0: // schedules only, none active
		desired, d.Policy, d.Formula = g.Min, "scheduled", fmt.Sprintf("no active slot → min %d", g.Min)
	default:
		d.Policy, d.Formula = "none", fmt.Sprintf("no policy → hold %d", o.current)
	}

	// Missing metrics never cause scale-in.
	if desired < o.current && o.missing && dynamic > 0 {
		d.Guards = append(d.Guards, fmt.Sprintf("missing metrics: no scale-in (%d kept)", o.current))
		desired = o.current
	}
	d.Recommendation = Recommendation{At: in.Now, Desired: desired, Current: o.current}

	// Threshold-time: the breach must have lasted long enough.
	if desired > o.current && g.ThresholdTimeOut > 0 {
		if lasted := breachLasted(in.History, in.Now, interval, true); lasted < g.ThresholdTimeOut.D() {
			d.Guards = append(d.Guards, fmt.Sprintf("threshold-time: scale-out asked for %s of %s", lasted, g.ThresholdTimeOut))
			desired = o.current
		}
	}
	if desired < o.current && g.ThresholdTimeIn > 0 {
		if lasted := breachLasted(in.History, in.Now, interval, false); lasted < g.ThresholdTimeIn.D() {
			d.Guards = append(d.Guards, fmt.Sprintf("threshold-time: scale-in asked for %s of %s", lasted, g.ThresholdTimeIn))
			desired = o.current
		}
	}
	// Scale-in stabilisation: the highest recommendation of the window.
	if desired < o.current && g.ScaleInStabilization > 0 {
		from := in.Now.Add(-g.ScaleInStabilization.D())
		m := desired
		for _, r := range in.History {
			if r.At.After(from) && r.Desired > m {
				m = r.Desired
			}
		}
		if m > desired {
			m = min(m, o.current)
			d.Guards = append(d.Guards, fmt.Sprintf("stabilisation: highest recommendation in %s is %d (not %d)", g.ScaleInStabilization, m, desired))
			desired = m
		}
	}
	// Static floor (custom: the dynamic minimum becomes the static count).
	if floor >= 0 && dynamic > 0 && desired < floor {
		d.Guards = append(d.Guards, fmt.Sprintf("%s → %d", floorBy, floor))
		desired, d.Policy = floor, "scheduled"
	}
	// Rate limit per decision.
	if desired > o.current && (g.MaxStepOut > 0 || g.MaxStepOutPercent > 0) {
		limit := max(g.MaxStepOut, ceil(float64(o.current)*g.MaxStepOutPercent/100))
		if desired-o.current > limit {
			d.Guards = append(d.Guards, fmt.Sprintf("rate limit: +%d of +%d", limit, desired-o.current))
			desired = o.current + limit
		}
	}
	if desired < o.current && g.MaxStepIn > 0 && o.current-desired > g.MaxStepIn {
		d.Guards = append(d.Guards, fmt.Sprintf("rate limit: -%d of -%d", g.MaxStepIn, o.current-desired))
		desired = o.current - g.MaxStepIn
	}
	// Cooldown per direction.
	if desired > o.current && g.CooldownOut > 0 && !in.Cooldown.LastScaleOut.IsZero() {
		if since := in.Now.Sub(in.Cooldown.LastScaleOut); since < g.CooldownOut.D() {
			d.Guards = append(d.Guards, fmt.Sprintf("cooldown: last scale-out %s ago < %s", since, g.CooldownOut))
			desired = o.current
		}
	}
	if desired < o.current && g.CooldownIn > 0 {
		last := in.Cooldown.LastScaleIn
		if in.Cooldown.LastScaleOut.After(last) {
			last = in.Cooldown.LastScaleOut
		}
		if since := in.Now.Sub(last); !last.IsZero() && since < g.CooldownIn.D() {
			d.Guards = append(d.Guards, fmt.Sprintf("cooldown: last scaling %s ago < %s", since, g.CooldownIn))
			desired = o.current
		}
	}
	// Hard bounds.
	if desired > g.Max {
		d.Guards = append(d.Guards, fmt.Sprintf("max: %d clamped to %d", desired, g.Max))
		desired = g.Max
	}
	if desired < g.Min {
		d.Guards = append(d.Guards, fmt.Sprintf("min: %d raised to %d", desired, g.Min))
		desired = g.Min
	}

	// Placement.
	if desired != o.current {
		pl, placed, note := Place(in.Clouds, in.Instances, desired-o.current)
		d.Placement = pl
		if note != "" {
			d.Guards = append(d.Guards, note)
		}
		desired = o.current + placed
	}
	d.Desired = desired
	switch {
	case desired > o.current:
		d.Direction = ScaleOut
	case desired < o.current:
		d.Direction = ScaleIn
	}
	return d
}

// breachLasted is how long the recommendations have asked for scale-out (or
// in) without a break, the current one included.
func breachLasted(h []Recommendation, now time.Time, interval time.Duration, out bool) time.Duration {
	start := now
	for i := len(h) - 1; i >= 0; i-- {
		r := h[i]
		if !r.At.Before(now) {
			continue
		}
		if out && r.Desired <= r.Current || !out && r.Desired >= r.Current {
			break
		}
		start = r.At
	}
	return now.Sub(start) + interval
}

func clonePolicy(p Policy) Policy {
	cp := func(v *float64) *float64 {
		if v == nil {
			return nil
		}
		x := *v
		return &x
	}
	if p.Scheduled != nil {
		x := *p.Scheduled
		p.Scheduled = &x
	}
	if p.Reactive != nil {
		x := *p.Reactive
		p.Reactive = &x
	}
	if p.Target != nil {
		x := *p.Target
		x.Tolerance, x.ScaleInTolerance = cp(x.Tolerance), cp(x.ScaleInTolerance)
		p.Target = &x
	}
	if p.Step != nil {
		x := *p.Step
		x.Steps = append([]StepAdjustment(nil), x.Steps...)
		p.Step = &x
	}
	if p.Simple != nil {
		x := *p.Simple
		p.Simple = &x
	}
	if p.Proactive != nil {
		x := *p.Proactive
		p.Proactive = &x
	}
	if p.Predictive != nil {
		x := *p.Predictive
		p.Predictive = &x
	}
	return p
}

// Clone returns a deep copy of g (policies included).
func (g GroupSpec) Clone() GroupSpec {
	g.Policies = append([]Policy(nil), g.Policies...)
	for i := range g.Policies {
		g.Policies[i] = clonePolicy(g.Policies[i])
	}
	return g
}

// DecideAll decides for many groups at once on up to workers goroutines
// (≤ 0: one per CPU); out[i] is Decide(ins[i]). Decide is pure, so groups
// are independent.
func DecideAll(ins []Input, workers int) []Decision {
	out := make([]Decision, len(ins))
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, len(ins))
	var wg sync.WaitGroup
	chunk := (len(ins) + workers - 1) / max(workers, 1)
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(ins))
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				out[i] = Decide(ins[i])
			}
		}()
	}
	wg.Wait()
	return out
}
