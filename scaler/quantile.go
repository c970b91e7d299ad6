package scaler

import (
	"fmt"
	"math"
	"slices"
	"strconv"
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

// qpBufs holds the scratch series of quantileProvisioning, reused across
// decisions and goroutines (a decision allocates none of them).
var qpBufs = sync.Pool{New: func() any { b := make([]float64, 0, 16*512); return &b }}

// qpScale is the noise scale at forecast level f (load units): √f, floored
// at one unit so that an idle group's noise is not magnified.
func qpScale(f float64) float64 {
	if f < 1 { // math.Max(f, 1) without its NaN/±0 branches (same result)
		f = 1
	}
	return math.Sqrt(f)
}

// qpAlphaCount is the number of candidate smoothing constants.
const qpAlphaCount = len(qpAlphas)

func quantileProvisioning(p *Policy, o *observation, scratch []float64) Proposal {
	s := p.Proactive
	win := max(s.Window, s.CycleWindow).D()
	if int(win/o.period) > qpMaxWindow {
		win = time.Duration(qpMaxWindow) * o.period
	}
	// The load from the oldest period with a sample on (the leading gap
	// dropped); carry the last value over the other gaps.
	y := o.loadTail(win, scratch)
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

	// Scratch: the seasonal term at every index of the window and horizon
	// (zero without a cycle), the deseasonalised load, level and trend of
	// every candidate smoother, and per candidate the standardised errors
	// at the horizon, a copy of them (the selection reorders it) and their
	// scales; the errors of the other steps.
	const A = qpAlphaCount
	m := max(0, n-h-qpBurnIn) // errors per candidate at the horizon
	need := (n + h) + n + 2*A*n + 3*A*m + n
	bufp := qpBufs.Get().(*[]float64)
	defer qpBufs.Put(bufp)
	if cap(*bufp) < need {
		*bufp = make([]float64, need)
	}
	buf := (*bufp)[:need]
	sAt, buf := buf[:n+h], buf[n+h:]
	ds, buf := buf[:n], buf[n:]
	lvAll, buf := buf[:A*n], buf[A*n:]
	trAll, buf := buf[:A*n], buf[A*n:]
	zAll, buf := buf[:A*m], buf[A*m:]
	selAll, scAll, zk := buf[:A*m], buf[A*m:2*A*m], buf[2*A*m:2*A*m+n]
	if period > 0 {
		for i := range sAt {
			sAt[i] = seas[i%period]
		}
	} else {
		clear(sAt)
	}
	for i := range ds {
		ds[i] = y[i] - sAt[i]
	}

	// Damped-trend smoothers over the deseasonalised load, one per
	// candidate smoothing constant, all in one pass (independent
	// recurrences: they overlap in the pipeline). lvAll[a*n+i] is the
	// level of candidate a after period i.
	{
		var l, b, alpha, beta, oneMinus, oneMinusBeta [A]float64
		for a := range A {
			alpha[a] = qpAlphas[a]
			beta[a] = alpha[a] * qpBetaRatio
			oneMinus[a], oneMinusBeta[a] = 1-alpha[a], 1-beta[a]
			l[a] = ds[0]
			lvAll[a*n], trAll[a*n] = l[a], 0
		}
		if A == 4 {
			// The same recurrences with the state in registers (the
			// chain through memory would add a store-to-load delay per
			// period). Slices, not the arrays, are indexed so that
			// another candidate count still compiles (and takes the
			// generic loop).
			al, om, be, omb := alpha[:], oneMinus[:], beta[:], oneMinusBeta[:]
			a0, a1, a2, a3 := al[0], al[1], al[2], al[3]
			o0, o1, o2, o3 := om[0], om[1], om[2], om[3]
			e0, e1, e2, e3 := be[0], be[1], be[2], be[3]
			p0, p1, p2, p3 := omb[0], omb[1], omb[2], omb[3]
			phi := qpPhi
			l0, l1, l2, l3 := ds[0], ds[0], ds[0], ds[0]
			var b0, b1, b2, b3 float64
			lv0, lv1, lv2, lv3 := lvAll[:n], lvAll[n:2*n], lvAll[2*n:3*n], lvAll[3*n:4*n]
			tr0, tr1, tr2, tr3 := trAll[:n], trAll[n:2*n], trAll[2*n:3*n], trAll[3*n:4*n]
			for i := 1; i < n; i++ {
				d := ds[i]
				n0 := a0*d + o0*(l0+phi*b0)
				n1 := a1*d + o1*(l1+phi*b1)
				n2 := a2*d + o2*(l2+phi*b2)
				n3 := a3*d + o3*(l3+phi*b3)
				b0 = e0*(n0-l0) + p0*phi*b0
				b1 = e1*(n1-l1) + p1*phi*b1
				b2 = e2*(n2-l2) + p2*phi*b2
				b3 = e3*(n3-l3) + p3*phi*b3
				l0, l1, l2, l3 = n0, n1, n2, n3
				lv0[i], lv1[i], lv2[i], lv3[i] = n0, n1, n2, n3
				tr0[i], tr1[i], tr2[i], tr3[i] = b0, b1, b2, b3
			}
		} else {
			for i := 1; i < n; i++ {
				d := ds[i]
				for a := range A {
					nl := alpha[a]*d + oneMinus[a]*(l[a]+qpPhi*b[a])
					b[a] = beta[a]*(nl-l[a]) + oneMinusBeta[a]*qpPhi*b[a]
					l[a] = nl
					lvAll[a*n+i], trAll[a*n+i] = nl, b[a]
				}
			}
		}
	}
	// errs fills z with the standardised k-step errors of candidate a (in
	// window order) and, if sc is not nil, sc with their scales.
	errs := func(a, k int, z, sc []float64) []float64 {
		mk := n - k - qpBurnIn
		if mk <= 0 {
			return z[:0]
		}
		z, dk := z[:mk], damp[k]
		yk, sk := y[qpBurnIn+k:qpBurnIn+k+mk], sAt[qpBurnIn+k:qpBurnIn+k+mk]
		lv, tr := lvAll[a*n+qpBurnIn:a*n+qpBurnIn+mk], trAll[a*n+qpBurnIn:a*n+qpBurnIn+mk]
		if sc != nil {
			sc = sc[:mk]
			for j := range z {
				f := lv[j] + tr[j]*dk + sk[j]
				c := qpScale(f)
				sc[j] = c
				z[j] = (yk[j] - f) / c
			}
		} else {
			for j := range z {
				f := lv[j] + tr[j]*dk + sk[j]
				z[j] = (yk[j] - f) / qpScale(f)
			}
		}
		return z
	}

	// The candidate whose calibrated p-quantile forecast at the horizon has
	// the lowest pinball loss over the window (the proper score of a
	// quantile forecast) is used.
	// ai is the chosen candidate (reported), series the smoother used: the
	// same one unless no loss is finite, where the reference computation
	// reported the first α and kept the last candidate's smoother.
	ai, series, qh := 0, 0, math.NaN()
	if A > 1 && m > 0 {
		var q, loss [A]float64
		for a := range A {
			z := errs(a, h, zAll[a*m:(a+1)*m], scAll[a*m:(a+1)*m])
			sel := selAll[a*m : (a+1)*m]
			copy(sel, z)
			hint := math.NaN()
			if a > 0 {
				hint = q[a-1] // the candidates' errors are alike
			}
			q[a] = selectQuantile(sel, s.Coverage, hint)
		}
		// Pinball loss of the calibrated forecast f + q·scale:
		// y − (f + q·sc) = sc·(z − q); p·e above, (1−p)·|e| below — the
		// same products and sums, in the same order, as loss += p·e /
		// loss −= (1−p)·e, with the weight picked without a branch and
		// the candidates' sums interleaved (independent chains).
		upBits, downBits := math.Float64bits(s.Coverage), math.Float64bits(1-s.Coverage)
		for j := range m {
			for a := range A {
				e := scAll[a*m+j] * (zAll[a*m+j] - q[a])
				neg := uint64(0)
				if e < 0 {
					neg = 1
				}
				w := math.Float64frombits(upBits ^ (upBits^downBits)&-neg)
				loss[a] += w * math.Abs(e)
			}
		}
		best := math.Inf(1)
		series = A - 1
		for a := range A {
			if loss[a] < best {
				best, ai, series, qh = loss[a], a, a, q[a]
			}
		}
	}
	alpha := qpAlphas[ai]

	// Per step of the horizon: forecast now + empirical quantile of the
	// standardised k-step errors over the window; the first step with the
	// highest level wins.
	//
	// A step whose level is provably below another step's is not the
	// winner and needs no quantile: with best the highest level computed
	// so far (the horizon's first, its quantile is known), if at least
	// lo+2 of the errors are ≤ t, where f + t·√f < best, then both order
	// statistics the quantile interpolates are ≤ t, so is the quantile,
	// and (rounding is monotonic) so is the step's level below best. One
	// counting pass instead of a selection.
	lv, tr := lvAll[series*n:(series+1)*n], trAll[series*n:(series+1)*n]
	type step struct {
		up, f, q float64
		skipped  bool
	}
	var steps [64]step
	best := math.Inf(-1)
	if !math.IsNaN(qh) {
		f := lv[n-1] + tr[n-1]*damp[h] + sAt[n-1+h]
		best = f + qh*qpScale(f)
	}
	hint := qh // then the previous step's quantile
	for k := 1; k <= h; k++ {
		f := lv[n-1] + tr[n-1]*damp[k] + sAt[n-1+k]
		q := 0.0
		if k == h && !math.IsNaN(qh) {
			q = qh
		} else if z := errs(series, k, zk, nil); len(z) > 0 {
			if below(z, s.Coverage, f, best) {
				steps[k].skipped = true
				continue
			}
			q = selectQuantile(z, s.Coverage, hint)
			hint = q
		}
		up := f + q*qpScale(f)
		steps[k] = step{up: up, f: f, q: q}
		if up > best {
			best = up
		}
	}
	peak, peakF, peakQ, peakK := math.Inf(-1), 0.0, 0.0, 0
	for k := 1; k <= h; k++ {
		if st := steps[k]; !st.skipped && st.up > peak {
			peak, peakF, peakQ, peakK = st.up, st.f, st.q, k
		}
	}
	peak = math.Max(0, peak)
	d := ceil(peak / s.Target)
	return Proposal{Policy: p.Name, Kind: KindProactive, Desired: d,
		Formula: qpFormula(alpha, peakK, h, peakF, s.Coverage, peakQ, peak, period, r, s.Target, d)}
}

// qpFormula is fmt.Sprintf("quantile: α=%.2g step %d/%d forecast %.2f +
// q%.3g(errors/√f)=%.2f×√%.2f → %.2f%s; ceil(%.2f/%.2f)=%d", …) without
// fmt: it is formatted for every group at every evaluation.
func qpFormula(alpha float64, k, h int, f, coverage, q, peak float64, period int, r, target float64, d int) string {
	b := make([]byte, 0, 128)
	b = append(b, "quantile: α="...)
	b = strconv.AppendFloat(b, alpha, 'g', 2, 64)
	b = append(b, " step "...)
	b = strconv.AppendInt(b, int64(k), 10)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(h), 10)
	b = append(b, " forecast "...)
	b = appendFixed2(b, f)
	b = append(b, " + q"...)
	b = strconv.AppendFloat(b, coverage, 'g', 3, 64)
	b = append(b, "(errors/√f)="...)
	b = appendFixed2(b, q)
	b = append(b, "×√"...)
	b = appendFixed2(b, math.Max(f, 1))
	b = append(b, " → "...)
	b = appendFixed2(b, peak)
	if period > 0 {
		b = append(b, ", cycle "...)
		b = strconv.AppendInt(b, int64(period), 10)
		b = append(b, " periods (r="...)
		b = appendFixed2(b, r)
		b = append(b, ')')
	}
	b = append(b, "; ceil("...)
	b = appendFixed2(b, peak)
	b = append(b, '/')
	b = appendFixed2(b, target)
	b = append(b, ")="...)
	b = strconv.AppendInt(b, int64(d), 10)
	return string(b)
}

