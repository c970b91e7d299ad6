package forecast

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// ARIMA is a seasonal ARIMA(p,d,q)(0,D,Q)_m forecaster:
//
//   - D = 1 (one seasonal difference) when a season m is given or detected,
//     the series holds at least three seasons and the lag-m autocorrelation
//     of the first differences is at least 0.3;
//   - d in {0,1,2} by repeated KPSS level-stationarity tests at 5% on the
//     (seasonally differenced) series, with d+D <= 2;
//   - p in 0..MaxP, q in 0..MaxQ, Q in {0,1} chosen by AIC of the
//     conditional sum of squares (CSS), every order scored from
//     Hannan-Rissanen regression estimates (closed form, fast);
//   - the best orders by AIC are then re-estimated by minimising the CSS with
//     Nelder-Mead and the best of those wins;
//   - as for Holt-Winters, a non-negative series is also fitted on log(1+y)
//     and the scale with the lower AIC (Jacobian included) is kept.
//
// Bands are analytic: sigma^2 times the sum of squared psi weights of the
// full (differenced) model.
type ARIMA struct {
	// MaxP and MaxQ bound the non-seasonal orders (defaults 3 and 2).
	MaxP, MaxQ int
	// Refine is how many of the best orders by AIC are re-estimated by CSS
	// with Nelder-Mead (default 2).
	Refine int
	// NoLog skips the log(1+y) scale.
	NoLog bool
	// SeasonalDiff forces the seasonal differencing: 1 always (when there
	// is a season), -1 never; 0 lets AIC choose between the rule's choice
	// and the other one.
	SeasonalDiff int
}

var _ Forecaster = ARIMA{}

// Name returns "arima".
func (ARIMA) Name() string { return NameARIMA }

// arimaSpec is one model order with its coefficients.
type arimaSpec struct {
	p, d, q, D, Q, m int
	phi              []float64 // len p
	theta            []float64 // len q
	sTheta           float64   // seasonal MA(1) coefficient when Q = 1
}

// maLags expands (1 + sum theta_j B^j)(1 + Theta B^m) into sparse lags.
func (s *arimaSpec) maLags() (lags []int, coef []float64) {
	for j := 1; j <= s.q; j++ {
		lags = append(lags, j)
		coef = append(coef, s.theta[j-1])
	}
	if s.Q == 1 {
		lags = append(lags, s.m)
		coef = append(coef, s.sTheta)
		for j := 1; j <= s.q; j++ {
			lags = append(lags, s.m+j)
			coef = append(coef, s.sTheta*s.theta[j-1])
		}
	}
	return lags, coef
}

// difference applies D seasonal differences at lag m, then d differences.
func difference(y []float64, d, D, m int) []float64 {
	w := append([]float64(nil), y...)
	for k := 0; k < D; k++ {
		if len(w) <= m {
			return nil
		}
		n := make([]float64, len(w)-m)
		for t := range n {
			n[t] = w[t+m] - w[t]
		}
		w = n
	}
	for k := 0; k < d; k++ {
		if len(w) <= 1 {
			return nil
		}
		n := make([]float64, len(w)-1)
		for t := range n {
			n[t] = w[t+1] - w[t]
		}
		w = n
	}
	return w
}

// kpss returns the KPSS level-stationarity statistic of x with the
// Newey-West long-run variance (Bartlett window, lag trunc(3 sqrt(n)/13)).
func kpss(x []float64) float64 {
	n := len(x)
	mu := mean(x)
	e := make([]float64, n)
	for i, v := range x {
		e[i] = v - mu
	}
	s, eta := 0.0, 0.0
	for _, v := range e {
		s += v
		eta += s * s
	}
	eta /= float64(n) * float64(n)
	lags := int(3 * math.Sqrt(float64(n)) / 13)
	lrv := 0.0
	for _, v := range e {
		lrv += v * v
	}
	for l := 1; l <= lags; l++ {
		c := 0.0
		for t := l; t < n; t++ {
			c += e[t] * e[t-l]
		}
		lrv += 2 * (1 - float64(l)/float64(lags+1)) * c
	}
	lrv /= float64(n)
	if lrv <= 0 {
		return 0
	}
	return eta / lrv
}

