package fsm

import (
	"encoding/json"
	"maps"
	"slices"
)

// Clone returns a deep copy of the state (with its own derived index).
func (s *State) Clone() *State {
	c := s.cloneData()
	c.rebuildIndex()
	return c
}

// cloneData deep-copies the exported state without building the derived
// index (enough for encoding a snapshot; keeps Snapshot's lock short).
func (s *State) cloneData() *State {
	c := &State{
		Index:       s.Index,
		Settings:    s.Settings,
		Clouds:      make(map[string]*Cloud, len(s.Clouds)),
		Hypervisors: make(map[string]*Hypervisor, len(s.Hypervisors)),
		Tenants:     make(map[string]*Tenant, len(s.Tenants)),
		Groups:      make(map[string]*Group, len(s.Groups)),
		Instances:   make(map[string]*Instance, len(s.Instances)),
		Activity:    make([]ActivityEntry, len(s.Activity)),
		ActivitySeq: s.ActivitySeq,
		Metrics:     make(map[string][]MetricPoint, len(s.Metrics)),
		Samples:     make(map[string][]LoadSample, len(s.Samples)),
		Evaluations: make(map[string][]Evaluation, len(s.Evaluations)),
		ACLTokens:   maps.Clone(s.ACLTokens), // values are immutable
	}
	for k, v := range s.Clouds {
		c.Clouds[k] = v.clone()
	}
	for k, v := range s.Hypervisors {
		c.Hypervisors[k] = v.clone()
	}
	for k, v := range s.Tenants {
		c.Tenants[k] = v.clone()
	}
	for k, v := range s.Groups {
		c.Groups[k] = v.clone()
	}
	// One backing array for all instances: fewer allocations for 100k.
	arr := make([]Instance, 0, len(s.Instances))
	for k, v := range s.Instances {
		arr = append(arr, *v)
		c.Instances[k] = &arr[len(arr)-1]
	}
	for i, e := range s.Activity {
		c.Activity[i] = e.clone()
	}
	for k, v := range s.Metrics {
		c.Metrics[k] = cloneMetricPoints(v)
	}
	for k, v := range s.Samples {
		c.Samples[k] = slices.Clone(v)
	}
	for k, v := range s.Evaluations {
		c.Evaluations[k] = cloneEvaluations(v)
	}
	return c
}

// snapshotView returns a copy of the state for encoding that shares the
// immutable parts with s: *Instance values (copy-on-write, see
// mutableInstance) and the bounded slices (append-only, see pushBounded).
// The small mutable maps are deep-copied. Cost: O(instances) pointer
// copies instead of a deep copy, which keeps Snapshot's lock short.
func (s *State) snapshotView() *State {
	c := &State{
		Index:       s.Index,
		Settings:    s.Settings,
		Clouds:      make(map[string]*Cloud, len(s.Clouds)),
		Hypervisors: make(map[string]*Hypervisor, len(s.Hypervisors)),
		Tenants:     make(map[string]*Tenant, len(s.Tenants)),
		Groups:      make(map[string]*Group, len(s.Groups)),
		Instances:   maps.Clone(s.Instances),
		Activity:    s.Activity[:len(s.Activity):len(s.Activity)],
		ActivitySeq: s.ActivitySeq,
		Metrics:     maps.Clone(s.Metrics),
		Samples:     maps.Clone(s.Samples),
		ACLTokens:   maps.Clone(s.ACLTokens),
		Evaluations: maps.Clone(s.Evaluations),
	}
	for k, v := range s.Clouds {
		c.Clouds[k] = v.clone()
	}
	for k, v := range s.Hypervisors {
		c.Hypervisors[k] = v.clone()
	}
	for k, v := range s.Tenants {
		c.Tenants[k] = v.clone()
	}
	for k, v := range s.Groups {
		c.Groups[k] = v.clone()
	}
	return c
}

func (c *Cloud) clone() *Cloud {
	n := *c
	n.Meta = maps.Clone(c.Meta)
	return &n
}

func (h *Hypervisor) clone() *Hypervisor {
	n := *h
	n.Meta = maps.Clone(h.Meta)
	return &n
}

func (t *Tenant) clone() *Tenant {
	n := *t
	n.Networks = cloneNetworks(t.Networks)
	n.Groups = slices.Clone(t.Groups)
	return &n
}

func cloneNetworks(nets []Network) []Network {
	if nets == nil {
		return nil
	}
	out := make([]Network, len(nets))
	for i, nw := range nets {
		out[i] = Network{Name: nw.Name, Subnets: slices.Clone(nw.Subnets)}
	}
	return out
}

func (g *Group) clone() *Group {
	n := *g
	n.Policy = cloneRaw(g.Policy)
	n.Template = cloneRaw(g.Template)
	n.Clouds = slices.Clone(g.Clouds)
	n.FiredSlots = slices.Clone(g.FiredSlots)
	n.Cooldown.LastDecision = g.Cooldown.LastDecision.clone()
	return &n
}

func (d *Decision) clone() *Decision {
	if d == nil {
		return nil
	}
	n := *d
	n.Inputs = maps.Clone(d.Inputs)
	n.Placement = maps.Clone(d.Placement)
	return &n
}

func (e ActivityEntry) clone() ActivityEntry {
	e.Inputs = maps.Clone(e.Inputs)
	return e
}

func cloneMetricPoints(ps []MetricPoint) []MetricPoint {
	out := slices.Clone(ps)
	for i := range out {
		if out[i].Forecast != nil {
			f := *out[i].Forecast
			out[i].Forecast = &f
		}
	}
	return out
}

func cloneRaw(r json.RawMessage) json.RawMessage {
	if r == nil {
		return nil
	}
	return slices.Clone(r)
}
