package netcfg

import (
	"bufio"
	"errors"
	"net/netip"
	"testing"
)

func TestParseDNATCounter(t *testing.T) {
	for _, tc := range []struct {
		line    string
		to      string
		packets uint64
		ok      bool
	}{
		{"-A AAS-S-x-0 -p tcp -m statistic --mode random --probability 0.50000000000 -c 17 1020 -j DNAT --to-destination 198.18.0.2:8080",
			"198.18.0.2:8080", 17, true},
		{"-A AAS-S-x-0 -p tcp -c 0 0 -j DNAT --to-destination 198.18.0.3:8080", "198.18.0.3:8080", 0, true},
		{"-A AAS-S-x-0 -c 5 300 -j MARK --set-xmark 0x100000/0x100000", "", 0, false},        // not DNAT
		{"-A AAS-S-x-0 -p tcp -j DNAT --to-destination 198.18.0.3:8080", "", 0, false},       // no counters
		{"-A AAS-S-x-0 -p tcp -c 1 60 -j DNAT --to-destination 198.18.0.3", "", 0, false},    // no port
		{"-A AAS-S-x-0 -p tcp -c x 60 -j DNAT --to-destination 198.18.0.3:80", "", 0, false}, // bad number
		{"-A AAS-S-x-0 -p tcp -c 1", "", 0, false},                                           // cut short
		{"-N AAS-S-x-0", "", 0, false},
	} {
		to, n, ok := parseDNATCounter(tc.line)
		if ok != tc.ok || (ok && (to != netip.MustParseAddrPort(tc.to) || n != tc.packets)) {
			t.Errorf("parseDNATCounter(%q) = %v %d %v, want %s %d %v", tc.line, to, n, ok, tc.to, tc.packets, tc.ok)
		}
	}
}

// listOnly is an iptables runner without ListWithCounters.
type listOnly struct{ IPTables }

func TestDNATCountersNeedCounterLister(t *testing.T) {
	if _, err := NewLB(listOnly{}, nil).DNATCounters(); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("err = %v, want ErrNotSupported", err)
	}
}

// The DNAT rules' packet counters are the service's new connections: N
// connections through the VIP sum to N, per backend as the backends saw
// them; requests on a kept-alive connection count once.
func TestDNATCountersCountNewConnections(t *testing.T) {
	lab := newLBLab(t)
	lb := NewLB(lab.ipt, nil)
	t.Cleanup(func() { lb.Teardown() })
	must(t, lb.Sync([]Service{lab.service(nil)}))

	cs, err := lb.DNATCounters()
	must(t, err)
	if len(cs) != 3 {
		t.Fatalf("counters %+v, want one per backend", cs)
	}
	for _, c := range cs {
		if c.Packets != 0 || c.Key != "acme/web" || c.Fingerprint == "" {
			t.Fatalf("fresh counter %+v", c)
		}
	}

	const n = 45
	hits := lab.count(t, n)
	// One more connection carries six requests: it counts once.
	c := dialIn(t, lab.client, "198.18.100.1:80")
	r := bufio.NewReader(c)
	first := roundTrip(t, c, r)
	hits[first]++
	for range 5 {
		if got := roundTrip(t, c, r); got != first {
			t.Fatalf("keep-alive answered by %s, then %s", first, got)
		}
	}
	c.Close()

	cs, err = lb.DNATCounters()
	must(t, err)
	var sum uint64
	by := map[netip.AddrPort]uint64{}
	for _, c := range cs {
		sum += c.Packets
		by[c.To] += c.Packets
	}
	if sum != n+1 {
		t.Fatalf("counters sum to %d after %d connections: %+v", sum, n+1, cs)
	}
	for i, a := range lab.backends {
		if by[a] != uint64(hits[lab.names[i]]) {
			t.Errorf("backend %s: counter %d, connections answered %d", lab.names[i], by[a], hits[lab.names[i]])
		}
	}

	// A swap (new backend set) starts the new chain's counters at 0.
	must(t, lb.Sync([]Service{lab.service(func(i int, b *Backend) { b.Draining = i == 0 })}))
	cs, err = lb.DNATCounters()
	must(t, err)
	if len(cs) != 2 || cs[0].Packets+cs[1].Packets != 0 || cs[0].Chain == "" {
		t.Fatalf("after the swap: %+v, want two fresh counters", cs)
	}
	lab.count(t, 10)
	cs, err = lb.DNATCounters()
	must(t, err)
	if cs[0].Packets+cs[1].Packets != 10 {
		t.Fatalf("10 connections after the swap counted as %+v", cs)
	}
}
