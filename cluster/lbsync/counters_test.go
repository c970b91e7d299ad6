package lbsync_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"aas/cluster/lbsync"
	"aas/fsm"
	"aas/netcfg"
)

// ProxySync counts, per instance ID, the connections its proxies
// established to the instance since it became a backend.
func TestProxySyncInstanceRequests(t *testing.T) {
	srv := startServer(t)
	setupTenant(t, srv, "t1", "", "c1", "c2")
	be := startBackends(t, "a", "b", "c")
	addRunning(t, srv, "t1", "web", "c1", map[string]string{"i-a": be.addrs["a"], "i-b": be.addrs["b"]})
	addRunning(t, srv, "t1", "web", "c2", map[string]string{"i-x": be.addrs["c"]}) // another cloud's
	ps, err := lbsync.NewProxySync(lbsync.ProxyConfig{Source: srv, Cloud: "c1", Resync: 200 * time.Millisecond, Logger: testLogger(t)})
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ps.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	var addr string
	waitFor(t, 5*time.Second, "endpoint", func() (bool, string) { addr = ps.Endpoints()["t1/web"]; return addr != "", "" })

	client := noKeepAlive()
	hits, err := get(t, client, addr, 30)
	must(t, err)
	got := ps.InstanceRequests()
	if got["i-a"] != uint64(hits["a"]) || got["i-b"] != uint64(hits["b"]) || len(got) != 2 {
		t.Fatalf("InstanceRequests = %v after hits %v, want i-a and i-b only, as the backends counted", got, hits)
	}

	// i-b leaves; a new instance takes its address: it counts from 0.
	setState(t, srv, fsm.StateDraining, "i-b")
	setState(t, srv, fsm.StateTerminating, "i-b")
	setState(t, srv, fsm.StateTerminated, "i-b")
	waitFor(t, 5*time.Second, "i-b uncounted", func() (bool, string) {
		_, ok := ps.InstanceRequests()["i-b"]
		return !ok, fmt.Sprint(ps.InstanceRequests())
	})
	addRunning(t, srv, "t1", "web", "c1", map[string]string{"i-b2": be.addrs["b"]})
	waitFor(t, 5*time.Second, "i-b2 counted", func() (bool, string) {
		n, ok := ps.InstanceRequests()["i-b2"]
		return ok && n == 0, fmt.Sprint(ps.InstanceRequests())
	})
	before := ps.InstanceRequests()
	more, err := get(t, client, addr, 20)
	must(t, err)
	after := ps.InstanceRequests()
	if after["i-a"]-before["i-a"] != uint64(more["a"]) || after["i-b2"] != uint64(more["b"]) {
		t.Fatalf("after 20 more: %v (before %v), hits %v", after, before, more)
	}
}

// IPTablesSync counts the new connections its nat table DNATs to each of
// the cloud's instances — through the cloud service and through the
// master's service, across chain swaps — and not those to another cloud's
// load balancer.
func TestIPTablesSyncInstanceRequests(t *testing.T) {
	lab := newLab(t)
	srv := startServer(t)
	setupTenant(t, srv, "t1", "", "c1", "c2")
	// i-0 is ours; be1 stands for cloud c2's load balancer (its instance
	// i-x there has that address, but it is no instance of c1).
	addRunning(t, srv, "t1", "web", "c1", map[string]string{"i-0": lab.backends[0]})
	addRunning(t, srv, "t1", "web", "c2", map[string]string{"i-x": lab.backends[1]})
	ipts := runIPTablesSync(t, lbsync.IPTablesConfig{Source: srv, IPT: lab.ipt, Cloud: "c1",
		LBAddr: netip.MustParseAddr(lbAddr), Resync: 200 * time.Millisecond})

	const masterPort = 18080
	master := func(w int) netcfg.Service {
		return netcfg.Service{Tenant: "t1", Group: "web" + lbsync.MasterGroupSuffix, VIP: netip.MustParseAddr(lbAddr), Port: masterPort,
			Masquerade: true, Backends: []netcfg.Backend{
				{Addr: netip.MustParseAddrPort(lab.backends[0]), Weight: 1},
				{Addr: netip.MustParseAddrPort(lab.backends[1]), Weight: w}}}
	}
	programmed := func(w int) func() (bool, string) {
		return func() (bool, string) {
			have := map[string]bool{}
			for _, s := range ipts.Services() {
				if s.Group == "web"+lbsync.MasterGroupSuffix && s.Backends[1].Weight != w {
					continue
				}
				have[s.Key()] = true
			}
			return have["t1/web"] && have["t1/web"+lbsync.MasterGroupSuffix], fmt.Sprint(ipts.Services())
		}
	}
	ipts.SetMaster([]netcfg.Service{master(1)})
	waitFor(t, 30*time.Second, "cloud and master services", programmed(1))
	svc, _ := ipts.ServiceAddr("t1/web")
	cloudURL := "http://" + svc.String() + "/"
	masterURL := fmt.Sprintf("http://%s:%d/", lbAddr, masterPort)

	start := ipts.InstanceRequests()
	cloudHits, err := lab.count(t, cloudURL, 20)
	must(t, err)
	masterHits, err := lab.count(t, masterURL, 30)
	must(t, err)
	got := ipts.InstanceRequests()
	if cloudHits["be0"] != 20 || masterHits["be1"] == 0 {
		t.Fatalf("traffic did not go where expected: cloud %v master %v", cloudHits, masterHits)
	}
	if want := uint64(20 + masterHits["be0"]); got["i-0"]-start["i-0"] != want {
		t.Fatalf("i-0 counted %d new connections (from %v to %v), want %d", got["i-0"]-start["i-0"], start, got, want)
	}
	if _, ok := got["i-x"]; ok || len(got) != 1 {
		t.Fatalf("InstanceRequests = %v: only c1's instance i-0 is ours", got)
	}

	// Traffic, then a swap of the master's chain before anyone reads the
	// counters: what the old chain counted is not lost.
	more, err := lab.count(t, masterURL, 30)
	must(t, err)
	ipts.SetMaster([]netcfg.Service{master(2)})
	waitFor(t, 30*time.Second, "master service with the new weights", programmed(2))
	after := ipts.InstanceRequests()
	if d := after["i-0"] - got["i-0"]; d != uint64(more["be0"]) {
		t.Fatalf("across the swap i-0 counted %d, the backend answered %d", d, more["be0"])
	}
	last, err := lab.count(t, masterURL, 10)
	must(t, err)
	if d := ipts.InstanceRequests()["i-0"] - after["i-0"]; d != uint64(last["be0"]) {
		t.Fatalf("after the swap i-0 counted %d, the backend answered %d", d, last["be0"])
	}
}
