package scaler

import (
	"reflect"
	"testing"
	"time"
)

func TestPlace(t *testing.T) {
	at := func(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }
	clouds := []Cloud{{Name: "private", Priority: 1, Capacity: 2}, {Name: "aws", Priority: 2, Capacity: 3}, {Name: "gcp", Priority: 3, Capacity: -1}}
	insts := []Instance{
		{ID: "p1", Cloud: "private", Created: at(1), State: StateRunning},
		{ID: "p2", Cloud: "private", Created: at(5), State: StateRunning},
		{ID: "a1", Cloud: "aws", Created: at(2), State: StateRunning},
		{ID: "a2", Cloud: "aws", Created: at(7), State: StateRunning, Protected: true},
		{ID: "a3", Cloud: "aws", Created: at(3), State: StateRunning},
		{ID: "g1", Cloud: "gcp", Created: at(4), State: StateRunning},
		{ID: "x1", Cloud: "gone", Created: at(0), State: StateRunning},
		{ID: "d1", Cloud: "gcp", Created: at(9), State: StateDraining},
	}
	cases := []struct {
		name   string
		clouds []Cloud
		delta  int
		want   Placement
		placed int
	}{
		{"fits the first cloud", clouds, 2, Placement{Add: []CloudCount{{"private", 2}}}, 2},
		{"spills to the next", clouds, 4, Placement{Add: []CloudCount{{"private", 2}, {"aws", 2}}}, 4},
		{"unlimited last cloud", clouds, 9, Placement{Add: []CloudCount{{"private", 2}, {"aws", 3}, {"gcp", 4}}}, 9},
		{"all full", []Cloud{{Name: "a", Priority: 1, Capacity: 1}, {Name: "b", Priority: 2, Capacity: 0}}, 3, Placement{Add: []CloudCount{{"a", 1}}}, 1},
		{"priority not order of the list", []Cloud{{Name: "z", Priority: 2, Capacity: -1}, {Name: "y", Priority: 1, Capacity: -1}}, 1, Placement{Add: []CloudCount{{"y", 1}}}, 1},
		{"no clouds", nil, 2, Placement{Add: []CloudCount{{"", 2}}}, 2},
		{"scale-in: unknown cloud first, then least preferred", clouds, -2, Placement{Remove: []string{"x1", "g1"}}, -2},
		{"scale-in: newest first within a cloud, protected skipped", clouds, -4, Placement{Remove: []string{"x1", "g1", "a3", "a1"}}, -4},
		{"scale-in: stops at protected", clouds, -9, Placement{Remove: []string{"x1", "g1", "a3", "a1", "p2", "p1"}}, -6},
		{"nothing", clouds, 0, Placement{}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, placed, note := Place(c.clouds, insts, c.delta)
			if !reflect.DeepEqual(got, c.want) || placed != c.placed {
				t.Fatalf("got %+v placed %d (%s), want %+v placed %d", got, placed, note, c.want, c.placed)
			}
			if (placed != c.delta) != (note != "") {
				t.Fatalf("note %q for placed %d of %d", note, placed, c.delta)
			}
		})
	}
}

func TestDecisionPlacement(t *testing.T) {
	g := spec(1, 100, Policy{Reactive: &Reactive{Threshold: 0.6}})
	clouds := []Cloud{{Name: "a", Priority: 1, Capacity: 1}, {Name: "b", Priority: 2, Capacity: 1}}
	d := Decide(Input{Group: g, Instances: group(9), Metrics: avgSample(0.8, 9), Clouds: clouds, Now: t0})
	if d.Desired != 11 || len(d.Placement.Add) != 2 || d.Placement.String() != "add a+1 b+1" {
		t.Fatalf("capacity-limited placement: %s", d.Reason())
	}
}
