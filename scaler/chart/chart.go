// Package chart draws time-series charts of a scaling run as self-contained
// SVG: the load, the supplied capacity as a step line, a forecast with its
// uncertainty band, and the scale-out / scale-in actions, with a time axis,
// value axes, a legend and a title. Long series are reduced to about
// MaxPoints points (minimum and maximum per bucket, so peaks survive) so that
// a chart of a two-month trace stays small.
//
// Pure: Render writes to the io.Writer it is given and does nothing else.
package chart

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// ErrBadChart is wrapped by the errors Render returns for inconsistent input.
var ErrBadChart = errors.New("chart: bad input")

// MaxPoints is the default number of points a series is reduced to.
const MaxPoints = 2000

// Chart is one chart. All series, the band and the actions share the time
// axis T (seconds, non-decreasing).
type Chart struct {
	Title   string
	T       []float64 // seconds since the start of the run
	Series  []Series
	Band    *Band    // optional shaded band, e.g. a forecast's interval
	Actions []Action // optional scaling actions

	YLabel      string // left axis label, e.g. "requests/min"
	RightYLabel string // right axis label, used when a series has Right set

	Width, Height int // pixels; 0 means 1200 × 480
	MaxPoints     int // per series; 0 means MaxPoints
}

// Series is one line. Values has the length of Chart.T; NaN leaves a gap.
type Series struct {
	Name   string
	Values []float64
	Step   bool   // draw as a step function (the value holds until the next T)
	Dashed bool   // e.g. a forecast
	Right  bool   // plot against the right axis (e.g. instances next to load)
	Color  string // CSS colour; empty picks one from the palette
}

// Band is a shaded area between Lower and Upper (each of length len(T),
// NaN where there is no band), drawn against the left or right axis.
type Band struct {
	Name         string
	Lower, Upper []float64
	Right        bool
	Color        string
}

// Action is one scaling action, drawn as a marker: ▲ for scale-out
// (To > From), ▼ for scale-in.
type Action struct {
	T        float64
	From, To int
	Reason   string // shown as the marker's tooltip
}

// palette avoids the action markers' green and red; its third colour is
// the band's default, so a forecast listed third matches its band.
var palette = []string{"#1f77b4", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

const (
	marginLeft   = 70.0
	marginRight  = 70.0
	marginTop    = 40.0
	marginBottom = 70.0
	outColor     = "#2ca02c"
	inColor      = "#d62728"
)

func (c *Chart) validate() error {
	n := len(c.T)
	if n == 0 {
		return fmt.Errorf("%w: no time points", ErrBadChart)
	}
	for i, t := range c.T {
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return fmt.Errorf("%w: T[%d] is not finite", ErrBadChart, i)
		}
		if i > 0 && t < c.T[i-1] {
			return fmt.Errorf("%w: T[%d]=%g is before T[%d]=%g", ErrBadChart, i, t, i-1, c.T[i-1])
		}
	}
	for _, s := range c.Series {
		if len(s.Values) != n {
			return fmt.Errorf("%w: series %q has %d values for %d time points", ErrBadChart, s.Name, len(s.Values), n)
		}
	}
	if b := c.Band; b != nil && (len(b.Lower) != n || len(b.Upper) != n) {
		return fmt.Errorf("%w: band %q has %d/%d values for %d time points", ErrBadChart, b.Name, len(b.Lower), len(b.Upper), n)
	}
	if c.Width < 0 || c.Height < 0 || c.MaxPoints < 0 {
		return fmt.Errorf("%w: negative size", ErrBadChart)
	}
	return nil
}

// axis maps data values to pixels.
type axis struct {
	lo, hi float64 // data range
	p0, p1 float64 // pixel range (p0 ↔ lo)
	ticks  []float64
	step   float64
	used   bool
}

func (a *axis) px(v float64) float64 {
	if a.hi == a.lo {
		return (a.p0 + a.p1) / 2
	}
	return a.p0 + (v-a.lo)/(a.hi-a.lo)*(a.p1-a.p0)
}

// include widens the data range to cover v.
func (a *axis) include(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if !a.used {
		a.lo, a.hi, a.used = v, v, true
		return
	}
	a.lo, a.hi = math.Min(a.lo, v), math.Max(a.hi, v)
}

