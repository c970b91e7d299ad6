package forecast

import "testing"

func TestExplore(t *testing.T) {
	for _, y := range [][]float64{nasaJulyHourly(t), worldCupHourly(t)} {
		for _, k := range []int{0, 24, 48, 72, 120, 168} {
			sc, err := EvaluateWith(Auto{Holdout: k}, y, EvalOptions{Horizon: 1, Origins: len(y) / 5, RefitEvery: 24})
			t.Logf("%d %.4f %v %v", k, sc.OneStep.MASE, sc.Chosen, err)
		}
	}
}
