package forecast

import (
	"fmt"
	"math"
	"strings"
)

// Auto picks, for the series at hand, the candidate forecaster with the
// lowest one-step MASE in a rolling-origin back-test over the last part of
// the series, then fits the winner on the whole series.
//
// The back-test is cheap: each candidate is fitted once on the series
// before the hold-out and then replayed over the hold-out with its
// parameters fixed (one-step predictions from every origin in one pass), so
// a selection costs about two fits per candidate rather than one per origin.
// The chosen model's name is exposed (AutoModel.Chosen) so that a caller can
// cache the choice and refit only that model until it re-selects.
type Auto struct {
	// Candidates are the forecasters to choose from (default
	// DefaultCandidates()). Ties go to the earlier one, so list the simpler
	// models first.
	Candidates []Forecaster
	// Holdout is the number of back-test origins (default: a fifth of the
	// series, at least 12, at most max(168, 4 seasons) — a week of hourly
	// data: the choice should reflect the recent regime; DESIGN.md has the
	// sensitivity figures).
	Holdout int
	// Horizon > 1 scores the candidates on their mean absolute error over
	// steps 1..Horizon (from up to 48 origins spread over the hold-out, each
	// candidate's state advanced to the origin with its parameters fixed)
	// instead of one step ahead: set it to the lead time the forecast is
	// for. Default 1.
	Horizon int
	// NoRefit keeps the winner's parameters from the back-test fit and only
	// advances its state over the hold-out instead of refitting it.
	NoRefit bool
}

var _ Forecaster = Auto{}

// DefaultCandidates is Auto's default candidate list: naive,
// seasonal-naive, linear, holt-winters, arima and arima without seasonal
// differencing. The LSTM is not a default candidate (its fit costs more than
// all others together); add LSTM{} to Candidates to include it.
func DefaultCandidates() []Forecaster {
	return []Forecaster{Naive{}, SeasonalNaive{}, Linear{}, HoltWinters{}, ARIMA{}, ARIMA{SeasonalDiff: -1}}
}

// Name returns "auto".
func (Auto) Name() string { return NameAuto }

// CandidateScore is one candidate's back-test result.
type CandidateScore struct {
	Name  string  `json:"name"`
	Model string  `json:"model,omitempty"` // the fitted model's description
	MASE  float64 `json:"mase"`            // one-step, NaN when it failed
	Err   string  `json:"error,omitempty"`
}

// AutoModel is the Model Auto returns.
type AutoModel struct {
	chosen     Forecaster
	model      Model
	candidates []CandidateScore
}

var (
	_ Model      = (*AutoModel)(nil)
	_ oneStepper = (*AutoModel)(nil)
	_ Describer  = (*AutoModel)(nil)
)

// Chosen is the name of the winning forecaster (e.g. "holt-winters").
func (a *AutoModel) Chosen() string { return a.chosen.Name() }

// Forecaster returns the winning forecaster with its settings.
func (a *AutoModel) Forecaster() Forecaster { return a.chosen }

// Candidates returns every candidate's back-test score.
func (a *AutoModel) Candidates() []CandidateScore {
	return append([]CandidateScore(nil), a.candidates...)
}

// Forecast delegates to the winning model.
func (a *AutoModel) Forecast(h int) Forecast { return a.model.Forecast(h) }

// Describe names the winner and the back-test scores.
func (a *AutoModel) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "auto: %s", a.chosen.Name())
	if d, ok := a.model.(Describer); ok {
		fmt.Fprintf(&b, " [%s]", d.Describe())
	}
	b.WriteString(" (back-test MASE")
	for _, c := range a.candidates {
		if c.Err == "" {
			fmt.Fprintf(&b, " %s=%.3f", c.Name, c.MASE)
		}
	}
	b.WriteString(")")
	return b.String()
}

