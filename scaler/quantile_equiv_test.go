package scaler

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// equivLoads draws one load series (instance units, oldest first) of one of
// several shapes, with integer-valued and constant series for ties.
func equivLoads(r *rand.Rand, n int) (y []float64, cyclic bool) {
	y = make([]float64, n)
	level := math.Pow(10, r.Float64()*4-1) // 0.1 … 1000
	switch shape := r.IntN(10); shape {
	case 0: // Poisson-like noise around a level
		for i := range y {
			y[i] = math.Max(0, level+math.Sqrt(level)*r.NormFloat64())
		}
	case 1: // random walk
		v := level
		for i := range y {
			v = math.Max(0, v+0.1*math.Sqrt(level)*r.NormFloat64())
			y[i] = v
		}
	case 2: // ramp with noise
		slope := (r.Float64() - 0.3) * level / 50
		for i := range y {
			y[i] = math.Max(0, level+slope*float64(i)+0.2*math.Sqrt(level)*r.NormFloat64())
		}
	case 3: // level shift
		at := r.IntN(n + 1)
		for i := range y {
			y[i] = level + 0.1*level*r.NormFloat64()
			if i >= at {
				y[i] += level * (r.Float64()*4 - 1)
			}
			y[i] = math.Max(0, y[i])
		}
	case 4, 8, 9: // timer-driven spikes (a short cycle)
		cyclic = true
		per, ph := 3+r.IntN(30), r.IntN(30)
		for i := range y {
			y[i] = level
			if (i+ph)%per == 0 {
				y[i] = level * (2 + 3*r.Float64())
			}
			y[i] += 0.01 * level * r.NormFloat64()
		}
	case 5: // small integer counts: many equal errors
		for i := range y {
			y[i] = float64(r.IntN(4))
		}
	case 6: // constant
		for i := range y {
			y[i] = math.Round(level)
		}
	default: // integer-valued noise around a level
		for i := range y {
			y[i] = math.Round(math.Max(0, level+math.Sqrt(level)*r.NormFloat64()))
		}
	}
	return y, cyclic
}

// equivCase is a random group and policy for the equivalence test: group
// or per-instance samples, gaps (missing periods and NaN values), several
// coverages, horizons, windows and cycle windows.
func equivCase(r *rand.Rand) (Policy, Input) {
	period := []time.Duration{time.Minute, 30 * time.Second, 5 * time.Minute}[r.IntN(3)]
	n := []int{1, 3, 13, 15, 16, 20, 40, 60, 120, 240, 300, 700}[r.IntN(12)]
	window := []int{30, 60, 240, 500}[r.IntN(4)]
	loads, cyclic := equivLoads(r, n)
	cycleWindow := []int{0, 90, 20}[r.IntN(3)]
	if cyclic && r.IntN(4) > 0 {
		cycleWindow = 90
	}
	horizon := []int{1, 2, 4, 6, 70}[r.IntN(5)]
	coverage := []float64{0.78, 0.78, 0.5, 0.9, 0.97, 0.05, 0.333}[r.IntN(7)]
	target := []float64{0.7, 0.5, 1}[r.IntN(3)]
	p := Policy{Name: "lead", Proactive: &Proactive{Target: target, Coverage: coverage,
		Window: Duration(time.Duration(window) * period), CycleWindow: Duration(time.Duration(cycleWindow) * period),
		Horizon: Duration(time.Duration(horizon) * period)}}
	g := GroupSpec{MetricPeriod: Duration(period), Policies: []Policy{p}}
	inst := group(5 + r.IntN(20))
	var ms []Sample
	perInstance := r.IntN(5) == 0
	gaps := r.IntN(3) == 0
	for k, l := range loads {
		at := t0.Add(-time.Duration(n-1-k) * period)
		if gaps && r.IntN(10) == 0 {
			continue
		}
		v := l / float64(len(inst))
		if gaps && r.IntN(20) == 0 {
			v = math.NaN()
		}
		if perInstance {
			for _, in := range inst {
				ms = append(ms, Sample{At: at, Instance: in.ID, Value: v})
			}
			continue
		}
		ms = append(ms, Sample{At: at, Value: v, Instances: len(inst)})
		if r.IntN(30) == 0 { // a second sample in the same period
			ms = append(ms, Sample{At: at.Add(-period / 3), Value: v * 1.1, Instances: len(inst)})
		}
	}
	return p, Input{Group: g, Instances: inst, Metrics: ms, Now: t0}
}