// kpssCrit5 is the 5% critical value of the KPSS level test.
const kpssCrit5 = 0.463

// chooseDiffs picks D and d as documented on ARIMA.
func chooseDiffs(y []float64, m int) (d, D int) {
	if m > 1 && len(y) >= 3*m+10 {
		dy := difference(y, 1, 0, 0)
		if acf := ACF(dy, m); len(acf) > m && acf[m] >= 0.3 {
			D = 1
		}
	}
	return chooseD(difference(y, 0, D, m), D), D
}

// css returns the conditional sum of squares of w under spec from index
// start on, writing the residuals into e (len(w), zero before start).
func css(w []float64, s *arimaSpec, lags []int, coef []float64, start int, e []float64) float64 {
	sse := 0.0
	for t := range e[:start] {
		e[t] = 0
	}
	for t := start; t < len(w); t++ {
		v := w[t]
		for i, f := range s.phi {
			v -= f * w[t-1-i]
		}
		for k, l := range lags {
			if t-l >= 0 {
				v -= coef[k] * e[t-l]
			}
		}
		e[t] = v
		sse += v * v
		if sse > 1e300 {
			return math.Inf(1)
		}
	}
	return sse
}

// lsq solves min |X b - y| by QR and returns b (nil when singular).
func lsq(x *mat.Dense, y []float64) []float64 {
	r, c := x.Dims()
	if r <= c {
		return nil
	}
	var qr mat.QR
	qr.Factorize(x)
	var b mat.Dense
	if err := qr.SolveTo(&b, false, mat.NewDense(r, 1, y)); err != nil {
		return nil
	}
	out := make([]float64, c)
	for i := range out {
		out[i] = b.At(i, 0)
	}
	return out
}

// hannanRissanen estimates spec's coefficients: a long AR gives residual
// estimates, then w is regressed on its own lags and lagged residuals.
func hannanRissanen(w, ehat []float64, s *arimaSpec, start int) bool {
	cols := s.p + s.q + s.Q
	s.phi = make([]float64, s.p)
	s.theta = make([]float64, s.q)
	s.sTheta = 0
	if cols == 0 {
		return true
	}
	rows := len(w) - start
	x := mat.NewDense(rows, cols, nil)
	yy := make([]float64, rows)
	for r := 0; r < rows; r++ {
		t := start + r
		yy[r] = w[t]
		c := 0
		for i := 1; i <= s.p; i++ {
			x.Set(r, c, w[t-i])
			c++
		}
		for j := 1; j <= s.q; j++ {
			x.Set(r, c, ehat[t-j])
			c++
		}
		if s.Q == 1 {
			x.Set(r, c, ehat[t-s.m])
		}
	}
	b := lsq(x, yy)
	if b == nil {
		return false
	}
	copy(s.phi, b[:s.p])
	copy(s.theta, b[s.p:s.p+s.q])
	if s.Q == 1 {
		s.sTheta = b[cols-1]
	}
	// Keep the start inside the invertible/stationary region.
	for i := range s.phi {
		s.phi[i] = math.Max(-0.99, math.Min(0.99, s.phi[i]))
	}
	for i := range s.theta {
		s.theta[i] = math.Max(-0.95, math.Min(0.95, s.theta[i]))
	}
	s.sTheta = math.Max(-0.95, math.Min(0.95, s.sTheta))
	return true
}

// longARResiduals fits AR(L) to w by least squares and returns its residuals
// (zero for t < L).
func longARResiduals(w []float64, L int) []float64 {
	e := make([]float64, len(w))
	rows := len(w) - L
	if L == 0 || rows <= 2*L {
		return e
	}
	x := mat.NewDense(rows, L, nil)
	yy := make([]float64, rows)
	for r := 0; r < rows; r++ {
		t := L + r
		yy[r] = w[t]
		for i := 1; i <= L; i++ {
			x.Set(r, i-1, w[t-i])
		}
	}
	b := lsq(x, yy)
	if b == nil {
		return e
	}
	for t := L; t < len(w); t++ {
		v := w[t]
		for i := 1; i <= L; i++ {
			v -= b[i-1] * w[t-i]
		}
		e[t] = v
	}
	return e
}

