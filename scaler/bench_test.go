package scaler

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// groups10k builds 10,000 groups running the default policy, each with
// 5–50 instances and an hour of per-minute group samples.
func groups10k() []Input {
	r := rand.New(rand.NewPCG(7, 7))
	g, _ := Named(DefaultPolicyName, NamedOptions{Target: 0.7})
	ins := make([]Input, 10000)
	for i := range ins {
		n := 5 + r.IntN(46)
		inst := make([]Instance, n)
		for j := range inst {
			inst[j] = Instance{ID: fmt.Sprintf("g%d-i%d", i, j), Cloud: "a", State: StateRunning, Created: t0.Add(-time.Hour), Ready: true}
		}
		ms := make([]Sample, 60)
		for k := range ms {
			ms[k] = Sample{At: t0.Add(-time.Duration(59-k) * time.Minute), Value: 0.3 + r.Float64()*0.6, Instances: n}
		}
		ins[i] = Input{Group: g, Instances: inst, Metrics: ms, Clouds: []Cloud{{Name: "a", Priority: 1, Capacity: -1}}, Now: t0}
	}
	return ins
}

// BenchmarkDecide10kGroups: one decision for each of 10,000 groups per op.
// The "baseline" sub-benchmark only reads the same inputs (sums the samples
// and counts instances); report decide/baseline as the ratio.
func BenchmarkDecide10kGroups(b *testing.B) {
	ins := groups10k()
	var base, dec float64
	b.Run("baseline-read-inputs", func(b *testing.B) {
		sink := 0.0
		for b.Loop() {
			for i := range ins {
				for _, s := range ins[i].Metrics {
					sink += s.Value
				}
				sink += float64(len(ins[i].Instances))
			}
		}
		base = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		_ = sink
	})
	b.Run("decide", func(b *testing.B) {
		out := 0
		for b.Loop() {
			for i := range ins {
				out += Decide(ins[i]).Desired
			}
		}
		dec = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(dec/1e6, "ms/10k-groups")
		_ = out
	})
	var par float64
	b.Run("decide-all-parallel", func(b *testing.B) {
		for b.Loop() {
			_ = DecideAll(ins, 0)
		}
		par = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(par/1e6, "ms/10k-groups")
	})
	if base > 0 && dec > 0 {
		b.Logf("decide %.1f ms per 10k groups (%.1f ms with DecideAll on all CPUs), %.0f× the input-reading baseline (%.3f ms)", dec/1e6, par/1e6, dec/base, base/1e6)
	}
}
