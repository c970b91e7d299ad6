package sim

import (
	"encoding/csv"
	"io"
	"math"
	"strconv"
	"time"

	"aas/scaler/chart"
)

// Defaults of the benchmark setting (ctl simulate's flag defaults).
const (
	DefaultBootDelay = 3 * time.Minute
	DefaultInterval  = time.Minute
)

// WriteTimelineCSV writes timeline rows as CSV with a header.
func WriteTimelineCSV(w io.Writer, rows []Row) error {
	c := csv.NewWriter(w)
	_ = c.Write([]string{"t", "load", "demand", "ready", "booting", "desired", "forecast_peak", "forecast_lower", "forecast_upper", "reason"})
	f := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	for _, r := range rows {
		_ = c.Write([]string{strconv.FormatInt(r.T, 10), f(r.Load), strconv.Itoa(r.Demand), strconv.Itoa(r.Ready),
			strconv.Itoa(r.Booting), strconv.Itoa(r.Desired), f(r.Forecast), f(r.Lower), f(r.Upper), r.Reason})
	}
	c.Flush()
	return c.Error()
}

// TimelineChart builds the chart of one policy's timeline: load and the
// ready capacity (ready × capacity) in load units, the forecast band if any,
// and the scaling actions.
func TimelineChart(r Result, traceName string, capacity float64) chart.Chart {
	n := len(r.Timeline)
	c := chart.Chart{Title: traceName + " — " + r.Name, T: make([]float64, n), YLabel: "load per step", RightYLabel: "instances"}
	load := make([]float64, n)
	capy := make([]float64, n)
	demand := make([]float64, n)
	ready := make([]float64, n)
	lo, hi := make([]float64, n), make([]float64, n)
	band := false
	prev := -1
	for i, row := range r.Timeline {
		c.T[i] = float64(row.T)
		load[i] = row.Load
		capy[i] = float64(row.Ready) * capacity
		demand[i] = float64(row.Demand)
		ready[i] = float64(row.Ready)
		lo[i], hi[i] = row.Lower, row.Upper
		if !math.IsNaN(row.Upper) {
			band = true
		}
		cur := row.Ready + row.Booting
		if prev >= 0 && row.Reason != "" {
			c.Actions = append(c.Actions, chart.Action{T: float64(row.T), From: prev, To: row.Desired, Reason: row.Reason})
		}
		prev = cur
	}
	c.Series = []chart.Series{
		{Name: "load", Values: load},
		{Name: "ready capacity", Values: capy, Step: true},
		{Name: "demand (instances)", Values: demand, Step: true, Right: true, Dashed: true},
		{Name: "ready instances", Values: ready, Step: true, Right: true},
	}
	if band {
		c.Band = &chart.Band{Name: "forecast band", Lower: lo, Upper: hi}
	}
	return c
}
