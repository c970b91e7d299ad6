package forecast

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// LSTM is a small single-layer LSTM forecaster in pure Go.
//
// The series (log(1+y) for a non-negative one) is standardised; the network
// reads a window of the last Window values one step at a time and its
// output, a linear read-out of the last hidden state, is the change from
// the last value to the next one (so an untrained network is the naive
// forecast). Training is full back-propagation through time over the
// window, mini-batches of 32 shuffled with the seeded generator, Adam, for
// Epochs epochs or until the work budget (MaxSteps cell steps) is spent.
// Forecasts beyond one step feed the predictions back. The band comes from
// the empirical 2.5% and 97.5% quantiles of the in-sample one-step
// residuals, widened by sqrt(h).
type LSTM struct {
	// Hidden is the number of cells (default 8).
	Hidden int
	// Window is the input length (default: the season when 2..48, else 24).
	Window int
	// Epochs bounds the passes over the data (default 60).
	Epochs int
	// MaxSteps bounds the total training work in cell steps (window steps
	// times samples times epochs; default 250,000, about half a second).
	MaxSteps int
	// LearningRate is Adam's step size (default 0.01).
	LearningRate float64
	// Seed seeds the initial weights and the shuffling (default 0 is a
	// valid seed: results are reproducible for every value).
	Seed uint64
	// NoLog keeps the series on its own scale.
	NoLog bool
}

var _ Forecaster = LSTM{}

// Name returns "lstm".
func (LSTM) Name() string { return NameLSTM }

// lstmNet holds the weights; gates are laid out i, f, o, g.
type lstmNet struct {
	h  int
	wx []float64 // 4h input weights (one input feature)
	wh []float64 // 4h x h recurrent weights, row-major
	b  []float64 // 4h
	v  []float64 // h read-out weights
	c0 float64   // read-out bias
}

func (n *lstmNet) params() [][]float64 { return [][]float64{n.wx, n.wh, n.b, n.v} }

// lstmTape is the forward-pass record of one window, reused across samples.
type lstmTape struct {
	gates [][]float64 // per step: 4h activations
	c, hs [][]float64 // per step: cell state and hidden state
	tc    [][]float64 // per step: tanh(c)
}

func newTape(w, h int) *lstmTape {
	t := &lstmTape{}
	for i := 0; i < w; i++ {
		t.gates = append(t.gates, make([]float64, 4*h))
		t.c = append(t.c, make([]float64, h))
		t.hs = append(t.hs, make([]float64, h))
		t.tc = append(t.tc, make([]float64, h))
	}
	return t
}

// forward runs the window x and returns the read-out.
func (n *lstmNet) forward(x []float64, tp *lstmTape) float64 {
	h := n.h
	var hPrev, cPrev []float64
	for t, xt := range x {
		a := tp.gates[t]
		for r := 0; r < 4*h; r++ {
			s := n.b[r] + n.wx[r]*xt
			if hPrev != nil {
				row := n.wh[r*h : (r+1)*h]
				for k, hv := range hPrev {
					s += row[k] * hv
				}
			}
			a[r] = s
		}
		c, hs, tc := tp.c[t], tp.hs[t], tp.tc[t]
		for k := 0; k < h; k++ {
			ig := sigmoid(a[k])
			fg := sigmoid(a[h+k])
			og := sigmoid(a[2*h+k])
			gg := math.Tanh(a[3*h+k])
			a[k], a[h+k], a[2*h+k], a[3*h+k] = ig, fg, og, gg
			c[k] = ig * gg
			if cPrev != nil {
				c[k] += fg * cPrev[k]
			}
			tc[k] = math.Tanh(c[k])
			hs[k] = og * tc[k]
		}
		hPrev, cPrev = hs, c
	}
	out := n.c0
	for k, hv := range hPrev {
		out += n.v[k] * hv
	}
	return out
}

