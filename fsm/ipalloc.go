package fsm

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// ipRange is a parsed allocation range of one subnet.
type ipRange struct {
	start, end netip.Addr
	prefix     netip.Prefix
}

func (r ipRange) contains(a netip.Addr) bool {
	return a.Compare(r.start) >= 0 && a.Compare(r.end) <= 0
}

func (r ipRange) overlaps(o ipRange) bool {
	return r.start.BitLen() == o.start.BitLen() &&
		r.start.Compare(o.end) <= 0 && o.start.Compare(r.end) <= 0
}

func (r ipRange) String() string { return r.start.String() + "-" + r.end.String() }

// parseSubnet validates one subnet and returns its range.
func parseSubnet(sn Subnet) (ipRange, error) {
	p, err := netip.ParsePrefix(sn.CIDR)
	if err != nil {
		return ipRange{}, fmt.Errorf("cidr %q: %v", sn.CIDR, err)
	}
	if p.Masked() != p {
		return ipRange{}, fmt.Errorf("cidr %q has host bits set (want %s)", sn.CIDR, p.Masked())
	}
	start, err := netip.ParseAddr(sn.RangeStart)
	if err != nil {
		return ipRange{}, fmt.Errorf("range_start %q: %v", sn.RangeStart, err)
	}
	end, err := netip.ParseAddr(sn.RangeEnd)
	if err != nil {
		return ipRange{}, fmt.Errorf("range_end %q: %v", sn.RangeEnd, err)
	}
	if start.Zone() != "" || end.Zone() != "" {
		return ipRange{}, fmt.Errorf("range of %s: zoned addresses are not allowed", sn.CIDR)
	}
	if !p.Contains(start) || !p.Contains(end) {
		return ipRange{}, fmt.Errorf("range %s-%s is not inside %s", start, end, p)
	}
	if start.Compare(end) > 0 {
		return ipRange{}, fmt.Errorf("range_start %s is after range_end %s", start, end)
	}
	r := ipRange{start: start, end: end, prefix: p}
	if sn.Gateway != "" {
		gw, err := netip.ParseAddr(sn.Gateway)
		if err != nil {
			return ipRange{}, fmt.Errorf("gateway %q: %v", sn.Gateway, err)
		}
		if !p.Contains(gw) {
			return ipRange{}, fmt.Errorf("gateway %s is not inside %s", gw, p)
		}
		if r.contains(gw) {
			return ipRange{}, fmt.Errorf("gateway %s is inside the range %s", gw, r)
		}
	}
	return r, nil
}

// tenantRanges parses the ranges of validated networks (errors cannot occur
// for state that passed ApplyTenant; a bad subnet is skipped).
func tenantRanges(nets []Network) map[string][]ipRange {
	out := make(map[string][]ipRange, len(nets))
	for _, n := range nets {
		for _, sn := range n.Subnets {
			if r, err := parseSubnet(sn); err == nil {
				out[n.Name] = append(out[n.Name], r)
			}
		}
	}
	return out
}

// IPQuarantine is how long the address of a failed instance stays out of
// allocation, measured from the instance's failure (Instance.Since, the
// time of the update-instances command that failed it). A failed instance's
// process may still run — a hypervisor cut off from the network, an agent
// that comes back — until its site reconciler deletes it as an orphan;
// handing its address to a new instance meanwhile would make two instances
// answer for one address. reap-instances keeps a failed instance's record
// while its quarantine lasts, so the rule stays a function of the
// replicated state.
const IPQuarantine = 5 * time.Minute

// quarEntry is a failed instance holding its address in quarantine.
type quarEntry struct {
	id    string
	until time.Time // Since + IPQuarantine
}

// quarUntil returns when the last quarantine of an address ends.
func quarUntil(es []quarEntry) time.Time {
	var u time.Time
	for _, e := range es {
		if e.until.After(u) {
			u = e.until
		}
	}
	return u
}

// addQuarantine records a failed instance's address.
func (s *State) addQuarantine(inst *Instance) {
	a, err := netip.ParseAddr(inst.IP)
	if err != nil {
		return
	}
	m := s.idx.quarantine[inst.Tenant]
	if m == nil {
		m = map[netip.Addr][]quarEntry{}
		s.idx.quarantine[inst.Tenant] = m
	}
	m[a] = append(m[a], quarEntry{id: inst.ID, until: inst.QuarantinedUntil()})
}

