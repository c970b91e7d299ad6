// Package autoscale is the leader's autoscaling loop: every scaling group
// that is neither suspended nor being deleted is evaluated on its policy's
// interval (the group's metric period) from the replicated state — its
// instances, its metric history, the clouds, its cooldown state, fired
// schedule slots and the replicated history of past recommendations — by
// the pure scaler.Decide; each evaluation is recorded (fsm.RecordEvaluation)
// and a change of the desired count becomes one fsm.SetDesired carrying
// the decision's reason, so the activity log explains every action. The
// site reconcilers and the converger carry the decision out.
//
// Forecasters of predictive policies are refitted in the background on a
// bounded worker pool; an evaluation never waits for a fit and uses the
// latest fitted model. See DESIGN.md beside this file.
package autoscale

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/cluster"
	"aas/cluster/tenant"
	"aas/fsm"
	"aas/scaler"
)

// ErrConfig is returned by New for an incomplete configuration.
var ErrConfig = errors.New("autoscale: invalid config")

// ErrPolicy wraps a group policy that cannot be decoded or is invalid; such
// a group is not evaluated (it keeps its desired count).
var ErrPolicy = errors.New("autoscale: bad group policy")

// Cluster is what the loop needs from the controller; *cluster.Server
// implements it.
type Cluster interface {
	FSM() *fsm.FSM
	Apply(ctx context.Context, t fsm.MessageType, payload any) (cluster.Applied, error)
	// VerifyLeader confirms leadership with a quorum before writes.
	VerifyLeader() error
}

// Options tune the loop; zero fields take the defaults.
type Options struct {
	// Tick is how often the loop looks for groups that are due (default
	// 1s). A group is evaluated at most once per its interval.
	Tick time.Duration
	// Now is the wall clock stamped into commands and passed to the
	// scaler as Input.Now (default time.Now).
	Now func() time.Time
	// Parallel bounds groups evaluated (and written) at once (default 4).
	Parallel int
	// ForecastWorkers bounds concurrent forecaster fits (default 1): fits
	// are milliseconds to seconds of CPU and must not starve Raft.
	ForecastWorkers int
	// RefitEvery is the number of evaluations between two fits of a
	// group's forecaster (default 10); a changed model name refits at once.
	RefitEvery int
	// FitWindow is the number of observations (intervals) a fit reads
	// (default 720).
	FitWindow int
	// Season is the seasonal period in observations passed to the
	// forecaster (0: the forecaster detects it).
	Season int
	// ApplyTimeout bounds one write (default 10s).
	ApplyTimeout time.Duration
}

func (o *Options) defaults() {
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Parallel <= 0 {
		o.Parallel = 4
	}
	if o.ForecastWorkers <= 0 {
		o.ForecastWorkers = 1
	}
	if o.RefitEvery <= 0 {
		o.RefitEvery = 10
	}
	if o.FitWindow <= 0 {
		o.FitWindow = 720
	}
	if o.ApplyTimeout <= 0 {
		o.ApplyTimeout = 10 * time.Second
	}
}

// Service is the leader-only autoscaling loop. Register Run with
// (*cluster.Server).RegisterLeaderService("autoscale", svc.Run).
type Service struct {
	cl   Cluster
	log  hclog.Logger
	opts Options

	mu      sync.Mutex
	groups  map[string]*groupState // by fsm.GroupKey; reset by every Run
	specs   map[string]specEntry   // raw policy → decoded spec
	badSeen map[string]bool        // raw policies already logged as bad
}

type specEntry struct {
	spec scaler.GroupSpec
	err  error
}

// groupState is the loop's local, rebuildable bookkeeping of one group.
// Nothing in it is needed for correctness after a leader change: the
// schedule restarts from the replicated evaluation history, a forecaster
// refits from the replicated metric history.
type groupState struct {
	next  time.Time // when the group is due
	fc    *forecaster
	evals int // evaluations since the last fit was requested
}

// New returns a service; it does nothing until Run.
func New(c Cluster, logger hclog.Logger, opts Options) *Service {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	opts.defaults()
	return &Service{cl: c, log: logger.Named("autoscale"), opts: opts,
		groups: map[string]*groupState{}, specs: map[string]specEntry{}, badSeen: map[string]bool{}}
}

