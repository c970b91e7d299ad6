package scaler

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
)

// Proposal is one policy's recommendation in a decision.
type Proposal struct {
	Policy  string `json:"policy"`
	Kind    Kind   `json:"kind"`
	Desired int    `json:"desired"`
	// Abstained: the policy had no opinion (no alarm, no data, no forecast);
	// Desired is then the current count.
	Abstained bool   `json:"abstained,omitempty"`
	Formula   string `json:"formula"`
}

// eps keeps ceil/floor stable against float noise: ceil(3.0000000001) = 3.
const eps = 1e-9

func ceil(x float64) int  { return int(math.Ceil(x - eps)) }
func floor(x float64) int { return int(math.Floor(x + eps)) }

func abstain(p *Policy, cur int, why string) Proposal {
	return Proposal{Policy: p.Name, Kind: p.Kind(), Desired: cur, Abstained: true, Formula: string(p.Kind()) + ": " + why}
}

// propose evaluates one dynamic policy.
func propose(p *Policy, o *observation, scratch []float64) Proposal {
	cur := o.current
	switch {
	case p.Reactive != nil:
		return reactive(p, o)
	case p.Target != nil:
		return targetTracking(p, o)
	case p.Step != nil:
		return stepScaling(p, o)
	case p.Simple != nil:
		return simpleScaling(p, o)
	case p.Proactive != nil:
		return proactive(p, o, scratch)
	case p.Predictive != nil:
		return predictive(p, o)
	}
	return abstain(p, cur, "not a dynamic policy")
}

func reactive(p *Policy, o *observation) Proposal {
	r := p.Reactive
	if !o.hasAvg() {
		return abstain(p, o.current, "no metric data")
	}
	n := o.serving
	switch {
	case o.avg > r.Threshold:
		add := ceil((o.avg - r.Threshold) / r.Threshold * float64(n))
		d := max(n+add, o.current)
		return Proposal{Policy: p.Name, Kind: KindReactive, Desired: d,
			Formula: fmt.Sprintf("reactive: ceil((%.2f-%.2f)/%.2f*%d)=%d → %d+%d=%d", o.avg, r.Threshold, r.Threshold, n, add, n, add, n+add)}
	case o.avg < r.ScaleInThreshold:
		rm := floor((r.ScaleInThreshold - o.avg) / r.ScaleInThreshold * float64(n))
		d := min(n-rm, o.current)
		return Proposal{Policy: p.Name, Kind: KindReactive, Desired: d,
			Formula: fmt.Sprintf("reactive: floor((%.2f-%.2f)/%.2f*%d)=%d → %d-%d=%d", r.ScaleInThreshold, o.avg, r.ScaleInThreshold, n, rm, n, rm, n-rm)}
	}
	return Proposal{Policy: p.Name, Kind: KindReactive, Desired: o.current,
		Formula: fmt.Sprintf("reactive: %.2f within [%.2f, %.2f] → hold %d", o.avg, r.ScaleInThreshold, r.Threshold, o.current)}
}

func targetTracking(p *Policy, o *observation) Proposal {
	t := p.Target
	if !o.hasAvg() {
		return abstain(p, o.current, "no metric data")
	}
	n := o.serving
	ratio := o.avg / t.Target
	switch {
	case ratio > 1+*t.Tolerance:
		d := ceil(float64(n) * ratio)
		return Proposal{Policy: p.Name, Kind: KindTarget, Desired: max(d, o.current),
			Formula: targetFormula(n, o.avg, t.Target, d)}
	case ratio < 1-*t.ScaleInTolerance:
		d := ceil(float64(n) * ratio)
		return Proposal{Policy: p.Name, Kind: KindTarget, Desired: min(d, o.current),
			Formula: targetFormula(n, o.avg, t.Target, d)}
	}
	return Proposal{Policy: p.Name, Kind: KindTarget, Desired: o.current,
		Formula: fmt.Sprintf("target: |%.2f/%.2f-1|=%.3f within tolerance → hold %d", o.avg, t.Target, math.Abs(ratio-1), o.current)}
}