// TestQuantileProvisioningEquivalence: the single-pass computation
// (quantileProvisioning) gives exactly the reference computation's
// proposal — count and explanation, bit for bit — on many random loads.
func TestQuantileProvisioningEquivalence(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 14))
	cycles := 0
	cases := 6000
	if testing.Short() {
		cases = 1500
	}
	for c := range cases {
		p, in := equivCase(r)
		o1, o2 := observe(&in), observe(&in)
		var s1, s2 [512]float64
		want := quantileProvisioningRef(&p, &o1, s1[:0])
		got := quantileProvisioning(&p, &o2, s2[:0])
		if got != want {
			t.Fatalf("case %d (%+v, %d samples):\n got %+v\nwant %+v", c, *p.Proactive, len(in.Metrics), got, want)
		}
		if strings.Contains(got.Formula, "cycle") {
			cycles++
		}
	}
	// The cases must exercise the cycle branch, not only plain smoothing.
	if cycles < cases/40 {
		t.Fatalf("only %d of %d cases had a cycle", cycles, cases)
	}
}

// TestSelectQuantileMatchesSort: the selection returns the value sorting
// gives — for small and large samples, ties, every rank, and any hint (a
// value of z, between values, outside them) — and leaves z partitioned
// around the k-th value with z[k:end] sorted.
func TestSelectQuantileMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 9))
	for trial := range 20000 {
		n := 1 + r.IntN(300)
		if trial%3 == 0 {
			n = 1 + r.IntN(2*nthSmall+2)
		}
		z := make([]float64, n)
		for i := range z {
			switch trial % 4 {
			case 0:
				z[i] = r.NormFloat64()
			case 1:
				z[i] = float64(r.IntN(3)) // ties
			case 2:
				z[i] = 1
			default:
				z[i] = math.Round(r.NormFloat64()*4) / 4
			}
		}
		q := []float64{0, 1, 0.5, 0.78, 0.97, r.Float64()}[trial%6]
		a := slices.Clone(z)
		slices.Sort(a)
		want := quantileSorted(a, q)
		for _, hint := range []float64{math.NaN(), z[r.IntN(n)], want, want + 1e-9, -1e9, 1e9, r.NormFloat64()} {
			if got := selectQuantile(slices.Clone(z), q, hint); got != want {
				t.Fatalf("n=%d q=%v hint %v: got %v, want %v (%v)", n, q, hint, got, want, z)
			}
		}
		if got := selectQuantileRef(slices.Clone(z), q); got != want {
			t.Fatalf("reference: n=%d q=%v: got %v, want %v", n, q, got, want)
		}
		k := r.IntN(n)
		c := slices.Clone(z)
		v, end := nthElement(c, k, math.NaN())
		if v != a[k] || end <= k || end > n {
			t.Fatalf("nthElement(%d) = %v, %d; want %v", k, v, end, a[k])
		}
		for i, x := range c {
			if i < k && x > v || i > k && x < v {
				t.Fatalf("nthElement(%d): c[%d]=%v on the wrong side of %v", k, i, x, v)
			}
		}
		if !slices.IsSorted(c[k:end]) {
			t.Fatalf("nthElement(%d): c[%d:%d] not sorted", k, k, end)
		}
	}
}

// TestBelowIsSound: whenever below says a step's level is below best, the
// level computed with the selected quantile is — on random errors, levels
// near the boundary, ties and extreme values — and it does say so where
// the margin is clear (it is not vacuous).
func TestBelowIsSound(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	said := 0
	for trial := range 200000 {
		n := 2 + r.IntN(100)
		z := make([]float64, n)
		scale := math.Pow(10, float64(r.IntN(7)-3))
		for i := range z {
			z[i] = r.NormFloat64() * scale
			if trial%5 == 0 {
				z[i] = math.Round(z[i]) // ties
			}
		}
		q := []float64{0.78, 0.5, 0.97, r.Float64()}[trial%4]
		f := math.Pow(10, r.Float64()*6-2)
		level := f + selectQuantile(slices.Clone(z), q, math.NaN())*qpScale(f)
		// best around the true level, often within a few ulps of it.
		best := level
		switch trial % 4 {
		case 0:
			best = level * (1 + (r.Float64()-0.5)*1e-3)
		case 1:
			best = math.Nextafter(level, math.Inf(int(r.IntN(2))*2-1))
		case 2: // clearly above: the largest error's level and more
			best = f + (slices.Max(z)+scale)*qpScale(f)
		}
		if below(z, q, f, best) {
			said++
			if !(level < best) {
				t.Fatalf("below(%v, q=%v, f=%v, best=%v) but the level is %v", z, q, f, best, level)
			}
		}
	}
	if said < 30000 {
		t.Fatalf("below held in only %d cases", said)
	}
}

