package autoscale

import (
	"sort"
	"time"

	"aas/fsm"
)

// staleGaps is how many of a cloud's own inter-point gaps its latest point
// stays part of the group total: a site writes one point per stats pass,
// so 2.5 gaps tolerate one late or lost pass, and a cloud that stopped
// reporting (its controller is down, its instances are gone) drops out
// after about two missed passes instead of being counted forever.
const staleGaps = 2.5

// mergeClouds turns a group's metric history — each cloud's site writes
// its own points (fsm.MetricPoint.Cloud), interleaved in time order — into
// group-level points: walking the points in time order and keeping each
// cloud's latest point, it emits at every point time a point combined from
// each cloud's latest point that is still fresh (not older than staleGaps ×
// that cloud's last gap between two of its points; period when it has only
// one). Combined: Instances = Σ n, AvgCPU = Σ cpu·n / Σ n, RPS = Σ rps,
// RPSMeasured only if every fresh cloud's point has it. Points without a
// cloud ("": old data, a single writer) are one cloud. With one cloud the
// points come back as they are. Pure.
func mergeClouds(points []fsm.MetricPoint, period time.Duration) []fsm.MetricPoint {
	type cloud struct {
		last fsm.MetricPoint
		gap  time.Duration
	}
	clouds := map[string]*cloud{}
	var names []string
	out := make([]fsm.MetricPoint, 0, len(points))
	for i, p := range points {
		c := clouds[p.Cloud]
		if c == nil {
			c = &cloud{}
			clouds[p.Cloud] = c
			names = append(names, p.Cloud)
			sort.Strings(names) // a fixed summing order: same result on every leader
		} else {
			c.gap = p.Time.Sub(c.last.Time)
		}
		c.last = p
		if i+1 < len(points) && points[i+1].Time.Equal(p.Time) {
			continue // one point per time, once every cloud's point of it is in
		}
		var sum fsm.MetricPoint
		var cpu float64
		fresh := 0
		var only fsm.MetricPoint
		sum.RPSMeasured = true
		for _, n := range names {
			c := clouds[n]
			gap := c.gap
			if gap <= 0 {
				gap = period
			}
			if age := p.Time.Sub(c.last.Time); float64(age) > staleGaps*float64(gap) {
				continue
			}
			fresh++
			only = c.last
			sum.Instances += c.last.Instances
			cpu += c.last.AvgCPU * float64(c.last.Instances)
			sum.RPS += c.last.RPS
			sum.RPSMeasured = sum.RPSMeasured && c.last.RPSMeasured
		}
		if fresh == 1 {
			only.Time = p.Time
			out = append(out, only) // exactly the cloud's own values
			continue
		}
		sum.Time = p.Time
		if sum.Instances > 0 {
			sum.AvgCPU = cpu / float64(sum.Instances)
		}
		out = append(out, sum)
	}
	return out
}
