package scaler

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Quantile provisioning (Proactive.Coverage > 0): size the group for the
// p-quantile of the load over the provisioning horizon.
//
// An instance ordered now serves from now + lead time on, and an instance
// removed now cannot be back before the lead time has passed, so the count
// decided now must cover every step of the horizon (now … lead + one
// period). For each step k of it the policy forecasts the load with a
// damped-trend exponential smoother (Holt, on the load with its short
// cycle removed when one is detected) and adds the empirical p-quantile of
// the smoother's own recent k-step errors, standardised by √forecast
// (per-interval counts are roughly Poisson: the noise grows like the square
// root of the level; the empirical quantile absorbs whatever the true
// dispersion is). The smoothing constant is chosen per decision among
// qpAlphas by the pinball loss of the calibrated quantile forecast over the
// window (slow for stationary noise, fast after a ramp or a level shift).
// desired = ceil(max_k upper_k / target).
//
// Everything is recomputed from the metric window at each decision (a few
// passes over a few hundred points): no state outside Input, no fitting.

// Smoothing constants of the point forecast (per metric period). They are
// properties of the method, not of a workload: the α candidates span a
// level memory of ~20 periods down to ~2; β = α/4 and φ = 0.8 keep a trend
// only while it persists and fade it within a few periods.
var (
	qpAlphas    = [...]float64{0.05, 0.1, 0.2, 0.4}
	qpBetaRatio = 0.25
	qpPhi       = 0.8
)

const (
	// qpBurnIn periods of the window only initialise the smoother.
	qpBurnIn = 10
	// qpMaxWindow bounds the series the policy reads (periods).
	qpMaxWindow = 2048
)

// qpBufs holds the scratch buffers of quantileProvisioning (seven series
// of the window's length), reused across decisions and goroutines.
var qpBufs = sync.Pool{New: func() any { b := make([]float64, 0, 7*512); return &b }}

// qpScale is the noise scale at forecast level f (load units): √f, floored
// at one unit so that an idle group's noise is not magnified.
func qpScale(f float64) float64 { return math.Sqrt(math.Max(f, 1)) }

