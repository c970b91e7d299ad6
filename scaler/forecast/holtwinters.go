package forecast

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// HoltWinters is the additive exponential-smoothing family: simple
// (ETS(A,N,N)), Holt's linear trend (A,A,N), damped trend (A,Ad,N), each
// with or without additive seasonality (…,A). A variant is fitted by
// minimising the one-step SSE with Nelder-Mead over logistic-transformed
// smoothing parameters (so the usual bounds 0<alpha<1, 0<beta<alpha,
// 0<gamma<1-alpha, 0.8<=phi<=0.98 hold); variants are compared by AICc in a
// stepwise search (see Fit). Initial states come from the first two seasons
// (classical decomposition), not from the optimiser, which keeps a fit of
// 10,080 points at about 300 passes over the data.
type HoltWinters struct {
	// MaxEvaluations caps the objective evaluations per variant (default 300).
	MaxEvaluations int
	// NoSeasonal skips the seasonal variants; SeasonalOnly skips the
	// non-seasonal ones when a season is known. Both false: try both.
	NoSeasonal, SeasonalOnly bool
	// NoLog skips the log(1+y) variants.
	NoLog bool
}

var _ Forecaster = HoltWinters{}

// Name returns "holt-winters".
func (HoltWinters) Name() string { return NameHoltWinters }

type trendKind int

const (
	trendNone trendKind = iota
	trendAdd
	trendDamped
)

func (t trendKind) String() string {
	return [...]string{"N", "A", "Ad"}[t]
}

const (
	phiLo = 0.8
	phiHi = 0.98
)

// hwInit holds the initial states of a variant.
type hwInit struct {
	l, b float64
	s    []float64 // len m (m = 1 and s = {0} without season)
}

