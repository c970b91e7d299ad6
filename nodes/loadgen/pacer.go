// Package loadgen replays a workload trace as open-loop HTTP load: the
// request rate follows the trace (the load of each step spread over the
// step, compressed by a speed-up factor), paced by a vegeta Pacer and sent
// by vegeta's Attacker, whatever the target's latency. It reports the
// achieved rate, latency percentiles and errors as it goes and a summary
// at the end. See DESIGN.md beside this file.
package loadgen

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"aas/scaler/trace"
)

// ErrConfig wraps every invalid configuration.
var ErrConfig = errors.New("loadgen: invalid config")

// TracePacer is a vegeta.Pacer whose rate follows a trace: during the
// trace point i (from its T until the next point's T, the last one for one
// Step) the rate is Load_i / Step requests per trace second, times scale,
// and trace time runs speedup times faster than wall time — so
// Load_i / Step × speedup × scale requests per wall second, capped at
// maxRate. Hits are spaced evenly within a segment; the n-th hit is due
// when the integral of the rate reaches n. Open loop: a hit that is late
// (the client was slow) is sent at once, until Grace after the end.
type TracePacer struct {
	start []time.Duration // segment start, wall time since the attack began
	rate  []float64       // hits per wall second in the segment
	cum   []float64       // hits due by start[i]
	end   time.Duration   // end of the replay (wall)
	total float64         // hits due by end
	t0    int64           // trace time at the attack's start
	speed float64
	// Grace is how long past the end hits still due are sent (an
	// overloaded client catches up); later, the rest is dropped.
	Grace time.Duration
}

var _ vegeta.Pacer = (*TracePacer)(nil)

// NewTracePacer builds the pacer. duration > 0 cuts the replay short
// (wall time); maxRate > 0 caps the rate.
func NewTracePacer(tr *trace.Trace, speedup, scale, maxRate float64, duration time.Duration) (*TracePacer, error) {
	switch {
	case tr == nil || len(tr.Points) == 0:
		return nil, fmt.Errorf("%w: trace is empty", ErrConfig)
	case !(speedup > 0) || math.IsInf(speedup, 0):
		return nil, fmt.Errorf("%w: speedup %v: want a number > 0", ErrConfig, speedup)
	case !(scale > 0) || math.IsInf(scale, 0):
		return nil, fmt.Errorf("%w: scale %v: want a number > 0", ErrConfig, scale)
	case maxRate < 0 || math.IsNaN(maxRate):
		return nil, fmt.Errorf("%w: max-rate %v: want a number >= 0", ErrConfig, maxRate)
	case duration < 0:
		return nil, fmt.Errorf("%w: duration %v is negative", ErrConfig, duration)
	}
	step := tr.Step
	if step <= 0 {
		step = 1 // a single point: its load is per second
	}
	p := &TracePacer{t0: tr.Points[0].T, speed: speedup}
	wall := func(t int64) time.Duration {
		return time.Duration(float64(t-p.t0) / speedup * float64(time.Second))
	}
	cum := 0.0
	for i, pt := range tr.Points {
		from := wall(pt.T)
		next := pt.T + step
		if i+1 < len(tr.Points) {
			next = tr.Points[i+1].T
		}
		to := wall(next)
		if duration > 0 && from >= duration {
			break
		}
		if duration > 0 && to > duration {
			to = duration
		}
		r := pt.Load / float64(step) * speedup * scale
		if maxRate > 0 && r > maxRate {
			r = maxRate
		}
		p.start = append(p.start, from)
		p.rate = append(p.rate, r)
		p.cum = append(p.cum, cum)
		cum += r * (to - from).Seconds()
		p.end = to
	}
	p.total = cum
	return p, nil
}

// Duration is the wall time the replay takes.
func (p *TracePacer) Duration() time.Duration { return p.end }

// Expected is the number of hits due by elapsed (fractional).
func (p *TracePacer) Expected(elapsed time.Duration) float64 {
	if elapsed >= p.end {
		return p.total
	}
	i := p.segment(elapsed)
	if i < 0 {
		return 0
	}
	return p.cum[i] + p.rate[i]*(elapsed-p.start[i]).Seconds()
}

// Total is the number of hits of the whole replay (fractional).
func (p *TracePacer) Total() float64 { return p.total }

// TraceTime is the trace's time (seconds, as in the file) at elapsed.
func (p *TracePacer) TraceTime(elapsed time.Duration) float64 {
	return float64(p.t0) + elapsed.Seconds()*p.speed
}

// segment is the index of the segment holding elapsed (-1 before the first).
func (p *TracePacer) segment(elapsed time.Duration) int {
	return sort.Search(len(p.start), func(i int) bool { return p.start[i] > elapsed }) - 1
}

// Rate implements vegeta.Pacer: hits per second at elapsed.
func (p *TracePacer) Rate(elapsed time.Duration) float64 {
	if elapsed >= p.end {
		return 0
	}
	if i := p.segment(elapsed); i >= 0 {
		return p.rate[i]
	}
	return 0
}

// Pace implements vegeta.Pacer: the wait until hit number hits+1 is due,
// or stop when the replay holds no more hits.
func (p *TracePacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	n := float64(hits + 1)
	if n > p.total+1e-9 || elapsed >= p.end+p.Grace {
		return 0, true
	}
	// The segment in which the cumulative count reaches n.
	j := sort.Search(len(p.cum), func(i int) bool { return p.cum[i] >= n }) - 1
	for j > 0 && p.rate[j] == 0 {
		j--
	}
	if j < 0 || p.rate[j] == 0 {
		return 0, true
	}
	due := p.start[j] + time.Duration((n-p.cum[j])/p.rate[j]*float64(time.Second))
	if due <= elapsed {
		return 0, false // behind schedule: fire now (open loop)
	}
	return due - elapsed, false
}