// removeQuarantine forgets a failed instance's address (it is reaped). An
// address left without entries and without a live owner is free: the
// allocation hints of the tenant's ranges are lowered to it.
func (s *State) removeQuarantine(inst *Instance) {
	a, err := netip.ParseAddr(inst.IP)
	if err != nil {
		return
	}
	m := s.idx.quarantine[inst.Tenant]
	es := m[a]
	for i, e := range es {
		if e.id == inst.ID {
			// A new slice: never write into one a previous append shares.
			es = append(es[:i:i], es[i+1:]...)
			break
		}
	}
	if len(es) > 0 {
		m[a] = es
		return
	}
	delete(m, a)
	if len(m) == 0 {
		delete(s.idx.quarantine, inst.Tenant)
	}
	if _, used := s.idx.ipOwner[a]; used {
		return
	}
	for _, rs := range s.idx.ranges[inst.Tenant] {
		for _, r := range rs {
			if r.contains(a) {
				if h, ok := s.idx.lowFree[r]; ok && a.Compare(h) < 0 {
					s.idx.lowFree[r] = a
				}
			}
		}
	}
}

// allocateIP returns the lowest allocatable address of the tenant network's
// ranges (in the order the subnets are listed) and marks it used by id.
// Allocatable: not held by a live instance and not quarantined at now (the
// command's time) by a failed instance of the tenant (IPQuarantine). The
// result depends only on the exported state and now, so every replica
// picks the same one. When only quarantined addresses are left, the error
// (ErrCapacity) names the subnets and when the first address comes free.
func (s *State) allocateIP(tenant, network, id string, now time.Time) (netip.Addr, error) {
	ranges := s.idx.ranges[tenant][network]
	if len(ranges) == 0 {
		return netip.Addr{}, reject(ErrNotFound, "tenant %q has no network %q", tenant, network)
	}
	quar := s.idx.quarantine[tenant]
	for _, r := range ranges {
		// The hint: every address below it is live or has a quarantine
		// entry. One whose quarantine ran out since is free again, and
		// lower than anything the scan finds.
		hint := r.start
		if h, ok := s.idx.lowFree[r]; ok && h.Compare(hint) > 0 {
			hint = h
		}
		var low netip.Addr
		for a, es := range quar {
			if a.Compare(hint) < 0 && r.contains(a) && (!low.IsValid() || a.Less(low)) && quarUntil(es).Compare(now) <= 0 {
				if _, used := s.idx.ipOwner[a]; !used {
					low = a
				}
			}
		}
		if low.IsValid() {
			s.idx.ipOwner[low] = id
			return low, nil
		}
		for a := hint; a.IsValid() && a.Compare(r.end) <= 0; a = a.Next() {
			if _, used := s.idx.ipOwner[a]; used {
				continue
			}
			if es, ok := quar[a]; ok && quarUntil(es).After(now) {
				continue
			}
			s.idx.ipOwner[a] = id
			s.idx.lowFree[r] = a.Next()
			return a, nil
		}
		s.idx.lowFree[r] = r.end.Next()
	}
	var blocked []string
	var first time.Time
	for _, r := range ranges {
		n := 0
		for a, es := range quar {
			if u := quarUntil(es); r.contains(a) && u.After(now) {
				if _, used := s.idx.ipOwner[a]; !used {
					n++
					if first.IsZero() || u.Before(first) {
						first = u
					}
				}
			}
		}
		if n > 0 {
			word := "addresses"
			if n == 1 {
				word = "address"
			}
			blocked = append(blocked, fmt.Sprintf("subnet %s (range %s): %d %s", r.prefix, r, n, word))
		}
	}
	if len(blocked) > 0 {
		return netip.Addr{}, reject(ErrCapacity, "network %s/%s has no free address: %s quarantined for %s after an instance failure; the first comes free at %s",
			tenant, network, strings.Join(blocked, ", "), IPQuarantine, first.Format(time.RFC3339))
	}
	return netip.Addr{}, reject(ErrCapacity, "network %s/%s has no free address", tenant, network)
}

// releaseIP frees the address of an instance leaving the live states.
func (s *State) releaseIP(inst *Instance) {
	a, err := netip.ParseAddr(inst.IP)
	if err != nil {
		return
	}
	if s.idx.ipOwner[a] != inst.ID {
		return
	}
	delete(s.idx.ipOwner, a)
	for _, r := range s.idx.ranges[inst.Tenant][inst.Network] {
		if r.contains(a) {
			if h, ok := s.idx.lowFree[r]; ok && a.Compare(h) < 0 {
				s.idx.lowFree[r] = a
			}
		}
	}
}
