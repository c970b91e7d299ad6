package scaler

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// CloudCount is a number of new instances for one cloud.
type CloudCount struct {
	Cloud string `json:"cloud"`
	Count int    `json:"count"`
}

// Placement says where a scaling step happens: new instances per cloud (in
// the order of preference) and the instances to drain, in order.
type Placement struct {
	Add    []CloudCount `json:"add,omitempty"`
	Remove []string     `json:"remove,omitempty"`
}

// String is a short human form: "add aws+2 gcp+1" / "drain i-7,i-6".
func (p Placement) String() string {
	var parts []string
	if len(p.Add) > 0 {
		s := make([]string, len(p.Add))
		for i, a := range p.Add {
			s[i] = fmt.Sprintf("%s+%d", a.Cloud, a.Count)
		}
		parts = append(parts, "add "+strings.Join(s, " "))
	}
	if len(p.Remove) > 0 {
		parts = append(parts, "drain "+strings.Join(p.Remove, ","))
	}
	return strings.Join(parts, "; ")
}

// rankClouds orders clouds by priority (lower first), then name.
func rankClouds(clouds []Cloud) []Cloud { return rankCloudsInto(nil, clouds) }

// rankCloudsInto is rankClouds into buf (appended to buf[:0]).
func rankCloudsInto(buf, clouds []Cloud) []Cloud {
	c := append(buf[:0], clouds...)
	slices.SortStableFunc(c, func(a, b Cloud) int {
		if a.Priority != b.Priority {
			return cmp.Compare(a.Priority, b.Priority)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return c
}

// Place distributes delta instances: delta > 0 adds them to clouds by
// priority while each has capacity, spilling to the next; delta < 0 picks
// instances to drain in reverse order — least preferred cloud first, newest
// instance first — never a protected one. It returns how many it could
// place (same sign as delta) and a note when that is fewer than asked.
// With no clouds, new instances go to the cloud named "".
func Place(clouds []Cloud, instances []Instance, delta int) (Placement, int, string) {
	var p Placement
	switch {
	case delta > 0:
		if len(clouds) == 0 {
			p.Add = []CloudCount{{Cloud: "", Count: delta}}
			return p, delta, ""
		}
		left := delta
		var rankBuf [8]Cloud
		for _, c := range rankCloudsInto(rankBuf[:0], clouds) {
			if left == 0 {
				break
			}
			n := left
			if c.Capacity >= 0 && c.Capacity < n {
				n = c.Capacity
			}
			if n > 0 {
				p.Add = append(p.Add, CloudCount{Cloud: c.Name, Count: n})
				left -= n
			}
		}
		if left > 0 {
			return p, delta - left, fmt.Sprintf("capacity: only %d of %d new instances fit the clouds", delta-left, delta)
		}
		return p, delta, ""
	case delta < 0:
		// Candidates by index with their cloud's rank precomputed (the
		// same order as sorting the instances themselves, without copying
		// them or scanning the clouds in every comparison).
		var rankBuf [8]Cloud
		ranked := rankCloudsInto(rankBuf[:0], clouds)
		unknown := len(clouds) // clouds not in the list go first
		type cand struct{ rank, i int }
		var candBuf [64]cand
		cands := candBuf[:0]
		if len(instances) > len(candBuf) {
			cands = make([]cand, 0, len(instances))
		}
		protected := 0
		for i := range instances {
			in := &instances[i]
			if !in.State.Counted() {
				continue
			}
			if in.Protected {
				protected++
				continue
			}
			r := unknown
			for j := range ranked {
				if ranked[j].Name == in.Cloud {
					r = j
					break
				}
			}
			cands = append(cands, cand{r, i})
		}
		slices.SortStableFunc(cands, func(a, b cand) int {
			if a.rank != b.rank {
				return cmp.Compare(b.rank, a.rank)
			}
			ia, ib := &instances[a.i], &instances[b.i]
			if c := ib.Created.Compare(ia.Created); c != 0 {
				return c
			}
			return strings.Compare(ib.ID, ia.ID)
		})
		want := -delta
		n := min(want, len(cands))
		if n > 0 {
			p.Remove = make([]string, n)
			for k, c := range cands[:n] {
				p.Remove[k] = instances[c.i].ID
			}
		}
		if n < want {
			return p, -n, fmt.Sprintf("protected: only %d of %d instances may be drained (%d protected)", n, want, protected)
		}
		return p, delta, ""
	}
	return p, 0, ""
}
