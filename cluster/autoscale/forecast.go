package autoscale

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/fsm"
	"aas/scaler"
	"aas/scaler/forecast"
)

// FitPool runs forecaster fits on a bounded number of goroutines. Submit
// never blocks: when every worker is busy and the queue is full the fit is
// skipped and asked for again at the group's next evaluation.
type FitPool struct {
	jobs   chan fitJob
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	log    hclog.Logger
}

// NewFitPool starts a pool of workers fitting forecasters until ctx ends
// or Stop is called.
func NewFitPool(ctx context.Context, workers int, logger hclog.Logger) *FitPool {
	return newFitPool(ctx, workers, logger)
}

func newFitPool(ctx context.Context, workers int, logger hclog.Logger) *FitPool {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	workers = max(1, workers)
	p := &FitPool{jobs: make(chan fitJob, workers), log: logger}
	p.ctx, p.cancel = context.WithCancel(ctx)
	for range workers {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

// Stop ends the workers and waits for a fit in progress.
func (p *FitPool) Stop() { p.stop() }

func (p *FitPool) stop() {
	p.cancel()
	p.wg.Wait()
}

func (p *FitPool) work() {
	defer p.wg.Done()
	for {
		select {
		case <-p.ctx.Done():
			return
		case j := <-p.jobs:
			j.run(p.log)
		}
	}
}

// submit queues j unless the queue is full.
func (p *FitPool) submit(j fitJob) bool {
	if p == nil || p.ctx.Err() != nil {
		return false
	}
	select {
	case p.jobs <- j:
		return true
	default:
		return false
	}
}

// forecaster is a group's latest fitted model, shared between the loop
// (reads) and a pool worker (writes).
type forecaster struct {
	mu   sync.Mutex
	busy bool    // a fit is queued or running
	fit  *fitted // latest successful fit; nil before the first
	err  error   // latest fit error
}

// fitted is a model's forecast from the end of the series it was fitted
// on: Mean[i] and Upper[i] are at End + (i+1)×Step.
type fitted struct {
	Name        string // model name asked for (a policy change refits)
	End         time.Time
	Step        time.Duration
	Mean, Upper []float64
	Desc        string
}

type fitJob struct {
	fc     *forecaster
	name   string
	series []float64
	end    time.Time
	step   time.Duration
	steps  int
	season int
}

func (j fitJob) run(log hclog.Logger) {
	f, err := forecast.Get(j.name)
	var out *fitted
	if err == nil {
		var m forecast.Model
		m, err = f.Fit(j.series, j.season)
		if err == nil {
			fc := m.Forecast(j.steps)
			out = &fitted{Name: j.name, End: j.end, Step: j.step, Mean: fc.Mean, Upper: fc.Upper, Desc: f.Name()}
			if d, ok := m.(forecast.Describer); ok {
				out.Desc = d.Describe()
			}
		}
	}
	j.fc.mu.Lock()
	defer j.fc.mu.Unlock()
	j.fc.busy = false
	j.fc.err = err
	if out != nil {
		j.fc.fit = out
	} else {
		log.Debug("forecaster fit failed", "model", j.name, "points", len(j.series), "error", err)
	}
}

// forecast returns the forecast for this evaluation from the group's
// latest fitted model (nil before the first fit) and asks the pool for a
// refit when one is due. It never waits for a fit.
func (s *Service) forecast(gs *groupState, p *scaler.Predictive, snap *snapshot, g *scaler.GroupSpec, iv time.Duration, now time.Time, pool *FitPool) *scaler.Forecast {
	s.mu.Lock()
	if gs.fc == nil {
		gs.fc = &forecaster{}
	}
	fc := gs.fc
	gs.evals++
	evals := gs.evals
	s.mu.Unlock()

	name := p.Model
	if name == "" {
		name = forecast.NameAuto
	}
	series, end := loadSeries(snap.metrics, g.Metric, iv, now, s.opts.FitWindow)
	horizon := max(1, int(math.Ceil(float64(p.Horizon.D())/float64(iv))))

	fc.mu.Lock()
	fit := fc.fit
	due := fit == nil || fit.Name != name || evals >= s.opts.RefitEvery
	if due && !fc.busy && len(series) > 0 {
		job := fitJob{fc: fc, name: name, series: series, end: end, step: iv,
			steps: s.opts.RefitEvery + horizon + 2, season: s.opts.Season}
		if pool.submit(job) {
			fc.busy = true
			s.mu.Lock()
			gs.evals = 0
			s.mu.Unlock()
		}
	}
	fc.mu.Unlock()
	if fit == nil || fit.Name != name {
		return nil
	}
	return anchored(fit, series, end, iv)
}

// anchored turns a fit into the scaler's forecast, shifted by the mean of
// up to three errors of the observations made since the fit (a level
// correction between refits, as scaler.Predictor does).
func anchored(fit *fitted, series []float64, end time.Time, iv time.Duration) *scaler.Forecast {
	delta, nd := 0.0, 0
	for b := 0; b < 3 && b < len(series); b++ {
		at := end.Add(-time.Duration(b) * iv)
		k := int(math.Round(float64(at.Sub(fit.End))/float64(fit.Step))) - 1
		if k < 0 || k >= len(fit.Mean) {
			continue
		}
		delta += series[len(series)-1-b] - fit.Mean[k]
		nd++
	}
	if nd > 0 {
		delta /= float64(nd)
	}
	out := &scaler.Forecast{Start: fit.End.Add(fit.Step), Step: fit.Step, Model: fit.Desc,
		Mean: make([]float64, len(fit.Mean)), Upper: make([]float64, len(fit.Mean))}
	for i, m := range fit.Mean {
		out.Mean[i] = math.Max(0, m+delta)
		out.Upper[i] = out.Mean[i]
		if i < len(fit.Upper) {
			out.Upper[i] = math.Max(out.Mean[i], fit.Upper[i]+delta)
		}
	}
	return out
}

// loadSeries is the group's total load per interval, oldest first, over at
// most window intervals ending at now (the last element is the interval
// ending at now). Intervals without a point repeat the previous value;
// leading empty intervals are dropped. Total load is AvgCPU × Instances
// (instance units) for cpu and RPS for rps, averaged over the points of
// the interval, after the clouds' points are merged into group totals
// (mergeClouds).
func loadSeries(points []fsm.MetricPoint, m scaler.Metric, iv time.Duration, now time.Time, window int) ([]float64, time.Time) {
	if iv <= 0 || window <= 0 {
		return nil, now
	}
	points = mergeClouds(points, iv)
	sums := make([]float64, window)
	cnt := make([]int, window)
	for _, p := range points {
		d := now.Sub(p.Time)
		if d < 0 {
			continue
		}
		b := int(d / iv) // interval b is (now−(b+1)iv, now−b·iv]
		if b >= window {
			continue
		}
		var v float64
		switch m {
		case scaler.MetricCPU, "":
			v = p.AvgCPU * float64(p.Instances)
		case scaler.MetricRPS:
			if !p.RPSMeasured {
				continue
			}
			v = p.RPS
		default:
			continue
		}
		sums[window-1-b] += v
		cnt[window-1-b]++
	}
	out := make([]float64, 0, window)
	last, started := 0.0, false
	for i := range sums {
		if cnt[i] == 0 {
			if started {
				out = append(out, last)
			}
			continue
		}
		last, started = sums[i]/float64(cnt[i]), true
		out = append(out, last)
	}
	return out, now
}

// peak is the highest value of series over [now−step, end], as the
// predictive policy reads it.
func peak(f *scaler.Forecast, series []float64, now, end time.Time) (float64, bool) {
	best, seen := math.Inf(-1), false
	for i, v := range series {
		at := f.Start.Add(time.Duration(i) * f.Step)
		if at.Before(now.Add(-f.Step)) || at.After(end) || math.IsNaN(v) {
			continue
		}
		best, seen = math.Max(best, v), true
	}
	if !seen || best < 0 {
		return 0, seen
	}
	return best, true
}
