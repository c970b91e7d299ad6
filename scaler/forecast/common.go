package forecast

import (
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/dsp/fourier"
)

// z95 is the two-sided 95% standard normal quantile used for the bands.
const z95 = 1.959963984540054

// oneStepper is implemented by fitted models that can replay their fixed
// (already estimated) parameters over a series and return one-step-ahead
// predictions. Auto uses it to back-test a candidate in one pass instead of
// refitting it at every origin.
type oneStepper interface {
	// oneStep returns p, len(y)-start long, where p[i] predicts y[start+i]
	// from y[:start+i] with the model's parameters held fixed.
	oneStep(y []float64, start int) []float64
}

// checkSeries rejects NaN and infinite observations.
func checkSeries(y []float64) error {
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: observation %d is %v", ErrBadInput, i, v)
		}
	}
	return nil
}

// nonNegative reports whether every observation is >= 0 (a load series);
// forecasts of such a series are clipped at zero.
func nonNegative(y []float64) bool {
	for _, v := range y {
		if v < 0 {
			return false
		}
	}
	return true
}

// band builds a Forecast from point forecasts and forecast standard
// deviations (normal ~95% interval), clipping at zero when clip is set.
func band(mean, sd []float64, clip bool) Forecast {
	h := len(mean)
	f := Forecast{Mean: mean, Lower: make([]float64, h), Upper: make([]float64, h)}
	for i := range mean {
		f.Lower[i] = mean[i] - z95*sd[i]
		f.Upper[i] = mean[i] + z95*sd[i]
	}
	if clip {
		clipForecast(&f)
	}
	return f
}

func clipForecast(f *Forecast) {
	for i := range f.Mean {
		f.Mean[i] = math.Max(f.Mean[i], 0)
		f.Lower[i] = math.Max(f.Lower[i], 0)
		f.Upper[i] = math.Max(f.Upper[i], 0)
	}
}

func emptyForecast() Forecast {
	return Forecast{Mean: []float64{}, Lower: []float64{}, Upper: []float64{}}
}

func mean(y []float64) float64 {
	if len(y) == 0 {
		return 0
	}
	s := 0.0
	for _, v := range y {
		s += v
	}
	return s / float64(len(y))
}

func variance(y []float64) float64 {
	if len(y) < 2 {
		return 0
	}
	m := mean(y)
	s := 0.0
	for _, v := range y {
		s += (v - m) * (v - m)
	}
	return s / float64(len(y)-1)
}

// quantile returns the q-quantile of x (x is sorted in place).
func quantile(x []float64, q float64) float64 {
	if len(x) == 0 {
		return 0
	}
	sort.Float64s(x)
	pos := q * float64(len(x)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return x[lo] + (x[hi]-x[lo])*(pos-float64(lo))
}

// ACF returns the sample autocorrelations of y for lags 0..maxLag,
// computed with an FFT in O(n log n).
func ACF(y []float64, maxLag int) []float64 {
	n := len(y)
	if maxLag >= n {
		maxLag = n - 1
	}
	if n < 2 || maxLag < 0 {
		return nil
	}
	m := mean(y)
	size := 1
	for size < 2*n {
		size <<= 1
	}
	buf := make([]float64, size)
	for i, v := range y {
		buf[i] = v - m
	}
	fft := fourier.NewFFT(size)
	c := fft.Coefficients(nil, buf)
	for i := range c {
		re, im := real(c[i]), imag(c[i])
		c[i] = complex(re*re+im*im, 0)
	}
	r := fft.Sequence(buf, c)
	out := make([]float64, maxLag+1)
	if r[0] == 0 {
		return out
	}
	for k := 0; k <= maxLag; k++ {
		out[k] = r[k] / r[0]
	}
	return out
}

// DetectSeason returns the seasonal period of y found by autocorrelation,
// or 0 when there is none: the first lag k in [2, n/3] that is a local
// maximum of the ACF, rises at least 0.1 above the lowest ACF before it, and
// exceeds max(0.25, 2/sqrt(n)). A period needs at least three cycles in the
// data to be detected.
func DetectSeason(y []float64) int {
	n := len(y)
	maxLag := n / 3
	if maxLag < 3 {
		return 0
	}
	acf := ACF(y, maxLag+1)
	thr := math.Max(0.25, 2/math.Sqrt(float64(n)))
	low := acf[1]
	for k := 2; k <= maxLag; k++ {
		low = math.Min(low, acf[k])
		if acf[k] > acf[k-1] && acf[k] >= acf[k+1] && acf[k] > thr && acf[k]-low >= 0.1 {
			return k
		}
	}
	return 0
}

// resolveSeason turns the season argument of Fit into a period: a given
// period > 1 is used as is, 1 or less than 0 means none, 0 means detect.
func resolveSeason(y []float64, season int) int {
	switch {
	case season > 1:
		return season
	case season == 0:
		return DetectSeason(y)
	default:
		return 0
	}
}

// expBand back-transforms a log(1+y)-scale forecast: the point forecast is
// the back-transformed median, the band the back-transformed quantiles.
func expBand(mu, sd []float64) Forecast {
	h := len(mu)
	f := Forecast{Mean: make([]float64, h), Lower: make([]float64, h), Upper: make([]float64, h)}
	for i := range mu {
		f.Mean[i] = math.Max(math.Expm1(mu[i]), 0)
		f.Lower[i] = math.Max(math.Expm1(mu[i]-z95*sd[i]), 0)
		f.Upper[i] = math.Max(math.Expm1(mu[i]+z95*sd[i]), 0)
	}
	return f
}
