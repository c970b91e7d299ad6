package forecast

import "testing"

func TestExplore(t *testing.T) {
	for _, s := range []struct {
		name string
		y    []float64
	}{{"wc", worldCupHourly(t)}} {
		for _, fd := range [][2]int{{1, 0}, {0, 1}, {1, 1}, {2, 0}} {
			forceDiff = &fd
			sc := Evaluate(ARIMA{}, s.y, 0, 1, len(s.y)/5)
			m, _ := ARIMA{}.Fit(s.y[:len(s.y)*4/5], 0)
			t.Logf("%s %v %.4f %v %s", s.name, fd, sc.OneStep.MASE, sc.Err, m.(Describer).Describe())
			sc = Evaluate(ARIMA{NoLog: true}, s.y, 0, 1, len(s.y)/5)
			m, _ = ARIMA{NoLog: true}.Fit(s.y[:len(s.y)*4/5], 0)
			t.Logf("%s %v %.4f %v %s", s.name, fd, sc.OneStep.MASE, sc.Err, m.(Describer).Describe())
		}
	}
}
