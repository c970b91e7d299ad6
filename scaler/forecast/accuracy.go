package forecast

import (
	"errors"
	"fmt"
	"math"
	"strconv"
)

// MAE is the mean absolute error of forecast against actual (equal lengths;
// NaN when empty).
func MAE(actual, forecast []float64) float64 {
	if len(actual) == 0 || len(actual) != len(forecast) {
		return math.NaN()
	}
	s := 0.0
	for i, a := range actual {
		s += math.Abs(a - forecast[i])
	}
	return s / float64(len(actual))
}

// SMAPE is the symmetric mean absolute percentage error in percent (0-200):
// 200/n * sum |a-f| / (|a|+|f|), a term with a = f = 0 counting as 0.
func SMAPE(actual, forecast []float64) float64 {
	if len(actual) == 0 || len(actual) != len(forecast) {
		return math.NaN()
	}
	s := 0.0
	for i, a := range actual {
		d := math.Abs(a) + math.Abs(forecast[i])
		if d > 0 {
			s += math.Abs(a-forecast[i]) / d
		}
	}
	return 200 * s / float64(len(actual))
}

// NaiveScale is the MASE denominator: the in-sample mean absolute error of
// the lag-m naive forecast on train, mean |y[t] - y[t-m]| (m < 1 counts as 1).
// NaN when train has m or fewer observations.
func NaiveScale(train []float64, m int) float64 {
	if m < 1 {
		m = 1
	}
	if len(train) <= m {
		return math.NaN()
	}
	s := 0.0
	for t := m; t < len(train); t++ {
		s += math.Abs(train[t] - train[t-m])
	}
	return s / float64(len(train)-m)
}

// MASE is the mean absolute scaled error: MAE(actual, forecast) divided by
// NaiveScale(train, m). With m = 1 this is Hyndman & Koehler's non-seasonal
// MASE, the definition Evaluate uses (see DESIGN.md); m = season gives the
// seasonal variant.
func MASE(actual, forecast, train []float64, m int) float64 {
	return MAE(actual, forecast) / NaiveScale(train, m)
}

// Accuracy is one set of error measures.
type Accuracy struct {
	MAE   float64 `json:"mae"`
	SMAPE float64 `json:"smape"`
	MASE  float64 `json:"mase"`
}

// MarshalJSON writes a non-finite measure (no data, zero scale) as null.
func (a Accuracy) MarshalJSON() ([]byte, error) {
	f := func(v float64) string {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return "null"
		}
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return []byte(`{"mae":` + f(a.MAE) + `,"smape":` + f(a.SMAPE) + `,"mase":` + f(a.MASE) + `}`), nil
}

// Scores is the result of a rolling-origin evaluation of one forecaster.
type Scores struct {
	Model   string `json:"model"`
	Horizon int    `json:"horizon"`
	Origins int    `json:"origins"`
	// Scale is the MASE denominator: the in-sample lag-1 naive MAE of the
	// series before the first origin.
	Scale float64 `json:"scale"`
	// OneStep scores the first forecast step at every origin, HStep the
	// Horizon-th step (equal to OneStep when Horizon is 1).
	OneStep Accuracy `json:"one_step"`
	HStep   Accuracy `json:"h_step"`
	// Chosen counts, for auto, which model each origin's fit picked.
	Chosen map[string]int `json:"chosen,omitempty"`
	// Err is set when the evaluation could not run (then the scores are NaN).
	Err string `json:"error,omitempty"`
}

// EvalOptions configures EvaluateWith.
type EvalOptions struct {
	// Season is passed to every Fit (0 = let the model detect it).
	Season int
	// Horizon is the number of steps forecast at each origin (>= 1).
	Horizon int
	// Origins is the number of forecast origins (>= 1).
	Origins int
	// ScaleLag is the lag of the naive forecast in the MASE denominator
	// (default 1).
	ScaleLag int
	// RefitEvery re-estimates the model at every RefitEvery-th origin only
	// (default 1: at every origin); in between, the last fitted model keeps
	// its parameters and only advances its state over the new observations
	// (models of this package all can; others are refitted).
	RefitEvery int
}

// Evaluate runs a rolling-origin evaluation of f over the end of y: origins
// forecast origins, each refitting f on everything before it and forecasting
// horizon steps. The last origin's horizon-th step is the last observation.
// A failure is reported in Scores.Err; see EvaluateWith.
func Evaluate(f Forecaster, y []float64, season, horizon, origins int) Scores {
	s, err := EvaluateWith(f, y, EvalOptions{Season: season, Horizon: horizon, Origins: origins})
	if err != nil {
		s.Err = err.Error()
	}
	return s
}

// EvaluateWith is Evaluate with options and an error: origin i (0-based)
// fits on y[:T_i] with T_i = len(y) - Origins - Horizon + 1 + i. One-step
// scores compare the forecasts' first step against y[T_i], h-step scores
// the Horizon-th step against y[T_i+Horizon-1]. MASE divides by the lag-1
// naive MAE of y[:T_0], the same for every model so their MASEs compare.
func EvaluateWith(f Forecaster, y []float64, o EvalOptions) (Scores, error) {
	nan := math.NaN()
	s := Scores{Model: f.Name(), Horizon: o.Horizon, Origins: o.Origins,
		OneStep: Accuracy{nan, nan, nan}, HStep: Accuracy{nan, nan, nan}}
	if err := checkSeries(y); err != nil {
		return s, err
	}
	if o.Horizon < 1 || o.Origins < 1 {
		return s, fmt.Errorf("%w: horizon %d and origins %d must be >= 1", ErrBadInput, o.Horizon, o.Origins)
	}
	lag := max(o.ScaleLag, 1)
	t0 := len(y) - o.Origins - o.Horizon + 1
	if t0 <= lag+1 {
		return s, fmt.Errorf("%w: %d observations leave no training data for %d origins and horizon %d",
			ErrTooShort, len(y), o.Origins, o.Horizon)
	}
	s.Scale = NaiveScale(y[:t0], lag)
	act1 := make([]float64, o.Origins)
	fc1 := make([]float64, o.Origins)
	actH := make([]float64, o.Origins)
	fcH := make([]float64, o.Origins)
	every := max(o.RefitEvery, 1)
	var last Model
	for i := 0; i < o.Origins; i++ {
		t := t0 + i
		var m Model
		if ex, ok := last.(extender); ok && i%every != 0 {
			m = ex.extend(y[:t])
		} else {
			var err error
			m, err = f.Fit(y[:t], o.Season)
			if err != nil {
				return s, fmt.Errorf("origin %d (fit on %d observations): %w", i, t, err)
			}
			last = m
		}
		fc := m.Forecast(o.Horizon)
		if len(fc.Mean) != o.Horizon {
			return s, errors.New("forecast: model returned a forecast of the wrong length")
		}
		act1[i], fc1[i] = y[t], fc.Mean[0]
		actH[i], fcH[i] = y[t+o.Horizon-1], fc.Mean[o.Horizon-1]
		if c, ok := m.(interface{ Chosen() string }); ok {
			if s.Chosen == nil {
				s.Chosen = map[string]int{}
			}
			s.Chosen[c.Chosen()]++
		}
	}
	s.OneStep = Accuracy{MAE: MAE(act1, fc1), SMAPE: SMAPE(act1, fc1), MASE: MAE(act1, fc1) / s.Scale}
	s.HStep = Accuracy{MAE: MAE(actH, fcH), SMAPE: SMAPE(actH, fcH), MASE: MAE(actH, fcH) / s.Scale}
	return s, nil
}