// niceValueAxis rounds the range to nice ticks, starting at 0 for
// non-negative data.
func (a *axis) niceValueAxis() {
	if !a.used {
		a.lo, a.hi = 0, 1
	}
	if a.lo > 0 {
		a.lo = 0
	}
	if a.hi == a.lo {
		a.hi = a.lo + 1
	}
	a.step = niceStep(a.hi/5 - a.lo/5) // halves first: hi − lo may overflow
	a.lo = math.Floor(a.lo/a.step) * a.step
	a.hi = math.Ceil(a.hi/a.step) * a.step
	if math.IsInf(a.lo, 0) || math.IsInf(a.hi, 0) {
		a.lo, a.hi = -math.MaxFloat64, math.MaxFloat64
	}
	for i := 0; i <= maxTicks; i++ {
		v := a.lo + float64(i)*a.step
		if v > a.hi+a.step/2 {
			break
		}
		a.ticks = append(a.ticks, v)
	}
}

// maxTicks bounds the ticks of an axis whatever the data.
const maxTicks = 12

// niceStep returns 1, 2 or 5 × 10^k ≥ raw.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsNaN(raw) || math.IsInf(raw, 0) {
		return 1
	}
	exp := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*exp >= raw {
			return m * exp
		}
	}
	return 10 * exp
}

// timeSteps are the tick intervals of the time axis, in seconds.
var timeSteps = []float64{
	1, 2, 5, 10, 15, 30,
	60, 120, 300, 600, 900, 1800,
	3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600,
	86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400, 56 * 86400, 112 * 86400, 364 * 86400,
}

func (a *axis) niceTimeAxis() {
	span := a.hi - a.lo
	if span <= 0 {
		a.hi = a.lo + 1
		span = 1
	}
	longest := timeSteps[len(timeSteps)-1]
	a.step = niceStep(span/10/longest) * longest // beyond the table: years
	for _, s := range timeSteps {
		if span/s <= 10 {
			a.step = s
			break
		}
	}
	first := math.Ceil(a.lo/a.step) * a.step
	for i := 0; i <= maxTicks; i++ {
		v := first + float64(i)*a.step
		if v > a.hi {
			break
		}
		a.ticks = append(a.ticks, v)
	}
}

// timeLabel formats seconds as "Nd hh:mm", "hh:mm" or "mm:ss".
func timeLabel(sec, step float64) string {
	neg := ""
	if sec < 0 {
		neg, sec = "-", -sec
	}
	s := int64(math.Round(sec))
	d, h, m, ss := s/86400, s%86400/3600, s%3600/60, s%60
	switch {
	case step < 60:
		if h > 0 || d > 0 {
			return fmt.Sprintf("%s%d:%02d:%02d", neg, d*24+h, m, ss)
		}
		return fmt.Sprintf("%s%d:%02d", neg, m, ss)
	case d > 0 && h == 0 && m == 0 && step >= 86400:
		return fmt.Sprintf("%sday %d", neg, d)
	case d > 0:
		return fmt.Sprintf("%s%dd %02d:%02d", neg, d, h, m)
	default:
		return fmt.Sprintf("%s%02d:%02d", neg, h, m)
	}
}

func fmtValue(v, step float64) string {
	switch {
	case step >= 1 && math.Abs(v) >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case step >= 1 && math.Abs(v) >= 1e4:
		return fmt.Sprintf("%gk", v/1e3)
	}
	return fmt.Sprintf("%g", math.Round(v/step*1e6)/1e6*step)
}

