// Package trace reads workload traces in the project's CSV format and offers
// the few transformations the simulator and the policies need: the load
// column, resampling to a coarser step, a time window and quantiles.
//
// The format (see shared/traces/README.md):
//
//	# comment lines start with '#'
//	t,load
//	0,42
//	60,61
//
// t is an integer number of seconds ≥ 0, strictly increasing; load is a finite
// number ≥ 0 (a count per sample step or a utilisation level).
//
// The package is pure apart from ParseFile (file.go), a thin wrapper that
// opens a file and calls Parse.
package trace

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ErrSyntax is wrapped by every error Parse returns for malformed input;
// test with errors.Is(err, trace.ErrSyntax).
var ErrSyntax = errors.New("trace syntax error")

// MaxLineBytes bounds the length of one input line; longer lines are rejected
// rather than buffered.
const MaxLineBytes = 64 << 10

// Header is the one header line the format allows.
const Header = "t,load"

// SyntaxError describes one malformed line. Its text is
// "name:line: field: reason"; it unwraps to ErrSyntax.
type SyntaxError struct {
	Name   string // trace name given to Parse (usually the file path)
	Line   int    // 1-based line number
	Field  string // "t", "load", "header", "line" or "trace"
	Reason string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d: %s: %s", e.Name, e.Line, e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrSyntax) true.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// Point is one sample: the load observed from T until the next sample.
type Point struct {
	T    int64   // seconds since the start of the trace
	Load float64 // demand in the sample, ≥ 0
}

// Trace is a parsed workload trace.
type Trace struct {
	Name     string   // usually the file name
	Comments []string // the text of the '#' lines, without the '#' and one leading space
	Step     int64    // the most common difference between consecutive T (0 with fewer than two points)
	Points   []Point  // strictly increasing T
}

// Parse reads a trace from r. name is used in error messages
// ("name:line: field: reason") and stored in Trace.Name.
func Parse(r io.Reader, name string) (*Trace, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLineBytes)
	tr := &Trace{Name: name}
	synErr := func(line int, field, format string, args ...any) error {
		return &SyntaxError{Name: name, Line: line, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	lineNo := 0
	sawHeader := false
	for sc.Scan() {
		lineNo++
		raw := sc.Bytes()
		if lineNo == 1 {
			raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")) // UTF-8 BOM
		}
		if sawHeader {
			// Fast path for the common "123,456" line: no allocation.
			if t, load, ok := fastSample(raw); ok {
				if n := len(tr.Points); n > 0 && t <= tr.Points[n-1].T {
					return nil, synErr(lineNo, "t", "%d is not after the previous sample's %d (t must be strictly increasing)", t, tr.Points[n-1].T)
				}
				tr.Points = append(tr.Points, Point{T: t, Load: load})
				continue
			}
		}
		line := strings.TrimSpace(string(raw))
		if line == "" {
			continue
		}
		if line[0] == '#' {
			tr.Comments = append(tr.Comments, strings.TrimPrefix(line[1:], " "))
			continue
		}
		if !sawHeader {
			if h, l, _ := strings.Cut(line, ","); strings.TrimSpace(h)+","+strings.TrimSpace(l) != Header {
				return nil, synErr(lineNo, "header", "want %q before the first sample, got %q", Header, clip(line))
			}
			sawHeader = true
			continue
		}
		ts, ls, ok := strings.Cut(line, ",")
		if !ok {
			return nil, synErr(lineNo, "line", "want 2 columns (t,load), got 1")
		}
		if strings.Contains(ls, ",") {
			return nil, synErr(lineNo, "line", "want 2 columns (t,load), got %d", strings.Count(line, ",")+1)
		}
		ts, ls = strings.TrimSpace(ts), strings.TrimSpace(ls)
		t, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return nil, synErr(lineNo, "t", "not an integer number of seconds: %q", clip(ts))
		}
		if t < 0 {
			return nil, synErr(lineNo, "t", "must be ≥ 0, got %d", t)
		}
		if n := len(tr.Points); n > 0 && t <= tr.Points[n-1].T {
			return nil, synErr(lineNo, "t", "%d is not after the previous sample's %d (t must be strictly increasing)", t, tr.Points[n-1].T)
		}
		load, err := strconv.ParseFloat(ls, 64)
		switch {
		case err != nil && errors.Is(err, strconv.ErrRange):
			return nil, synErr(lineNo, "load", "out of range: %q", clip(ls))
		case err != nil:
			return nil, synErr(lineNo, "load", "not a number: %q", clip(ls))
		case math.IsNaN(load) || math.IsInf(load, 0):
			return nil, synErr(lineNo, "load", "must be finite, got %q", clip(ls))
		case load < 0:
			return nil, synErr(lineNo, "load", "must be ≥ 0, got %s", clip(ls))
		}
		tr.Points = append(tr.Points, Point{T: t, Load: load + 0}) // +0 turns -0 into 0
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, synErr(lineNo+1, "line", "longer than %d bytes", MaxLineBytes)
		}
		return nil, fmt.Errorf("%s: read: %w", name, err)
	}
	if !sawHeader {
		return nil, synErr(lineNo, "header", "missing %q header", Header)
	}
	if len(tr.Points) == 0 {
		return nil, synErr(lineNo, "trace", "no samples after the header")
	}
	tr.Step = modalStep(tr.Points)
	return tr, nil
}

