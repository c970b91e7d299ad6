package fsm

import (
	"cmp"
	"net/netip"
	"slices"
	"sort"
)

// Query methods read the state and return copies the caller may keep.
// Call them inside (*FSM).Read.

// TenantNames returns the tenants' names, sorted.
func (s *State) TenantNames() []string { return sortedKeys(s.Tenants) }

// Tenant returns a copy of a tenant.
func (s *State) Tenant(name string) (Tenant, bool) {
	t := s.Tenants[name]
	if t == nil {
		return Tenant{}, false
	}
	return *t.clone(), true
}

// Group returns a copy of a group.
func (s *State) Group(tenant, name string) (Group, bool) {
	g := s.Groups[GroupKey(tenant, name)]
	if g == nil {
		return Group{}, false
	}
	return *g.clone(), true
}

// TenantGroups returns copies of a tenant's groups sorted by name.
func (s *State) TenantGroups(tenant string) []Group {
	t := s.Tenants[tenant]
	if t == nil {
		return nil
	}
	out := make([]Group, 0, len(t.Groups))
	for _, name := range t.Groups {
		if g := s.Groups[GroupKey(tenant, name)]; g != nil {
			out = append(out, *g.clone())
		}
	}
	return out
}

// AllGroups returns copies of every group sorted by tenant, then name.
func (s *State) AllGroups() []Group {
	out := make([]Group, 0, len(s.Groups))
	for _, k := range sortedKeys(s.Groups) {
		out = append(out, *s.Groups[k].clone())
	}
	return out
}

// Instance returns a copy of an instance.
func (s *State) Instance(id string) (Instance, bool) {
	inst := s.Instances[id]
	if inst == nil {
		return Instance{}, false
	}
	return *inst, true
}

// sortInstances orders instances oldest first (Created, then ID).
func sortInstances(out []Instance) {
	slices.SortFunc(out, func(a, b Instance) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
}

// GroupInstances returns copies of a group's instances in every state
// (until reaped), oldest first.
func (s *State) GroupInstances(tenant, group string) []Instance {
	m := s.idx.byGroup[GroupKey(tenant, group)]
	out := make([]Instance, 0, len(m))
	for _, inst := range m {
		out = append(out, *inst)
	}
	sortInstances(out)
	return out
}

// LiveGroupInstances returns copies of a group's live instances, oldest
// first.
func (s *State) LiveGroupInstances(tenant, group string) []Instance {
	m := s.idx.byGroup[GroupKey(tenant, group)]
	out := make([]Instance, 0, s.idx.liveByGroup[GroupKey(tenant, group)])
	for _, inst := range m {
		if inst.Live() {
			out = append(out, *inst)
		}
	}
	sortInstances(out)
	return out
}

// LiveCount returns how many live instances a group has.
func (s *State) LiveCount(tenant, group string) int {
	return s.idx.liveByGroup[GroupKey(tenant, group)]
}

// LiveInstancesByCloud returns a group's live instances by cloud, each
// list oldest first.
func (s *State) LiveInstancesByCloud(tenant, group string) map[string][]Instance {
	out := map[string][]Instance{}
	for _, inst := range s.LiveGroupInstances(tenant, group) {
		out[inst.Cloud] = append(out[inst.Cloud], inst)
	}
	return out
}

// CloudLiveCount returns how many live instances a cloud holds.
func (s *State) CloudLiveCount(cloud string) int { return s.idx.liveByCloud[cloud] }

// CloudInstances returns copies of every instance placed in a cloud (all
// states until reaped), sorted by ID: what a site reconciler works from.
func (s *State) CloudInstances(cloud string) []Instance {
	var out []Instance
	for _, inst := range s.Instances {
		if inst.Cloud == cloud {
			out = append(out, *inst)
		}
	}
	slices.SortFunc(out, func(a, b Instance) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// HypervisorInstances returns copies of the live instances placed on a
// hypervisor, sorted by ID.
func (s *State) HypervisorInstances(id string) []Instance {
	var out []Instance
	for _, inst := range s.Instances {
		if inst.Hypervisor == id && inst.Live() {
			out = append(out, *inst)
		}
	}
	slices.SortFunc(out, func(a, b Instance) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// CloudList returns copies of the clouds by priority, then name.
func (s *State) CloudList() []Cloud {
	out := make([]Cloud, 0, len(s.Clouds))
	for _, c := range s.Clouds {
		out = append(out, *c.clone())
	}
	slices.SortFunc(out, func(a, b Cloud) int {
		if c := cmp.Compare(a.Priority, b.Priority); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}

// HypervisorList returns copies of the hypervisors of a cloud ("" for all),
// sorted by ID.
func (s *State) HypervisorList(cloud string) []Hypervisor {
	var out []Hypervisor
	for _, h := range s.Hypervisors {
		if cloud == "" || h.Cloud == cloud {
			out = append(out, *h.clone())
		}
	}
	slices.SortFunc(out, func(a, b Hypervisor) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// ActivityFilter selects activity entries; zero fields match everything.
type ActivityFilter struct {
	Tenant   string
	Group    string
	Kind     string
	AfterSeq uint64 // only entries with Seq > AfterSeq
	Limit    int    // the newest Limit entries (0: all)
}

// ActivityLog returns copies of the matching entries, oldest first.
func (s *State) ActivityLog(f ActivityFilter) []ActivityEntry {
	// Seq increases along the slice: skip to AfterSeq by binary search.
	start := sort.Search(len(s.Activity), func(i int) bool { return s.Activity[i].Seq > f.AfterSeq })
	var out []ActivityEntry
	for _, e := range s.Activity[start:] {
		if (f.Tenant == "" || e.Tenant == f.Tenant) && (f.Group == "" || e.Group == f.Group) &&
			(f.Kind == "" || e.Kind == f.Kind) {
			out = append(out, e.clone())
		}
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out
}

// MetricHistory returns a copy of a group's metric points, oldest first.
func (s *State) MetricHistory(tenant, group string) []MetricPoint {
	return cloneMetricPoints(s.Metrics[GroupKey(tenant, group)])
}

// InstanceSamples returns a copy of an instance's load samples, oldest
// first.
func (s *State) InstanceSamples(id string) []LoadSample { return slices.Clone(s.Samples[id]) }

// IPOwner returns the live instance that holds an address.
func (s *State) IPOwner(ip string) (string, bool) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "", false
	}
	id, ok := s.idx.ipOwner[a]
	return id, ok
}