// below reports whether the q-quantile of z (as selectQuantile computes
// it) is certainly such that f + quantile·qpScale(f) < best: t is a value
// with f + t·qpScale(f) < best, and at least lo+2 values of z are ≤ t
// less a margin, so both order statistics the quantile interpolates
// between are, and so is the quantile (its rounding error is far below
// the margin while min z is within 64(|t|+1)); rounding is monotonic, so
// the level is below best. False when it cannot tell (NaN, infinities).
func below(z []float64, q, f, best float64) bool {
	n := len(z)
	lo := int(q * float64(n-1))
	finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	if lo+2 > n || !finite(best) || !finite(f) {
		return false
	}
	sc := qpScale(f)
	t := (best - f) / sc
	if !finite(t) {
		return false
	}
	// Step t down until the level it gives is strictly below best
	// (usually at once; rounding can leave it equal).
	for i := 0; f+t*sc >= best; i++ {
		if i == 4 {
			return false
		}
		t = math.Nextafter(t, math.Inf(-1)) - math.Abs(t)*1e-15
	}
	bound := 64 * (math.Abs(t) + 1)
	tc := t - 1e-12*(math.Abs(t)+1)
	c, mn := 0, math.Inf(1)
	for _, x := range z {
		inc := 0
		if x <= tc {
			inc = 1
		}
		c += inc
		mn = min(mn, x)
	}
	return c >= lo+2 && mn >= -bound
}

