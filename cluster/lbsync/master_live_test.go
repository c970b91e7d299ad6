package lbsync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"aas/cluster/lbsync"
	"aas/netcfg"
)

// setLinkDown takes link down in ns (a cut cable: nothing in or out).
func setLinkDown(t *testing.T, ns netns.NsHandle, link string) {
	t.Helper()
	h, err := netlink.NewHandleAt(ns)
	must(t, err)
	defer h.Close()
	lk, err := h.LinkByName(link)
	must(t, err)
	must(t, h.LinkSetDown(lk))
}

// TestMasterLBLeavesOutDeadCloud: the leader's cloud c1 (one instance) and
// c2 (two instances behind its own LB) as in TestMasterLBAcrossClouds, the
// master probing the clouds' LBs. Cutting c2's link takes c2 out of the
// master service within a few probe intervals, so every request to the
// public IP is answered (by c1); restoring it brings c2 back with its
// weight.
func TestMasterLBLeavesOutDeadCloud(t *testing.T) {
	lab := twoClouds(t)
	m, err := lbsync.NewMasterLB(lbsync.MasterConfig{Leader: lab.srv, Tables: lab.tables, Links: testLinks(t, lab.ctl), Uplink: "up0",
		GARP: netcfg.GARPConfig{Interval: 10 * time.Millisecond, RepeatAfter: time.Hour}, Resync: 300 * time.Millisecond,
		ProbeClouds: true, Dial: netcfg.DialContextIn(lab.ctl), ProbeInterval: 100 * time.Millisecond, ProbeTimeout: 200 * time.Millisecond,
		Logger: testLogger(t)})
	must(t, err)
	lab.srv.RegisterLeaderService("master-lb", m.Run)

	weights := func() map[string]int {
		for _, s := range lab.tables.Services() {
			if s.Group == "web"+lbsync.MasterGroupSuffix {
				w := map[string]int{}
				for _, b := range s.Backends {
					w[b.Addr.Addr().String()] = b.Weight
				}
				return w
			}
		}
		return nil
	}
	both := map[string]int{"198.18.10.2": 1, "198.18.20.2": 2}
	waitFor(t, 30*time.Second, "master service over both clouds", func() (bool, string) {
		w := weights()
		return reflect.DeepEqual(w, both), fmt.Sprint(w)
	})
	url := "http://" + publicIP + ":8080/"
	waitFor(t, 30*time.Second, "every instance answers", func() (bool, string) {
		g, err := lab.count(t, url, 30)
		if err != nil {
			return false, err.Error()
		}
		return g["be0"] > 0 && g["be1"] > 0 && g["be2"] > 0, fmt.Sprint(g)
	})

	cut := time.Now()
	setLinkDown(t, lab.ctl2, "wan0")
	waitFor(t, 10*time.Second, "c2 left out", func() (bool, string) {
		w := weights()
		return reflect.DeepEqual(w, map[string]int{"198.18.10.2": 1}), fmt.Sprint(w)
	})
	t.Logf("c2 left out of the master service %v after its link was cut", time.Since(cut).Round(time.Millisecond))
	got, err := lab.count(t, url, 40)
	must(t, err)
	if got["be0"] != 40 {
		t.Fatalf("with c2 cut off: %v, want all 40 answered by be0", got)
	}

	must(t, testLinks(t, lab.ctl2).Up("wan0"))
	back := time.Now()
	waitFor(t, 10*time.Second, "c2 back", func() (bool, string) {
		w := weights()
		return reflect.DeepEqual(w, both), fmt.Sprint(w)
	})
	t.Logf("c2 back in the master service %v after its link came back", time.Since(back).Round(time.Millisecond))
}

type heldFile struct {
	Uplink string   `json:"uplink"`
	VIPs   []string `json:"vips"`
}

func readHeld(t *testing.T, path string) heldFile {
	t.Helper()
	b, err := os.ReadFile(path)
	must(t, err)
	var h heldFile
	must(t, json.Unmarshal(b, &h))
	return h
}

