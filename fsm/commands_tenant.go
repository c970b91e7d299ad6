package fsm

import (
	"encoding/json"
	"net/netip"
	"slices"
	"sort"
	"time"
)

// TenantSpec is the user-editable part of a tenant (from tenant.yml).
type TenantSpec struct {
	Name     string         `json:"name"`
	PublicIP string         `json:"public_ip,omitempty"`
	Networks []Network      `json:"networks"`
	Settings TenantSettings `json:"settings"`
}

// GroupSpec is the user-editable part of a scaling group. Runtime fields
// (desired, cooldown, fired slots, suspended) are kept across applies;
// a new group starts with desired = min.
type GroupSpec struct {
	Name string `json:"name"`
	// Network is the tenant network the group's instances join; it may be
	// empty when the tenant has exactly one network.
	Network     string            `json:"network,omitempty"`
	Min         int               `json:"min"`
	Max         int               `json:"max"`
	Policy      json.RawMessage   `json:"policy,omitempty"`
	Template    json.RawMessage   `json:"template,omitempty"`
	Clouds      []CloudPreference `json:"clouds,omitempty"`
	DrainPeriod time.Duration     `json:"drain_period"`
}

// ApplyTenant creates or replaces a whole tenant — spec, networks and
// groups — in one all-or-nothing command. Groups missing from Groups are
// deleted: at once when they have no live instances, else they are marked
// Deleting and their instances drained (see DeleteTenant).
//
// ExpectedVersion, when set, must equal the tenant's current Version (0
// for a tenant that does not exist yet), else ErrVersionConflict. The
// command's result is the new version (uint64).
type ApplyTenant struct {
	Tenant          TenantSpec  `json:"tenant"`
	Groups          []GroupSpec `json:"groups"`
	ExpectedVersion *uint64     `json:"expected_version,omitempty"`
	Time            time.Time   `json:"time"`
}

// DeleteTenant deletes a tenant. A tenant without live instances goes at
// once. Otherwise the tenant and its groups are marked Deleting, desired
// drops to 0, and every live instance is moved towards termination
// (pending → terminated, provisioning → terminating, running → draining);
// the site reconcilers finish the job and the tenant disappears with its
// last live instance. This keeps the network data the reconcilers need
// for tear-down until they are done. Deleting a tenant that is already
// being deleted is a no-op.
type DeleteTenant struct {
	Name            string    `json:"name"`
	ExpectedVersion *uint64   `json:"expected_version,omitempty"`
	Time            time.Time `json:"time"`
}

func init() {
	registerCommand("apply-tenant", applyApplyTenant)
	registerCommand("delete-tenant", applyDeleteTenant)
}

// validatedTenant is the outcome of validating an ApplyTenant.
type validatedTenant struct {
	ranges   map[string][]ipRange
	groups   []GroupSpec // with defaults filled in
	toRetire []string    // existing group names missing from the spec, sorted
}

