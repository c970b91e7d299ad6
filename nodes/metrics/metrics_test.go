package metrics

import (
	"context"
	"fmt"
	"testing"

	"aas/nodes/driver"
)

func TestRing(t *testing.T) {
	tests := []struct {
		size, push, recent int
		want               []float64
	}{
		{3, 0, 2, []float64{}},
		{3, 2, 5, []float64{0, 1}},
		{3, 3, 3, []float64{0, 1, 2}},
		{3, 7, 3, []float64{4, 5, 6}},
		{3, 7, 2, []float64{5, 6}},
	}
	for _, tt := range tests {
		r := NewRing(tt.size)
		for i := range tt.push {
			r.Push(driver.Stats{CPU: float64(i)})
		}
		got := r.Recent(tt.recent)
		if len(got) != len(tt.want) {
			t.Fatalf("%+v: got %d samples", tt, len(got))
		}
		for i := range got {
			if got[i].CPU != tt.want[i] {
				t.Fatalf("%+v: sample %d = %v, want %v", tt, i, got[i].CPU, tt.want[i])
			}
		}
		if last, ok := r.Last(); ok != (tt.push > 0) || (ok && last.CPU != float64(tt.push-1)) {
			t.Fatalf("%+v: Last = %v %v", tt, last, ok)
		}
	}
}

// fakeSource stands in for a driver at the sampler's seam.
type fakeSource struct {
	insts []driver.Instance
	n     int
}

func (f *fakeSource) List(context.Context) ([]driver.Instance, error) { return f.insts, nil }
func (f *fakeSource) Stats(_ context.Context, id string) (driver.Stats, error) {
	f.n++
	if id == "broken" {
		return driver.Stats{}, fmt.Errorf("%w: %s", driver.ErrNotFound, id)
	}
	return driver.Stats{ID: id, CPU: float64(f.n)}, nil
}

func TestSampler(t *testing.T) {
	src := &fakeSource{insts: []driver.Instance{
		{ID: "a", State: driver.StateRunning},
		{ID: "b", State: driver.StateExited},
		{ID: "broken", State: driver.StateRunning},
	}}
	s := New(Config{Source: src, Window: 2})
	ctx := context.Background()
	for range 3 {
		s.SampleOnce(ctx)
	}
	latest := s.Latest()
	if len(latest) != 1 || latest["a"].ID != "a" {
		t.Fatalf("Latest = %+v, want only a", latest)
	}
	if got := s.Recent("a", 10); len(got) != 2 || got[1].CPU <= got[0].CPU {
		t.Fatalf("Recent(a) = %+v, want the 2 newest in order", got)
	}
	src.insts = src.insts[1:]
	s.SampleOnce(ctx)
	if len(s.Latest()) != 0 {
		t.Fatal("ring of a vanished instance kept")
	}
}