// selectQuantile returns the q-quantile of z (linear interpolation between
// closest ranks, as quantileSorted) in linear expected time; z is
// reordered. hint, unless NaN, is a guess of the result (the quantile of a
// similar sample): the first partition is around it, which leaves a small
// part to search when the guess is close. The result does not depend on
// it.
func selectQuantile(z []float64, q, hint float64) float64 {
	n := len(z)
	h := q * float64(n-1)
	lo := int(h)
	if lo >= n-1 {
		lo = n - 1
	}
	v, end := nthElement(z, lo, hint)
	if lo == n-1 || h == float64(lo) {
		return v
	}
	// The next order statistic: z[lo+1] if it is in the sorted run that
	// ends at end, else the minimum of the part above it.
	next := z[lo+1]
	if lo+1 >= end {
		for _, x := range z[lo+2:] {
			if x < next {
				next = x
			}
		}
	}
	return v + (h-float64(lo))*(next-v)
}

// nthSmall is the size below which nthElement sorts instead of
// partitioning.
const nthSmall = 12

// nthElement reorders z so that z[k] is the k-th smallest value, everything
// before it ≤ and everything after it ≥, and returns z[k] and end: z[k:end]
// is sorted ascending and every value from end on is ≥ all of them.
// Quickselect with a branch-free Lomuto partition (no mispredicted branch
// per element); the first pivot is hint unless it is NaN, the others the
// median of three; deterministic. The value is the same order statistic
// any exact selection returns.
func nthElement(z []float64, k int, hint float64) (float64, int) {
	lo, hi := 0, len(z)
	for hi-lo > nthSmall {
		var pivot float64
		fromHint := !math.IsNaN(hint)
		if fromHint {
			pivot, hint = hint, math.NaN()
		} else {
			a, b, c := z[lo], z[lo+(hi-lo)/2], z[hi-1]
			if b < a {
				a, b = b, a
			}
			if c < b {
				b = c
				if b < a {
					b = a
				}
			}
			pivot = b
		}
		// Values below the pivot to the front. The increment is written
		// so that it compiles to a SETcc, not to a branch that would
		// mispredict on every other element.
		s := lo
		for i := lo; i < hi; i++ {
			x := z[i]
			z[i] = z[s]
			z[s] = x
			inc := 0
			if x < pivot {
				inc = 1
			}
			s += inc
		}
		if fromHint {
			// The hint need not be a value of z: narrow only if it split.
			if s > lo && s < hi {
				if k < s {
					hi = s
				} else {
					lo = s
				}
			}
			continue
		}
		if s > lo {
			if k < s {
				hi = s
			} else {
				lo = s
			}
			continue
		}
		// The pivot is the minimum: values equal to it to the front.
		e := lo
		for i := lo; i < hi; i++ {
			x := z[i]
			z[i] = z[e]
			z[e] = x
			if x <= pivot {
				e++
			}
		}
		switch {
		case e == lo: // NaN pivot: no order to partition by
			slices.Sort(z[lo:hi])
			return z[k], hi
		case k < e:
			return z[k], e
		}
		lo = e
	}
	// Insertion sort of the last few.
	for i := lo + 1; i < hi; i++ {
		x := z[i]
		j := i
		for j > lo && z[j-1] > x {
			z[j] = z[j-1]
			j--
		}
		z[j] = x
	}
	return z[k], hi
}