// hwParams are the decoded smoothing parameters.
type hwParams struct {
	alpha, beta, gamma, phi float64
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func logit(p float64) float64 { return math.Log(p / (1 - p)) }

// decode maps an unconstrained vector onto the admissible region.
func decodeHW(x []float64, trend trendKind, seasonal bool) hwParams {
	p := hwParams{alpha: 1e-4 + (1-2e-4)*sigmoid(x[0])}
	i := 1
	if trend != trendNone {
		p.beta = p.alpha * sigmoid(x[i])
		i++
		p.phi = 1
	}
	if seasonal {
		p.gamma = (1 - p.alpha) * sigmoid(x[i])
		i++
	}
	if trend == trendDamped {
		p.phi = phiLo + (phiHi-phiLo)*sigmoid(x[i])
	}
	return p
}

func encodeHW(p hwParams, trend trendKind, seasonal bool) []float64 {
	clamp := func(v float64) float64 { return math.Min(math.Max(v, 0.02), 0.98) }
	x := []float64{logit(clamp((p.alpha - 1e-4) / (1 - 2e-4)))}
	if trend != trendNone {
		x = append(x, logit(clamp(p.beta/p.alpha)))
	}
	if seasonal {
		x = append(x, logit(clamp(p.gamma/(1-p.alpha))))
	}
	if trend == trendDamped {
		x = append(x, logit(clamp((p.phi-phiLo)/(phiHi-phiLo))))
	}
	return x
}

// initHW computes initial states: without season a line through the first
// (up to) 10 observations; with season m the means of the first two seasons
// give level and slope, and the average deviations from them the seasonal
// indices (normalised to sum to zero).
func initHW(y []float64, m int, trend trendKind) hwInit {
	if m <= 1 {
		k := min(len(y), 10)
		a, b, _ := ols(y[:k])
		in := hwInit{l: a, s: []float64{0}}
		if trend != trendNone {
			in.b = b
			in.l = a - b // level at time -1
		} else {
			in.l = y[0]
		}
		return in
	}
	m1 := mean(y[:m])
	m2 := mean(y[m : 2*m])
	in := hwInit{s: make([]float64, m)}
	slope := (m2 - m1) / float64(m)
	for i := 0; i < m; i++ {
		in.s[i] = ((y[i] - (m1 + slope*(float64(i)-float64(m-1)/2))) +
			(y[m+i] - (m2 + slope*(float64(i)-float64(m-1)/2)))) / 2
	}
	sm := mean(in.s)
	for i := range in.s {
		in.s[i] -= sm
	}
	if trend != trendNone {
		in.b = slope
		in.l = m1 - slope*float64(m+1)/2
	} else {
		in.l = m1
	}
	return in
}

// hwRun runs the recursions over y from the initial states, writing the
// final states into st (st.s is used as scratch and must have len m).
// It returns the one-step SSE. If pred is non-nil, pred[t-start] receives
// the one-step prediction of y[t] for t >= start.
func hwRun(y []float64, in hwInit, p hwParams, st *hwInit, pred []float64, start int) (sse float64) {
	l, b := in.l, in.b
	s := st.s
	copy(s, in.s)
	m := len(s)
	alpha, beta, gamma, phi := p.alpha, p.beta, p.gamma, p.phi
	j := 0
	if pred == nil && m == 1 {
		// No season: keep the constant index out of the dependency chain.
		oneMinusAlpha := 1 - alpha
		s0 := s[0]
		for _, v := range y {
			u := v - s0
			lb := l + phi*b
			e := u - lb
			sse += e * e
			l = oneMinusAlpha*lb + alpha*u
			b = phi*b + beta*e
		}
		st.l, st.b = l, b
		return sse
	}
	if pred == nil {
		s = s[:m]
		oneMinusAlpha := 1 - alpha
		for _, v := range y {
			// u does not depend on this step's level (s[j] was last
			// updated a season ago), which shortens the dependency chain.
			u := v - s[j]
			lb := l + phi*b
			e := u - lb
			sse += e * e
			l = oneMinusAlpha*lb + alpha*u
			b = phi*b + beta*e
			s[j] += gamma * e
			j++
			if j == m {
				j = 0
			}
		}
		st.l, st.b = l, b
		rotate(s, j)
		return sse
	}
	for t, v := range y {
		lb := l + phi*b
		yhat := lb + s[j]
		if pred != nil && t >= start {
			pred[t-start] = yhat
		}
		e := v - yhat
		sse += e * e
		l = lb + alpha*e
		b = phi*b + beta*e
		s[j] += gamma * e
		j++
		if j == m {
			j = 0
		}
	}
	st.l, st.b = l, b
	rotate(s, j)
	return sse
}

// rotate shifts s left by j so that s[0] is the index of the next step.
func rotate(s []float64, j int) {
	if j == 0 {
		return
	}
	m := len(s)
	r := make([]float64, m)
	copy(r, s[j:])
	copy(r[m-j:], s[:j])
	copy(s, r)
}

// Fit searches the family stepwise, each step keeping the lowest AICc:
//
//  1. on the series as it is and, for a non-negative series, on log(1+y)
//     (multiplicative behaviour: swings that grow with the level), fit the
//     level-only models ETS(A,N,N) and, when the series holds two seasons,
//     ETS(A,N,A); the winner fixes the scale and whether to model the season
//     (the log-scale AICc includes the Jacobian term 2*sum(log(1+y)) so that
//     the scales compare);
//  2. on that scale, add Holt's trend and the damped trend to the winner's
//     seasonal choice.
//
// Searching stepwise rather than fitting all twelve combinations keeps a fit
// of one week of 1-minute data within the 50 ms.
func (hw HoltWinters) Fit(y []float64, season int) (Model, error) {
	if err := checkSeries(y); err != nil {
		return nil, err
	}
	n := len(y)
	if n < 4 {
		return nil, fmt.Errorf("%w: %s needs 4 observations, got %d", ErrTooShort, NameHoltWinters, n)
	}
	m := resolveSeason(y, season)
	seasonOK := m > 1 && n >= 2*m+2 && !hw.NoSeasonal
	type scale struct {
		z    []float64
		jac  float64
		logT bool
	}
	scales := []scale{{z: y}}
	if nonNegative(y) && !hw.NoLog {
		z, jac := log1pSeries(y)
		scales = append(scales, scale{z: z, jac: jac, logT: true})
	}
	var best *hwModel
	var bestScale scale
	consider := func(sc scale, md *hwModel) {
		if md == nil {
			return
		}
		md.logT = sc.logT
		md.aicc += 2 * sc.jac
		if best == nil || md.aicc < best.aicc {
			best, bestScale = md, sc
		}
	}
	for _, sc := range scales {
		if !seasonOK || !hw.SeasonalOnly {
			consider(sc, hw.fitVariant(sc.z, 1, trendNone, nil))
		}
		if seasonOK {
			consider(sc, hw.fitVariant(sc.z, m, trendNone, nil))
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: %s has too few observations (%d) for any variant", ErrTooShort, NameHoltWinters, n)
	}
	level := best
	from := level.p
	for _, tr := range []trendKind{trendAdd, trendDamped} {
		md := hw.fitVariant(bestScale.z, level.m, tr, &from)
		if md != nil {
			from = md.p // the damped fit starts where Holt's ended
		}
		consider(bestScale, md)
	}
	best.clip = nonNegative(y)
	return best, nil
}

// log1pSeries returns log(1+y) and sum(log(1+y)), the log-Jacobian of the
// transform.
func log1pSeries(y []float64) ([]float64, float64) {
	z := make([]float64, len(y))
	jac := 0.0
	for i, v := range y {
		z[i] = math.Log1p(v)
		jac += z[i]
	}
	return z, jac
}

// fitVariant fits one variant (period m, 1 = no season) to y by
// Nelder-Mead on the one-step SSE, starting from from's smoothing
// parameters when given. It returns nil when y is too short for it.
func (hw HoltWinters) fitVariant(y []float64, m int, trend trendKind, from *hwParams) *hwModel {
	n := len(y)
	seasonal := m > 1
	k := 2 // alpha + initial level
	if trend != trendNone {
		k += 2 // beta + initial slope
	}
	if trend == trendDamped {
		k++
	}
	if seasonal {
		k += 1 + (m - 1)
	}
	k++ // sigma
	if n-k-1 <= 0 {
		return nil
	}
	maxEval := hw.MaxEvaluations
	if maxEval <= 0 {
		maxEval = 300
	}
	in := initHW(y, m, trend)
	start := hwParams{alpha: 0.3, beta: 0.03, gamma: 0.07, phi: 0.95}
	if from != nil {
		start.alpha = from.alpha
		if from.gamma > 0 {
			start.gamma = from.gamma
		}
	}
	start.beta = 0.1 * start.alpha
	if from != nil && from.beta > 0 && from.beta < start.alpha {
		start.beta = from.beta
	}
	st := hwInit{s: make([]float64, m)}
	obj := func(x []float64) float64 {
		return hwRun(y, in, decodeHW(x, trend, seasonal), &st, nil, 0)
	}
	x0 := encodeHW(start, trend, seasonal)
	x := x0
	res, _ := optimize.Minimize(optimize.Problem{Func: obj}, x0, &optimize.Settings{
		FuncEvaluations: maxEval,
		Converger:       &optimize.FunctionConverge{Relative: 1e-6, Iterations: 8},
	}, &optimize.NelderMead{SimplexSize: 1})
	if res != nil && res.X != nil && !math.IsNaN(res.F) {
		x = res.X
	}
	p := decodeHW(x, trend, seasonal)
	final := hwInit{s: make([]float64, m)}
	sse := hwRun(y, in, p, &final, nil, 0)
	sse = math.Max(sse, 1e-12*float64(n))
	fn, fk := float64(n), float64(k)
	return &hwModel{
		trend: trend, m: m, p: p, init: in, final: final,
		sigma2: sse / fn, aicc: fn*math.Log(sse/fn) + 2*fk + 2*fk*(fk+1)/(fn-fk-1), n: n,
	}
}

type hwModel struct {
	trend  trendKind
	m      int
	p      hwParams
	init   hwInit
	final  hwInit // states after the last observation; final.s[0] is the next index
	sigma2 float64
	aicc   float64
	clip   bool
	logT   bool // fitted on log(1+y)
	n      int
}

var (
	_ Model      = (*hwModel)(nil)
	_ oneStepper = (*hwModel)(nil)
	_ Describer  = (*hwModel)(nil)
)

// Describe names the ETS variant and its fitted parameters.
func (h *hwModel) Describe() string {
	s := "N"
	if h.m > 1 {
		s = "A"
	}
	out := fmt.Sprintf("ETS(A,%s,%s)", h.trend, s)
	if h.logT {
		out = "log " + out
	}
	if h.m > 1 {
		out += fmt.Sprintf(" m=%d", h.m)
	}
	out += fmt.Sprintf(" alpha=%.3g", h.p.alpha)
	if h.trend != trendNone {
		out += fmt.Sprintf(" beta=%.3g", h.p.beta)
	}
	if h.m > 1 {
		out += fmt.Sprintf(" gamma=%.3g", h.p.gamma)
	}
	if h.trend == trendDamped {
		out += fmt.Sprintf(" phi=%.3g", h.p.phi)
	}
	return out
}

// Forecast returns the point forecasts l + (phi+...+phi^h) b + s and the
// analytic ETS band: var_h = sigma^2 (1 + sum_{j<h} c_j^2) with
// c_j = alpha + beta (phi+...+phi^j) + gamma [j mod m = 0].
func (h *hwModel) Forecast(steps int) Forecast {
	if steps <= 0 {
		return emptyForecast()
	}
	mu := make([]float64, steps)
	sd := make([]float64, steps)
	phiSum := 0.0
	phiPow := 1.0
	acc := 1.0
	for i := 0; i < steps; i++ {
		j := i + 1
		if h.trend != trendNone {
			phiPow *= h.p.phi
			phiSum += phiPow
		}
		mu[i] = h.final.l + phiSum*h.final.b + h.final.s[i%h.m]
		sd[i] = math.Sqrt(h.sigma2 * acc)
		c := h.p.alpha + h.p.beta*phiSum
		if h.m > 1 && j%h.m == 0 {
			c += h.p.gamma
		}
		acc += c * c
	}
	if h.logT {
		return expBand(mu, sd)
	}
	return band(mu, sd, h.clip)
}

func (h *hwModel) oneStep(y []float64, start int) []float64 {
	pred := make([]float64, len(y)-start)
	st := hwInit{s: make([]float64, h.m)}
	if h.logT {
		z, _ := log1pSeries(y)
		hwRun(z, h.init, h.p, &st, pred, start)
		for i := range pred {
			pred[i] = math.Expm1(pred[i])
		}
		return pred
	}
	hwRun(y, h.init, h.p, &st, pred, start)
	if h.clip {
		for i := range pred {
			pred[i] = math.Max(pred[i], 0)
		}
	}
	return pred
}

var _ extender = (*hwModel)(nil)

func (h *hwModel) extend(y []float64) Model {
	z := y
	if h.logT {
		z, _ = log1pSeries(y)
	}
	c := *h
	c.final = hwInit{s: make([]float64, h.m)}
	hwRun(z, h.init, h.p, &c.final, nil, 0)
	c.n = len(y)
	return &c
}
