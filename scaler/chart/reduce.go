package chart

import (
	"math"
	"slices"
)

// point is one vertex of a drawn line; until is the time the value holds
// until (the next time point), used by step lines.
type point struct {
	t, v, until float64
}

// bucketSize returns how many consecutive samples share a bucket so that
// about maxPts points remain after keeping two (min and max) per bucket.
func bucketSize(n, maxPts int) int {
	if n <= maxPts || maxPts < 2 {
		return 1
	}
	buckets := maxPts / 2
	return (n + buckets - 1) / buckets
}

func bad(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }

// gapThreshold returns the time difference above which consecutive samples
// are not joined by a line: 5× the median spacing (0 = never).
func gapThreshold(ts []float64) float64 {
	if len(ts) < 3 {
		return 0
	}
	d := make([]float64, 0, len(ts)-1)
	for i := 1; i < len(ts); i++ {
		if x := ts[i] - ts[i-1]; x > 0 {
			d = append(d, x)
		}
	}
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return 5 * d[len(d)/2]
}

// reduce splits the series at NaN values and, when gap > 0, where
// consecutive samples lie more than gap apart (missing data is not drawn as
// a slope); it keeps, per bucket of consecutive samples, the minimum and the
// maximum in time order, so at most about maxPts points are drawn and no
// peak is lost.
func reduce(ts, vs []float64, maxPts int, gap float64) [][]point {
	size := bucketSize(len(ts), maxPts)
	until := func(i int) float64 {
		if i+1 < len(ts) {
			return ts[i+1]
		}
		return ts[i]
	}
	var (
		segs   [][]point
		cur    []point
		lo, hi = -1, -1 // indices of min and max in the open bucket
	)
	flush := func() {
		if lo < 0 {
			return
		}
		a, b := lo, hi
		if a > b {
			a, b = b, a
		}
		cur = append(cur, point{ts[a], vs[a], until(a)})
		if b != a {
			cur = append(cur, point{ts[b], vs[b], until(b)})
		}
		lo, hi = -1, -1
	}
	endSeg := func() {
		flush()
		if len(cur) > 0 {
			segs = append(segs, cur)
			cur = nil
		}
	}
	prev := -1
	for i, v := range vs {
		if bad(v) {
			endSeg()
			continue
		}
		if gap > 0 && prev >= 0 && ts[i]-ts[prev] > gap {
			endSeg()
		}
		prev = i
		if lo >= 0 && i/size != lo/size {
			flush()
		}
		if lo < 0 {
			lo, hi = i, i
			continue
		}
		if v < vs[lo] {
			lo = i
		}
		if v > vs[hi] {
			hi = i
		}
	}
	endSeg()
	return segs
}

// bandSeg is one contiguous part of a band.
type bandSeg struct {
	lower, upper []point
}

// bandSegments splits the band at NaN gaps and keeps, per bucket, the
// envelope (lowest lower, highest upper) at the bucket's first and last time.
func bandSegments(ts, lower, upper []float64, maxPts int, gap float64) []bandSeg {
	size := bucketSize(len(ts), maxPts)
	var (
		segs         []bandSeg
		cur          bandSeg
		first, last  = -1, -1
		minLo, maxUp float64
	)
	flush := func() {
		if first < 0 {
			return
		}
		cur.lower = append(cur.lower, point{t: ts[first], v: minLo})
		cur.upper = append(cur.upper, point{t: ts[first], v: maxUp})
		if last != first {
			cur.lower = append(cur.lower, point{t: ts[last], v: minLo})
			cur.upper = append(cur.upper, point{t: ts[last], v: maxUp})
		}
		first = -1
	}
	endSeg := func() {
		flush()
		if len(cur.lower) > 0 {
			segs = append(segs, cur)
			cur = bandSeg{}
		}
	}
	prev := -1
	for i := range ts {
		l, u := lower[i], upper[i]
		if bad(l) || bad(u) {
			endSeg()
			continue
		}
		if gap > 0 && prev >= 0 && ts[i]-ts[prev] > gap {
			endSeg()
		}
		prev = i
		if first >= 0 && i/size != first/size {
			flush()
		}
		if first < 0 {
			first, last, minLo, maxUp = i, i, l, u
			continue
		}
		last = i
		minLo, maxUp = math.Min(minLo, l), math.Max(maxUp, u)
	}
	endSeg()
	return segs
}