// fastSample parses a line of two plain decimal integers "t,load" (at most
// 15 digits each, so both are exact); anything else is left to the general
// path, which also produces the errors.
func fastSample(b []byte) (int64, float64, bool) {
	i := bytes.IndexByte(b, ',')
	if i < 1 || i > 15 || len(b)-i-1 < 1 || len(b)-i-1 > 15 {
		return 0, 0, false
	}
	digits := func(d []byte) (int64, bool) {
		var v int64
		for _, c := range d {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int64(c-'0')
		}
		return v, true
	}
	t, ok1 := digits(b[:i])
	l, ok2 := digits(b[i+1:])
	return t, float64(l), ok1 && ok2
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// modalStep returns the most common difference between consecutive points;
// on a tie the smaller difference wins, so the result is deterministic.
func modalStep(ps []Point) int64 {
	if len(ps) < 2 {
		return 0
	}
	counts := make(map[int64]int)
	var best int64
	bestN := 0
	for i := 1; i < len(ps); i++ {
		d := ps[i].T - ps[i-1].T
		counts[d]++
		n := counts[d]
		if n > bestN || (n == bestN && d < best) {
			best, bestN = d, n
		}
	}
	return best
}

// Len returns the number of samples.
func (tr *Trace) Len() int { return len(tr.Points) }

// Loads returns a new slice holding the load column.
func (tr *Trace) Loads() []float64 {
	out := make([]float64, len(tr.Points))
	for i, p := range tr.Points {
		out[i] = p.Load
	}
	return out
}

// Times returns a new slice holding the time column in seconds.
func (tr *Trace) Times() []int64 {
	out := make([]int64, len(tr.Points))
	for i, p := range tr.Points {
		out[i] = p.T
	}
	return out
}

// Start returns the first sample's time (0 for an empty trace).
func (tr *Trace) Start() int64 {
	if len(tr.Points) == 0 {
		return 0
	}
	return tr.Points[0].T
}

// End returns the time just after the last sample: its T plus Step.
func (tr *Trace) End() int64 {
	if len(tr.Points) == 0 {
		return 0
	}
	return tr.Points[len(tr.Points)-1].T + tr.Step
}

// Resample sums the loads into buckets of step seconds aligned to t = 0
// (bucket k covers [k·step, (k+1)·step)), which is the right aggregation for
// counts per sample such as requests per minute. Every bucket between the
// first and the last sample's bucket is present; a bucket without samples has
// load 0. Resample is meant for coarser steps; with step ≤ 0 it returns a
// copy. The receiver is not modified.
//
// Should the grid need more than 4·Len()+MaxGapBuckets buckets (a trace
// with an absurd gap), only the non-empty buckets are emitted, each followed
// by one zero bucket when the next sample is further away — the same step
// function, with memory bounded by the input's size.
func (tr *Trace) Resample(step int64) *Trace {
	if step <= 0 || len(tr.Points) == 0 {
		return tr.clone(tr.Points)
	}
	first := floorDiv(tr.Points[0].T, step)
	last := floorDiv(tr.Points[len(tr.Points)-1].T, step)
	dense := uint64(last-first) < 4*uint64(len(tr.Points))+MaxGapBuckets
	out := &Trace{
		Name:     tr.Name,
		Comments: slices.Clone(tr.Comments),
		Step:     step,
	}
	if dense {
		out.Points = make([]Point, 0, last-first+1)
	}
	for i := 0; i < len(tr.Points); {
		k := floorDiv(tr.Points[i].T, step)
		var sum float64
		for i < len(tr.Points) && floorDiv(tr.Points[i].T, step) == k {
			sum += tr.Points[i].Load
			i++
		}
		out.Points = append(out.Points, Point{T: k * step, Load: sum})
		if i == len(tr.Points) {
			break
		}
		next := floorDiv(tr.Points[i].T, step)
		if dense {
			for z := k + 1; z < next; z++ {
				out.Points = append(out.Points, Point{T: z * step})
			}
		} else if next > k+1 {
			out.Points = append(out.Points, Point{T: (k + 1) * step})
		}
	}
	return out
}

// MaxGapBuckets is how many empty buckets beyond four per sample Resample
// fills in before it switches to the sparse form.
const MaxGapBuckets = 1 << 16

// floorDiv divides rounding towards minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// Window returns the samples with from ≤ T < to as a new trace with the same
// name, comments and step. The points are copied.
func (tr *Trace) Window(from, to int64) *Trace {
	lo, _ := slices.BinarySearchFunc(tr.Points, from, func(p Point, t int64) int { return cmpInt(p.T, t) })
	hi, _ := slices.BinarySearchFunc(tr.Points, to, func(p Point, t int64) int { return cmpInt(p.T, t) })
	if hi < lo {
		hi = lo
	}
	return tr.clone(tr.Points[lo:hi])
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (tr *Trace) clone(ps []Point) *Trace {
	return &Trace{
		Name:     tr.Name,
		Comments: slices.Clone(tr.Comments),
		Step:     tr.Step,
		Points:   slices.Clone(ps),
	}
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1, clamped) of xs with linear
// interpolation between closest ranks (the R-7 / NumPy default definition).
// NaN values are ignored; it returns NaN when no value is left. xs is not
// modified.
func Quantile(xs []float64, q float64) float64 {
	s := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 || math.IsNaN(q) {
		return math.NaN()
	}
	slices.Sort(s)
	q = min(max(q, 0), 1)
	h := q * float64(len(s)-1)
	lo := int(math.Floor(h))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// Gap is a span without samples: from the last sample before it (From) to
// the next sample (To).
type Gap struct {
	From, To int64
}

// Gaps lists the spans where consecutive samples are more than factor ×
// Step apart (factor < 1 counts as 1), e.g. the 82-hour hole in the NASA
// trace before its outage. A counts-per-step trace says nothing about load
// inside a gap; Resample treats it as zero.
func (tr *Trace) Gaps(factor float64) []Gap {
	if tr.Step <= 0 {
		return nil
	}
	limit := float64(tr.Step) * max(factor, 1)
	var out []Gap
	for i := 1; i < len(tr.Points); i++ {
		if float64(tr.Points[i].T-tr.Points[i-1].T) > limit {
			out = append(out, Gap{From: tr.Points[i-1].T, To: tr.Points[i].T})
		}
	}
	return out
}
