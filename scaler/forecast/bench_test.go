package forecast

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time. The benchmarks report it
// per op (cpu-ns/op) beside the wall time: on a shared machine the wall
// time includes waiting for a core, the CPU time does not.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loop runs body b.N times and reports cpu-ns/op.
func loop(b *testing.B, body func()) {
	b.Helper()
	b.ReportAllocs()
	c0 := cpuTime()
	n := 0
	for b.Loop() {
		body()
		n++
	}
	b.ReportMetric(float64(cpuTime()-c0)/float64(n), "cpu-ns/op")
}

// nasaWeekMinutes is the first week of the NASA trace at its native
// 1-minute step: 10,080 points.
func nasaWeekMinutes(b testing.TB) []float64 {
	y := loadTrace(b, nasaFile, 0, 7*day, 0)
	if len(y) != 10080 {
		b.Fatalf("NASA first week has %d points, want 10080", len(y))
	}
	return y
}

func benchFit(b *testing.B, f Forecaster, y []float64, season int) {
	b.Helper()
	loop(b, func() {
		if _, err := f.Fit(y, season); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkHoltWintersFitWeek1m is the target: a Holt-Winters fit
// (all variants, both scales, daily season of 1440 steps) on one week of
// 1-minute data; the sub-benchmarks SSEPass (one pass of the smoothing
// recursions, the unit of the optimiser's work) and LinearFit are the
// baselines measured in the same run.
func BenchmarkHoltWintersFitWeek1m(b *testing.B) {
	y := nasaWeekMinutes(b)
	b.Run("HoltWinters", func(b *testing.B) { benchFit(b, HoltWinters{}, y, 1440) })
	b.Run("HoltWintersDetect", func(b *testing.B) { benchFit(b, HoltWinters{}, y, 0) })
	b.Run("SSEPass", func(b *testing.B) {
		in := initHW(y, 1440, trendDamped)
		st := hwInit{s: make([]float64, 1440)}
		p := hwParams{alpha: 0.3, beta: 0.01, gamma: 0.1, phi: 0.95}
		loop(b, func() { hwRun(y, in, p, &st, nil, 0) })
	})
	b.Run("LinearFit", func(b *testing.B) { benchFit(b, Linear{Window: len(y)}, y, 1440) })
}

// BenchmarkFitHourly fits every model on the hourly NASA July series (662
// points, season detected: 24) and on its last week (168 points).
func BenchmarkFitHourly(b *testing.B) {
	full := nasaJulyHourly(b)
	for _, s := range []struct {
		name string
		y    []float64
	}{{"month", full}, {"week", full[len(full)-168:]}} {
		for _, f := range []Forecaster{Naive{}, Linear{}, HoltWinters{}, ARIMA{}, LSTM{}, Auto{}} {
			b.Run(s.name+"/"+f.Name(), func(b *testing.B) { benchFit(b, f, s.y, 24) })
		}
	}
}