// TestQPFormulaMatchesSprintf: the fmt-free explanation is the Sprintf one.
func TestQPFormulaMatchesSprintf(t *testing.T) {
	vals := []float64{0, 0.05, 1, 0.78, 12.345, -3.2, 1e9, 1e-7, math.Inf(1), math.Inf(-1), math.NaN(), 0.125, 2.675}
	for _, v := range vals {
		for _, period := range []int{0, 15} {
			got := qpFormula(v, 3, 4, v, v, v, v, period, v, v, 7)
			cyc := ""
			if period > 0 {
				cyc = fmt.Sprintf(", cycle %d periods (r=%.2f)", period, v)
			}
			want := fmt.Sprintf("quantile: α=%.2g step %d/%d forecast %.2f + q%.3g(errors/√f)=%.2f×√%.2f → %.2f%s; ceil(%.2f/%.2f)=%d",
				v, 3, 4, v, v, v, math.Max(v, 1), v, cyc, v, v, 7)
			if got != want {
				t.Fatalf("v=%v:\n got %q\nwant %q", v, got, want)
			}
		}
	}
}

// TestShortCycleEquivalence: the four-lags-per-pass autocorrelation finds
// the same lag with the same correlation, bit for bit.
func TestShortCycleEquivalence(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 1))
	for trial := range 5000 {
		n := 5 + r.IntN(500)
		y, _ := equivLoads(r, n)
		if trial%7 == 0 {
			y[r.IntN(n)] = math.NaN()
		}
		gp, gr := shortCycle(y)
		wp, wr := shortCycleRef(y)
		if gp != wp || gr != wr && !(math.IsNaN(gr) && math.IsNaN(wr)) {
			t.Fatalf("n=%d: got (%d, %v), want (%d, %v)", n, gp, gr, wp, wr)
		}
	}
}

// TestLoadSeriesEquivalence: the series read without time.Time.Sub in the
// loop is the reference one, for samples at arbitrary instants (future,
// far past, the zero time, sub-period offsets) and for a now with and
// without a monotonic clock reading.
func TestLoadSeriesEquivalence(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 71))
	for trial := range 3000 {
		period := []time.Duration{time.Minute, 7 * time.Second, time.Hour, 1}[r.IntN(4)]
		now := t0.Add(time.Duration(r.Int64N(int64(time.Hour))))
		if trial%5 == 0 {
			now = time.Now() // monotonic reading: the Sub path
		}
		in := Input{Group: GroupSpec{MetricPeriod: Duration(period)}, Instances: group(3), Now: now}
		for range r.IntN(300) {
			var at time.Time
			switch r.IntN(10) {
			case 0:
				at = time.Time{}
			case 1:
				at = now.Add(time.Duration(r.Int64N(int64(10 * period))))
			case 2:
				at = now.Add(-time.Duration(r.Int64N(1 << 62)))
			case 3:
				at = now.Add(-time.Duration(r.IntN(300)) * period) // on a boundary
			default:
				at = now.Add(-time.Duration(r.Int64N(int64(300 * period))))
			}
			v := r.Float64()
			if r.IntN(20) == 0 {
				v = math.NaN()
			}
			s := Sample{At: at, Value: v, Instances: 1 + r.IntN(4)}
			if r.IntN(4) == 0 {
				s.Instance, s.Instances = "i-01", 0
			}
			in.Metrics = append(in.Metrics, s)
		}
		o := observe(&in)
		window := time.Duration(1+r.IntN(300)) * period
		got := o.loadSeries(window, nil)
		want := loadSeriesRef(&o, window, nil)
		same := func(what string, got, want []float64) {
			t.Helper()
			if len(got) != len(want) {
				t.Fatalf("trial %d: %s has %d periods, want %d", trial, what, len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
					t.Fatalf("trial %d: %s period %d = %v, want %v", trial, what, i, got[i], want[i])
				}
			}
		}
		same("series", got, want)
		start := 0
		for start < len(want) && math.IsNaN(want[start]) {
			start++
		}
		same("tail", o.loadTail(window, nil), want[start:])
		// A reused buffer holding old values gives the same result.
		dirty := make([]float64, 2*len(want))
		for i := range dirty {
			dirty[i] = r.Float64()
		}
		same("tail (reused buffer)", o.loadTail(window, dirty[:0]), want[start:])
		same("series (reused buffer)", o.loadSeries(window, dirty[:0]), want)
	}
}
