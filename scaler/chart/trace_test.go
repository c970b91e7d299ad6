package chart

import (
	"bytes"
	"math"
	"testing"

	"aas/scaler/trace"
	"aas/scaler/trace/tracetest"
)

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
	for _, name := range []string{"nasa_http_1995.csv", "worldcup98.csv", "azure_functions_2019.csv", "aws_elb_requests.csv"} {
		t.Run(name, func(t *testing.T) {
			tr := tracetest.Load(t, name)
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