// Run evaluates groups until ctx ends (loss of leadership or shutdown).
// It returns nil when ctx ends; per-group failures are logged, not
// returned, so one bad group cannot stop the others.
func (s *Service) Run(ctx context.Context) error {
	if s.cl == nil {
		return fmt.Errorf("%w: cluster is nil", ErrConfig)
	}
	pool := newFitPool(ctx, s.opts.ForecastWorkers, s.log)
	defer pool.stop()
	s.mu.Lock()
	s.groups = map[string]*groupState{} // a new term starts from the replicated state
	s.mu.Unlock()
	t := time.NewTicker(s.opts.Tick)
	defer t.Stop()
	for {
		s.Tick(ctx, pool)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// due lists the groups to evaluate now, in key order.
func (s *Service) due(now time.Time) []string {
	type cand struct {
		key  string
		last time.Time
		raw  string
	}
	var cands []cand
	s.cl.FSM().Read(func(st *fsm.State) {
		for k, g := range st.Groups {
			if g.Suspended || g.Deleting {
				continue
			}
			c := cand{key: k, raw: string(g.Policy)}
			if ev := st.Evaluations[k]; len(ev) > 0 {
				c.last = ev[len(ev)-1].Time
			}
			cands = append(cands, c)
		}
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	seen := make(map[string]bool, len(cands))
	for _, c := range cands {
		seen[c.key] = true
		gs := s.groups[c.key]
		if gs == nil {
			gs = &groupState{}
			// Continue the replicated cadence: a new leader does not
			// evaluate again before the interval since the last
			// evaluation (of any leader) has passed.
			if !c.last.IsZero() {
				if e := s.spec(c.raw); e.err == nil {
					gs.next = c.last.Add(interval(&e.spec))
				}
			}
			s.groups[c.key] = gs
		}
		if !now.Before(gs.next) {
			out = append(out, c.key)
		}
	}
	for k := range s.groups {
		if !seen[k] {
			delete(s.groups, k)
		}
	}
	sort.Strings(out)
	return out
}

// spec decodes a raw policy once. Called with s.mu held.
func (s *Service) spec(raw string) specEntry {
	if e, ok := s.specs[raw]; ok {
		return e
	}
	var e specEntry
	g, err := tenant.PolicyOf([]byte(raw))
	if err == nil {
		g.Normalize()
		err = g.Validate()
	}
	if err != nil {
		e.err = fmt.Errorf("%w: %w", ErrPolicy, err)
	} else {
		e.spec = g
	}
	if len(s.specs) > 4096 { // bounded: policies change rarely
		clear(s.specs)
	}
	s.specs[raw] = e
	return e
}

// interval is how often a group is evaluated: its metric period.
func interval(g *scaler.GroupSpec) time.Duration {
	if d := g.MetricPeriod.D(); d > 0 {
		return d
	}
	return scaler.DefaultMetricPeriod
}

// Tick evaluates every due group once. Run calls it on every tick; tests
// and tools may call it directly (pool may be nil: no forecasting).
func (s *Service) Tick(ctx context.Context, pool *FitPool) {
	now := s.opts.Now()
	keys := s.due(now)
	if len(keys) == 0 {
		return
	}
	// One quorum check per round before any write of it; SetDesired
	// checks again right before it is sent.
	if err := s.cl.VerifyLeader(); err != nil {
		s.log.Debug("not leader; skipping evaluation round", "error", err)
		return
	}
	sem := make(chan struct{}, s.opts.Parallel)
	var wg sync.WaitGroup
	for _, k := range keys {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(k string) {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := s.Evaluate(ctx, k, now, pool); err != nil && ctx.Err() == nil {
				s.log.Warn("evaluation failed", "group", k, "error", err)
			}
		}(k)
	}
	wg.Wait()
}

// snapshot is what one evaluation reads from the FSM, copied under the
// read lock.
type snapshot struct {
	group     fsm.Group
	instances []fsm.Instance
	metrics   []fsm.MetricPoint
	evals     []fsm.Evaluation
	clouds    map[string]fsm.Cloud
	liveCloud map[string]int // the group's live instances per cloud
	cloudLive map[string]int // all live instances per cloud
}

// read copies the group's state; evaluations from since on, metric points
// from metricsSince on (earlier: the clouds' latest points before the
// window, which the merge of their points needs).
func (s *Service) read(key string, since, metricsSince time.Time) (*snapshot, bool) {
	var snap *snapshot
	s.cl.FSM().Read(func(st *fsm.State) {
		g := st.Groups[key]
		if g == nil {
			return
		}
		snap = &snapshot{group: *g, clouds: map[string]fsm.Cloud{}, liveCloud: map[string]int{}, cloudLive: map[string]int{}}
		snap.group.Policy = append([]byte(nil), g.Policy...)
		snap.group.Clouds = append([]fsm.CloudPreference(nil), g.Clouds...)
		snap.group.FiredSlots = append([]string(nil), g.FiredSlots...)
		snap.instances = st.GroupInstances(g.Tenant, g.Name)
		for _, in := range snap.instances {
			if in.Live() {
				snap.liveCloud[in.Cloud]++
			}
		}
		for name, c := range st.Clouds {
			snap.clouds[name] = *c
			snap.cloudLive[name] = st.CloudLiveCount(name)
		}
		hist := st.Metrics[key]
		i := sort.Search(len(hist), func(i int) bool { return !hist[i].Time.Before(metricsSince) })
		snap.metrics = append([]fsm.MetricPoint(nil), hist[i:]...)
		ev := st.Evaluations[key]
		j := sort.Search(len(ev), func(i int) bool { return !ev[i].Time.Before(since) })
		snap.evals = append([]fsm.Evaluation(nil), ev[j:]...)
	})
	return snap, snap != nil
}

// Result is the outcome of one evaluation.
type Result struct {
	Decision   scaler.Decision
	Evaluation fsm.Evaluation
	// Wrote is true when a SetDesired was committed.
	Wrote bool
}

// Evaluate evaluates one group now: decide, record the evaluation, and
// write a SetDesired when the desired count changes or a schedule slot
// fired. pool may be nil (no forecasting).
func (s *Service) Evaluate(ctx context.Context, key string, now time.Time, pool *FitPool) (Result, error) {
	var res Result
	s.mu.Lock()
	gs := s.groups[key]
	if gs == nil {
		gs = &groupState{}
		s.groups[key] = gs
	}
	s.mu.Unlock()

	// The spec decides how far back the evaluation reads.
	var raw string
	s.cl.FSM().Read(func(st *fsm.State) {
		if g := st.Groups[key]; g != nil {
			raw = string(g.Policy)
		}
	})
	s.mu.Lock()
	e := s.spec(raw)
	if e.err != nil && !s.badSeen[raw] {
		s.badSeen[raw] = true
		s.log.Warn("group not evaluated: bad policy", "group", key, "error", e.err)
	}
	s.mu.Unlock()
	if e.err != nil {
		s.schedule(gs, now, time.Minute)
		return res, fmt.Errorf("group %s: %w", key, e.err)
	}
	spec := e.spec.Clone()
	iv := interval(&spec)
	look := lookback(&spec, iv, s.opts.FitWindow)
	snap, ok := s.read(key, now.Add(-look), now.Add(-look-time.Duration(staleGaps*float64(iv))))
	if !ok {
		return res, nil // deleted meanwhile
	}
	g := &snap.group
	if g.Suspended || g.Deleting {
		return res, nil
	}
	s.schedule(gs, now, iv)
	spec.Min, spec.Max = g.Min, g.Max // the FSM's bounds win (deletion sets 0)

	in := scaler.Input{
		Group:     spec,
		Instances: instances(snap.instances),
		Metrics:   samples(snap.metrics, spec.Metric, now.Add(-metricWindow(&spec, iv)), iv),
		Clouds:    clouds(snap),
		Cooldown:  scaler.CooldownState{LastScaleOut: g.Cooldown.LastScaleOut, LastScaleIn: g.Cooldown.LastScaleIn},
		History:   history(snap.evals, &spec, now),
		Fired:     g.FiredSlots,
		Interval:  iv,
		Now:       now,
	}
	pred := predictive(&spec)
	if pred != nil {
		in.Forecast = s.forecast(gs, pred, snap, &spec, iv, now, pool)
	}
	d := scaler.Decide(in)
	res.Decision = d

	ev := fsm.Evaluation{Time: now, Current: d.Inputs.Current, Serving: d.Inputs.Serving,
		Recommended: d.Recommendation.Desired, Desired: d.Desired,
		Average: finite0(d.Inputs.Average), Load: finite0(d.Inputs.Load), Missing: d.Inputs.Missing}
	if in.Forecast != nil {
		end := now.Add(pred.Horizon.D())
		if m, ok := peak(in.Forecast, in.Forecast.Mean, now, end); ok {
			ev.Forecast = &m
		}
		if u, ok := peak(in.Forecast, in.Forecast.Upper, now, end); ok {
			ev.ForecastUpper = &u
		}
		ev.Model = truncate(in.Forecast.Model, fsm.MaxModelLen)
	}
	res.Evaluation = ev
	if err := s.apply(ctx, fsm.RecordEvaluationType, fsm.RecordEvaluation{Tenant: g.Tenant, Group: g.Name, Evaluation: ev}); err != nil {
		// Not fatal for the decision: the history only loses a point.
		s.log.Debug("record evaluation", "group", key, "error", err)
	}

	if !changes(d, g.Desired) && len(d.Fired) == 0 {
		return res, nil
	}
	cmd := setDesired(g, d, ev, snap.instances, now)
	if err := s.cl.VerifyLeader(); err != nil {
		return res, fmt.Errorf("group %s: %w", key, err)
	}
	if err := s.apply(ctx, fsm.SetDesiredType, cmd); err != nil {
		if errors.Is(err, fsm.ErrSuspended) || errors.Is(err, fsm.ErrDeleting) || errors.Is(err, fsm.ErrNotFound) {
			return res, nil // changed under us; the next round sees it
		}
		return res, fmt.Errorf("group %s: set desired: %w", key, err)
	}
	res.Wrote = true
	s.log.Info("scaling decision", "group", key, "from", g.Desired, "to", cmd.Desired, "reason", cmd.Reason)
	return res, nil
}

func (s *Service) schedule(gs *groupState, now time.Time, iv time.Duration) {
	s.mu.Lock()
	gs.next = now.Add(iv)
	s.mu.Unlock()
}

func (s *Service) apply(ctx context.Context, t fsm.MessageType, cmd any) error {
	actx, cancel := context.WithTimeout(ctx, s.opts.ApplyTimeout)
	defer cancel()
	_, err := s.cl.Apply(actx, t, cmd)
	return err
}

// changes reports whether d changes the group's desired count. The scaler
// counts instances (current); the FSM's desired may differ while the
// converger is still working, so only a decision that moves the desired
// count further in its own direction is written: a hold never rewrites
// desired, and a scale-out below a desired count not yet reached (an
// operator's manual scale) is not a scale-in.
func changes(d scaler.Decision, desired int) bool {
	switch d.Direction {
	case scaler.ScaleOut:
		return d.Desired > desired
	case scaler.ScaleIn:
		return d.Desired < desired
	}
	return false
}

// setDesired builds the command that records decision d.
func setDesired(g *fsm.Group, d scaler.Decision, ev fsm.Evaluation, insts []fsm.Instance, now time.Time) fsm.SetDesired {
	cmd := fsm.SetDesired{Tenant: g.Tenant, Group: g.Name, Desired: g.Desired, Time: now, Source: fsm.SourceScaler,
		Direction: fsm.DirectionNone, Policy: d.Policy, Reason: d.Reason(), FiredSlots: d.Fired}
	if changes(d, g.Desired) {
		cmd.Desired = d.Desired
		if d.Direction == scaler.ScaleOut {
			cmd.Direction = fsm.DirectionOut
		} else {
			cmd.Direction = fsm.DirectionIn
		}
	}
	cmd.Inputs = map[string]float64{
		"current": float64(d.Inputs.Current), "serving": float64(d.Inputs.Serving),
		"booting": float64(d.Inputs.Booting), "average": ev.Average, "load": ev.Load,
		"recommended": float64(d.Recommendation.Desired), "desired": float64(d.Desired),
	}
	if d.Inputs.Missing {
		cmd.Inputs["missing"] = 1
	}
	if ev.Forecast != nil {
		cmd.Inputs["forecast"] = *ev.Forecast
	}
	if ev.ForecastUpper != nil {
		cmd.Inputs["forecast_upper"] = *ev.ForecastUpper
	}
	pl := map[string]int{}
	for _, a := range d.Placement.Add {
		pl[a.Cloud] += a.Count
	}
	if len(d.Placement.Remove) > 0 {
		cloudOf := make(map[string]string, len(insts))
		for _, in := range insts {
			cloudOf[in.ID] = in.Cloud
		}
		for _, id := range d.Placement.Remove {
			if c := cloudOf[id]; c != "" {
				pl[c]++
			}
		}
	}
	if len(pl) > 0 {
		cmd.Placement = pl
	}
	return cmd
}

// lookback is how far back an evaluation reads history: the metric window,
// the guards' windows and the forecaster's fit window.
func lookback(g *scaler.GroupSpec, iv time.Duration, fitWindow int) time.Duration {
	d := max(metricWindow(g, iv), g.ScaleInStabilization.D(), g.ThresholdTimeIn.D(), g.ThresholdTimeOut.D()) + iv
	if predictive(g) != nil {
		d = max(d, time.Duration(fitWindow+1)*iv)
	}
	return d
}

// metricWindow is the longest metric window a policy reads.
func metricWindow(g *scaler.GroupSpec, iv time.Duration) time.Duration {
	w := max(g.MetricPeriod.D(), iv)
	for _, p := range g.Policies {
		if p.Proactive != nil {
			w = max(w, p.Proactive.Window.D())
		}
	}
	return w + iv
}

// instances maps the FSM's instances to the scaler's. Ready means running
// and passing health checks (what the site's metrics average over).
func instances(in []fsm.Instance) []scaler.Instance {
	out := make([]scaler.Instance, 0, len(in))
	for _, i := range in {
		if !i.Live() {
			continue
		}
		out = append(out, scaler.Instance{ID: i.ID, Cloud: i.Cloud, State: scaler.InstanceState(i.State),
			Created: i.Created, Protected: i.Protected,
			Ready: i.State == fsm.StateRunning && i.Health == fsm.HealthHealthy})
	}
	return out
}

// samples turns metric points into group-aggregate samples of the group's
// metric: the clouds' points are merged first (mergeClouds, with the metric
// period as the fallback gap), so every sample is the whole group. A point
// that does not carry the metric is left out, so the scaler sees the
// metric as missing (and never scales in on it) instead of a zero: cpu
// reads AvgCPU over Instances; rps reads the group's total RPS divided by
// Instances, from points with RPSMeasured only; memory and custom metrics
// have no point field yet and are always missing.
func samples(points []fsm.MetricPoint, m scaler.Metric, since time.Time, period time.Duration) []scaler.Sample {
	points = mergeClouds(points, period)
	out := make([]scaler.Sample, 0, len(points))
	for _, p := range points {
		if p.Time.Before(since) || p.Instances <= 0 {
			continue
		}
		s := scaler.Sample{At: p.Time, Instances: p.Instances}
		switch m {
		case scaler.MetricCPU, "":
			s.Value = p.AvgCPU
		case scaler.MetricRPS:
			if !p.RPSMeasured {
				continue
			}
			s.Value = p.RPS / float64(p.Instances)
		default:
			continue
		}
		out = append(out, s)
	}
	return out
}

// clouds lists the group's placement targets with the room each has left:
// the group's per-cloud cap and the cloud's capacity, whichever is
// tighter (-1: unlimited). A group without preferences may use every cloud
// by the cloud's own priority.
func clouds(snap *snapshot) []scaler.Cloud {
	prefs := snap.group.Clouds
	if len(prefs) == 0 {
		names := make([]string, 0, len(snap.clouds))
		for n := range snap.clouds {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			prefs = append(prefs, fsm.CloudPreference{Cloud: n, Priority: snap.clouds[n].Priority})
		}
	}
	out := make([]scaler.Cloud, 0, len(prefs))
	for _, p := range prefs {
		room := -1
		if p.Max > 0 {
			room = max(0, p.Max-snap.liveCloud[p.Cloud])
		}
		if c, ok := snap.clouds[p.Cloud]; ok && c.Capacity > 0 {
			free := max(0, c.Capacity-snap.cloudLive[p.Cloud])
			if room < 0 || free < room {
				room = free
			}
		}
		out = append(out, scaler.Cloud{Name: p.Cloud, Priority: p.Priority, Capacity: room})
	}
	return out
}

// history rebuilds the recommendation history from the replicated
// evaluations, pruned to the windows the guards read.
func history(evals []fsm.Evaluation, g *scaler.GroupSpec, now time.Time) []scaler.Recommendation {
	h := make([]scaler.Recommendation, 0, len(evals))
	for _, e := range evals {
		if e.Time.Before(now) {
			h = append(h, scaler.Recommendation{At: e.Time, Desired: e.Recommended, Current: e.Current})
		}
	}
	return scaler.PruneHistory(h, g, now)
}

// predictive returns the group's first predictive policy, or nil.
func predictive(g *scaler.GroupSpec) *scaler.Predictive {
	for i := range g.Policies {
		if p := g.Policies[i].Predictive; p != nil {
			return p
		}
	}
	return nil
}

func finite0(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	return v
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
