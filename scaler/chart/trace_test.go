package chart

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"aas/scaler/trace"
)

// tracesDir finds shared/traces above the package directory; it skips
// when absent, except in CI.
func tracesDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "traces")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if os.Getenv("CI") != "" {
		t.Fatal("shared/traces not found (required in CI)")
	}
	t.Skip("shared/traces not found")
	return ""
}

// traceChart charts a real trace with a capacity step line sized for 100
// requests per minute per instance.
func traceChart(tr *trace.Trace) Chart {
	c := Chart{Title: tr.Name, YLabel: "requests/min", RightYLabel: "instances"}
	load := tr.Loads()
	capa := make([]float64, len(load))
	for i, p := range tr.Points {
		c.T = append(c.T, float64(p.T))
		capa[i] = math.Max(1, math.Ceil(load[i]/100))
		if i > 0 && capa[i] != capa[i-1] {
			c.Actions = append(c.Actions, Action{T: float64(p.T), From: int(capa[i-1]), To: int(capa[i])})
		}
	}
	c.Series = []Series{{Name: "load", Values: load}, {Name: "capacity", Values: capa, Step: true, Right: true}}
	return c
}

func TestRenderRealTraces(t *testing.T) {
	dir := tracesDir(t)
	for _, name := range []string{"nasa_http_1995.csv", "worldcup98.csv", "azure_functions_2019.csv", "aws_elb_requests.csv"} {
		t.Run(name, func(t *testing.T) {
			tr, err := trace.ParseFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := Render(&buf, traceChart(tr)); err != nil {
				t.Fatal(err)
			}
			_, series := parseSVG(t, buf.Bytes())
			if len(series) != 2 {
				t.Errorf("series %v", series)
			}
			// However long the trace, the file stays bounded.
			if buf.Len() > 600<<10 {
				t.Errorf("%d points rendered to %d bytes", tr.Len(), buf.Len())
			}
			t.Logf("%s: %d points → %d bytes", name, tr.Len(), buf.Len())
		})
	}
}
