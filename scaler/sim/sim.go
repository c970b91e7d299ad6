// Package sim replays a workload trace through a discrete-time model of a
// scaling group driven by the scaler's Decide, and scores each policy with
// the SPEC elasticity metrics, instance-hours and overload time.
//
// The model: instances take BootDelay to become ready (booting ones are paid
// for but serve nothing); each ready instance serves Capacity load units per
// trace step at 100% utilisation; the SLO is utilisation ≤ Target, so demand
// is ceil(load/(Capacity×Target)) instances and supply is the ready count.
// The policy is evaluated every Interval and sees only what a real
// autoscaler would see: the utilisation averaged over the last interval and
// the history of the group's total load — never the future.
//
// Pure: no I/O, no clocks; deterministic.
package sim

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strconv"
	"sync"
	"time"

	"aas/scaler"
	"aas/scaler/elasticity"
	"aas/scaler/forecast"
	"aas/scaler/trace"
)

// ErrConfig is wrapped by configuration errors.
var ErrConfig = errors.New("sim: bad config")

// Epoch is the wall-clock time of the trace's t = 0 in the decisions'
// inputs (schedules see this calendar).
var Epoch = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// Config is the group model.
type Config struct {
	// Capacity: load units one ready instance serves per trace step at 100%.
	Capacity float64
	// BootDelay from the scale-out decision until the instance is ready.
	BootDelay time.Duration
	// Interval between policy evaluations.
	Interval time.Duration
	// TargetUtilization is the SLO (0.7 = 70%); it defines demand.
	TargetUtilization float64
	// Min, Max bound every policy (override the policy files' bounds);
	// 0 = the policy's own (Max 0 there too: 100000).
	Min, Max int
	// Initial instance count, ready at t = 0; 0 = the demand at t = 0.
	Initial int
	// Forecasting for predictive policies: refit every RefitEvery
	// evaluations on the last FitWindow evaluations' total load (defaults
	// 1440 and 1440), with Season (0 = let the model detect it).
	RefitEvery, FitWindow, Season int
	// Timeline: keep one row per evaluation in the result.
	Timeline bool
	// Progress, if set, is called with (done, total) ticks now and then.
	Progress func(done, total int)
}

// Policy is a named group spec to simulate.
type Policy struct {
	Name string
	Spec scaler.GroupSpec
}

// Row is one evaluation in a timeline.
type Row struct {
	T        int64   `json:"t"`
	Load     float64 `json:"load"`
	Demand   int     `json:"demand"`
	Ready    int     `json:"ready"`
	Booting  int     `json:"booting"`
	Desired  int     `json:"desired"`
	Forecast float64 `json:"forecast"` // forecast peak of the load over the horizon (load units), NaN if none
	Lower    float64 `json:"lower"`
	Upper    float64 `json:"upper"`
	Reason   string  `json:"reason,omitempty"` // set when the group scaled
}