// backward accumulates into g the gradient of 0.5*(out-target)^2 given
// dout = out - target, for the window x recorded in tp.
func (n *lstmNet) backward(x []float64, tp *lstmTape, dout float64, g *lstmNet, dh, dc, da []float64) {
	h := n.h
	W := len(x)
	last := tp.hs[W-1]
	for k := 0; k < h; k++ {
		g.v[k] += dout * last[k]
		dh[k] = dout * n.v[k]
		dc[k] = 0
	}
	g.c0 += dout
	for t := W - 1; t >= 0; t-- {
		a := tp.gates[t]
		tc := tp.tc[t]
		for k := 0; k < h; k++ {
			ig, fg, og, gg := a[k], a[h+k], a[2*h+k], a[3*h+k]
			dct := dc[k] + dh[k]*og*(1-tc[k]*tc[k])
			cPrev := 0.0
			if t > 0 {
				cPrev = tp.c[t-1][k]
			}
			da[k] = dct * gg * ig * (1 - ig)
			da[h+k] = dct * cPrev * fg * (1 - fg)
			da[2*h+k] = dh[k] * tc[k] * og * (1 - og)
			da[3*h+k] = dct * ig * (1 - gg*gg)
			dc[k] = dct * fg
		}
		for k := range dh {
			dh[k] = 0
		}
		xt := x[t]
		for r := 0; r < 4*h; r++ {
			d := da[r]
			g.wx[r] += d * xt
			g.b[r] += d
			if t > 0 {
				hPrev := tp.hs[t-1]
				row := n.wh[r*h : (r+1)*h]
				grow := g.wh[r*h : (r+1)*h]
				for k := 0; k < h; k++ {
					grow[k] += d * hPrev[k]
					dh[k] += row[k] * d
				}
			}
		}
	}
}

// Fit trains the network; see LSTM.
func (l LSTM) Fit(y []float64, season int) (Model, error) {
	if err := checkSeries(y); err != nil {
		return nil, err
	}
	H := l.Hidden
	if H <= 0 {
		H = 8
	}
	W := l.Window
	if W <= 0 {
		W = 24
		if m := resolveSeason(y, season); m >= 2 && m <= 48 {
			W = m
		}
	}
	if len(y) < W+8 {
		return nil, fmt.Errorf("%w: %s with window %d needs %d observations, got %d", ErrTooShort, NameLSTM, W, W+8, len(y))
	}
	epochs := l.Epochs
	if epochs <= 0 {
		epochs = 60
	}
	budget := l.MaxSteps
	if budget <= 0 {
		budget = 250_000
	}
	lr := l.LearningRate
	if lr <= 0 {
		lr = 0.01
	}
	md := &lstmModel{logT: nonNegative(y) && !l.NoLog, clip: nonNegative(y), w: W}
	z := md.transform(y)
	md.mu = mean(z)
	md.sd = math.Sqrt(variance(z))
	if !(md.sd > 0) {
		md.sd = 1
	}
	x := md.scale(z)
	nSamples := len(x) - W
	// Newest samples first, so the budget keeps the most recent data.
	maxSamples := max(32, budget/W)
	if nSamples > maxSamples {
		nSamples = maxSamples
	}
	first := len(x) - nSamples // targets are x[first..]
	epochs = max(1, min(epochs, budget/(nSamples*W)))

	rng := rand.New(rand.NewPCG(l.Seed, 0x9e3779b97f4a7c15))
	net := &lstmNet{h: H, wx: make([]float64, 4*H), wh: make([]float64, 4*H*H), b: make([]float64, 4*H), v: make([]float64, H)}
	lim := 1 / math.Sqrt(float64(H))
	for _, p := range net.params() {
		for i := range p {
			p[i] = (2*rng.Float64() - 1) * lim
		}
	}
	for k := 0; k < H; k++ {
		net.b[H+k] = 1 // forget-gate bias
	}
	for k := range net.v {
		net.v[k] *= 0.1
	}
	grad := &lstmNet{h: H, wx: make([]float64, 4*H), wh: make([]float64, 4*H*H), b: make([]float64, 4*H), v: make([]float64, H)}
	mom := &lstmNet{h: H, wx: make([]float64, 4*H), wh: make([]float64, 4*H*H), b: make([]float64, 4*H), v: make([]float64, H)}
	vel := &lstmNet{h: H, wx: make([]float64, 4*H), wh: make([]float64, 4*H*H), b: make([]float64, 4*H), v: make([]float64, H)}
	var mc0, vc0 float64
	tp := newTape(W, H)
	dh, dc, da := make([]float64, H), make([]float64, H), make([]float64, 4*H)
	order := make([]int, nSamples)
	for i := range order {
		order[i] = first + i
	}
	const batch = 32
	const b1, b2, eps = 0.9, 0.999, 1e-8
	step := 0
	for ep := 0; ep < epochs; ep++ {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for s0 := 0; s0 < len(order); s0 += batch {
			for _, p := range grad.params() {
				clear(p)
			}
			grad.c0 = 0
			end := min(s0+batch, len(order))
			for _, t := range order[s0:end] {
				win := x[t-W : t]
				out := net.forward(win, tp)
				net.backward(win, tp, out-(x[t]-x[t-1]), grad, dh, dc, da)
			}
			step++
			inv := 1 / float64(end-s0)
			c1 := 1 - math.Pow(b1, float64(step))
			c2 := 1 - math.Pow(b2, float64(step))
			gp, mp, vp, np := grad.params(), mom.params(), vel.params(), net.params()
			for j := range gp {
				for i := range gp[j] {
					gv := gp[j][i] * inv
					mp[j][i] = b1*mp[j][i] + (1-b1)*gv
					vp[j][i] = b2*vp[j][i] + (1-b2)*gv*gv
					np[j][i] -= lr * (mp[j][i] / c1) / (math.Sqrt(vp[j][i]/c2) + eps)
				}
			}
			gv := grad.c0 * inv
			mc0 = b1*mc0 + (1-b1)*gv
			vc0 = b2*vc0 + (1-b2)*gv*gv
			net.c0 -= lr * (mc0 / c1) / (math.Sqrt(vc0/c2) + eps)
		}
	}
	md.net = net
	md.last = append([]float64(nil), x[len(x)-W:]...)
	// Empirical residual quantiles on the original scale.
	pred := md.oneStep(y, first)
	res := make([]float64, len(pred))
	for i, p := range pred {
		res[i] = y[first+i] - p
	}
	md.qLo = quantile(append([]float64(nil), res...), 0.025)
	md.qHi = quantile(res, 0.975)
	md.epochs = epochs
	return md, nil
}