type arimaCand struct {
	spec arimaSpec
	sse  float64
	aic  float64
}

// Fit chooses the differencing, the orders and the scale, and estimates the
// coefficients (see ARIMA).
func (a ARIMA) Fit(y []float64, season int) (Model, error) {
	if err := checkSeries(y); err != nil {
		return nil, err
	}
	if len(y) < 8 {
		return nil, fmt.Errorf("%w: %s needs 8 observations, got %d", ErrTooShort, NameARIMA, len(y))
	}
	m := resolveSeason(y, season)
	if m <= 1 || len(y) < 2*m+10 {
		m = 0
	}
	useLog := nonNegative(y) && !a.NoLog
	z := y
	if useLog {
		z, _ = log1pSeries(y)
	}
	// Differencing options, chosen on the log scale for a non-negative
	// series: the rule's choice, and with SeasonalDiff 0 the other seasonal
	// choice too; AIC over a common window decides.
	d, D := chooseDiffs(z, m)
	type diffs struct{ d, D int }
	var opts []diffs
	switch {
	case m == 0:
		opts = []diffs{{d, 0}}
	case a.SeasonalDiff > 0:
		opts = []diffs{{chooseD(difference(z, 0, 1, m), 1), 1}}
	case a.SeasonalDiff < 0:
		opts = []diffs{{chooseD(z, 0), 0}}
	default:
		opts = []diffs{{d, D}}
		if D == 1 {
			opts = append(opts, diffs{chooseD(z, 0), 0})
		} else {
			opts = append(opts, diffs{chooseD(difference(z, 0, 1, m), 1), 1})
		}
	}
	g := arimaGrid{maxP: a.MaxP, maxQ: a.MaxQ, maxSQ: 0, m: m, refine: a.Refine}
	if g.maxP <= 0 {
		g.maxP = 3
	}
	if g.maxQ <= 0 {
		g.maxQ = 2
	}
	if g.refine <= 0 {
		g.refine = 2
	}
	if m > 1 {
		g.maxSQ = 1
	}
	maxLag := 0
	for _, o := range opts {
		maxLag = max(maxLag, o.d+m*o.D)
	}
	startW := g.maxP
	if g.maxSQ == 1 {
		startW = max(startW, m+g.maxQ)
	}
	g.yStart = maxLag + startW
	if len(y)-g.yStart < 2*(g.maxP+g.maxQ+2)+5 {
		// Short series: shrink the grid.
		g.maxP, g.maxQ, g.maxSQ = 1, 1, 0
		g.yStart = maxLag + 1
		if len(y)-g.yStart < 8 {
			return nil, fmt.Errorf("%w: %s has %d observations, too few after differencing", ErrTooShort, NameARIMA, len(y))
		}
	}
	var best *arimaModel
	for _, o := range opts {
		if md, err := g.fit(y, o.d, o.D); err == nil && (best == nil || md.aic < best.aic) {
			best = md
		}
		if useLog {
			if md, err := g.fit(z, o.d, o.D); err == nil {
				// Jacobian over the observations the CSS is conditioned on.
				for _, v := range z[g.yStart:] {
					md.aic += 2 * v
				}
				if best == nil || md.aic < best.aic {
					md.logT = true
					best = md
				}
			}
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: %s found no estimable order", ErrTooShort, NameARIMA)
	}
	best.clip = nonNegative(y)
	return best, nil
}

// chooseD returns how many more differences (0..2-D) KPSS asks of x.
func chooseD(x []float64, D int) int {
	d := 0
	for d+D < 2 && len(x) > 10 && variance(x) > 0 && kpss(x) > kpssCrit5 {
		d++
		x = difference(x, 1, 0, 0)
	}
	return d
}

// arimaGrid is the search space shared by the differencing options.
type arimaGrid struct {
	maxP, maxQ, maxSQ, m, refine int
	yStart                       int // first observation of y in every CSS
}

// fit selects the order for differencing (d, D) of y.
func (g arimaGrid) fit(y []float64, d, D int) (*arimaModel, error) {
	maxP, maxQ, maxSQ, m, refine := g.maxP, g.maxQ, g.maxSQ, g.m, g.refine
	w := difference(y, d, D, m)
	start := g.yStart - (len(y) - len(w))
	// A constant: the mean without differencing, the drift with one
	// difference, none with two.
	mu := 0.0
	if d+D <= 1 && start >= 0 && start < len(w) {
		mu = mean(w[start:])
		for i := range w {
			w[i] -= mu
		}
	}
	if start < maxP || len(w)-start < 8 {
		return nil, ErrTooShort
	}
	L := min(max(10, maxP+maxQ+2), (len(w)-1)/3)
	if maxSQ == 1 {
		L = min(m+maxQ+2, (len(w)-1)/3)
	}
	ehat := longARResiduals(w, L)
	hrStart := max(start, L)
	nEff := len(w) - start
	e := make([]float64, len(w))
	var cands []arimaCand
	for Q := 0; Q <= maxSQ; Q++ {
		for p := 0; p <= maxP; p++ {
			for q := 0; q <= maxQ; q++ {
				s := arimaSpec{p: p, d: d, q: q, D: D, Q: Q, m: m}
				if !hannanRissanen(w, ehat, &s, hrStart) {
					continue
				}
				lags, coef := s.maLags()
				sse := css(w, &s, lags, coef, start, e)
				if math.IsInf(sse, 0) || math.IsNaN(sse) {
					continue
				}
				cands = append(cands, arimaCand{spec: s, sse: sse, aic: arimaAIC(sse, nEff, p+q+Q)})
			}
		}
	}
	if len(cands) == 0 {
		return nil, fmt.Errorf("%w: %s found no estimable order", ErrTooShort, NameARIMA)
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].aic < cands[j].aic })
	var best *arimaCand
	for i := 0; i < min(refine, len(cands)); i++ {
		c := refineCSS(w, cands[i], start, e, nEff)
		if best == nil || c.aic < best.aic {
			cc := c
			best = &cc
		}
	}
	s := best.spec
	lags, coef := s.maLags()
	css(w, &s, lags, coef, start, e)
	md := newARIMAModel(y, w, e, s, mu, best.sse/float64(nEff), best.aic, nEff)
	md.wStart = start
	return md, nil
}