// adjust applies an AWS-style adjustment to cur.
func adjust(cur int, adj float64, typ AdjustmentType) (int, string) {
	switch typ {
	case ExactCapacity:
		return int(math.Round(adj)), fmt.Sprintf("exact %d", int(math.Round(adj)))
	case PercentChangeInCapacity:
		ch := float64(cur) * adj / 100
		c := int(ch) // towards zero, as AWS; but at least one instance
		if c == 0 && adj > 0 {
			c = 1
		} else if c == 0 && adj < 0 {
			c = -1
		}
		return cur + c, fmt.Sprintf("%d%+.0f%%=%d%+d", cur, adj, cur, c)
	default:
		a := int(math.Round(adj))
		return cur + a, fmt.Sprintf("%d%+d", cur, a)
	}
}

func stepScaling(p *Policy, o *observation) Proposal {
	s := p.Step
	if !o.hasAvg() {
		return abstain(p, o.current, "no metric data")
	}
	diff := o.avg - s.Threshold
	for _, st := range s.Steps {
		if (st.Lower == nil || diff >= *st.Lower) && (st.Upper == nil || diff < *st.Upper) {
			d, f := adjust(o.current, st.Adjustment, s.AdjustmentType)
			if st.Adjustment > 0 {
				d = max(d, o.current)
			} else if st.Adjustment < 0 {
				d = min(d, o.current)
			}
			return Proposal{Policy: p.Name, Kind: KindStep, Desired: d,
				Formula: fmt.Sprintf("step: %.2f-%.2f=%+.2f in step %s → %s=%d", o.avg, s.Threshold, diff, stepRange(st), f, d)}
		}
	}
	return Proposal{Policy: p.Name, Kind: KindStep, Desired: o.current,
		Formula: fmt.Sprintf("step: %.2f-%.2f=%+.2f matches no step → hold %d", o.avg, s.Threshold, diff, o.current)}
}

func stepRange(st StepAdjustment) string {
	lo, hi := "-∞", "+∞"
	if st.Lower != nil {
		lo = fmt.Sprintf("%g", *st.Lower)
	}
	if st.Upper != nil {
		hi = fmt.Sprintf("%g", *st.Upper)
	}
	return "[" + lo + "," + hi + ")"
}

func simpleScaling(p *Policy, o *observation) Proposal {
	s := p.Simple
	if !o.hasAvg() {
		return abstain(p, o.current, "no metric data")
	}
	switch {
	case o.avg > s.ScaleOutThreshold:
		d, f := adjust(o.current, s.OutAdjustment, s.AdjustmentType)
		d = max(d, o.current)
		return Proposal{Policy: p.Name, Kind: KindSimple, Desired: d,
			Formula: fmt.Sprintf("simple: %.2f>%.2f → %s=%d", o.avg, s.ScaleOutThreshold, f, d)}
	case s.ScaleInThreshold > 0 && o.avg < s.ScaleInThreshold:
		adj := -s.InAdjustment
		if s.AdjustmentType == ExactCapacity {
			adj = s.InAdjustment
		}
		d, f := adjust(o.current, adj, s.AdjustmentType)
		d = min(d, o.current)
		return Proposal{Policy: p.Name, Kind: KindSimple, Desired: d,
			Formula: fmt.Sprintf("simple: %.2f<%.2f → %s=%d", o.avg, s.ScaleInThreshold, f, d)}
	}
	return Proposal{Policy: p.Name, Kind: KindSimple, Desired: o.current,
		Formula: fmt.Sprintf("simple: %.2f within [%.2f, %.2f] → hold %d", o.avg, s.ScaleInThreshold, s.ScaleOutThreshold, o.current)}
}

// trend estimates level, least-squares slope per period and the standard
// deviation of one-period changes from a series (NaN entries skipped).
func trend(y []float64) (level, slope, sigma float64, n int) {
	var sx, sy, sxx, sxy float64
	last := math.NaN()
	var dsum, dsq float64
	nd := 0
	prev := math.NaN()
	for i, v := range y {
		if math.IsNaN(v) {
			prev = math.NaN()
			continue
		}
		x := float64(i)
		sx += x
		sy += v
		sxx += x * x
		sxy += x * v
		n++
		last = v
		if !math.IsNaN(prev) {
			d := v - prev
			dsum += d
			dsq += d * d
			nd++
		}
		prev = v
	}
	level = last
	if n >= 2 {
		den := float64(n)*sxx - sx*sx
		if den != 0 {
			slope = (float64(n)*sxy - sx*sy) / den
		}
	}
	if nd >= 2 {
		m := dsum / float64(nd)
		sigma = math.Sqrt(math.Max(0, dsq/float64(nd)-m*m) * float64(nd) / float64(nd-1))
	} else if nd == 1 {
		sigma = math.Abs(dsum)
	}
	return level, slope, sigma, n
}

