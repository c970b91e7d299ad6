package forecast

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestAccuracyMeasures(t *testing.T) {
	tests := []struct {
		name             string
		actual, forecast []float64
		mae, smape       float64
	}{
		{"exact", []float64{1, 2, 3}, []float64{1, 2, 3}, 0, 0},
		{"offsets", []float64{10, 20}, []float64{12, 15}, 3.5, 100 * (2.0/22 + 5.0/35)},
		{"zero against zero counts 0", []float64{0, 4}, []float64{0, 0}, 2, 100},
	}
	for _, tc := range tests {
		if got := MAE(tc.actual, tc.forecast); math.Abs(got-tc.mae) > 1e-12 {
			t.Errorf("%s: MAE = %v, want %v", tc.name, got, tc.mae)
		}
		if got := SMAPE(tc.actual, tc.forecast); math.Abs(got-tc.smape) > 1e-9 {
			t.Errorf("%s: sMAPE = %v, want %v", tc.name, got, tc.smape)
		}
	}
	if !math.IsNaN(MAE(nil, nil)) || !math.IsNaN(MAE([]float64{1}, []float64{1, 2})) {
		t.Error("MAE of empty or mismatched slices is not NaN")
	}
	train := []float64{1, 3, 2, 6} // lag-1 |diffs| 2,1,4 -> 7/3; lag-2: 1,3 -> 2
	if got := NaiveScale(train, 1); math.Abs(got-7.0/3) > 1e-12 {
		t.Errorf("NaiveScale lag 1 = %v, want 7/3", got)
	}
	if got := MASE([]float64{5}, []float64{7}, train, 2); math.Abs(got-1) > 1e-12 {
		t.Errorf("MASE lag 2 = %v, want 1", got)
	}
}

// TestEvaluateNaiveByHand recomputes a small rolling-origin evaluation of
// the naive forecast by hand.
func TestEvaluateNaiveByHand(t *testing.T) {
	y := []float64{10, 12, 11, 15, 14, 18, 17}
	// Horizon 2, 3 origins: T0 = 7-3-2+1 = 3; origins fit on y[:3], y[:4],
	// y[:5]. One-step: forecasts 11, 15, 14 against 15, 14, 18 -> |4|,|1|,|4|.
	// Two-step: forecasts 11, 15, 14 against 14, 18, 17 -> 3, 3, 3.
	// Scale: lag-1 naive MAE of y[:3] = (2+1)/2 = 1.5.
	s := Evaluate(Naive{}, y, 0, 2, 3)
	if s.Err != "" {
		t.Fatal(s.Err)
	}
	if s.Scale != 1.5 || s.OneStep.MAE != 3 || s.HStep.MAE != 3 || s.OneStep.MASE != 2 || s.HStep.MASE != 2 {
		t.Fatalf("got %+v", s)
	}
}

func TestEvaluateErrors(t *testing.T) {
	y := seasonalSeries(50, 10, 10, 0, 1, 0.1, 3)
	tests := []struct {
		name                    string
		horizon, origins, every int
		want                    error
	}{
		{"zero horizon", 0, 5, 1, ErrBadInput},
		{"zero origins", 1, 0, 1, ErrBadInput},
		{"no training data left", 10, 40, 1, ErrTooShort},
	}
	for _, tc := range tests {
		_, err := EvaluateWith(Naive{}, y, EvalOptions{Horizon: tc.horizon, Origins: tc.origins, RefitEvery: tc.every})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
		if s := Evaluate(Naive{}, y, 0, tc.horizon, tc.origins); s.Err == "" || !math.IsNaN(s.OneStep.MASE) {
			t.Errorf("%s: Evaluate did not report the error: %+v", tc.name, s)
		}
	}
	// A fit failure names the origin.
	_, err := EvaluateWith(LSTM{Window: 40}, y, EvalOptions{Horizon: 1, Origins: 10})
	if !errors.Is(err, ErrTooShort) || !strings.Contains(err.Error(), "origin 0") {
		t.Errorf("fit failure: %v", err)
	}
}

// TestEvaluateRefitEvery checks that periodic re-estimation changes only
// how parameters are refreshed: with a parameter-free model the scores are
// identical, and Auto reports its choices per origin.
func TestEvaluateRefitEvery(t *testing.T) {
	y := seasonalSeries(24*12, 24, 100, 0, 30, 3, 4)
	a := Evaluate(SeasonalNaive{}, y, 24, 3, 48)
	b, err := EvaluateWith(SeasonalNaive{}, y, EvalOptions{Season: 24, Horizon: 3, Origins: 48, RefitEvery: 10})
	if err != nil {
		t.Fatal(err)
	}
	if a.OneStep != b.OneStep || a.HStep != b.HStep {
		t.Fatalf("refit every 10 changed seasonal-naive: %+v vs %+v", a, b)
	}
	c, err := EvaluateWith(Auto{}, y, EvalOptions{Season: 24, Horizon: 1, Origins: 48, RefitEvery: 24})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, n := range c.Chosen {
		total += n
	}
	if total != 48 {
		t.Fatalf("auto chose %v, want 48 choices", c.Chosen)
	}
	if !(c.OneStep.MASE < Evaluate(Naive{}, y, 24, 1, 48).OneStep.MASE) {
		t.Errorf("auto MASE %v not below naive on a seasonal series", c.OneStep.MASE)
	}
}

func TestScoresJSONWithNaN(t *testing.T) {
	s := Evaluate(Naive{}, []float64{1, 2}, 0, 1, 5)
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"mase":null`) || !strings.Contains(string(b), `"error":`) {
		t.Fatalf("json %s", b)
	}
}

// TestAutoHorizon checks the multi-step selection on a random walk plus a
// daily sine: one step ahead the naive forecast is better (the walk
// dominates), twelve steps ahead the seasonal-naive one is (the sine's half
// period dominates). Auto must follow its Horizon.
func TestAutoHorizon(t *testing.T) {
	r := rand.New(rand.NewPCG(12, 12))
	y := make([]float64, 24*20)
	walk := 500.0
	for i := range y {
		walk += r.NormFloat64()
		y[i] = walk + 10*math.Sin(2*math.Pi*float64(i)/24)
	}
	cands := []Forecaster{Naive{}, SeasonalNaive{}}
	for _, tc := range []struct {
		horizon int
		want    string
	}{{1, NameNaive}, {12, NameSeasonalNaive}} {
		m, err := Auto{Candidates: cands, Horizon: tc.horizon}.Fit(y, 24)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.(*AutoModel).Chosen(); got != tc.want {
			t.Errorf("horizon %d: chose %s, want %s (%s)", tc.horizon, got, tc.want, m.(Describer).Describe())
		}
	}
}
