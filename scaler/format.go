package scaler

import (
	"math"
	"strconv"
)

// appendFixed2 appends v as strconv.AppendFloat(b, v, 'f', 2, 64) does —
// the same bytes (TestAppendFixed2MatchesStrconv) — in a few nanoseconds
// instead of a hundred: the explanations of the default policy format
// several numbers per group at every evaluation.
//
// v·100 is split exactly into p + e (p = the rounded product, e = its
// rounding error from a fused multiply-add), and the exact decimal value is
// rounded half to even, as strconv does. Values whose hundredths do not
// fit comfortably in a float's mantissa, NaN and ±Inf go to strconv.
func appendFixed2(b []byte, v float64) []byte {
	a := math.Abs(v)
	if !(a < 1e13) {
		return strconv.AppendFloat(b, v, 'f', 2, 64)
	}
	if math.Signbit(v) {
		b = append(b, '-')
	}
	p := a * 100
	e := math.FMA(a, 100, -p) // a·100 = p + e exactly
	fl := math.Floor(p)
	// The sign of (p − fl) + e − ½, the exact fraction's distance from a
	// half: p − fl is exact (p's fraction bits), and so is its difference
	// from ½ where it matters (Sterbenz: it is in [¼, 1)); below ¼ the
	// result is negative whatever e is (|e| ≤ ulp(p)/2 ≤ ⅛ here).
	r := ((p - fl) - 0.5) + e
	n := uint64(fl)
	if r > 0 || r == 0 && n&1 == 1 {
		n++
	}
	b = strconv.AppendUint(b, n/100, 10)
	c := n % 100
	return append(b, '.', byte('0'+c/10), byte('0'+c%10))
}