func (s *State) validateTenant(c *ApplyTenant) (*validatedTenant, error) {
	t := &c.Tenant
	if err := checkName("tenant name", t.Name); err != nil {
		return nil, err
	}
	if err := checkTime(c.Time); err != nil {
		return nil, err
	}
	cur := s.Tenants[t.Name]
	if cur != nil && cur.Deleting {
		return nil, reject(ErrDeleting, "tenant %q", t.Name)
	}
	if c.ExpectedVersion != nil {
		var have uint64
		if cur != nil {
			have = cur.Version
		}
		if have != *c.ExpectedVersion {
			return nil, reject(ErrVersionConflict, "tenant %q is at version %d, the command expected %d", t.Name, have, *c.ExpectedVersion)
		}
	}
	if t.Settings.Retention < 0 {
		return nil, invalid("tenant %q: settings.retention %s is negative", t.Name, t.Settings.Retention)
	}
	others := s.TenantNames()
	if t.PublicIP != "" {
		pip, err := netip.ParseAddr(t.PublicIP)
		if err != nil || pip.Zone() != "" {
			return nil, invalid("tenant %q: public_ip %q is not an IP address", t.Name, t.PublicIP)
		}
		t.PublicIP = pip.String()
		for _, o := range others {
			if o != t.Name && s.Tenants[o].PublicIP == t.PublicIP {
				return nil, reject(ErrConflict, "tenant %q: public_ip %s is already used by tenant %q", t.Name, t.PublicIP, o)
			}
		}
	}

	// Networks: names, subnets, ranges; no overlap inside the tenant or
	// with any other tenant.
	v := &validatedTenant{ranges: map[string][]ipRange{}}
	var mine []ipRange
	var prefixes []netip.Prefix
	for i, nw := range t.Networks {
		if err := checkName("networks["+itoa(i)+"].name", nw.Name); err != nil {
			return nil, fieldErr("tenant "+t.Name, err)
		}
		if _, dup := v.ranges[nw.Name]; dup {
			return nil, invalid("tenant %q: network %q is listed twice", t.Name, nw.Name)
		}
		if len(nw.Subnets) == 0 {
			return nil, invalid("tenant %q: network %q has no subnets", t.Name, nw.Name)
		}
		v.ranges[nw.Name] = nil
		for j, sn := range nw.Subnets {
			r, err := parseSubnet(sn)
			if err != nil {
				return nil, invalid("tenant %q: network %q subnets[%d]: %v", t.Name, nw.Name, j, err)
			}
			for _, p := range prefixes {
				if p.Overlaps(r.prefix) {
					return nil, reject(ErrConflict, "tenant %q: network %q subnet %s overlaps subnet %s of the same tenant", t.Name, nw.Name, r.prefix, p)
				}
			}
			for _, m := range mine {
				if m.overlaps(r) {
					return nil, reject(ErrConflict, "tenant %q: range %s overlaps range %s", t.Name, r, m)
				}
			}
			for _, o := range others {
				if o == t.Name {
					continue
				}
				for _, onw := range sortedKeys(s.idx.ranges[o]) {
					for _, or := range s.idx.ranges[o][onw] {
						if or.overlaps(r) {
							return nil, reject(ErrConflict, "tenant %q: network %q range %s overlaps range %s of tenant %q", t.Name, nw.Name, r, or, o)
						}
					}
				}
			}
			prefixes = append(prefixes, r.prefix)
			mine = append(mine, r)
			v.ranges[nw.Name] = append(v.ranges[nw.Name], r)
		}
	}

	// Groups.
	seen := map[string]bool{}
	for i, gs := range c.Groups {
		if err := checkName("groups["+itoa(i)+"].name", gs.Name); err != nil {
			return nil, fieldErr("tenant "+t.Name, err)
		}
		if seen[gs.Name] {
			return nil, invalid("tenant %q: group %q is listed twice", t.Name, gs.Name)
		}
		seen[gs.Name] = true
		where := "tenant " + t.Name + " group " + gs.Name
		if gs.Network == "" {
			if len(t.Networks) != 1 {
				return nil, invalid("%s: network is required when the tenant has %d networks", where, len(t.Networks))
			}
			gs.Network = t.Networks[0].Name
		}
		if _, ok := v.ranges[gs.Network]; !ok {
			return nil, reject(ErrNotFound, "%s: network %q is not a network of the tenant", where, gs.Network)
		}
		if gs.Min < 0 || gs.Max < 1 || gs.Min > gs.Max || gs.Max > MaxCap {
			return nil, invalid("%s: min %d / max %d: want 0 <= min <= max, 1 <= max <= %d", where, gs.Min, gs.Max, MaxCap)
		}
		if gs.DrainPeriod < 0 {
			return nil, invalid("%s: drain_period %s is negative", where, gs.DrainPeriod)
		}
		clouds := map[string]bool{}
		for j, cp := range gs.Clouds {
			if err := checkName("clouds["+itoa(j)+"].cloud", cp.Cloud); err != nil {
				return nil, fieldErr(where, err)
			}
			if clouds[cp.Cloud] {
				return nil, invalid("%s: cloud %q is listed twice", where, cp.Cloud)
			}
			clouds[cp.Cloud] = true
			if cp.Max < 0 {
				return nil, invalid("%s: clouds[%d].max %d is negative", where, j, cp.Max)
			}
		}
		if old := s.Groups[GroupKey(t.Name, gs.Name)]; old != nil {
			if old.Deleting {
				return nil, reject(ErrDeleting, "%s: the group is still being deleted", where)
			}
			if old.Network != gs.Network && s.idx.liveByGroup[old.Key()] > 0 {
				return nil, reject(ErrInUse, "%s: cannot move from network %q to %q with %d live instances", where, old.Network, gs.Network, s.idx.liveByGroup[old.Key()])
			}
		}
		v.groups = append(v.groups, gs)
	}
	if cur != nil {
		for _, name := range cur.Groups {
			if !seen[name] {
				v.toRetire = append(v.toRetire, name)
			}
		}
		// Live instances must keep their addresses inside the new ranges.
		for _, name := range cur.Groups {
			for _, id := range sortedKeys(s.idx.byGroup[GroupKey(t.Name, name)]) {
				inst := s.Instances[id]
				if !inst.Live() {
					continue
				}
				a, _ := netip.ParseAddr(inst.IP)
				if !slices.ContainsFunc(v.ranges[inst.Network], func(r ipRange) bool { return r.contains(a) }) {
					return nil, reject(ErrInUse, "tenant %q: live instance %s holds %s, outside the new ranges of network %q", t.Name, inst.ID, inst.IP, inst.Network)
				}
			}
		}
	}
	return v, nil
}