func (a *AutoModel) oneStep(y []float64, start int) []float64 {
	if os, ok := a.model.(oneStepper); ok {
		return os.oneStep(y, start)
	}
	return (&seasonalNaiveModel{m: 1}).oneStep(y, start)
}

// Fit runs the back-test and fits the winner; see Auto.
func (au Auto) Fit(y []float64, season int) (Model, error) {
	if err := checkSeries(y); err != nil {
		return nil, err
	}
	n := len(y)
	cands := au.Candidates
	if len(cands) == 0 {
		cands = DefaultCandidates()
	}
	m := resolveSeason(y, season)
	if m <= 1 {
		m = -1 // none: candidates must not detect one again
	}
	k := au.Holdout
	if k <= 0 {
		k = min(max(n/5, 12), max(168, 4*m))
	}
	if n-k < 4 {
		// Too short to back-test: the first candidate that fits wins.
		for _, c := range cands {
			if md, err := c.Fit(y, m); err == nil {
				return &AutoModel{chosen: c, model: md}, nil
			}
		}
		return nil, fmt.Errorf("%w: %s: no candidate fits %d observations", ErrTooShort, NameAuto, n)
	}
	train := y[:n-k]
	scale := NaiveScale(train, 1)
	if !(scale > 0) {
		scale = 1
	}
	scores := make([]CandidateScore, len(cands))
	models := make([]Model, len(cands))
	best := -1
	for i, c := range cands {
		scores[i] = CandidateScore{Name: c.Name(), MASE: math.NaN()}
		md, err := c.Fit(train, m)
		if err != nil {
			scores[i].Err = err.Error()
			continue
		}
		if d, ok := md.(Describer); ok {
			scores[i].Model = d.Describe()
		}
		mae, ok := backTest(md, y, n-k, au.Horizon)
		if !ok {
			scores[i].Err = "model cannot be back-tested"
			continue
		}
		models[i] = md
		scores[i].MASE = mae / scale
		if best < 0 || scores[i].MASE < scores[best].MASE {
			best = i
		}
	}
	if best < 0 {
		return nil, fmt.Errorf("%w: %s: no candidate fits the first %d observations", ErrTooShort, NameAuto, n-k)
	}
	var final Model
	if au.NoRefit {
		if ex, ok := models[best].(extender); ok {
			final = ex.extend(y)
		}
	}
	if final == nil {
		md, err := cands[best].Fit(y, m)
		if err != nil {
			return nil, fmt.Errorf("%s: refit %s: %w", NameAuto, cands[best].Name(), err)
		}
		final = md
	}
	return &AutoModel{chosen: cands[best], model: final, candidates: scores}, nil
}

// backTest returns md's mean absolute error over y[from:] with its
// parameters fixed: one step ahead from every origin, or over steps
// 1..horizon from up to 48 origins spread over the range.
func backTest(md Model, y []float64, from, horizon int) (float64, bool) {
	if horizon <= 1 {
		os, ok := md.(oneStepper)
		if !ok {
			return 0, false
		}
		return MAE(y[from:], os.oneStep(y, from)), true
	}
	ex, ok := md.(extender)
	if !ok {
		return 0, false
	}
	k := len(y) - from
	stride := max(1, k/48)
	sum, cnt := 0.0, 0
	for o := from; o < len(y); o += stride {
		h := min(horizon, len(y)-o)
		fc := ex.extend(y[:o]).Forecast(h)
		for j := 0; j < h; j++ {
			sum += math.Abs(y[o+j] - fc.Mean[j])
			cnt++
		}
	}
	return sum / float64(cnt), true
}

// extender is implemented by fitted models that can advance their state over
// a longer series (whose prefix they were fitted on) with their parameters
// fixed, returning a model that forecasts from the end of y.
type extender interface {
	extend(y []float64) Model
}

var _ extender = (*AutoModel)(nil)

func (a *AutoModel) extend(y []float64) Model {
	c := *a
	if ex, ok := a.model.(extender); ok {
		c.model = ex.extend(y)
	}
	return &c
}
