package trace_test

import (
	"math"
	"strings"
	"testing"

	"aas/scaler/trace"
	"aas/scaler/trace/tracetest"
)

// The tests on the real traces are external: they read the traces through
// tracetest, which imports this package.

func TestParseRealTraces(t *testing.T) {
	tests := []struct {
		file     string
		step     int64
		minDays  float64
		comments int
	}{
		{"nasa_http_1995.csv", 60, 50, 3},
		{"worldcup98.csv", 60, 80, 2},
		{"azure_functions_2019.csv", 60, 0.9, 2},
		{"aws_elb_requests.csv", 300, 10, 2},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			tr := tracetest.Load(t, tc.file)
			if tr.Step != tc.step {
				t.Errorf("Step = %d, want %d", tr.Step, tc.step)
			}
			if len(tr.Comments) != tc.comments {
				t.Errorf("got %d comments, want %d: %q", len(tr.Comments), tc.comments, tr.Comments)
			}
			if !strings.HasPrefix(tr.Comments[0], "source:") {
				t.Errorf("first comment %q does not start with source:", tr.Comments[0])
			}
			days := float64(tr.End()-tr.Start()) / 86400
			if days < tc.minDays {
				t.Errorf("span %.2f days, want ≥ %.2f", days, tc.minDays)
			}
			for i := 1; i < len(tr.Points); i++ {
				if tr.Points[i].T <= tr.Points[i-1].T {
					t.Fatalf("point %d: t not increasing", i)
				}
			}
			// Resampling to an hour keeps the total load.
			total := trace.Sum(tr.Loads())
			h := tr.Resample(3600)
			if got := trace.Sum(h.Loads()); math.Abs(got-total) > 1e-6*math.Max(1, total) {
				t.Errorf("Resample(3600) total = %g, want %g", got, total)
			}
			if h.Step != 3600 {
				t.Errorf("resampled Step = %d", h.Step)
			}
			for i, p := range h.Points {
				if p.T%3600 != 0 || (i > 0 && p.T-h.Points[i-1].T != 3600) {
					t.Fatalf("resampled point %d at t=%d is not on the hourly grid", i, p.T)
				}
			}
			q50, q99 := trace.Quantile(tr.Loads(), 0.5), trace.Quantile(tr.Loads(), 0.99)
			if !(q50 <= q99) || q99 <= 0 {
				t.Errorf("quantiles p50=%g p99=%g", q50, q99)
			}
		})
	}
}

func TestNASAOutageIsZeros(t *testing.T) {
	tr := tracetest.Load(t, "nasa_http_1995.csv")
	// 1995-08-01 14:53 to 08-03 04:35 local time, trace starts 07-01 00:00.
	from := int64((31*24+14)*3600 + 53*60)
	to := int64((33*24+4)*3600 + 35*60)
	w := tr.Window(from+3600, to-3600)
	if w.Len() < 30*60 {
		t.Fatalf("outage window has %d points", w.Len())
	}
	if s := trace.Sum(w.Loads()); s != 0 {
		t.Errorf("outage window load sum = %g, want 0", s)
	}
}

func TestGapsNASA(t *testing.T) {
	nasa := tracetest.Load(t, "nasa_http_1995.csv")
	// The log has no records from 1995-07-28 13:32 to 08-01 00:00.
	if g := nasa.Gaps(10); len(g) != 1 || g[0].To-g[0].From < 80*3600 {
		t.Errorf("NASA gaps = %v, want one of ~82 h", g)
	}
}
