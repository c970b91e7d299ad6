package elasticity

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The BUNGEE known-answer fixture (t in ms, end 20).
var (
	fixtureDemand = []Sample{{0, 1}, {7, 5}, {16, 3}, {17, 2}, {19, 4}, {20, 4}}
	fixtureSupply = []Sample{{0, 1}, {2, 2}, {3, 1}, {5, 3}, {9, 7}, {11, 6}, {12, 8}, {14, 2}, {20, 2}}
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestBUNGEEFixture(t *testing.T) {
	m := Compute(fixtureDemand, fixtureSupply, 20)
	tests := []struct {
		name      string
		got, want float64
	}{
		{"accuracy_O", m.AccuracyO, 16.0 / 20},
		{"accuracy_U", m.AccuracyU, 13.0 / 20},
		{"timeshare_O", m.TauO / 100, 8.0 / 20},
		{"timeshare_U", m.TauU / 100, 6.0 / 20},
		// Normalised by demand: over-provisioned intervals (excess/d × Δt):
		// [2,3) 1/1, [5,7) 2/1×2, [9,11) 2/5×2, [11,12) 1/5, [12,14) 3/5×2.
		{"theta_O", m.ThetaO, 100 * (1 + 4 + 0.8 + 0.2 + 1.2) / 20},
		// Under: [7,9) 2/5×2, [14,16) 3/5×2, [16,17) 1/3, [19,20) 2/4.
		{"theta_U", m.ThetaU, 100 * (0.8 + 1.2 + 1.0/3 + 0.5) / 20},
		// Changes at 2,3,5,7,9,11,12,14,16,17,19 never agree in direction;
		// each is charged the interval before it: 19 of 20.
		{"instability", m.Instability, 95},
		{"demand changes", float64(m.DemandChanges), 4},
		{"supply changes", float64(m.SupplyChanges), 7},
		{"jitter", m.Jitter, 3.0 / 20 * 3600},
		{"instance-hours", m.InstanceHours, (1*2 + 2*1 + 1*2 + 3*4 + 7*2 + 6*1 + 8*2 + 2*6) / 3600.0},
		{"duration", m.Duration, 20},
	}
	for _, tc := range tests {
		if !near(tc.got, tc.want) {
			t.Errorf("%s = %g, want %g", tc.name, tc.got, tc.want)
		}
	}
}

// randomStep returns a random step function on an irregular grid.
func randomStep(r *rand.Rand, n int) []Sample {
	xs := make([]Sample, n)
	t := 0.0
	for i := range xs {
		xs[i] = Sample{T: t, V: float64(r.IntN(10))}
		t += float64(1 + r.IntN(120))
	}
	return xs
}

func TestSupplyEqualsDemandIsPerfect(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 50 {
		d := randomStep(r, 1+r.IntN(200))
		end := d[len(d)-1].T + 60
		m := Compute(d, slices.Clone(d), end)
		for name, v := range map[string]float64{
			"AccuracyU": m.AccuracyU, "AccuracyO": m.AccuracyO,
			"ThetaU": m.ThetaU, "ThetaO": m.ThetaO, "TauU": m.TauU, "TauO": m.TauO,
			"Jitter": m.Jitter, "Instability": m.Instability,
		} {
			if v != 0 {
				t.Fatalf("case %d: %s = %g, want 0", i, name, v)
			}
		}
		if m.DemandChanges != m.SupplyChanges {
			t.Fatalf("case %d: changes %d vs %d", i, m.DemandChanges, m.SupplyChanges)
		}
	}
}

func TestSwapSymmetry(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 50 {
		d, s := randomStep(r, 1+r.IntN(100)), randomStep(r, 1+r.IntN(100))
		end := math.Max(d[len(d)-1].T, s[len(s)-1].T) + 30
		a, b := Compute(d, s, end), Compute(s, d, end)
		pairs := []struct {
			name string
			x, y float64
		}{
			{"AccuracyU/O", a.AccuracyU, b.AccuracyO},
			{"AccuracyO/U", a.AccuracyO, b.AccuracyU},
			{"TauU/O", a.TauU, b.TauO},
			{"TauO/U", a.TauO, b.TauU},
			{"Jitter", a.Jitter, -b.Jitter},
			{"Instability", a.Instability, b.Instability},
		}
		for _, p := range pairs {
			if !near(p.x, p.y) {
				t.Fatalf("case %d: %s: %g vs %g", i, p.name, p.x, p.y)
			}
		}
		// Every instant is under, over or exact.
		if a.TauU+a.TauO > 100+1e-9 || a.ThetaU > 100+1e-9 || a.Instability > 100+1e-9 {
			t.Fatalf("case %d: out of range %+v", i, a)
		}
	}
}

func TestTimeUnitInvariance(t *testing.T) {
	scale := func(xs []Sample, k float64) []Sample {
		out := make([]Sample, len(xs))
		for i, x := range xs {
			out[i] = Sample{x.T * k, x.V}
		}
		return out
	}
	a := Compute(fixtureDemand, fixtureSupply, 20)
	b := Compute(scale(fixtureDemand, 60), scale(fixtureSupply, 60), 1200)
	for _, p := range [][2]float64{
		{a.AccuracyU, b.AccuracyU}, {a.AccuracyO, b.AccuracyO}, {a.ThetaU, b.ThetaU},
		{a.ThetaO, b.ThetaO}, {a.TauU, b.TauU}, {a.TauO, b.TauO}, {a.Instability, b.Instability},
		{a.Jitter / 60, b.Jitter}, {a.InstanceHours * 60, b.InstanceHours},
	} {
		if !near(p[0], p[1]) {
			t.Errorf("not invariant: %g vs %g", p[0], p[1])
		}
	}
}

func TestUnsortedAndEdgeInput(t *testing.T) {
	want := Compute(fixtureDemand, fixtureSupply, 20)
	d := slices.Clone(fixtureDemand)
	slices.Reverse(d)
	s := slices.Clone(fixtureSupply)
	s = append(s, Sample{T: math.NaN(), V: 100}, Sample{T: math.Inf(1), V: 100})
	slices.Reverse(s)
	if got := Compute(d, s, 20); got != want {
		t.Errorf("unsorted input: %+v, want %+v", got, want)
	}
	if !slices.Equal(fixtureDemand, []Sample{{0, 1}, {7, 5}, {16, 3}, {17, 2}, {19, 4}, {20, 4}}) {
		t.Error("Compute modified its input")
	}
	tests := []struct {
		name   string
		d, s   []Sample
		end    float64
		wantZ  bool
		wantDu float64
	}{
		{"nothing", nil, nil, 10, true, 0},
		{"end before start", []Sample{{5, 1}}, []Sample{{5, 1}}, 4, true, 0},
		{"end infinite", []Sample{{0, 1}}, nil, math.Inf(1), true, 0},
		{"end NaN", []Sample{{0, 1}}, nil, math.NaN(), true, 0},
		{"supply missing", []Sample{{0, 2}}, nil, 10, false, 10},
	}
	for _, tc := range tests {
		m := Compute(tc.d, tc.s, tc.end)
		if m.Duration != tc.wantDu {
			t.Errorf("%s: duration %g, want %g", tc.name, m.Duration, tc.wantDu)
		}
		if tc.wantZ && (m.AccuracyU != 0 || m.TauU != 0 || m.InstanceHours != 0) {
			t.Errorf("%s: %+v, want zero metrics", tc.name, m)
		}
	}
	if m := Compute([]Sample{{0, 2}}, nil, 10); m.AccuracyU != 2 || m.TauU != 100 || m.ThetaU != 100 {
		t.Errorf("no supply: %+v", m)
	}
	// Demand zero (an outage): over-provisioning is normalised by one unit.
	if m := Compute([]Sample{{0, 0}}, []Sample{{0, 3}}, 10); m.ThetaO != 300 {
		t.Errorf("zero demand: ThetaO = %g, want 300", m.ThetaO)
	}
}

func TestInstanceHoursAndOverload(t *testing.T) {
	if got := InstanceHours([]Sample{{0, 2}, {1800, 4}}, 3600); got != 3 {
		t.Errorf("InstanceHours = %g, want 3", got)
	}
	load := []Sample{{0, 50}, {100, 250}, {200, 150}, {300, 0}}
	supply := []Sample{{0, 1}, {150, 2}}
	tests := []struct {
		capacity, want float64
	}{
		// capacity 100: [100,150) 250 > 100 and [150,200) 250 > 200 — 100 of 400 s.
		{100, 25},
		// capacity 40: everything but [300,400) where load is 0 — 300 of 400 s.
		{40, 75},
		{1000, 0},
	}
	for _, tc := range tests {
		if got := Overload(load, supply, tc.capacity, 400); !near(got, tc.want) {
			t.Errorf("Overload(capacity %g) = %g, want %g", tc.capacity, got, tc.want)
		}
	}
}

func TestSpeedup(t *testing.T) {
	ref := Compute(fixtureDemand, []Sample{{0, 3}}, 20) // fixed size
	pol := Compute(fixtureDemand, fixtureSupply, 20)
	perfect := Compute(fixtureDemand, fixtureDemand, 20)
	if got := Speedup(ref, ref); got != 1 {
		t.Errorf("Speedup(ref, ref) = %g, want 1", got)
	}
	a, b := Speedup(pol, ref), Speedup(ref, pol)
	if !near(a*b, 1) {
		t.Errorf("Speedup not reciprocal: %g × %g", a, b)
	}
	if s := Speedup(perfect, ref); !(s > 1) || math.IsInf(s, 0) {
		t.Errorf("perfect policy speedup %g, want finite > 1", s)
	}
	// By hand: the geometric mean of the four ratios.
	want := math.Pow(ref.ThetaU/pol.ThetaU*ref.ThetaO/pol.ThetaO*ref.TauU/pol.TauU*ref.TauO/pol.TauO, 0.25)
	if !near(a, want) {
		t.Errorf("Speedup = %g, want %g", a, want)
	}
}

func BenchmarkCompute(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	d, s := randomStep(r, 84000), randomStep(r, 84000)
	end := math.Max(d[len(d)-1].T, s[len(s)-1].T)
	b.ReportAllocs()
	for b.Loop() {
		Compute(d, s, end)
	}
}

// BenchmarkBaselineScan is the baseline for BenchmarkCompute: one pass over
// both series doing nothing but summing values.
func BenchmarkBaselineScan(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	d, s := randomStep(r, 84000), randomStep(r, 84000)
	b.ReportAllocs()
	var sink float64
	for b.Loop() {
		for i := range d {
			sink += d[i].V * d[i].T
		}
		for i := range s {
			sink += s[i].V * s[i].T
		}
	}
	_ = sink
}
