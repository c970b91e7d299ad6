// Package netcfg is the network data plane: per-tenant bridges, veth pairs
// and VXLAN tunnels, virtual IPs with gratuitous ARP, and the per-cloud load
// balancer programmed as iptables DNAT. The userspace TCP proxy with the
// same semantics is in netcfg/proxy. See DESIGN.md.
package netcfg

import (
	"errors"
	"fmt"
)

// Sentinel errors; match with errors.Is.
var (
	// ErrInvalid: an argument is malformed (names, addresses, weights).
	ErrInvalid = errors.New("netcfg: invalid argument")
	// ErrGRENotSupported: the running kernel cannot create GRE tunnels.
	ErrGRENotSupported = errors.New("netcfg: GRE tunnels are not supported by this kernel (no ip_gre module); use VXLAN")
	// ErrNotSupported: the kernel lacks a feature (link type, match, target).
	ErrNotSupported = errors.New("netcfg: not supported by this kernel")
)

// validName accepts names made of letters, digits, '.', '_' and '-', not
// starting with '-', at most max bytes long.
func validName(what, s string, max int) error {
	if s == "" {
		return fmt.Errorf("%w: %s name is empty", ErrInvalid, what)
	}
	if len(s) > max {
		return fmt.Errorf("%w: %s name %q is longer than %d bytes", ErrInvalid, what, s, max)
	}
	if s[0] == '-' {
		return fmt.Errorf("%w: %s name %q starts with '-'", ErrInvalid, what, s)
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return fmt.Errorf("%w: %s name %q has character %q (allowed: letters, digits, . _ -)", ErrInvalid, what, s, r)
		}
	}
	return nil
}
