package forecast

import (
	"fmt"
	"math"
)

// Naive forecasts every future step as the last observation (random walk).
// Its band is the random-walk one: sigma*sqrt(h), sigma from the in-sample
// one-step differences.
type Naive struct{}

var _ Forecaster = Naive{}

// Name returns "naive".
func (Naive) Name() string { return NameNaive }

// Fit needs at least two observations.
func (Naive) Fit(y []float64, _ int) (Model, error) {
	return fitSeasonalNaive(y, 1)
}

// SeasonalNaive forecasts step h as the observation one season before it,
// y[n-m+((h-1) mod m)]; without a season (given or detected) it is Naive.
type SeasonalNaive struct{}

var _ Forecaster = SeasonalNaive{}

// Name returns "seasonal-naive".
func (SeasonalNaive) Name() string { return NameSeasonalNaive }

// Fit needs at least one season plus one observation.
func (SeasonalNaive) Fit(y []float64, season int) (Model, error) {
	m := resolveSeason(y, season)
	if m < 1 {
		m = 1
	}
	return fitSeasonalNaive(y, m)
}

type seasonalNaiveModel struct {
	y     []float64 // last m observations
	m     int
	sigma float64
	clip  bool
}

var (
	_ Model      = (*seasonalNaiveModel)(nil)
	_ oneStepper = (*seasonalNaiveModel)(nil)
)

func fitSeasonalNaive(y []float64, m int) (Model, error) {
	if err := checkSeries(y); err != nil {
		return nil, err
	}
	if len(y) < m+1 {
		return nil, fmt.Errorf("%w: %s needs %d observations, got %d", ErrTooShort, NameSeasonalNaive, m+1, len(y))
	}
	ss := 0.0
	for i := m; i < len(y); i++ {
		d := y[i] - y[i-m]
		ss += d * d
	}
	last := make([]float64, m)
	copy(last, y[len(y)-m:])
	return &seasonalNaiveModel{y: last, m: m, sigma: math.Sqrt(ss / float64(len(y)-m)), clip: nonNegative(y)}, nil
}

// Season returns the period used (1 = plain naive).
func (s *seasonalNaiveModel) Season() int { return s.m }

func (s *seasonalNaiveModel) Forecast(h int) Forecast {
	if h <= 0 {
		return emptyForecast()
	}
	mu := make([]float64, h)
	sd := make([]float64, h)
	for i := 0; i < h; i++ {
		mu[i] = s.y[i%s.m]
		sd[i] = s.sigma * math.Sqrt(float64(i/s.m+1))
	}
	return band(mu, sd, s.clip)
}

func (s *seasonalNaiveModel) oneStep(y []float64, start int) []float64 {
	p := make([]float64, len(y)-start)
	for i := range p {
		t := start + i
		if t >= s.m {
			p[i] = y[t-s.m]
		} else if t > 0 {
			p[i] = y[t-1]
		} else {
			p[i] = y[0]
		}
	}
	return p
}

// Linear fits a least-squares line to the last Window observations and
// extrapolates it. Window 0 means two seasons when a season is known
// (given or detected), else 24 steps; the window is cut to the series.
type Linear struct {
	Window int
}

var _ Forecaster = Linear{}

// Name returns "linear".
func (Linear) Name() string { return NameLinear }

// Fit needs at least three observations.
func (l Linear) Fit(y []float64, season int) (Model, error) {
	if err := checkSeries(y); err != nil {
		return nil, err
	}
	if len(y) < 3 {
		return nil, fmt.Errorf("%w: %s needs 3 observations, got %d", ErrTooShort, NameLinear, len(y))
	}
	w := l.Window
	if w <= 0 {
		w = 24
		if m := resolveSeason(y, season); m > 1 {
			w = 2 * m
		}
	}
	w = max(3, min(w, len(y)))
	a, b, sigma := ols(y[len(y)-w:])
	return &linearModel{a: a, b: b, sigma: sigma, w: w, clip: nonNegative(y)}, nil
}

// ols fits y[i] = a + b*i, i = 0..len(y)-1, and returns the residual sd.
func ols(y []float64) (a, b, sigma float64) {
	n := float64(len(y))
	xm := (n - 1) / 2
	ym := mean(y)
	sxy, sxx := 0.0, 0.0
	for i, v := range y {
		dx := float64(i) - xm
		sxy += dx * (v - ym)
		sxx += dx * dx
	}
	if sxx > 0 {
		b = sxy / sxx
	}
	a = ym - b*xm
	ss := 0.0
	for i, v := range y {
		r := v - a - b*float64(i)
		ss += r * r
	}
	if len(y) > 2 {
		sigma = math.Sqrt(ss / (n - 2))
	}
	return a, b, sigma
}

type linearModel struct {
	a, b, sigma float64
	w           int
	clip        bool
}

var (
	_ Model      = (*linearModel)(nil)
	_ oneStepper = (*linearModel)(nil)
)

func (l *linearModel) Forecast(h int) Forecast {
	if h <= 0 {
		return emptyForecast()
	}
	mu := make([]float64, h)
	sd := make([]float64, h)
	n := float64(l.w)
	xm := (n - 1) / 2
	sxx := n * (n*n - 1) / 12
	for i := 0; i < h; i++ {
		x := n - 1 + float64(i+1)
		mu[i] = l.a + l.b*x
		// OLS prediction interval for a new observation at x.
		sd[i] = l.sigma * math.Sqrt(1+1/n+(x-xm)*(x-xm)/sxx)
	}
	return band(mu, sd, l.clip)
}

func (l *linearModel) oneStep(y []float64, start int) []float64 {
	p := make([]float64, len(y)-start)
	for i := range p {
		t := start + i
		lo := max(0, t-l.w)
		if t-lo < 3 {
			if t > 0 {
				p[i] = y[t-1]
			}
			continue
		}
		a, b, _ := ols(y[lo:t])
		p[i] = a + b*float64(t-lo)
		if l.clip {
			p[i] = math.Max(p[i], 0)
		}
	}
	return p
}

// Describe names the model and its period.
func (s *seasonalNaiveModel) Describe() string {
	if s.m <= 1 {
		return NameNaive
	}
	return fmt.Sprintf("%s m=%d", NameSeasonalNaive, s.m)
}

// Describe names the model, its window and slope.
func (l *linearModel) Describe() string {
	return fmt.Sprintf("%s window=%d slope=%.4g", NameLinear, l.w, l.b)
}

var (
	_ extender = (*seasonalNaiveModel)(nil)
	_ extender = (*linearModel)(nil)
)

func (s *seasonalNaiveModel) extend(y []float64) Model {
	if md, err := fitSeasonalNaive(y, s.m); err == nil {
		md.(*seasonalNaiveModel).sigma = s.sigma
		return md
	}
	return s
}

func (l *linearModel) extend(y []float64) Model {
	w := min(l.w, len(y))
	a, b, sigma := ols(y[len(y)-w:])
	return &linearModel{a: a, b: b, sigma: sigma, w: w, clip: l.clip}
}