func arimaAIC(sse float64, n, k int) float64 {
	sse = math.Max(sse, 1e-12*float64(n))
	return float64(n)*math.Log(sse/float64(n)) + 2*float64(k+1)
}

// refineCSS minimises the CSS over the coefficients of c with Nelder-Mead,
// starting from the Hannan-Rissanen estimates.
func refineCSS(w []float64, c arimaCand, start int, e []float64, nEff int) arimaCand {
	s := c.spec
	k := s.p + s.q + s.Q
	if k == 0 {
		return c
	}
	x0 := make([]float64, 0, k)
	x0 = append(x0, s.phi...)
	x0 = append(x0, s.theta...)
	if s.Q == 1 {
		x0 = append(x0, s.sTheta)
	}
	work := s
	work.phi = make([]float64, s.p)
	work.theta = make([]float64, s.q)
	load := func(x []float64) {
		copy(work.phi, x[:s.p])
		copy(work.theta, x[s.p:s.p+s.q])
		if s.Q == 1 {
			work.sTheta = x[k-1]
		}
	}
	obj := func(x []float64) float64 {
		for _, v := range x {
			if math.Abs(v) >= 1.5 {
				return math.Inf(1)
			}
		}
		load(x)
		lags, coef := work.maLags()
		return css(w, &work, lags, coef, start, e)
	}
	res, err := optimize.Minimize(optimize.Problem{Func: obj}, x0, &optimize.Settings{
		FuncEvaluations: 40*k + 40,
		Converger:       &optimize.FunctionConverge{Relative: 1e-6, Iterations: 10},
	}, &optimize.NelderMead{SimplexSize: 0.1})
	if (err != nil && res == nil) || res == nil || res.F >= c.sse || math.IsInf(res.F, 0) {
		return c
	}
	load(res.X)
	if !stationary(work.phi) || !invertible(work) {
		return c
	}
	out := arimaCand{spec: work, sse: res.F, aic: arimaAIC(res.F, nEff, k)}
	out.spec.phi = append([]float64(nil), work.phi...)
	out.spec.theta = append([]float64(nil), work.theta...)
	return out
}

