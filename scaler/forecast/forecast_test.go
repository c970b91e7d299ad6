package forecast

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// Every model of the package satisfies the internal interfaces Auto and
// Evaluate rely on.
var (
	_ Model = (*AutoModel)(nil)
	_       = []Forecaster{Naive{}, SeasonalNaive{}, Linear{}, HoltWinters{}, ARIMA{}, LSTM{}, Auto{}}
)

// seasonalSeries is level + slope*t + amp*sin(2*pi*t/period) + N(0, noise),
// seeded.
func seasonalSeries(n, period int, level, slope, amp, noise float64, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	y := make([]float64, n)
	for t := range y {
		y[t] = level + slope*float64(t) + amp*math.Sin(2*math.Pi*float64(t)/float64(period)) + noise*r.NormFloat64()
	}
	return y
}

func TestRegistry(t *testing.T) {
	want := []string{NameARIMA, NameAuto, NameHoltWinters, NameLinear, NameLSTM, NameNaive, NameSeasonalNaive}
	slices.Sort(want)
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for _, n := range Names() {
		f, err := Get(n)
		if err != nil {
			t.Fatalf("Get(%q): %v", n, err)
		}
		if f.Name() != n {
			t.Errorf("Get(%q).Name() = %q", n, f.Name())
		}
	}
	if _, err := Get("prophet"); !errors.Is(err, ErrUnknownModel) {
		t.Fatalf("Get(prophet) error = %v, want ErrUnknownModel", err)
	}
}

// TestForecastShape checks every model's contract on one series: h values,
// Lower <= Mean <= Upper, non-negative for a load series, empty for h = 0,
// a description, and a band that does not narrow with the horizon.
func TestForecastShape(t *testing.T) {
	y := seasonalSeries(24*14, 24, 100, 0.05, 30, 5, 1)
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			f, _ := Get(name)
			m, err := f.Fit(y, 24)
			if err != nil {
				t.Fatal(err)
			}
			if d, ok := m.(Describer); !ok || d.Describe() == "" {
				t.Errorf("model does not describe itself")
			}
			if fc := m.Forecast(0); len(fc.Mean) != 0 || fc.Lower == nil {
				t.Errorf("Forecast(0) = %+v, want empty non-nil slices", fc)
			}
			const h = 48
			fc := m.Forecast(h)
			if len(fc.Mean) != h || len(fc.Lower) != h || len(fc.Upper) != h {
				t.Fatalf("lengths %d/%d/%d, want %d", len(fc.Mean), len(fc.Lower), len(fc.Upper), h)
			}
			for i := range fc.Mean {
				if !(fc.Lower[i] <= fc.Mean[i] && fc.Mean[i] <= fc.Upper[i]) || fc.Lower[i] < 0 {
					t.Fatalf("step %d: lower %v mean %v upper %v", i, fc.Lower[i], fc.Mean[i], fc.Upper[i])
				}
			}
			if w0, wh := fc.Upper[0]-fc.Lower[0], fc.Upper[h-1]-fc.Lower[h-1]; wh < w0*0.999 {
				t.Errorf("band narrows: width %v at h=1, %v at h=%d", w0, wh, h)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	y := seasonalSeries(100, 10, 10, 0, 1, 0.1, 2)
	for _, name := range Names() {
		f, _ := Get(name)
		for _, bad := range []float64{math.NaN(), math.Inf(1)} {
			z := slices.Clone(y)
			z[50] = bad
			if _, err := f.Fit(z, 0); !errors.Is(err, ErrBadInput) {
				t.Errorf("%s: Fit with %v: error %v, want ErrBadInput", name, bad, err)
			}
		}
		if _, err := f.Fit(y[:1], 0); !errors.Is(err, ErrTooShort) {
			t.Errorf("%s: Fit on 1 point: error %v, want ErrTooShort", name, err)
		}
	}
}

func TestKnownForecasts(t *testing.T) {
	line := make([]float64, 50)
	for i := range line {
		line[i] = 3 + 2*float64(i)
	}
	saw := make([]float64, 40)
	for i := range saw {
		saw[i] = float64(i % 4)
	}
	tests := []struct {
		name   string
		f      Forecaster
		y      []float64
		season int
		want   []float64
		tol    float64
	}{
		{"naive repeats the last value", Naive{}, []float64{5, 7, 4, 9}, 0, []float64{9, 9, 9}, 0},
		{"seasonal-naive repeats the last season", SeasonalNaive{}, saw, 4, []float64{0, 1, 2, 3, 0, 1}, 0},
		{"seasonal-naive detects the season", SeasonalNaive{}, saw, 0, []float64{0, 1, 2, 3}, 0},
		{"linear extrapolates a line", Linear{Window: 10}, line, 0, []float64{103, 105, 107}, 1e-9},
		{"holt-winters follows a line", HoltWinters{NoLog: true}, line, -1, []float64{103, 105, 107}, 0.05},
		{"arima follows a line", ARIMA{NoLog: true}, line, -1, []float64{103, 105, 107}, 0.05},
		{"holt-winters repeats a clean season", HoltWinters{}, saw, 4, []float64{0, 1, 2, 3}, 0.05},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.f.Fit(tc.y, tc.season)
			if err != nil {
				t.Fatal(err)
			}
			got := m.Forecast(len(tc.want)).Mean
			for i := range got {
				if math.Abs(got[i]-tc.want[i]) > tc.tol {
					t.Fatalf("forecast %v, want %v (±%v)", got, tc.want, tc.tol)
				}
			}
		})
	}
}

