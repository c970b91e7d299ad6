package scaler

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// The quantile-provisioning computation as it was before the single-pass
// rewrite (four smoothing passes, quickselect per candidate α and horizon
// step), kept verbatim as the reference that TestQuantileProvisioningEquivalence
// compares the production code with.

var qpRefBufs = sync.Pool{New: func() any { b := make([]float64, 0, 7*512); return &b }}

func qpScaleRef(f float64) float64 { return math.Sqrt(math.Max(f, 1)) }

func quantileProvisioningRef(p *Policy, o *observation, scratch []float64) Proposal {
	s := p.Proactive
	win := max(s.Window, s.CycleWindow).D()
	if int(win/o.period) > qpMaxWindow {
		win = time.Duration(qpMaxWindow) * o.period
	}
	raw := loadSeriesRef(o, win, scratch)
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
		period, r = shortCycleRef(y[n-c:])
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
	bufp := qpRefBufs.Get().(*[]float64)
	defer qpRefBufs.Put(bufp)
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
			sc := qpScaleRef(f)
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
			q := selectQuantileRef(z, s.Coverage)
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
			q = selectQuantileRef(z, s.Coverage)
		}
		f := fc(n-1, k)
		if up := f + q*qpScaleRef(f); up > peak {
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
func selectQuantileRef(z []float64, q float64) float64 {
	n := len(z)
	h := q * float64(n-1)
	lo := int(h)
	if lo >= n-1 {
		lo = n - 1
	}
	v := nthElementRef(z, lo)
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
func nthElementRef(z []float64, k int) float64 {
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

// shortCycleRef is shortCycle as it was: finds the lag (2 … len/4) at which the one-period changes of
// y correlate most, and returns it when the correlation reaches
// minCycleCorr; 0 otherwise (also when y has gaps).
func shortCycleRef(y []float64) (int, float64) {
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
		scale = math.Max(scale, math.Abs(v))
	}
	if den <= 1e-18*scale*scale*float64(len(d)) {
		return 0, 0
	}
	m := len(d)
	best, bestR := 0, 0.0
	for lag := 2; lag <= m/4; lag++ {
		var num float64
		for i := lag; i < m; i++ {
			num += d[i] * d[i-lag]
		}
		// Normalised per term, so longer lags are not penalised.
		if r := (num / float64(m-lag)) / (den / float64(m)); r > bestR {
			best, bestR = lag, r
		}
	}
	if bestR < minCycleCorr {
		return 0, bestR
	}
	return best, bestR
}

// loadSeriesRef is loadSeries as it was: returns the group's total load per metric period over the last
// window, oldest first, NaN where no sample fell into a period.
func loadSeriesRef(o *observation, window time.Duration, buf []float64) []float64 {
	k := int(window / o.period)
	if k < 1 {
		k = 1
	}
	if cap(buf) < 2*k {
		buf = make([]float64, 2*k)
	}
	sums, cnt := buf[:k], buf[k:2*k]
	for i := range sums {
		sums[i], cnt[i] = 0, 0
	}
	for _, s := range o.in.Metrics {
		d := o.now.Sub(s.At)
		if d < 0 || math.IsNaN(s.Value) {
			continue
		}
		b := int(d / o.period) // period b is (now−(b+1)P, now−bP]
		if b >= k {
			continue
		}
		v := s.Value
		if s.Instance == "" {
			n := s.Instances
			if n <= 0 {
				n = o.serving
			}
			v *= float64(n)
			cnt[b]++
		} else {
			// Per-instance samples add up; count one per period.
			cnt[b] = 1
		}
		sums[b] += v
	}
	out := sums // reuse, reversed into oldest-first order
	for i := 0; i < k; i++ {
		if cnt[i] == 0 {
			out[i] = math.NaN()
		} else if cnt[i] > 1 {
			out[i] = sums[i] / cnt[i]
		}
	}
	for i, j := 0, k-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