type lstmModel struct {
	net      *lstmNet
	w        int
	mu, sd   float64
	logT     bool
	clip     bool
	last     []float64 // last w standardised values
	qLo, qHi float64   // one-step residual quantiles (original scale)
	epochs   int
}

var (
	_ Model      = (*lstmModel)(nil)
	_ oneStepper = (*lstmModel)(nil)
	_ extender   = (*lstmModel)(nil)
	_ Describer  = (*lstmModel)(nil)
)

func (m *lstmModel) transform(y []float64) []float64 {
	if m.logT {
		z, _ := log1pSeries(y)
		return z
	}
	return append([]float64(nil), y...)
}

func (m *lstmModel) scale(z []float64) []float64 {
	x := make([]float64, len(z))
	for i, v := range z {
		x[i] = (v - m.mu) / m.sd
	}
	return x
}

func (m *lstmModel) unscale(x float64) float64 {
	v := x*m.sd + m.mu
	if m.logT {
		v = math.Expm1(v)
	}
	if m.clip {
		v = math.Max(v, 0)
	}
	return v
}

// Describe names the network's shape.
func (m *lstmModel) Describe() string {
	s := fmt.Sprintf("LSTM hidden=%d window=%d epochs=%d", m.net.h, m.w, m.epochs)
	if m.logT {
		s = "log " + s
	}
	return s
}

// Forecast iterates one-step predictions, feeding them back.
func (m *lstmModel) Forecast(h int) Forecast {
	if h <= 0 {
		return emptyForecast()
	}
	tp := newTape(m.w, m.net.h)
	win := append([]float64(nil), m.last...)
	f := Forecast{Mean: make([]float64, h), Lower: make([]float64, h), Upper: make([]float64, h)}
	for i := 0; i < h; i++ {
		next := win[len(win)-1] + m.net.forward(win, tp)
		copy(win, win[1:])
		win[len(win)-1] = next
		mu := m.unscale(next)
		r := math.Sqrt(float64(i + 1))
		f.Mean[i] = mu
		f.Lower[i] = mu + m.qLo*r
		f.Upper[i] = mu + m.qHi*r
	}
	if m.clip {
		clipForecast(&f)
	}
	return f
}

func (m *lstmModel) oneStep(y []float64, start int) []float64 {
	x := m.scale(m.transform(y))
	tp := newTape(m.w, m.net.h)
	pred := make([]float64, len(y)-start)
	for i := range pred {
		t := start + i
		switch {
		case t >= m.w:
			pred[i] = m.unscale(x[t-1] + m.net.forward(x[t-m.w:t], tp))
		case t > 0:
			pred[i] = y[t-1]
		default:
			pred[i] = y[0]
		}
	}
	return pred
}

func (m *lstmModel) extend(y []float64) Model {
	if len(y) < m.w {
		return m
	}
	c := *m
	x := m.scale(m.transform(y[len(y)-m.w:]))
	c.last = x
	return &c
}