// polyRootsOutside reports whether every root of 1 - sum c_i B^i lies
// outside the unit circle (companion-matrix eigenvalues inside it).
func polyRootsOutside(c []float64) bool {
	p := len(c)
	for p > 0 && c[p-1] == 0 {
		p--
	}
	if p == 0 {
		return true
	}
	comp := mat.NewDense(p, p, nil)
	for i := 0; i < p; i++ {
		comp.Set(0, i, c[i])
		if i > 0 {
			comp.Set(i, i-1, 1)
		}
	}
	var eig mat.Eigen
	if !eig.Factorize(comp, mat.EigenNone) {
		return false
	}
	for _, v := range eig.Values(nil) {
		if math.Hypot(real(v), imag(v)) >= 0.999 {
			return false
		}
	}
	return true
}

func stationary(phi []float64) bool { return polyRootsOutside(phi) }

// invertible checks the MA polynomial (non-seasonal and seasonal parts).
func invertible(s arimaSpec) bool {
	neg := make([]float64, len(s.theta))
	for i, v := range s.theta {
		neg[i] = -v
	}
	return polyRootsOutside(neg) && math.Abs(s.sTheta) < 0.999
}

type arimaModel struct {
	spec   arimaSpec
	mu     float64 // mean of the differenced series (0 with d+D = 2)
	c      float64 // constant of the difference equation: mu * phi(1)
	wStart int     // first index of the differenced series in the CSS
	sigma2 float64
	aic    float64
	nEff   int
	logT   bool
	clip   bool
	// ar and ma are the full polynomials on the (transformed) series:
	// y_t = c + sum ar[i] y_{t-1-i} + e_t + sum ma[j] e_{t-1-j}.
	ar, ma []float64
	hist   []float64 // last len(ar) observations (transformed scale)
	res    []float64 // last len(ma) residuals
}

var (
	_ Model      = (*arimaModel)(nil)
	_ oneStepper = (*arimaModel)(nil)
	_ Describer  = (*arimaModel)(nil)
)

// polyMul multiplies polynomials given as coefficient slices (index = power).
func polyMul(a, b []float64) []float64 {
	out := make([]float64, len(a)+len(b)-1)
	for i, x := range a {
		for j, y := range b {
			out[i+j] += x * y
		}
	}
	return out
}

func newARIMAModel(y, w, e []float64, s arimaSpec, mu, sigma2, aic float64, nEff int) *arimaModel {
	// AR side: phi(B) (1-B)^d (1-B^m)^D, as 1 - sum ...
	arPoly := []float64{1}
	ph := make([]float64, s.p+1)
	ph[0] = 1
	for i, v := range s.phi {
		ph[i+1] = -v
	}
	arPoly = polyMul(arPoly, ph)
	for k := 0; k < s.d; k++ {
		arPoly = polyMul(arPoly, []float64{1, -1})
	}
	for k := 0; k < s.D; k++ {
		sd := make([]float64, s.m+1)
		sd[0], sd[s.m] = 1, -1
		arPoly = polyMul(arPoly, sd)
	}
	ar := make([]float64, len(arPoly)-1)
	for i := range ar {
		ar[i] = -arPoly[i+1]
	}
	lags, coef := s.maLags()
	maxL := 0
	for _, l := range lags {
		maxL = max(maxL, l)
	}
	ma := make([]float64, maxL)
	for k, l := range lags {
		ma[l-1] += coef[k]
	}
	phi1 := 1.0
	for _, v := range s.phi {
		phi1 -= v
	}
	md := &arimaModel{spec: s, mu: mu, c: mu * phi1, sigma2: sigma2, aic: aic, nEff: nEff, ar: ar, ma: ma, clip: nonNegative(y)}
	md.hist = make([]float64, len(ar))
	for i := range md.hist {
		if t := len(y) - 1 - i; t >= 0 {
			md.hist[i] = y[t]
		}
	}
	md.res = make([]float64, len(ma))
	for i := range md.res {
		if t := len(e) - 1 - i; t >= 0 {
			md.res[i] = e[t]
		}
	}
	return md
}