// Render writes c as one SVG document to w.
func Render(w io.Writer, c Chart) error {
	if err := c.validate(); err != nil {
		return err
	}
	width, height := float64(c.Width), float64(c.Height)
	if width == 0 {
		width = 1200
	}
	if height == 0 {
		height = 480
	}
	maxPts := c.MaxPoints
	if maxPts == 0 {
		maxPts = MaxPoints
	}
	left, right, top, bottom := marginLeft, width-marginRight, marginTop, height-marginBottom
	if right-left < 10 || bottom-top < 10 {
		return fmt.Errorf("%w: %gx%g is too small", ErrBadChart, width, height)
	}

	x := axis{p0: left, p1: right}
	x.include(c.T[0])
	x.include(c.T[len(c.T)-1])
	x.niceTimeAxis()
	yl, yr := axis{p0: bottom, p1: top}, axis{p0: bottom, p1: top}
	hasRight := false
	for _, s := range c.Series {
		a := &yl
		if s.Right {
			a, hasRight = &yr, true
		}
		for _, v := range s.Values {
			a.include(v)
		}
	}
	if b := c.Band; b != nil {
		a := &yl
		if b.Right {
			a, hasRight = &yr, true
		}
		for i := range b.Lower {
			a.include(b.Lower[i])
			a.include(b.Upper[i])
		}
	}
	yl.niceValueAxis()
	yr.niceValueAxis()

	bw := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(bw, format, args...) }
	p(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	p(`<title>%s</title>`+"\n", esc(c.Title))
	p(`<rect width="100%%" height="100%%" fill="white"/>` + "\n")
	p(`<text x="%g" y="24" text-anchor="middle" font-size="16" font-weight="bold">%s</text>`+"\n", width/2, esc(c.Title))

	// Grid and axes.
	p(`<g class="grid" stroke="#e0e0e0" stroke-width="1">` + "\n")
	for _, v := range yl.ticks {
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", left, yl.px(v), right, yl.px(v))
	}
	for _, v := range x.ticks {
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", x.px(v), top, x.px(v), bottom)
	}
	p("</g>\n")
	p(`<g class="axes" stroke="#333" fill="none"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/></g>`+"\n", left, top, right-left, bottom-top)
	p(`<g class="x-axis" text-anchor="middle">` + "\n")
	for _, v := range x.ticks {
		p(`<text x="%.1f" y="%.1f">%s</text>`+"\n", x.px(v), bottom+16, esc(timeLabel(v, x.step)))
	}
	p(`<text x="%.1f" y="%.1f">time since start</text>`+"\n", (left+right)/2, bottom+34)
	p("</g>\n")
	p(`<g class="y-axis" text-anchor="end">` + "\n")
	for _, v := range yl.ticks {
		p(`<text x="%.1f" y="%.1f">%s</text>`+"\n", left-6, yl.px(v)+4, esc(fmtValue(v, yl.step)))
	}
	if c.YLabel != "" {
		p(`<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", (top+bottom)/2, esc(c.YLabel))
	}
	p("</g>\n")
	if hasRight {
		p(`<g class="y-axis-right" text-anchor="start">` + "\n")
		for _, v := range yr.ticks {
			p(`<text x="%.1f" y="%.1f">%s</text>`+"\n", right+6, yr.px(v)+4, esc(fmtValue(v, yr.step)))
		}
		if c.RightYLabel != "" {
			p(`<text transform="translate(%.1f %.1f) rotate(90)" text-anchor="middle">%s</text>`+"\n", width-16, (top+bottom)/2, esc(c.RightYLabel))
		}
		p("</g>\n")
	}

	gap := gapThreshold(c.T)

	type legendEntry struct {
		name, color, kind string // kind: line, dashed, band, out, in
	}
	var legend []legendEntry

	// Band first, so the lines are drawn over it.
	if b := c.Band; b != nil {
		a := &yl
		if b.Right {
			a = &yr
		}
		color := b.Color
		if color == "" {
			color = "#ff7f0e"
		}
		p(`<g class="band" fill="%s" fill-opacity="0.3" stroke="none">`+"\n", esc(color))
		for _, seg := range bandSegments(c.T, b.Lower, b.Upper, maxPts, gap) {
			var sb strings.Builder
			for i, pt := range seg.upper {
				cmd := "L"
				if i == 0 {
					cmd = "M"
				}
				fmt.Fprintf(&sb, "%s%.1f %.1f", cmd, x.px(pt.t), a.px(pt.v))
			}
			for i := len(seg.lower) - 1; i >= 0; i-- {
				fmt.Fprintf(&sb, "L%.1f %.1f", x.px(seg.lower[i].t), a.px(seg.lower[i].v))
			}
			p(`<path d="%sZ"/>`+"\n", sb.String())
		}
		p("</g>\n")
		name := b.Name
		if name == "" {
			name = "band"
		}
		legend = append(legend, legendEntry{name, color, "band"})
	}

	for i, s := range c.Series {
		a := &yl
		if s.Right {
			a = &yr
		}
		color := s.Color
		if color == "" {
			color = palette[i%len(palette)]
		}
		dash := ""
		kind := "line"
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
			kind = "dashed"
		}
		p(`<g class="series" data-name="%s" fill="none" stroke="%s" stroke-width="1.5"%s><title>%s</title>`+"\n", esc(s.Name), esc(color), dash, esc(s.Name))
		segGap := gap
		if s.Step {
			segGap = 0 // a step value holds until the next sample, gap or not
		}
		for _, seg := range reduce(c.T, s.Values, maxPts, segGap) {
			var sb strings.Builder
			for j, pt := range seg {
				px, py := x.px(pt.t), a.px(pt.v)
				switch {
				case j == 0:
					fmt.Fprintf(&sb, "M%.1f %.1f", px, py)
				case s.Step:
					fmt.Fprintf(&sb, "H%.1fV%.1f", px, py)
				default:
					fmt.Fprintf(&sb, "L%.1f %.1f", px, py)
				}
			}
			if s.Step && len(seg) > 0 {
				// The last value holds until the next time point (or the end).
				fmt.Fprintf(&sb, "H%.1f", x.px(seg[len(seg)-1].until))
			}
			p(`<path d="%s"/>`+"\n", sb.String())
		}
		p("</g>\n")
		legend = append(legend, legendEntry{s.Name, color, kind})
	}

	if len(c.Actions) > 0 {
		drawActions(p, c, &x, top, bottom)
		legend = append(legend, legendEntry{"scale-out", outColor, "out"}, legendEntry{"scale-in", inColor, "in"})
	}

	// Legend: one row under the axis labels.
	p(`<g class="legend">` + "\n")
	lx, ly := left, height-14
	for _, e := range legend {
		switch e.kind {
		case "band":
			p(`<rect x="%.1f" y="%.1f" width="20" height="10" fill="%s" fill-opacity="0.3"/>`+"\n", lx, ly-9, esc(e.color))
		case "out":
			p(`<path d="M%.1f %.1fl6 -10l6 10Z" fill="%s"/>`+"\n", lx+4, ly, outColor)
		case "in":
			p(`<path d="M%.1f %.1fl6 10l6 -10Z" fill="%s"/>`+"\n", lx+4, ly-10, inColor)
		default:
			dash := ""
			if e.kind == "dashed" {
				dash = ` stroke-dasharray="6 4"`
			}
			p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", lx, ly-4, lx+20, ly-4, esc(e.color), dash)
		}
		p(`<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+26, ly, esc(e.name))
		lx += 26 + 7*float64(len([]rune(e.name))) + 24
	}
	p("</g>\n</svg>\n")
	return bw.Flush()
}