func applyApplyTenant(s *State, _ uint64, c *ApplyTenant) (any, error) {
	v, err := s.validateTenant(c)
	if err != nil {
		return nil, err
	}
	now := utc(c.Time)
	spec := c.Tenant
	t := s.Tenants[spec.Name]
	created := t == nil
	if created {
		t = &Tenant{Name: spec.Name, Created: now}
		s.Tenants[spec.Name] = t
	}
	t.Version++
	t.PublicIP = spec.PublicIP
	t.Networks = cloneNetworks(spec.Networks)
	t.Settings = spec.Settings
	t.Updated = now
	// New ranges: forget the allocation hints of the old ones.
	for _, rs := range s.idx.ranges[spec.Name] {
		for _, r := range rs {
			delete(s.idx.lowFree, r)
		}
	}
	s.idx.ranges[spec.Name] = v.ranges

	for _, gs := range v.groups {
		k := GroupKey(spec.Name, gs.Name)
		g := s.Groups[k]
		if g == nil {
			g = &Group{Tenant: spec.Name, Name: gs.Name, Desired: gs.Min, Created: now}
			s.Groups[k] = g
		}
		g.Network = gs.Network
		g.Min, g.Max = gs.Min, gs.Max
		g.Desired = clamp(g.Desired, g.Min, g.Max)
		g.Policy = cloneRaw(gs.Policy)
		g.Template = cloneRaw(gs.Template)
		g.Clouds = slices.Clone(gs.Clouds)
		g.DrainPeriod = gs.DrainPeriod
		g.Updated = now
	}
	for _, name := range v.toRetire {
		s.retireGroup(s.Groups[GroupKey(spec.Name, name)], now, "group removed from tenant spec")
	}
	s.syncTenantGroups(spec.Name)
	verb := "updated"
	if created {
		verb = "created"
	}
	s.appendActivity(ActivityEntry{Time: now, Kind: "tenant", Tenant: spec.Name,
		Reason: "tenant " + verb + " (version " + utoa(t.Version) + ")"})
	return t.Version, nil
}

func applyDeleteTenant(s *State, _ uint64, c *DeleteTenant) (any, error) {
	if err := checkTime(c.Time); err != nil {
		return nil, err
	}
	t := s.Tenants[c.Name]
	if t == nil {
		return nil, reject(ErrNotFound, "tenant %q", c.Name)
	}
	if c.ExpectedVersion != nil && *c.ExpectedVersion != t.Version {
		return nil, reject(ErrVersionConflict, "tenant %q is at version %d, the command expected %d", c.Name, t.Version, *c.ExpectedVersion)
	}
	if t.Deleting {
		return nil, nil
	}
	now := utc(c.Time)
	t.Deleting = true
	t.Updated = now
	s.appendActivity(ActivityEntry{Time: now, Kind: "tenant", Tenant: c.Name, Reason: "tenant deletion requested"})
	for _, name := range slices.Clone(t.Groups) {
		s.retireGroup(s.Groups[GroupKey(c.Name, name)], now, "tenant deleted")
	}
	s.gcTenant(c.Name)
	return nil, nil
}

// retireGroup marks a group Deleting, scales it to zero and moves its live
// instances towards termination; the group goes when none is live.
func (s *State) retireGroup(g *Group, now time.Time, reason string) {
	if g == nil {
		return
	}
	k := g.Key()
	g.Deleting = true
	g.Min, g.Desired = 0, 0
	g.Updated = now
	for _, id := range sortedKeys(s.idx.byGroup[k]) {
		inst := s.Instances[id]
		var to InstanceState
		switch inst.State {
		case StatePending:
			to = StateTerminated
		case StateProvisioning:
			to = StateTerminating
		case StateRunning:
			to = StateDraining
		default:
			continue
		}
		s.transition(s.mutableInstance(id), to, now, reason)
	}
	s.gcGroup(k)
}

// gcGroup removes a Deleting group without live instances, and then its
// tenant if that was being deleted and has no group left.
func (s *State) gcGroup(k string) {
	g := s.Groups[k]
	if g == nil || !g.Deleting || s.idx.liveByGroup[k] > 0 {
		return
	}
	delete(s.Groups, k)
	delete(s.Metrics, k)
	delete(s.Evaluations, k)
	s.syncTenantGroups(g.Tenant)
	s.gcTenant(g.Tenant)
}

// gcTenant removes a Deleting tenant without groups.
func (s *State) gcTenant(name string) {
	t := s.Tenants[name]
	if t == nil || !t.Deleting || len(t.Groups) > 0 {
		return
	}
	for _, rs := range s.idx.ranges[name] {
		for _, r := range rs {
			delete(s.idx.lowFree, r)
		}
	}
	delete(s.idx.ranges, name)
	delete(s.Tenants, name)
}

// syncTenantGroups sets Tenant.Groups to the sorted names of its groups.
func (s *State) syncTenantGroups(tenant string) {
	t := s.Tenants[tenant]
	if t == nil {
		return
	}
	t.Groups = t.Groups[:0]
	prefix := tenant + "/"
	for k, g := range s.Groups {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix && g.Tenant == tenant {
			t.Groups = append(t.Groups, g.Name)
		}
	}
	sort.Strings(t.Groups)
}

func clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}
