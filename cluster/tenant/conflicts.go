package tenant

import (
	"net/netip"

	"aas/fsm"
)

// FromFSM rebuilds the parts of a Spec that CheckConflicts compares (name,
// public IP, networks) from a tenant in the replicated state.
func FromFSM(t *fsm.Tenant) Spec {
	s := Spec{Name: t.Name, PublicIP: t.PublicIP}
	for _, nw := range t.Networks {
		n := Network{Name: nw.Name}
		for _, sn := range nw.Subnets {
			n.Subnets = append(n.Subnets, Subnet{CIDR: sn.CIDR, Gateway: sn.Gateway, DHCPStart: sn.RangeStart, DHCPEnd: sn.RangeEnd})
		}
		s.Networks = append(s.Networks, n)
	}
	return s
}

// CheckConflicts reports what in spec collides with the other tenants
// (existing may include an older version of spec itself, which is skipped
// by name): a DHCP range overlapping another tenant's range, or a public IP
// another tenant holds or that lies in another tenant's range. The cluster
// calls it before apply; the errors carry spec's file and lines and wrap
// both ErrInvalid and ErrConflict.
func CheckConflicts(spec *Spec, existing []Spec) error {
	el := &errList{file: spec.Source}
	type rng struct {
		lo, hi netip.Addr
	}
	parse := func(sn Subnet) (rng, bool) {
		lo, err1 := netip.ParseAddr(sn.DHCPStart)
		hi, err2 := netip.ParseAddr(sn.DHCPEnd)
		return rng{lo, hi}, err1 == nil && err2 == nil && lo.BitLen() == hi.BitLen()
	}
	overlaps := func(a, b rng) bool {
		return a.lo.BitLen() == b.lo.BitLen() && a.lo.Compare(b.hi) <= 0 && b.lo.Compare(a.hi) <= 0
	}
	add := func(path, format string, args ...any) {
		line, name := spec.lines.at(path)
		el.add(line, name, format, args...)
		el.errs[len(el.errs)-1].conflict = true
	}
	var pub netip.Addr
	if spec.PublicIP != "" {
		pub, _ = netip.ParseAddr(spec.PublicIP)
	}
	for k := range existing {
		o := &existing[k]
		if o.Name == spec.Name {
			continue
		}
		if pub.IsValid() && o.PublicIP != "" {
			if op, err := netip.ParseAddr(o.PublicIP); err == nil && op == pub {
				add("public_ip", "%s is already the public IP of tenant %q", pub, o.Name)
			}
		}
		for _, onw := range o.Networks {
			for _, osn := range onw.Subnets {
				or, ok := parse(osn)
				if !ok {
					continue
				}
				if pub.IsValid() && overlaps(rng{pub, pub}, or) {
					add("public_ip", "%s lies in tenant %q's range %s-%s", pub, o.Name, or.lo, or.hi)
				}
				for i, nw := range spec.Networks {
					for j, sn := range nw.Subnets {
						r, ok := parse(sn)
						if ok && overlaps(r, or) {
							add(index(index("networks", i)+".subnets", j)+".dhcp_start",
								"range %s-%s overlaps tenant %q's range %s-%s (network %s)", r.lo, r.hi, o.Name, or.lo, or.hi, onw.Name)
						}
					}
				}
			}
		}
	}
	return el.err()
}