func TestNaiveBand(t *testing.T) {
	// One-step differences are ±2, so sigma = 2 and the band is
	// ±1.96*2*sqrt(h).
	m, err := Naive{}.Fit([]float64{10, 12, 10, 12, 10}, 0)
	if err != nil {
		t.Fatal(err)
	}
	fc := m.Forecast(4)
	for h := 1; h <= 4; h++ {
		want := z95 * 2 * math.Sqrt(float64(h))
		if got := fc.Upper[h-1] - fc.Mean[h-1]; math.Abs(got-want) > 1e-9 {
			t.Errorf("h=%d: half-width %v, want %v", h, got, want)
		}
	}
}

func TestDetectSeason(t *testing.T) {
	tests := []struct {
		name string
		y    []float64
		want int
	}{
		{"daily", seasonalSeries(24*10, 24, 50, 0, 10, 1, 3), 24},
		{"period 7 with trend", seasonalSeries(7*12, 7, 50, 0.5, 10, 1, 4), 7},
		{"white noise", seasonalSeries(300, 24, 50, 0, 0, 1, 5), 0},
		{"too short", []float64{1, 2, 3, 4}, 0},
	}
	for _, tc := range tests {
		if got := DetectSeason(tc.y); got != tc.want {
			t.Errorf("%s: DetectSeason = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestStateReplayMatchesFit checks the fixed-parameter machinery Auto and
// Evaluate use: replaying a model over the series it was fitted on gives
// the same forecast, and the one-step replay agrees with extend.
func TestStateReplayMatchesFit(t *testing.T) {
	y := seasonalSeries(24*12, 24, 200, 0.2, 40, 6, 6)
	n := len(y)
	for _, f := range []Forecaster{Naive{}, SeasonalNaive{}, Linear{}, HoltWinters{}, ARIMA{}, ARIMA{SeasonalDiff: -1}, LSTM{Epochs: 3}, Auto{}} {
		t.Run(f.Name(), func(t *testing.T) {
			m, err := f.Fit(y[:n-30], 24)
			if err != nil {
				t.Fatal(err)
			}
			ex := m.(extender)
			same := ex.extend(y[:n-30]).Forecast(5).Mean
			if !closeSlices(same, m.Forecast(5).Mean, 1e-6) {
				t.Fatalf("extend over the fitted series: %v, fit: %v", same, m.Forecast(5).Mean)
			}
			one := m.(oneStepper).oneStep(y, n-30)
			for _, k := range []int{0, 7, 29} {
				got := ex.extend(y[:n-30+k]).Forecast(1).Mean[0]
				if math.Abs(got-one[k]) > 1e-6*math.Max(1, math.Abs(got)) {
					t.Fatalf("origin +%d: oneStep %v, extend %v", k, one[k], got)
				}
			}
		})
	}
}

func closeSlices(a, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol*math.Max(1, math.Abs(a[i])) {
			return false
		}
	}
	return true
}

func TestLSTMDeterministicAndLearns(t *testing.T) {
	y := seasonalSeries(24*10, 24, 100, 0, 40, 2, 7)
	a, err := LSTM{Seed: 42, Epochs: 20}.Fit(y, 24)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := LSTM{Seed: 42, Epochs: 20}.Fit(y, 24)
	c, _ := LSTM{Seed: 43, Epochs: 20}.Fit(y, 24)
	fa, fb, fc := a.Forecast(12).Mean, b.Forecast(12).Mean, c.Forecast(12).Mean
	if !slices.Equal(fa, fb) {
		t.Fatalf("same seed, different forecasts: %v vs %v", fa, fb)
	}
	if slices.Equal(fa, fc) {
		t.Fatalf("different seeds, identical forecasts")
	}
	// On a clean sine the trained network beats the naive forecast.
	// (one fit, then its state advances over the 24 origins).
	opts := EvalOptions{Season: 24, Horizon: 1, Origins: 24, RefitEvery: 24}
	sl, err := EvaluateWith(LSTM{Seed: 42, Epochs: 20}, y, opts)
	if err != nil {
		t.Fatal(err)
	}
	sn, _ := EvaluateWith(Naive{}, y, opts)
	if !(sl.OneStep.MASE < sn.OneStep.MASE) {
		t.Fatalf("lstm MASE %v, naive %v", sl.OneStep.MASE, sn.OneStep.MASE)
	}
}

func TestARIMARecoversAR1(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	y := make([]float64, 600)
	for i := 1; i < len(y); i++ {
		y[i] = 0.7*y[i-1] + r.NormFloat64()
	}
	m, err := ARIMA{}.Fit(y, -1)
	if err != nil {
		t.Fatal(err)
	}
	am := m.(*arimaModel)
	if am.spec.d != 0 || am.spec.D != 0 || am.spec.p < 1 {
		t.Fatalf("chose %s, want an AR model without differencing", am.Describe())
	}
	// Forecasts decay towards the mean as 0.7^h (approximately).
	fc := m.Forecast(30).Mean
	if math.Abs(fc[29]-mean(y)) > 0.1 {
		t.Errorf("30-step forecast %v, want the mean %v", fc[29], mean(y))
	}
	// The band approaches the process sd 1/sqrt(1-0.49) = 1.4.
	if w := (m.Forecast(30).Upper[29] - fc[29]) / z95; math.Abs(w-1.4) > 0.15 {
		t.Errorf("long-run sd %v, want ~1.4", w)
	}
}

func TestAutoPicksSeasonalModel(t *testing.T) {
	y := seasonalSeries(24*14, 24, 300, 0, 100, 5, 8)
	m, err := Auto{}.Fit(y, 0)
	if err != nil {
		t.Fatal(err)
	}
	am := m.(*AutoModel)
	if c := am.Chosen(); c == NameNaive || c == NameLinear {
		t.Fatalf("auto chose %s on a strongly seasonal series: %s", c, am.Describe())
	}
	if len(am.Candidates()) != len(DefaultCandidates()) {
		t.Errorf("%d candidate scores, want %d", len(am.Candidates()), len(DefaultCandidates()))
	}
}
