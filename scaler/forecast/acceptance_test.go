package forecast

import (
	"math"
	"testing"
)

// TestAcceptanceMASE is the forecast-accuracy criterion on the real
// traces, hourly sums: over the last fifth of the series (rolling origin,
// one step ahead), the naive forecast's MASE must come out at the reference
// values (0.82 on NASA July, 0.13 on World Cup), which pins the MASE
// definition, and auto's MASE must be below it. The models are re-estimated
// every 24 origins (daily) and only advance their state in between, to keep
// the test affordable under -race; `ctl forecast eval` reports the
// refit-at-every-origin figures (DESIGN.md).
func TestAcceptanceMASE(t *testing.T) {
	tests := []struct {
		name      string
		y         func(testing.TB) []float64
		wantNaive float64
	}{
		{"NASA July hourly", nasaJulyHourly, 0.82},
		{"World Cup hourly", worldCupHourly, 0.13},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			y := tc.y(t)
			opts := EvalOptions{Horizon: 1, Origins: len(y) / 5, RefitEvery: 24}
			naive, err := EvaluateWith(Naive{}, y, opts)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(naive.OneStep.MASE-tc.wantNaive) > 0.01 {
				t.Fatalf("naive MASE %.4f, reference %.2f: the MASE definition does not match", naive.OneStep.MASE, tc.wantNaive)
			}
			auto, err := EvaluateWith(Auto{}, y, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("n=%d origins=%d naive MASE %.4f, auto MASE %.4f (chosen %v)", len(y), opts.Origins, naive.OneStep.MASE, auto.OneStep.MASE, auto.Chosen)
			if !(auto.OneStep.MASE < naive.OneStep.MASE) {
				t.Errorf("auto one-step MASE %.4f is not below naive's %.4f", auto.OneStep.MASE, naive.OneStep.MASE)
			}
		})
	}
}

func TestDetectSeasonRealTraces(t *testing.T) {
	for name, y := range map[string][]float64{"nasa": nasaJulyHourly(t), "worldcup": worldCupHourly(t)} {
		if got := DetectSeason(y); got != 24 {
			t.Errorf("%s hourly: DetectSeason = %d, want 24", name, got)
		}
	}
}