// TestMasterLBRemembersHeldVIPs: the master writes the public IPs it holds
// to HeldFile; a controller killed while leading leaves the address on the
// uplink and the file behind (simulated: the address put back, the file
// restored), and a new MasterLB removes the address before NewMasterLB
// returns, with no FSM or leadership needed.
func TestMasterLBRemembersHeldVIPs(t *testing.T) {
	lab := newLab(t)
	srv := startServer(t)
	setupTenant(t, srv, "t1", publicIP, "c1")
	addRunning(t, srv, "t1", "web", "c1", map[string]string{"i-0": lab.backends[0]})
	ipts := runIPTablesSync(t, lbsync.IPTablesConfig{Source: srv, IPT: lab.ipt, Cloud: "c1",
		LBAddr: netip.MustParseAddr(lbAddr), Resync: 300 * time.Millisecond})

	file := filepath.Join(t.TempDir(), "master-vips.json")
	links := testLinks(t, lab.ctl)
	vip := netip.MustParseAddr(publicIP)
	newMaster := func() *lbsync.MasterLB {
		m, err := lbsync.NewMasterLB(lbsync.MasterConfig{Leader: srv, Tables: ipts, Links: links, Uplink: "up0",
			GARP: netcfg.GARPConfig{Interval: 10 * time.Millisecond, RepeatAfter: time.Hour}, Resync: 300 * time.Millisecond,
			HeldFile: file, Logger: testLogger(t)})
		must(t, err)
		return m
	}
	m := newMaster()
	mctx, mcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(mctx) }()
	waitFor(t, 30*time.Second, "public IP held", func() (bool, string) {
		ok, err := links.HasVIP("up0", vip)
		return err == nil && ok, fmt.Sprint(err)
	})
	held := readHeld(t, file)
	if !reflect.DeepEqual(held, heldFile{Uplink: "up0", VIPs: []string{publicIP}}) {
		t.Fatalf("held file while leading: %+v", held)
	}
	crashed, err := os.ReadFile(file)
	must(t, err)

	mcancel()
	<-done
	if h := readHeld(t, file); len(h.VIPs) != 0 {
		t.Fatalf("held file after the release: %+v", h)
	}

	// A crash would have left both behind.
	_, err = links.AddVIP("up0", vip)
	must(t, err)
	must(t, os.WriteFile(file, crashed, 0o644))
	start := time.Now()
	newMaster()
	took := time.Since(start)
	if ok, err := links.HasVIP("up0", vip); err != nil || ok {
		t.Fatalf("public IP still on up0 after NewMasterLB (err %v)", err)
	}
	if h := readHeld(t, file); len(h.VIPs) != 0 {
		t.Fatalf("held file after the start-up release: %+v", h)
	}
	t.Logf("remembered public IP released by NewMasterLB in %v", took.Round(time.Microsecond))
}

// TestMasterLBStandbyRules: a controller that does not lead keeps the
// master services a new term starts with (its own cloud's instances) in
// its nat table (ReleaseStray with Standby), without the public IP; the
// master's Run takes over the rules and, once it stops, the standby set
// comes back.
func TestMasterLBStandbyRules(t *testing.T) {
	lab := newLab(t)
	srv := startServer(t)
	setupTenant(t, srv, "t1", publicIP, "c1")
	addRunning(t, srv, "t1", "web", "c1", map[string]string{"i-0": lab.backends[0], "i-1": lab.backends[1]})
	ipts := runIPTablesSync(t, lbsync.IPTablesConfig{Source: srv, IPT: lab.ipt, Cloud: "c1",
		LBAddr: netip.MustParseAddr(lbAddr), Resync: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	links := testLinks(t, lab.ctl)
	m, err := lbsync.NewMasterLB(lbsync.MasterConfig{Leader: srv, Tables: ipts, Links: links, Uplink: "up0",
		GARP: netcfg.GARPConfig{Interval: 10 * time.Millisecond, RepeatAfter: time.Hour}, Resync: 300 * time.Millisecond,
		ProbeClouds: true, Dial: netcfg.DialContextIn(lab.ctl), Standby: true, Logger: testLogger(t)})
	must(t, err)
	wg.Add(1)
	go func() { defer wg.Done(); _ = m.ReleaseStray(ctx) }()
	vip := netip.MustParseAddr(publicIP)
	master := func() (int, bool) {
		for _, s := range ipts.Services() {
			if s.Group == "web"+lbsync.MasterGroupSuffix && s.VIP == vip {
				return len(s.Backends), true
			}
		}
		return 0, false
	}
	waitFor(t, 10*time.Second, "standby master service", func() (bool, string) {
		n, ok := master()
		return ok && n == 2, fmt.Sprint(n, ok)
	})
	if ok, err := links.HasVIP("up0", vip); err != nil || ok {
		t.Fatalf("standby holds the public IP (%v, %v)", ok, err)
	}

	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(rctx) }()
	waitFor(t, 10*time.Second, "public IP held and served", func() (bool, string) {
		ok, _ := links.HasVIP("up0", vip)
		if !ok {
			return false, "not held"
		}
		got, err := lab.count(t, "http://"+publicIP+":8080/", 10)
		return err == nil && got["be0"]+got["be1"] == 10, fmt.Sprint(got, err)
	})
	rcancel()
	<-done
	waitFor(t, 10*time.Second, "standby again after the term", func() (bool, string) {
		n, ok := master()
		held, _ := links.HasVIP("up0", vip)
		return ok && n == 2 && !held, fmt.Sprint(n, ok, held)
	})
}