// drawActions draws at most one scale-out and one scale-in marker per pixel
// column; the tooltip counts the actions merged into a marker.
func drawActions(p func(string, ...any), c Chart, x *axis, top, bottom float64) {
	type mark struct {
		n     int
		first Action
		last  Action
	}
	type key struct {
		col int
		out bool
	}
	marks := make(map[key]*mark)
	var order []key
	for _, a := range c.Actions {
		if math.IsNaN(a.T) || a.T < x.lo || a.T > x.hi || a.To == a.From {
			continue
		}
		k := key{int(math.Round(x.px(a.T) / 3)), a.To > a.From}
		m, ok := marks[k]
		if !ok {
			m = &mark{first: a}
			marks[k] = m
			order = append(order, k)
		}
		m.n++
		m.last = a
	}
	p(`<g class="actions">` + "\n")
	for _, k := range order {
		m := marks[k]
		px := x.px(m.first.T)
		tip := fmt.Sprintf("%s: %d → %d", timeLabel(m.first.T, 1), m.first.From, m.first.To)
		if m.first.Reason != "" {
			tip += " (" + m.first.Reason + ")"
		}
		if m.n > 1 {
			tip += fmt.Sprintf(" … %d actions to %d", m.n, m.last.To)
		}
		if k.out {
			p(`<path d="M%.1f %.1fl-5 9h10Z" fill="%s"><title>%s</title></path>`+"\n", px, bottom-10, outColor, esc(tip))
		} else {
			p(`<path d="M%.1f %.1fl-5 -9h10Z" fill="%s"><title>%s</title></path>`+"\n", px, top+10, inColor, esc(tip))
		}
	}
	p("</g>\n")
}

func esc(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			sb.WriteString("&amp;")
		case '<':
			sb.WriteString("&lt;")
		case '>':
			sb.WriteString("&gt;")
		case '"':
			sb.WriteString("&quot;")
		case '\'':
			sb.WriteString("&apos;")
		default:
			// Drop characters XML 1.0 does not allow.
			if r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0xD7FF) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF) {
				sb.WriteRune(r)
			}
		}
	}
	return sb.String()
}