// Result is one policy's score on one trace.
type Result struct {
	Name    string             `json:"name"`
	Metrics elasticity.Metrics `json:"metrics"`
	// InstanceHours counts booting and ready instances (both are paid).
	InstanceHours float64 `json:"instance_hours"`
	// OverloadPct: share of time with utilisation above 100%.
	OverloadPct float64 `json:"overload_pct"`
	// Actions: scaling actions taken (one per decision that changed the size).
	Actions int `json:"actions"`
	// ElasticSpeedup against the policy named "none" of the same run (0 when
	// there is none).
	ElasticSpeedup float64 `json:"elastic_speedup"`
	Timeline       []Row   `json:"timeline,omitempty"`
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// normalize validates cfg against tr and fills defaults.
func (c *Config) normalize(tr *trace.Trace) error {
	if tr == nil || len(tr.Points) < 2 || tr.Step <= 0 {
		return fmt.Errorf("%w: trace needs at least two points", ErrConfig)
	}
	switch {
	case !(c.Capacity > 0):
		return fmt.Errorf("%w: instance capacity must be > 0", ErrConfig)
	case c.BootDelay < 0:
		return fmt.Errorf("%w: boot delay must be ≥ 0", ErrConfig)
	case c.Interval < time.Second || c.Interval%time.Second != 0:
		return fmt.Errorf("%w: interval must be a whole number of seconds ≥ 1s", ErrConfig)
	case c.BootDelay%time.Second != 0:
		return fmt.Errorf("%w: boot delay must be a whole number of seconds", ErrConfig)
	case !(c.TargetUtilization > 0 && c.TargetUtilization <= 1):
		return fmt.Errorf("%w: target utilization must be in (0, 1]", ErrConfig)
	case c.Min < 0 || c.Max < 0 || (c.Max > 0 && c.Min > c.Max):
		return fmt.Errorf("%w: min/max: need 0 ≤ min ≤ max", ErrConfig)
	}
	if c.RefitEvery <= 0 {
		c.RefitEvery = 1440
	}
	if c.FitWindow <= 0 {
		c.FitWindow = 1440
	}
	return nil
}

// AutoCapacity is the instance capacity the benchmark uses: the trace's
// 99th-percentile load ÷ 30 (so the peak needs about 30/target instances).
func AutoCapacity(tr *trace.Trace) float64 {
	return trace.Quantile(tr.Loads(), 0.99) / 30
}

// RunAll simulates every policy on tr (in parallel) and fills in the
// elastic speedup against the policy named "none" when present.
func RunAll(tr *trace.Trace, policies []Policy, cfg Config) ([]Result, error) {
	if err := cfg.normalize(tr); err != nil {
		return nil, err
	}
	res := make([]Result, len(policies))
	errs := make([]error, len(policies))
	var mu sync.Mutex
	done := make([]int, len(policies))
	total := 0
	progress := cfg.Progress
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i := range policies {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			c := cfg
			if progress != nil {
				c.Progress = func(d, t int) {
					mu.Lock()
					defer mu.Unlock()
					done[i] = d
					if total == 0 {
						total = t * len(policies)
					}
					sum := 0
					for _, x := range done {
						sum += x
					}
					progress(sum, total)
				}
			}
			res[i], errs[i] = Run(tr, policies[i], c)
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, r := range res {
		if r.Name == "none" {
			for i := range res {
				res[i].ElasticSpeedup = elasticity.Speedup(res[i].Metrics, r.Metrics)
			}
			break
		}
	}
	return res, nil
}

type instance struct {
	id      string
	created int64
	readyAt int64
}

// Run simulates one policy on tr.
func Run(tr *trace.Trace, pol Policy, cfg Config) (Result, error) {
	if err := cfg.normalize(tr); err != nil {
		return Result{}, err
	}
	spec := pol.Spec.Clone()
	spec.Normalize()
	if cfg.Min > 0 || cfg.Max > 0 {
		spec.Min = cfg.Min
		if cfg.Max > 0 {
			spec.Max = cfg.Max
		}
	}
	if spec.Max == 0 {
		spec.Max = 100000
	}
	if spec.Min == 0 {
		spec.Min = 1
	}
	if spec.Min > spec.Max {
		spec.Min = spec.Max
	}
	if err := spec.Validate(); err != nil {
		return Result{}, fmt.Errorf("policy %s: %w", pol.Name, err)
	}
	s := newState(tr, &spec, cfg)
	if err := s.setupForecaster(); err != nil {
		return Result{}, fmt.Errorf("policy %s: %w", pol.Name, err)
	}
	s.run()
	r := Result{Name: pol.Name, Actions: s.actions, Timeline: s.rows}
	end := float64(s.end - s.start)
	r.Metrics = elasticity.Compute(s.demand, s.supply, end)
	r.InstanceHours = elasticity.InstanceHours(s.paid, end)
	r.OverloadPct = elasticity.Overload(s.load, s.supply, cfg.Capacity, end)
	return r, nil
}

type state struct {
	tr             *trace.Trace
	spec           *scaler.GroupSpec
	cfg            Config
	tick, start    int64
	end            int64
	interval       int64
	boot           int64
	insts          []instance
	nextID         int
	samples        []scaler.Sample // ring of recent samples, oldest first
	keep           int
	history        []scaler.Recommendation
	cooldown       scaler.CooldownState
	fired          []string
	actions        int
	demand, supply []elasticity.Sample
	paid, load     []elasticity.Sample
	rows           []Row
	pred           *scaler.Predictor
	instBuf        []scaler.Instance
}

func newState(tr *trace.Trace, spec *scaler.GroupSpec, cfg Config) *state {
	step := tr.Step
	iv := int64(cfg.Interval / time.Second)
	bd := int64(cfg.BootDelay / time.Second)
	tick := gcd(gcd(step, iv), bd)
	if tick <= 0 {
		tick = gcd(step, iv)
	}
	// Every point's own spacing must also be a multiple of tick.
	for i := 1; i < len(tr.Points); i++ {
		tick = gcd(tick, tr.Points[i].T-tr.Points[i-1].T)
	}
	s := &state{tr: tr, spec: spec, cfg: cfg, tick: tick, interval: iv, boot: bd}
	s.start = tr.Points[0].T
	s.end = tr.Points[len(tr.Points)-1].T + step
	// Samples kept: enough for the longest window any policy reads.
	w := spec.MetricPeriod.D()
	for _, p := range spec.Policies {
		if p.Proactive != nil {
			w = max(w, p.Proactive.Window.D(), p.Proactive.CycleWindow.D())
		}
	}
	s.keep = int(w/cfg.Interval) + 2
	return s
}

func (s *state) setupForecaster() error {
	for i := range s.spec.Policies {
		if p := s.spec.Policies[i].Predictive; p != nil {
			f, err := forecast.Get(p.Model)
			if err != nil {
				return err
			}
			s.pred = scaler.NewPredictor(f, s.cfg.Interval, max(1, int(p.Horizon.D()/s.cfg.Interval)))
			s.pred.RefitEvery, s.pred.FitWindow, s.pred.Season = s.cfg.RefitEvery, s.cfg.FitWindow, s.cfg.Season
			return nil
		}
	}
	return nil
}

func (s *state) now(t int64) time.Time { return Epoch.Add(time.Duration(t-s.start) * time.Second) }

func (s *state) addSample(es *[]elasticity.Sample, t int64, v float64) {
	x := *es
	if n := len(x); n > 0 && x[n-1].V == v {
		return
	}
	*es = append(x, elasticity.Sample{T: float64(t - s.start), V: v})
}

func (s *state) run() {
	cap_, target := s.cfg.Capacity, s.cfg.TargetUtilization
	pts := s.tr.Points
	demandOf := func(load float64) int { return int(math.Ceil(load/(cap_*target) - 1e-9)) }
	init := s.cfg.Initial
	if init <= 0 {
		init = demandOf(pts[0].Load)
	}
	init = min(max(init, s.spec.Min), s.spec.Max)
	for range init {
		s.insts = append(s.insts, instance{id: s.newID(), created: s.start - s.boot, readyAt: s.start})
	}
	totalTicks := int((s.end - s.start) / s.tick)
	pi := 0
	var sumLoad, sumCap float64
	var sumReady float64
	nTicks := 0
	for k := 0; k < totalTicks; k++ {
		t := s.start + int64(k)*s.tick
		for pi+1 < len(pts) && pts[pi+1].T <= t {
			pi++
		}
		load := pts[pi].Load
		// Decision at interval boundaries, on what was observed so far.
		if k > 0 && (t-s.start)%s.interval == 0 {
			v := math.NaN()
			if sumCap > 0 {
				v = sumLoad / sumCap
			}
			avgReady := sumReady / float64(nTicks)
			s.observe(t, v, avgReady, sumLoad/float64(nTicks)/cap_)
			sumLoad, sumCap, sumReady, nTicks = 0, 0, 0, 0
			s.decide(t, load)
		}
		ready, booting := 0, 0
		for _, in := range s.insts {
			if in.readyAt <= t {
				ready++
			} else {
				booting++
			}
		}
		s.addSample(&s.demand, t, float64(demandOf(load)))
		s.addSample(&s.supply, t, float64(ready))
		s.addSample(&s.paid, t, float64(ready+booting))
		s.addSample(&s.load, t, load)
		sumLoad += load
		sumCap += float64(ready) * cap_
		sumReady += float64(ready)
		nTicks++
		if s.cfg.Progress != nil && k%4096 == 0 {
			s.cfg.Progress(k, totalTicks)
		}
	}
	if s.cfg.Progress != nil {
		s.cfg.Progress(totalTicks, totalTicks)
	}
}

func (s *state) newID() string {
	s.nextID++
	return "i-" + strconv.Itoa(s.nextID)
}

// observe records the metric sample of the interval ending at t: the
// capacity-weighted utilisation of the ready instances and the group's
// total load in instance units.
func (s *state) observe(t int64, util, avgReady, total float64) {
	if len(s.samples) >= s.keep {
		copy(s.samples, s.samples[1:])
		s.samples = s.samples[:len(s.samples)-1]
	}
	n := int(math.Round(avgReady))
	if n > 0 && !math.IsNaN(util) {
		// Report the total exactly: Value × Instances = total load.
		util = total / float64(n)
	}
	s.samples = append(s.samples, scaler.Sample{At: s.now(t), Value: util, Instances: n})
	if s.pred != nil {
		s.pred.Observe(total)
	}
}

// forecastInput returns the predictor's forecast from the next evaluation on.
func (s *state) forecastInput(t int64) *scaler.Forecast {
	if s.pred == nil {
		return nil
	}
	return s.pred.Forecast(s.now(t))
}

func (s *state) decide(t int64, load float64) {
	now := s.now(t)
	s.instBuf = s.instBuf[:0]
	for _, in := range s.insts {
		s.instBuf = append(s.instBuf, scaler.Instance{ID: in.id, Cloud: "sim", State: scaler.StateRunning,
			Created: s.now(in.created), Ready: in.readyAt <= t})
	}
	in := scaler.Input{
		Group: *s.spec, Instances: s.instBuf, Metrics: s.samples, Forecast: s.forecastInput(t),
		Cooldown: s.cooldown, History: s.history, Fired: s.fired, Interval: s.cfg.Interval, Now: now,
	}
	d := scaler.Decide(in)
	s.history = scaler.PruneHistory(append(s.history, d.Recommendation), s.spec, now)
	s.fired = append(s.fired, d.Fired...)
	switch {
	case d.Desired > d.Current:
		for range d.Desired - d.Current {
			s.insts = append(s.insts, instance{id: s.newID(), created: t, readyAt: t + s.boot})
		}
		s.cooldown.LastScaleOut = now
		s.actions++
	case d.Desired < d.Current:
		drop := make(map[string]bool, len(d.Placement.Remove))
		for _, id := range d.Placement.Remove {
			drop[id] = true
		}
		kept := s.insts[:0]
		for _, x := range s.insts {
			if !drop[x.id] {
				kept = append(kept, x)
			}
		}
		s.insts = kept
		s.cooldown.LastScaleIn = now
		s.actions++
	}
	if s.cfg.Timeline {
		r := Row{T: t - s.start, Load: load, Demand: int(math.Ceil(load/(s.cfg.Capacity*s.cfg.TargetUtilization) - 1e-9)),
			Desired: d.Desired, Forecast: math.NaN(), Lower: math.NaN(), Upper: math.NaN()}
		for _, x := range s.insts {
			if x.readyAt <= t {
				r.Ready++
			} else {
				r.Booting++
			}
		}
		if f := in.Forecast; f != nil && len(f.Mean) > 0 {
			r.Forecast, r.Upper, r.Lower = peak(f.Mean)*s.cfg.Capacity, peak(f.Upper)*s.cfg.Capacity, peak(f.Lower)*s.cfg.Capacity
		}
		if d.Direction != scaler.Hold {
			r.Reason = d.Reason()
		}
		s.rows = append(s.rows, r)
	}
}

func peak(xs []float64) float64 {
	m := math.NaN()
	for _, x := range xs {
		if math.IsNaN(m) || x > m {
			m = x
		}
	}
	return m
}
