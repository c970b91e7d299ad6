package scaler

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestAppendFixed2MatchesStrconv: the fast %.2f is strconv's, byte for
// byte — random magnitudes, exact halves (ties to even), their
// neighbours, negative values rounding to zero, −0, the fallback range.
func TestAppendFixed2MatchesStrconv(t *testing.T) {
	check := func(v float64) {
		t.Helper()
		got := string(appendFixed2([]byte("x"), v))
		want := "x" + strconv.FormatFloat(v, 'f', 2, 64)
		if got != want {
			t.Fatalf("appendFixed2(%v) = %q, want %q", v, got, want)
		}
	}
	for _, v := range []float64{0, math.Copysign(0, -1), -0.001, 0.005, 0.015, 0.125, 0.375, 2.675, 1.005,
		0.995, 9.995, 99.995, 1e13, 9.999999999999e12, -1e13, 1e300, 5e-324, math.Inf(1), math.Inf(-1), math.NaN()} {
		check(v)
		check(-v)
	}
	r := rand.New(rand.NewPCG(4, 4))
	for range 100000 {
		v := math.Pow(10, r.Float64()*16-3) * (r.Float64() + 0.5)
		check(v)
		check(-v)
		// An exact tie: k/8 has a representable half at the third decimal.
		k := float64(r.Int64N(1 << 40))
		h := k / 8
		check(h)
		check(math.Nextafter(h, 0))
		check(math.Nextafter(h, math.Inf(1)))
		// Near a hundredths boundary.
		w := math.Round(v*100)/100 + 0.005
		check(w)
		check(math.Nextafter(w, 0))
		check(math.Nextafter(w, math.Inf(1)))
	}
}

func BenchmarkAppendFixed2(b *testing.B) {
	buf := make([]byte, 0, 64)
	vals := []float64{0.78, 12.3456, 1234.5, 0.004999, 27.15}
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			for _, v := range vals {
				buf = appendFixed2(buf[:0], v)
			}
		}
	})
	b.Run("strconv", func(b *testing.B) {
		for b.Loop() {
			for _, v := range vals {
				buf = strconv.AppendFloat(buf[:0], v, 'f', 2, 64)
			}
		}
	})
}
