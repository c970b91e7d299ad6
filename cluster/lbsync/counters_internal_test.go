package lbsync

import (
	"maps"
	"net/netip"
	"testing"

	"aas/netcfg"
)

func TestAccumulate(t *testing.T) {
	a := netip.MustParseAddrPort("198.18.10.2:8080")
	b := netip.MustParseAddrPort("198.18.11.2:8080")
	other := netip.MustParseAddrPort("198.18.0.9:20001") // another cloud's LB
	owners := map[netip.AddrPort]string{a: "i-a", b: "i-b"}
	rule := func(chain, fp string, to netip.AddrPort, n uint64) netcfg.DNATCounter {
		return netcfg.DNATCounter{Key: "t/g", Chain: chain, Fingerprint: fp, To: to, Packets: n}
	}
	type step struct {
		cs     []netcfg.DNATCounter
		owners map[netip.AddrPort]string
		want   map[string]uint64
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"first reading is the baseline", []step{
			{[]netcfg.DNATCounter{rule("S-0", "f1", a, 500)}, owners, map[string]uint64{}},
			{[]netcfg.DNATCounter{rule("S-0", "f1", a, 530)}, owners, map[string]uint64{"i-a": 30}},
		}},
		{"increases add up; other clouds' LB addresses are no instance", []step{
			{nil, owners, map[string]uint64{}},
			{[]netcfg.DNATCounter{rule("S-0", "f1", a, 10), rule("S-0", "f1", b, 4), rule("M-0", "m1", other, 7)}, owners,
				map[string]uint64{"i-a": 10, "i-b": 4}},
			{[]netcfg.DNATCounter{rule("S-0", "f1", a, 15), rule("S-0", "f1", b, 4), rule("M-0", "m1", other, 9)}, owners,
				map[string]uint64{"i-a": 15, "i-b": 4}},
		}},
		{"master rule to an own instance counts too", []step{
			{nil, owners, map[string]uint64{}},
			{[]netcfg.DNATCounter{rule("S-0", "f1", a, 10), rule("M-0", "m1", a, 5)}, owners, map[string]uint64{"i-a": 15}},
		}},
		{"a swap starts a new chain at 0", []step{
			{nil, owners, map[string]uint64{}},
			{[]netcfg.DNATCounter{rule("S-0", "f1", a, 10)}, owners, map[string]uint64{"i-a": 10}},
			{[]netcfg.DNATCounter{rule("S-1", "f2", a, 3)}, owners, map[string]uint64{"i-a": 13}},
			// back to -0 with other rules: a new fingerprint, counted from 0
			{[]netcfg.DNATCounter{rule("S-0", "f3", a, 12)}, owners, map[string]uint64{"i-a": 25}},
		}},
		{"a counter that went down was reset", []step{
			{nil, owners, map[string]uint64{}},
			{[]netcfg.DNATCounter{rule("S-0", "f1", a, 10)}, owners, map[string]uint64{"i-a": 10}},
			{[]netcfg.DNATCounter{rule("S-0", "f1", a, 4)}, owners, map[string]uint64{"i-a": 14}},
		}},
		{"an instance gone from the FSM is forgotten; its address's next owner starts at 0", []step{
			{nil, owners, map[string]uint64{}},
			{[]netcfg.DNATCounter{rule("S-0", "f1", a, 10)}, owners, map[string]uint64{"i-a": 10}},
			{[]netcfg.DNATCounter{}, map[netip.AddrPort]string{b: "i-b"}, map[string]uint64{}},
			{[]netcfg.DNATCounter{rule("S-1", "f2", a, 2)}, map[netip.AddrPort]string{a: "i-new"}, map[string]uint64{"i-new": 2}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var prev map[ruleID]uint64
			var total map[string]uint64
			for i, st := range tc.steps {
				prev, total = accumulate(prev, total, st.cs, st.owners, i > 0)
				if !maps.Equal(total, st.want) {
					t.Fatalf("step %d: totals %v, want %v", i, total, st.want)
				}
			}
		})
	}
}

func TestSameServices(t *testing.T) {
	s := func(w int) []netcfg.Service {
		return []netcfg.Service{{Tenant: "t", Group: "g", VIP: netip.MustParseAddr("198.18.0.1"), Port: 80,
			Backends: []netcfg.Backend{{Addr: netip.MustParseAddrPort("198.18.1.2:80"), Weight: w}}}}
	}
	if !sameServices(s(1), s(1)) || sameServices(s(1), s(2)) || sameServices(s(1), nil) {
		t.Fatal("sameServices compares the wrong things")
	}
}