func proactive(p *Policy, o *observation, scratch []float64) Proposal {
	s := p.Proactive
	if s.Coverage > 0 {
		return quantileProvisioning(p, o, scratch)
	}
	if s.Quantile > 0 && s.CycleWindow > 0 {
		long := o.loadSeries(s.CycleWindow.D(), scratch)
		if period, r := shortCycle(long); period > 0 {
			return cyclic(p, o, long, period, r)
		}
	}
	y := o.loadSeries(s.Window.D(), scratch)
	level, slope, sigma, n := trend(y)
	if n < 2 || math.IsNaN(level) {
		return abstain(p, o.current, "not enough history")
	}
	if !o.hasAvg() {
		// The newest period is missing: trust the trend only for scaling out.
		level = math.Max(level, o.load)
	}
	h := float64(s.Horizon.D()) / float64(o.period)
	if s.Quantile > 0 {
		// Distribution-free level: the q-quantile of the window's load,
		// raised by the window's upward trend over the horizon.
		_, b := lineFit(y)
		up := math.Max(0, b) * h
		q := quantileOf(y, s.Quantile)
		peak := math.Max(0, q+up)
		d := ceil(peak / s.Target)
		f := quantileFormula(s.Quantile, s.Window, q, b, h, s.Target, d)
		return Proposal{Policy: p.Name, Kind: KindProactive, Desired: d, Formula: f}
	}
	up := math.Max(0, slope) * h
	margin := s.Confidence * sigma * math.Sqrt(math.Max(h, 1))
	peak := level + up + margin
	d := ceil(peak / s.Target)
	f := fmt.Sprintf("proactive: ceil((%.2f+max(0,%.3f)*%.1f+%.1f*%.3f*√%.1f)/%.2f)=ceil(%.2f/%.2f)=%d",
		level, slope, h, s.Confidence, sigma, h, s.Target, peak, s.Target, d)
	return Proposal{Policy: p.Name, Kind: KindProactive, Desired: d, Formula: f}
}

// lineFit is the least-squares line a + b·i through the non-NaN y[i].
func lineFit(y []float64) (a, b float64) {
	var sx, sy, sxx, sxy, n float64
	for i, v := range y {
		if math.IsNaN(v) {
			continue
		}
		x := float64(i)
		sx, sy, sxx, sxy, n = sx+x, sy+v, sxx+x*x, sxy+x*v, n+1
	}
	if n == 0 {
		return math.NaN(), 0
	}
	if den := n*sxx - sx*sx; n >= 2 && den != 0 {
		b = (n*sxy - sx*sy) / den
	}
	return (sy - b*sx) / n, b
}