func quantileProvisioning(p *Policy, o *observation, scratch []float64) Proposal {
	s := p.Proactive
	win := max(s.Window, s.CycleWindow).D()
	if int(win/o.period) > qpMaxWindow {
		win = time.Duration(qpMaxWindow) * o.period
	}
	raw := o.loadSeries(win, scratch)
	// Carry the last value over gaps; drop the leading gap.
	start := 0
	for start < len(raw) && math.IsNaN(raw[start]) {
		start++
	}
	y := raw[start:]
	for i := 1; i < len(y); i++ {
		if math.IsNaN(y[i]) {
			y[i] = y[i-1]
		}
	}
	n := len(y)
	h := max(1, int(s.Horizon.D()/o.period))
	if n == 0 {
		return abstain(p, o.current, "no load history")
	}
	if n < qpBurnIn+h+2 {
		// Too little history to calibrate: the highest load seen.
		pk := 0.0
		for _, v := range y {
			pk = math.Max(pk, v)
		}
		d := ceil(pk / s.Target)
		return Proposal{Policy: p.Name, Kind: KindProactive, Desired: d,
			Formula: fmt.Sprintf("quantile: warming up (%d periods): ceil(max load %.2f/%.2f)=%d", n, pk, s.Target, d)}
	}

	// Short cycle (timer-driven loads): additive same-phase profile.
	period, r := 0, 0.0
	if s.CycleWindow > 0 {
		c := min(n, int(s.CycleWindow.D()/o.period))
		period, r = shortCycle(y[n-c:])
	}
	var seasBuf [64]float64
	seas := seasBuf[:0]
	if period > 0 && period <= len(seasBuf) && n >= 2*period {
		seas = seasBuf[:period]
		cycles := n / period
		for c := 0; c < cycles; c++ {
			blk := y[n-(c+1)*period : n-c*period]
			m := 0.0
			for _, v := range blk {
				m += v
			}
			m /= float64(period)
			for j, v := range blk {
				seas[(n-(c+1)*period+j)%period] += v - m
			}
		}
		for j := range seas {
			seas[j] /= float64(cycles)
		}
	} else {
		period = 0
	}
	season := func(i int) float64 {
		if period == 0 {
			return 0
		}
		return seas[i%period]
	}

	// Damped-trend smoothers over the deseasonalised load, one per
	// candidate smoothing constant; the one whose calibrated p-quantile
	// forecast at the horizon has the lowest pinball loss over the window
	// (the proper score of a quantile forecast) is used.
	bufp := qpBufs.Get().(*[]float64)
	defer qpBufs.Put(bufp)
	if cap(*bufp) < 7*n {
		*bufp = make([]float64, 7*n)
	}
	buf := (*bufp)[:7*n]
	lv, tr, lvBest, trBest := buf[:n], buf[n:2*n], buf[2*n:3*n], buf[3*n:4*n]
	zBuf, z0Buf, scBuf := buf[4*n:5*n], buf[5*n:6*n], buf[6*n:7*n]
	smooth := func(alpha float64) {
		beta := alpha * qpBetaRatio
		l, b := y[0]-season(0), 0.0
		lv[0], tr[0] = l, b
		for i := 1; i < n; i++ {
			d := y[i] - season(i)
			nl := alpha*d + (1-alpha)*(l+qpPhi*b)
			b = beta*(nl-l) + (1-beta)*qpPhi*b
			l = nl
			lv[i], tr[i] = l, b
		}
	}
	// damp[k] = φ + φ² + … + φᵏ: the damped trend's weight k steps ahead.
	var dampBuf [64]float64
	if h >= len(dampBuf) {
		h = len(dampBuf) - 1
	}
	damp := dampBuf[:h+1]
	for k, ph := 1, 1.0; k <= h; k++ {
		ph *= qpPhi
		damp[k] = damp[k-1] + ph
	}
	fc := func(i, k int) float64 { return lv[i] + tr[i]*damp[k] + season(i+k) }
	// errs fills zBuf with the standardised k-step errors (unordered) and
	// scBuf with their scales.
	errs := func(k int) []float64 {
		z := zBuf[:0]
		for i := qpBurnIn; i+k < n; i++ {
			f := fc(i, k)
			sc := qpScale(f)
			scBuf[len(z)] = sc
			z = append(z, (y[i+k]-f)/sc)
		}
		return z
	}
	alpha, qh := qpAlphas[0], math.NaN()
	if len(qpAlphas) == 1 {
		smooth(alpha)
	} else {
		best := math.Inf(1)
		for _, a := range qpAlphas {
			smooth(a)
			z := errs(h)
			if len(z) == 0 {
				alpha = a
				break
			}
			z0 := z0Buf[:len(z)]
			copy(z0, z)
			q := selectQuantile(z, s.Coverage)
			// Pinball loss of the calibrated forecast f + q·scale:
			// y − (f + q·sc) = sc·(z − q).
			loss := 0.0
			for i, zi := range z0 {
				if e := scBuf[i] * (zi - q); e >= 0 {
					loss += s.Coverage * e
				} else {
					loss -= (1 - s.Coverage) * e
				}
			}
			if loss < best {
				best, alpha, qh = loss, a, q
				copy(lvBest, lv)
				copy(trBest, tr)
			}
		}
		if !math.IsInf(best, 1) {
			lv, tr = lvBest, trBest
		}
	}

	// Per step of the horizon: forecast now + empirical quantile of the
	// standardised k-step errors over the window.
	peak, peakF, peakQ, peakK := math.Inf(-1), 0.0, 0.0, 0
	for k := 1; k <= h; k++ {
		q := 0.0
		if k == h && !math.IsNaN(qh) {
			q = qh
		} else if z := errs(k); len(z) > 0 {
			q = selectQuantile(z, s.Coverage)
		}
		f := fc(n-1, k)
		if up := f + q*qpScale(f); up > peak {
			peak, peakF, peakQ, peakK = up, f, q, k
		}
	}
	peak = math.Max(0, peak)
	d := ceil(peak / s.Target)
	cyc := ""
	if period > 0 {
		cyc = fmt.Sprintf(", cycle %d periods (r=%.2f)", period, r)
	}
	return Proposal{Policy: p.Name, Kind: KindProactive, Desired: d,
		Formula: fmt.Sprintf("quantile: α=%.2g step %d/%d forecast %.2f + q%.3g(errors/√f)=%.2f×√%.2f → %.2f%s; ceil(%.2f/%.2f)=%d",
			alpha, peakK, h, peakF, s.Coverage, peakQ, math.Max(peakF, 1), peak, cyc, peak, s.Target, d)}
}

// selectQuantile returns the q-quantile of z (linear interpolation between
// closest ranks, as quantileSorted) in linear expected time; z is
// reordered.
func selectQuantile(z []float64, q float64) float64 {
	n := len(z)
	h := q * float64(n-1)
	lo := int(h)
	if lo >= n-1 {
		lo = n - 1
	}
	v := nthElement(z, lo)
	if lo == n-1 || h == float64(lo) {
		return v
	}
	// The next order statistic is the minimum of the part above lo.
	next := z[lo+1]
	for _, x := range z[lo+2:] {
		next = math.Min(next, x)
	}
	return v + (h-float64(lo))*(next-v)
}

// nthElement reorders z so that z[k] is the k-th smallest value, everything
// before it ≤ and everything after it ≥, and returns z[k] (quickselect,
// median-of-three pivot; deterministic).
func nthElement(z []float64, k int) float64 {
	lo, hi := 0, len(z)-1
	for hi > lo {
		mid := lo + (hi-lo)/2
		if z[mid] < z[lo] {
			z[mid], z[lo] = z[lo], z[mid]
		}
		if z[hi] < z[lo] {
			z[hi], z[lo] = z[lo], z[hi]
		}
		if z[hi] < z[mid] {
			z[hi], z[mid] = z[mid], z[hi]
		}
		pivot := z[mid]
		i, j := lo, hi
		for i <= j {
			for z[i] < pivot {
				i++
			}
			for z[j] > pivot {
				j--
			}
			if i <= j {
				z[i], z[j] = z[j], z[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return z[k]
		}
	}
	return z[k]
}
