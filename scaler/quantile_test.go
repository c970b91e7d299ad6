package scaler

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// qpInput is a group of n ready instances whose total load (instance units)
// over the last len(loads) minutes was loads (oldest first), deciding with
// the default policy.
func qpInput(t *testing.T, n int, loads []float64) Input {
	t.Helper()
	g, err := Named(DefaultPolicyName, NamedOptions{Target: 0.7, LeadTime: 3 * time.Minute, Interval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	inst := make([]Instance, n)
	for j := range inst {
		inst[j] = Instance{ID: "i" + string(rune('a'+j%26)) + string(rune('a'+j/26)), Cloud: "a", State: StateRunning, Created: t0.Add(-24 * time.Hour), Ready: true}
	}
	ms := make([]Sample, len(loads))
	for k, l := range loads {
		ms[k] = Sample{At: t0.Add(-time.Duration(len(loads)-1-k) * time.Minute), Value: l / float64(n), Instances: n}
	}
	return Input{Group: g, Instances: inst, Metrics: ms, Clouds: []Cloud{{Name: "a", Priority: 1, Capacity: -1}}, Now: t0}
}

func leadProposal(t *testing.T, d Decision) Proposal {
	t.Helper()
	for _, p := range d.Proposals {
		if p.Policy == "lead" {
			return p
		}
	}
	t.Fatalf("no lead proposal in %+v", d.Proposals)
	return Proposal{}
}

func TestQuantileProvisioningKnownAnswers(t *testing.T) {
	const n = 20
	ramp := make([]float64, 300)
	for i := range ramp {
		ramp[i] = 5 + 0.05*float64(i) // +0.05 instance units per minute
	}
	cases := []struct {
		name    string
		loads   []float64
		want    int    // lead's desired
		formula string // substring of the explanation
	}{
		// A constant load has no forecast error: exactly ceil(7/0.7) = 10.
		{"constant", constSeries(300, 7), 10, "forecast 7.00"},
		// Too little history: the highest load seen, ceil(9/0.7) = 13.
		{"warming up", []float64{3, 9, 4}, 13, "warming up"},
		// A steady ramp: the forecast follows it over the horizon; the
		// last load is 19.95, four steps ahead ≈ 20.15 → ceil(20.15/0.7)=29.
		{"ramp", ramp, 29, "step 4/4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(qpInput(t, n, c.loads))
			p := leadProposal(t, d)
			if p.Desired != c.want || !strings.Contains(p.Formula, c.formula) {
				t.Fatalf("lead = %d (%s), want %d with %q", p.Desired, p.Formula, c.want, c.formula)
			}
		})
	}
}

func constSeries(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestQuantileProvisioningCoverage: on a stationary Poisson load the
// provisioned level covers the next minutes' load at about the coverage
// target — the empirical quantile is calibrated, not a fixed headroom.
func TestQuantileProvisioningCoverage(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const mean = 40.0
	series := make([]float64, 3000)
	for i := range series {
		series[i] = poisson(r, mean) / 4 // instance units: 10 on average
	}
	g, _ := Named(DefaultPolicyName, NamedOptions{Target: 0.7, LeadTime: 3 * time.Minute, Interval: time.Minute})
	p := g.Policies[0].Proactive
	covered, total := 0, 0
	for end := 300; end+4 <= len(series); end += 7 {
		d := Decide(qpInput(t, 20, series[end-300:end]))
		capLoad := float64(leadProposal(t, d).Desired) * p.Target
		// The decision covers steps 1…4 ahead; check the last one (the
		// scale-out horizon) on the loads that follow.
		total++
		if series[end+3] <= capLoad {
			covered++
		}
	}
	got := float64(covered) / float64(total)
	if got < p.Coverage-0.06 || got > 0.995 {
		t.Fatalf("coverage %.3f over %d decisions, target %.2f", got, total, p.Coverage)
	}
	t.Logf("coverage %.3f over %d decisions (target %.2f)", got, total, p.Coverage)
}

func poisson(r *rand.Rand, lambda float64) float64 {
	// Knuth for small λ; enough for a test.
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return float64(k)
		}
		k++
	}
}

// TestQuantileProvisioningCycle: a load with a 15-minute timer spike is
// provisioned for the spike one lead time ahead, and not the rest of the
// time.
func TestQuantileProvisioningCycle(t *testing.T) {
	loads := make([]float64, 300)
	for i := range loads {
		loads[i] = 10
		if i%15 == 5 {
			loads[i] = 30
		}
	}
	// The last observed minute is index 299 (phase 299%15 = 14); the horizon
	// holds phases 0…3: no spike → ceil(10/0.7) = 15.
	if p := leadProposal(t, Decide(qpInput(t, 40, loads))); p.Desired != 15 || !strings.Contains(p.Formula, "cycle 15") {
		t.Fatalf("off-spike: lead = %d (%s), want 15 with the cycle", p.Desired, p.Formula)
	}
	// Two minutes later the spike (phase 5) is within the horizon:
	// ceil(30/0.7) = 43.
	more := append(loads[2:], 10, 10)
	if p := leadProposal(t, Decide(qpInput(t, 40, more))); p.Desired != 43 {
		t.Fatalf("before the spike: lead = %d (%s), want 43", p.Desired, p.Formula)
	}
}

// TestQuantileProvisioningSpec: a tenant writes the default's mechanism as
// a normal policy; a coverage outside [0, 1) is rejected by name.
func TestQuantileProvisioningSpec(t *testing.T) {
	cases := []struct {
		name, yaml string
		err        string
	}{
		{"ok", "min: 1\nmax: 50\npolicies:\n  - proactive: {coverage: 0.9, window: 4h, cycle_window: 90m}\n", ""},
		{"coverage 1", "min: 1\nmax: 50\npolicies:\n  - proactive: {coverage: 1}\n", "policies[0].proactive.coverage"},
		{"negative", "min: 1\nmax: 50\npolicies:\n  - proactive: {coverage: -0.5}\n", "policies[0].proactive.coverage"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := DecodeGroupSpec([]byte(c.yaml), "g.yaml")
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if p := g.Policies[0].Proactive; p.Coverage != 0.9 || p.Window.D() != 4*time.Hour {
					t.Fatalf("decoded %+v", p)
				}
				return
			}
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("err = %v, want ErrInvalidSpec naming %s", err, c.err)
			}
		})
	}
}

// TestShortCycleIgnoresRoundingNoise: a linear ramp's one-period changes
// differ only by floating-point rounding; that is not a cycle.
func TestShortCycleIgnoresRoundingNoise(t *testing.T) {
	y := make([]float64, 90)
	for i := range y {
		y[i] = 5 + 0.05*float64(i)
	}
	if p, r := shortCycle(y); p != 0 {
		t.Fatalf("ramp: cycle of %d (r=%.2f), want none", p, r)
	}
	for i := range y {
		y[i] = 10 + 20*float64(btoi(i%15 == 5))
	}
	if p, _ := shortCycle(y); p != 15 {
		t.Fatalf("15-period spikes: cycle %d, want 15", p)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