// quantileOf returns the q-quantile of the non-NaN values of y (sorted in
// place after moving NaNs out; y is scratch).
func quantileOf(y []float64, q float64) float64 {
	n := 0
	for _, v := range y {
		if !math.IsNaN(v) {
			y[n] = v
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	s := y[:n]
	slices.Sort(s)
	hq := q * float64(n-1)
	lo := int(hq)
	if lo >= n-1 {
		return s[n-1]
	}
	return s[lo] + (hq-float64(lo))*(s[lo+1]-s[lo])
}

func predictive(p *Policy, o *observation) Proposal {
	s := p.Predictive
	f := o.in.Forecast
	if f == nil || len(f.Mean) == 0 || f.Step <= 0 {
		return abstain(p, o.current, "no forecast")
	}
	series := f.Mean
	z := s.Confidence
	bound := s.Bound
	if z == 0 && s.Bound == "upper" && len(f.Upper) == len(f.Mean) {
		series = f.Upper
	}
	if z > 0 {
		bound = fmt.Sprintf("mean+%.2fσ", z)
	}
	end := o.now.Add(s.Horizon.D())
	peak, seen := math.Inf(-1), 0
	for i, v := range series {
		at := f.Start.Add(time.Duration(i) * f.Step)
		if at.Before(o.now.Add(-f.Step)) || at.After(end) || math.IsNaN(v) {
			continue
		}
		if z > 0 && len(f.Upper) == len(f.Mean) {
			v += z * math.Max(0, f.Upper[i]-f.Mean[i]) / 1.96
		}
		peak = math.Max(peak, v)
		seen++
	}
	if seen == 0 {
		return abstain(p, o.current, "forecast does not cover the horizon")
	}
	if s.Quantile > 0 && len(f.Errors) >= minErrors {
		e := quantileSorted(f.Errors, s.Quantile)
		bound = fmt.Sprintf("peak+q%.2f error %+.2f", s.Quantile, e)
		peak = meanPeak(f, o.now, end) + e
	}
	peak = math.Max(peak, 0)
	d := ceil(peak / s.Target)
	model := f.Model
	if model == "" {
		model = s.Model
	}
	return Proposal{Policy: p.Name, Kind: KindPredictive, Desired: d,
		Formula: fmt.Sprintf("predictive(%s,%s): ceil(%.2f/%.2f)=%d over %s", model, bound, peak, s.Target, d, s.Horizon)}
}

// minErrors is how many scored forecasts a quantile bound needs.
const minErrors = 20

func quantileSorted(s []float64, q float64) float64 {
	h := q * float64(len(s)-1)
	lo := int(h)
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + (h-float64(lo))*(s[lo+1]-s[lo])
}

// meanPeak is the highest forecast mean in the horizon.
func meanPeak(f *Forecast, now, end time.Time) float64 {
	peak := math.Inf(-1)
	for i, v := range f.Mean {
		at := f.Start.Add(time.Duration(i) * f.Step)
		if at.Before(now.Add(-f.Step)) || at.After(end) || math.IsNaN(v) {
			continue
		}
		peak = math.Max(peak, v)
	}
	return peak
}

// The default policy's formulas are built without fmt: they are formatted
// for every group at every evaluation.

func targetFormula(n int, avg, target float64, d int) string {
	b := make([]byte, 0, 48)
	b = append(b, "target: ceil("...)
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, '*')
	b = appendFixed2(b, avg)
	b = append(b, '/')
	b = appendFixed2(b, target)
	b = append(b, ")="...)
	b = strconv.AppendInt(b, int64(d), 10)
	return string(b)
}

func quantileFormula(qq float64, window Duration, q, slope, h, target float64, d int) string {
	b := make([]byte, 0, 96)
	b = append(b, "proactive: ceil((q"...)
	b = strconv.AppendFloat(b, qq, 'f', 2, 64)
	b = append(b, '(')
	b = append(b, window.String()...)
	b = append(b, ")="...)
	b = strconv.AppendFloat(b, q, 'f', 2, 64)
	b = append(b, "+max(0,"...)
	b = strconv.AppendFloat(b, slope, 'f', 3, 64)
	b = append(b, ")*"...)
	b = strconv.AppendFloat(b, h, 'f', 1, 64)
	b = append(b, ")/"...)
	b = strconv.AppendFloat(b, target, 'f', 2, 64)
	b = append(b, ")="...)
	b = strconv.AppendInt(b, int64(d), 10)
	return string(b)
}

// minCycleCorr is the autocorrelation of the load's changes at the best lag
// that counts as a cycle: only a strong, regular cycle qualifies (Poisson
// noise, trends, flash crowds and level shifts stay below it).
const minCycleCorr = 0.8

// shortCycle finds the lag (2 … len/4) at which the one-period changes of
// y correlate most, and returns it when the correlation reaches
// minCycleCorr; 0 otherwise (also when y has gaps).
func shortCycle(y []float64) (int, float64) {
	n := len(y)
	if n < 12 {
		return 0, 0
	}
	var buf [512]float64
	if n-1 > len(buf) {
		return 0, 0
	}
	d := buf[:n-1]
	var mean float64
	for i := 1; i < n; i++ {
		if math.IsNaN(y[i]) || math.IsNaN(y[i-1]) {
			return 0, 0
		}
		d[i-1] = y[i] - y[i-1]
		mean += d[i-1]
	}
	mean /= float64(n - 1)
	var den float64
	for i := range d {
		d[i] -= mean
		den += d[i] * d[i]
	}
	// Changes that are only floating-point noise (a constant or linear
	// load) have no cycle: their correlation is meaningless.
	var scale float64
	for _, v := range y {
		// math.Max without its NaN/±0 cases: y has no NaN here, and
		// math.Abs is never −0.
		if a := math.Abs(v); a > scale {
			scale = a
		}
	}
	if den <= 1e-18*scale*scale*float64(len(d)) {
		return 0, 0
	}
	m := len(d)
	best, bestR := 0, 0.0
	// The autocovariance at each lag, eight (then four, then one) lags per
	// pass over d: independent sums in flight instead of one long
	// dependency chain. Each sum still adds its terms in order of i (the
	// same value as one loop per lag).
	maxLag := m / 4
	var num [8]float64
	for lag := 2; lag <= maxLag; {
		w := 1
		switch {
		case maxLag-lag+1 >= 8:
			w = 8
		case maxLag-lag+1 >= 4:
			w = 4
		}
		num = [8]float64{}
		// Lag lag+j starts at i = lag+j: its terms before lag+w-1 first.
		for j := range w - 1 {
			for i := lag + j; i < lag+w-1; i++ {
				num[j] += d[i] * d[i-lag-j]
			}
		}
		switch w {
		case 8:
			n0, n1, n2, n3, n4, n5, n6, n7 := num[0], num[1], num[2], num[3], num[4], num[5], num[6], num[7]
			for i := lag + 7; i < m; i++ {
				di, b := d[i], d[i-lag-7:i-lag+1]
				n0 += di * b[7]
				n1 += di * b[6]
				n2 += di * b[5]
				n3 += di * b[4]
				n4 += di * b[3]
				n5 += di * b[2]
				n6 += di * b[1]
				n7 += di * b[0]
			}
			num = [8]float64{n0, n1, n2, n3, n4, n5, n6, n7}
		case 4:
			n0, n1, n2, n3 := num[0], num[1], num[2], num[3]
			for i := lag + 3; i < m; i++ {
				di, b := d[i], d[i-lag-3:i-lag+1]
				n0 += di * b[3]
				n1 += di * b[2]
				n2 += di * b[1]
				n3 += di * b[0]
			}
			num[0], num[1], num[2], num[3] = n0, n1, n2, n3
		default:
			n0 := 0.0
			for i := lag; i < m; i++ {
				n0 += d[i] * d[i-lag]
			}
			num[0] = n0
		}
		for j := range w {
			// Normalised per term, so longer lags are not penalised.
			if r := (num[j] / float64(m-lag-j)) / (den / float64(m)); r > bestR {
				best, bestR = lag+j, r
			}
		}
		lag += w
	}
	if bestR < minCycleCorr {
		return 0, bestR
	}
	return best, bestR
}

// cyclic sizes each horizon step for the q-quantile of the same phase in
// the past cycles of y (oldest first, y[len-1] = now) and takes the peak.
func cyclic(p *Policy, o *observation, y []float64, period int, r float64) Proposal {
	s := p.Proactive
	n := len(y)
	h := max(1, int(s.Horizon.D()/o.period))
	var buf [64]float64
	peak := 0.0
	for j := 1; j <= h; j++ {
		vals := buf[:0]
		for i := n - 1 + j - period; i >= 0 && len(vals) < len(buf); i -= period {
			if i < n {
				vals = append(vals, y[i])
			}
		}
		if len(vals) == 0 {
			continue
		}
		peak = math.Max(peak, quantileOf(vals, s.Quantile))
	}
	d := ceil(peak / s.Target)
	return Proposal{Policy: p.Name, Kind: KindProactive, Desired: d,
		Formula: fmt.Sprintf("proactive: cycle of %d periods (r=%.2f): ceil(q%.2f same-phase peak %.2f/%.2f)=%d", period, r, s.Quantile, peak, s.Target, d)}
}
