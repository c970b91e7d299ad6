package lbsync

import (
	"net/netip"
	"slices"
	"sync"

	"aas/fsm"
	"aas/netcfg"
	"aas/netcfg/proxy"
)

// Per-instance request counters: both load balancers implement
// site.RequestCounter (InstanceRequests), so the site reconciler turns what
// this controller's load balancer sent each instance into the request rate
// of its metric points.

// instCount is one instance as a counted proxy backend: its connections
// are the proxy's total for addr minus what addr had when the instance
// became a backend (an address can be reused by a later instance).
type instCount struct {
	group string // "tenant/group"
	addr  string
	base  uint64
}

// InstanceRequests returns, by instance ID, how many connections the
// group proxies have established to each instance of this cloud since it
// became a backend (cumulative; draining instances keep their count until
// they leave the FSM's backends).
func (s *ProxySync) InstanceRequests() map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]uint64, len(s.counted))
	totals := map[string]map[string]uint64{}
	for id, c := range s.counted {
		gp := s.groups[c.group]
		if gp == nil {
			continue
		}
		tot, ok := totals[c.group]
		if !ok {
			tot = gp.p.Stats().Total
			totals[c.group] = tot
		}
		if n := tot[c.addr]; n >= c.base {
			out[id] = n - c.base
		}
	}
	return out
}

// countInstances records the group's backends for InstanceRequests (under
// s.mu, during a pass). bs is what the proxy balances over now (the first
// instance of an address wins, as in proxyBackends); before is the proxy's
// totals before this pass changed its backends (nil for a proxy started in
// this pass), so a new instance counts from the moment it could receive
// connections. live collects the counted IDs; the pass drops the others.
func (s *ProxySync) countInstances(g groupView, bs []proxy.Backend, before map[string]uint64, live map[string]bool) {
	if s.counted == nil {
		s.counted = map[string]instCount{}
	}
	unclaimed := make(map[string]bool, len(bs))
	for _, b := range bs {
		unclaimed[b.Addr] = true
	}
	for _, b := range g.Backends {
		if !unclaimed[b.Addr] || (s.cfg.Cloud != "" && b.Cloud != s.cfg.Cloud) {
			continue
		}
		delete(unclaimed, b.Addr)
		live[b.ID] = true
		if c, ok := s.counted[b.ID]; ok && c.addr == b.Addr && c.group == g.Key {
			continue
		}
		s.counted[b.ID] = instCount{group: g.Key, addr: b.Addr, base: before[b.Addr]}
	}
}

// dropUncounted forgets instances that are no backend any more.
func (s *ProxySync) dropUncounted(live map[string]bool) {
	for id := range s.counted {
		if !live[id] {
			delete(s.counted, id)
		}
	}
}

// ruleID identifies one DNAT rule of one generation of a service chain:
// the A/B swap creates the other chain (counters at 0), and a chain name
// that comes back carries a new fingerprint unless its rules are the same.
type ruleID struct {
	chain, fp string
	to        netip.AddrPort
}

// iptCounters turns the DNAT rules' packet counters, which restart at 0
// with every chain swap, into monotonic totals per instance.
type iptCounters struct {
	mu      sync.Mutex
	started bool              // a first reading was taken (the baseline)
	prev    map[ruleID]uint64 // last reading of every rule
	total   map[string]uint64 // instance ID → connections since started
}

// InstanceRequests returns, by instance ID, how many new connections this
// controller's nat table has DNATed to each instance of its cloud since the
// first reading (cumulative): the cloud services' rules and, on the leader,
// the master services' rules that go straight to this cloud's instances
// (rules to other clouds' LB addresses are no instance of ours). It reads
// the counters now; a failed reading returns the totals as they were.
func (s *IPTablesSync) InstanceRequests() map[string]uint64 {
	s.sampleCounters()
	s.counters.mu.Lock()
	defer s.counters.mu.Unlock()
	out := make(map[string]uint64, len(s.counters.total))
	for id, n := range s.counters.total {
		out[id] = n
	}
	return out
}

// sampleCounters reads the rules' counters and adds each rule's increase
// since the previous reading to the instance that owns its destination.
// Sync calls it before changing the rules, so what the old chains counted
// is taken before a swap drops them.
func (s *IPTablesSync) sampleCounters() {
	c := &s.counters
	c.mu.Lock()
	defer c.mu.Unlock()
	cs, err := s.lb.DNATCounters()
	if err != nil {
		s.log.Debug("cannot read the load balancer's counters", "error", err)
		return
	}
	owners := map[netip.AddrPort]string{}
	s.cfg.Source.FSM().Read(func(st *fsm.State) {
		for _, in := range st.CloudInstances(s.cfg.Cloud) {
			if !in.Live() {
				continue
			}
			if ap, err := netip.ParseAddrPort(in.Address); err == nil {
				owners[ap] = in.ID
			}
		}
	})
	next, total := accumulate(c.prev, c.total, cs, owners, c.started)
	c.prev, c.total, c.started = next, total, true
}

// accumulate is one step of the counter bookkeeping; pure. A rule seen
// before adds its increase (a counter below its previous value was reset:
// its whole value is new); a rule not seen before is a chain created since
// the previous reading and adds its whole value, except on the first
// reading, which only sets the baseline (what was counted before this
// process started is not attributed). Instances not in owners are dropped.
func accumulate(prev map[ruleID]uint64, total map[string]uint64, cs []netcfg.DNATCounter,
	owners map[netip.AddrPort]string, started bool) (map[ruleID]uint64, map[string]uint64) {
	next := make(map[ruleID]uint64, len(cs))
	out := make(map[string]uint64, len(owners))
	for _, id := range owners {
		if n, ok := total[id]; ok {
			out[id] = n
		}
	}
	for _, c := range cs {
		k := ruleID{chain: c.Chain, fp: c.Fingerprint, to: c.To}
		next[k] = c.Packets
		if !started {
			continue
		}
		d := c.Packets
		if p, ok := prev[k]; ok && c.Packets >= p {
			d = c.Packets - p
		}
		if id, ok := owners[c.To]; ok {
			out[id] += d
		}
	}
	return next, out
}

// sameServices reports whether two desired sets are equal (Sync reads the
// counters before a change).
func sameServices(a, b []netcfg.Service) bool {
	return slices.EqualFunc(a, b, func(x, y netcfg.Service) bool {
		return x.Tenant == y.Tenant && x.Group == y.Group && x.VIP == y.VIP && x.Port == y.Port &&
			x.Protocol == y.Protocol && x.Masquerade == y.Masquerade && slices.Equal(x.Backends, y.Backends)
	})
}
