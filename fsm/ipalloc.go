package fsm

import (
	"fmt"
	"net/netip"
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

// allocateIP returns the lowest free address of the tenant network's ranges
// (in the order the subnets are listed) and marks it used by id. The result
// depends only on the set of addresses in use, so every replica picks the
// same one.
func (s *State) allocateIP(tenant, network, id string) (netip.Addr, error) {
	ranges := s.idx.ranges[tenant][network]
	if len(ranges) == 0 {
		return netip.Addr{}, reject(ErrNotFound, "tenant %q has no network %q", tenant, network)
	}
	for _, r := range ranges {
		a := r.start
		if h, ok := s.idx.lowFree[r]; ok && h.Compare(a) > 0 {
			a = h
		}
		for ; a.IsValid() && a.Compare(r.end) <= 0; a = a.Next() {
			if _, used := s.idx.ipOwner[a]; !used {
				s.idx.ipOwner[a] = id
				s.idx.lowFree[r] = a.Next()
				return a, nil
			}
		}
		s.idx.lowFree[r] = r.end.Next()
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