// Describe names the order and the scale.
func (a *arimaModel) Describe() string {
	s := a.spec
	out := fmt.Sprintf("ARIMA(%d,%d,%d)", s.p, s.d, s.q)
	if s.m > 1 && (s.D > 0 || s.Q > 0) {
		out += fmt.Sprintf("(0,%d,%d)[%d]", s.D, s.Q, s.m)
	}
	if a.logT {
		out = "log " + out
	}
	return out + fmt.Sprintf(" sigma=%.4g", math.Sqrt(a.sigma2))
}

// Forecast iterates the difference equation with future shocks at zero and
// returns the psi-weight band.
func (a *arimaModel) Forecast(h int) Forecast {
	if h <= 0 {
		return emptyForecast()
	}
	hist := append([]float64(nil), a.hist...) // hist[0] = most recent
	res := append([]float64(nil), a.res...)
	mu := make([]float64, h)
	for i := 0; i < h; i++ {
		v := 0.0
		for k, c := range a.ar {
			v += c * hist[k]
		}
		for k, c := range a.ma {
			v += c * res[k]
		}
		v += a.c
		mu[i] = v
		if len(hist) > 0 {
			copy(hist[1:], hist[:len(hist)-1])
			hist[0] = v
		}
		if len(res) > 0 {
			copy(res[1:], res[:len(res)-1])
			res[0] = 0
		}
	}
	// psi weights: psi_0 = 1, psi_j = ma_j + sum_i ar_i psi_{j-i}.
	psi := make([]float64, h)
	psi[0] = 1
	sd := make([]float64, h)
	acc := 0.0
	for j := 0; j < h; j++ {
		if j > 0 {
			v := 0.0
			if j-1 < len(a.ma) {
				v = a.ma[j-1]
			}
			for i := 1; i <= min(j, len(a.ar)); i++ {
				v += a.ar[i-1] * psi[j-i]
			}
			psi[j] = v
		}
		acc += psi[j] * psi[j]
		sd[j] = math.Sqrt(a.sigma2 * acc)
	}
	if a.logT {
		return expBand(mu, sd)
	}
	return band(mu, sd, a.clip)
}

func (a *arimaModel) oneStep(y []float64, start int) []float64 {
	z := y
	if a.logT {
		z, _ = log1pSeries(y)
	}
	s := a.spec
	w := difference(z, s.d, s.D, s.m)
	off := len(z) - len(w)
	for i := range w {
		w[i] -= a.mu
	}
	e := make([]float64, len(w))
	lags, coef := s.maLags()
	ws := min(a.wStart, len(w))
	css(w, &s, lags, coef, ws, e)
	pred := make([]float64, len(y)-start)
	for i := range pred {
		t := start + i
		var v float64
		switch {
		case t-off >= ws && t-off < len(w):
			v = z[t] - e[t-off]
		case t > 0:
			v = z[t-1]
		default:
			v = z[0]
		}
		if a.logT {
			v = math.Expm1(v)
		}
		if a.clip {
			v = math.Max(v, 0)
		}
		pred[i] = v
	}
	return pred
}

var _ extender = (*arimaModel)(nil)

func (a *arimaModel) extend(y []float64) Model {
	z := y
	if a.logT {
		z, _ = log1pSeries(y)
	}
	s := a.spec
	w := difference(z, s.d, s.D, s.m)
	if len(w) <= a.wStart {
		return a
	}
	for i := range w {
		w[i] -= a.mu
	}
	e := make([]float64, len(w))
	lags, coef := s.maLags()
	css(w, &s, lags, coef, a.wStart, e)
	md := newARIMAModel(z, w, e, s, a.mu, a.sigma2, a.aic, a.nEff)
	md.logT, md.clip, md.wStart = a.logT, a.clip, a.wStart
	return md
}
