package netcfg

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// DNATCounter is the packet counter of one DNAT rule in a service chain.
// In the nat table only a connection's first packet traverses the rules
// (later packets follow its conntrack entry), so Packets counts the new
// connections the rule sent to To.
type DNATCounter struct {
	Key         string // the service's "tenant/group" (from its dispatch rule)
	Chain       string // the service chain (generation) holding the rule
	Fingerprint string // the dispatch rule's fingerprint of the chain's rules
	To          netip.AddrPort
	Packets     uint64
}

// CounterLister lists a chain's rules with their counters (iptables -v -S).
// *iptables.IPTables and the runner NewIPTablesIn returns implement it.
type CounterLister interface {
	ListWithCounters(table, chain string) ([]string, error)
}

var _ CounterLister = (*nsIPTables)(nil)

func (n *nsIPTables) ListWithCounters(table, chain string) (out []string, err error) {
	err = n.do(func() error { out, err = n.ipt.ListWithCounters(table, chain); return err })
	return out, err
}

// DNATCounters reads the packet counters of the DNAT rules of every
// service this LB programmed, through the same iptables runner (it must
// implement CounterLister, else the error wraps ErrNotSupported). It holds
// the LB's lock, so the reading never sees half of a blue/green swap.
// Counters start at 0 when a swap creates a service's new chain: callers
// that want totals keep them across readings (by Chain and Fingerprint).
func (lb *LB) DNATCounters() ([]DNATCounter, error) {
	cl, ok := lb.ipt.(CounterLister)
	if !ok {
		return nil, fmt.Errorf("%w: the iptables runner %T cannot list counters", ErrNotSupported, lb.ipt)
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	jumps, err := lb.scanIfPresent()
	if err != nil {
		return nil, err
	}
	var out []DNATCounter
	for _, js := range jumps {
		for _, j := range js {
			lines, err := cl.ListWithCounters(natTable, j.chain)
			if err != nil {
				return nil, fmt.Errorf("netcfg: lb: counters of %s: %w", j.chain, err)
			}
			for _, line := range lines {
				to, n, ok := parseDNATCounter(line)
				if ok {
					out = append(out, DNATCounter{Key: j.key, Chain: j.chain, Fingerprint: j.fp, To: to, Packets: n})
				}
			}
		}
	}
	sort.Slice(out, func(i, k int) bool {
		if out[i].Chain != out[k].Chain {
			return out[i].Chain < out[k].Chain
		}
		return out[i].To.Compare(out[k].To) < 0
	})
	return out, nil
}

// parseDNATCounter reads one `iptables -v -S` line: a DNAT rule to a single
// ip:port with its "-c packets bytes" counter.
func parseDNATCounter(line string) (netip.AddrPort, uint64, bool) {
	f := splitRule(line)
	var (
		to      netip.AddrPort
		packets uint64
		dnat    bool
		haveTo  bool
		haveC   bool
	)
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case "-c":
			if i+2 >= len(f) {
				return to, 0, false
			}
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return to, 0, false
			}
			packets, haveC = n, true
			i += 2
		case "-j":
			dnat = i+1 < len(f) && f[i+1] == "DNAT"
		case "--to-destination":
			if i+1 < len(f) {
				ap, err := netip.ParseAddrPort(strings.TrimSpace(f[i+1]))
				to, haveTo = ap, err == nil
			}
		}
	}
	return to, packets, dnat && haveTo && haveC
}
