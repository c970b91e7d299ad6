package scaler

import (
	"math"
	"slices"
	"time"

	"aas/scaler/forecast"
)

// Predictor turns a group's history of total load into the Input.Forecast
// that predictive policies read. It is what the leader (and the simulator)
// runs beside Decide, one per group:
//
//   - it refits its forecaster on a schedule (every RefitEvery observations,
//     on the last FitWindow), not at every evaluation;
//   - between refits it re-anchors the model's forecast to the data: the mean
//     of the latest Anchor one-step errors shifts the forecast (a level
//     correction, as an intervention would);
//   - it scores every forecast it issued once the actuals are in (the peak
//     of the horizon, actual minus forecast) and hands the recent errors out
//     with each forecast, so policies size for an empirical (conformal)
//     quantile of its own errors instead of trusting a model's band.
//
// Deterministic; not safe for concurrent use.
type Predictor struct {
	Model forecast.Forecaster
	// Step is the spacing of the observations (the evaluation interval).
	Step time.Duration
	// Horizon in steps (the lead time plus one interval, in steps).
	Horizon                       int
	RefitEvery, FitWindow, Season int
	// Anchor one-step errors re-anchor the forecast (default 3).
	Anchor int
	// ErrWindow forecast errors are kept (default 240).
	ErrWindow int

	hist    []float64
	off     int // observations dropped from the front of hist
	model   forecast.Model
	fitAt   int // absolute index of the first forecast step
	mean    []float64
	upper   []float64
	pending []issued
	errs    []float64 // in arrival order
	sorted  []float64
}

type issued struct {
	at   int // absolute index of the first step
	peak float64
}

// NewPredictor returns a predictor with the defaults filled in.
func NewPredictor(f forecast.Forecaster, step time.Duration, horizon int) *Predictor {
	return &Predictor{Model: f, Step: step, Horizon: max(1, horizon), RefitEvery: 720, FitWindow: 1440, Anchor: 3, ErrWindow: 240}
}

// Observe appends the latest observation of the total load.
func (p *Predictor) Observe(total float64) {
	if math.IsNaN(total) {
		if n := len(p.hist); n > 0 {
			total = p.hist[n-1]
		} else {
			total = 0
		}
	}
	p.hist = append(p.hist, total)
	// Keep at most two fit windows of history.
	if keep := 2 * max(p.FitWindow, p.ErrWindow+p.Horizon); len(p.hist) > 2*keep {
		drop := len(p.hist) - keep
		p.hist = append(p.hist[:0], p.hist[drop:]...)
		p.off += drop
	}
	p.score()
}

func (p *Predictor) at(abs int) float64 { return p.hist[abs-p.off] }

// score turns issued forecasts whose horizon has passed into errors.
func (p *Predictor) score() {
	n := p.off + len(p.hist)
	for len(p.pending) > 0 && p.pending[0].at+p.Horizon <= n {
		is := p.pending[0]
		p.pending = p.pending[1:]
		if is.at < p.off {
			continue
		}
		act := math.Inf(-1)
		for j := is.at; j < is.at+p.Horizon; j++ {
			act = math.Max(act, p.at(j))
		}
		e := act - is.peak
		if len(p.errs) >= p.ErrWindow {
			old := p.errs[0]
			p.errs = p.errs[1:]
			if i, ok := slices.BinarySearch(p.sorted, old); ok {
				p.sorted = slices.Delete(p.sorted, i, i+1)
			}
		}
		p.errs = append(p.errs, e)
		i, _ := slices.BinarySearch(p.sorted, e)
		p.sorted = slices.Insert(p.sorted, i, e)
	}
}

// Forecast returns the forecast of the next Horizon observations, the first
// at start, or nil when the model cannot be fitted yet.
func (p *Predictor) Forecast(start time.Time) *Forecast {
	n := p.off + len(p.hist)
	if n == 0 {
		return nil
	}
	h := p.Horizon
	if p.model == nil || n-p.fitAt >= p.RefitEvery {
		from := max(p.off, n-p.FitWindow)
		m, err := p.Model.Fit(p.hist[from-p.off:], p.Season)
		if err != nil {
			p.model = nil
			return nil
		}
		p.model, p.fitAt = m, n
		f := m.Forecast(p.RefitEvery + h + 1)
		p.mean, p.upper = f.Mean, f.Upper
	}
	k := n - p.fitAt // the next observation's index in the model's forecast
	if k+h > len(p.mean) {
		return nil
	}
	delta, nd := 0.0, 0
	for i := 1; i <= p.Anchor && k-i >= 0 && n-i >= p.off; i++ {
		delta += p.at(n-i) - p.mean[k-i]
		nd++
	}
	if nd > 0 {
		delta /= float64(nd)
	}
	out := &Forecast{Start: start, Step: p.Step, Model: p.Model.Name(), Mean: make([]float64, h), Upper: make([]float64, h), Errors: p.sorted}
	if d, ok := p.model.(forecast.Describer); ok {
		out.Model = d.Describe()
	}
	peak := math.Inf(-1)
	for j := 0; j < h; j++ {
		out.Mean[j] = math.Max(0, p.mean[k+j]+delta)
		peak = math.Max(peak, out.Mean[j])
		out.Upper[j] = out.Mean[j]
		if k+j < len(p.upper) {
			out.Upper[j] = math.Max(out.Mean[j], p.upper[k+j]+delta)
		}
	}
	p.pending = append(p.pending, issued{at: n, peak: peak})
	return out
}
