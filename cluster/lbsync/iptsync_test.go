package lbsync_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"aas/cluster/lbsync"
	"aas/fsm"
	"aas/internal/testenv"
	"aas/netcfg"
)

var nsSeq atomic.Int32

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// testNS creates a uniquely named namespace with lo up, removed at cleanup.
func testNS(t testing.TB, role string) netns.NsHandle {
	t.Helper()
	name := fmt.Sprintf("aasl%d-%d-%s", os.Getpid()%100000, nsSeq.Add(1), role)
	ns, err := netcfg.NewNamespace(name)
	must(t, err)
	t.Cleanup(func() {
		ns.Close()
		if err := netcfg.DeleteNamespace(name); err != nil {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	must(t, testLinks(t, ns).Up("lo"))
	return ns
}

func testLinks(t testing.TB, ns netns.NsHandle) *netcfg.Links {
	t.Helper()
	l, err := netcfg.NewLinks(ns)
	must(t, err)
	t.Cleanup(l.Close)
	return l
}

// wire connects a and b with a veth pair, addresses them and brings both
// ends up.
func wire(t testing.TB, a netns.NsHandle, aName, aAddr string, b netns.NsHandle, bName, bAddr string) {
	t.Helper()
	la, lb := testLinks(t, a), testLinks(t, b)
	must(t, la.AddVeth(aName, bName, b))
	_, err := la.AddAddr(aName, netip.MustParsePrefix(aAddr))
	must(t, err)
	_, err = lb.AddAddr(bName, netip.MustParsePrefix(bAddr))
	must(t, err)
	must(t, la.Up(aName))
	must(t, lb.Up(bName))
}

// serveName runs an HTTP server in ns on addr answering with name.
func serveName(t testing.TB, ns netns.NsHandle, addr, name string) {
	t.Helper()
	l, err := netcfg.ListenIn(ns, "tcp", addr)
	must(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, name)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// lbLab: a client namespace wired to the controller's namespace (uplink
// up0, 198.18.0.1/24), which routes to two backend namespaces.
type lbLab struct {
	cli, ctl netns.NsHandle
	ipt      netcfg.IPTables
	backends []string // ip:port
}

const (
	lbAddr   = "198.18.0.1"
	publicIP = "198.18.0.100"
)

func newLab(t *testing.T) *lbLab {
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "iptables")
	lab := &lbLab{cli: testNS(t, "cli"), ctl: testNS(t, "ctl")}
	wire(t, lab.cli, "eth0", "198.18.0.2/24", lab.ctl, "up0", lbAddr+"/24")
	must(t, netcfg.SetSysctl(lab.ctl, "net.ipv4.ip_forward", "1"))
	for i := range 2 {
		be := testNS(t, fmt.Sprintf("be%d", i))
		wire(t, lab.ctl, fmt.Sprintf("be%d", i), fmt.Sprintf("198.18.%d.1/24", 10+i), be, "eth0", fmt.Sprintf("198.18.%d.2/24", 10+i))
		addr := fmt.Sprintf("198.18.%d.2:8080", 10+i)
		serveName(t, be, addr, fmt.Sprintf("be%d", i))
		lab.backends = append(lab.backends, addr)
	}
	ipt, err := netcfg.NewIPTablesIn(lab.ctl)
	must(t, err)
	lab.ipt = ipt
	t.Cleanup(func() { _ = netcfg.NewLB(ipt, nil).Teardown() })
	return lab
}

// count sends n requests (one connection each) from the client namespace.
func (lab *lbLab) count(t *testing.T, url string, n int) (map[string]int, error) {
	c := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		DialContext: netcfg.DialContextIn(lab.cli), DisableKeepAlives: true}}
	got := map[string]int{}
	for i := 0; i < n; i++ {
		resp, err := c.Get(url)
		if err != nil {
			return got, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return got, err
		}
		got[string(b)]++
	}
	return got, nil
}

// natRules lists the nat table's AAS chains and hooks.
func (lab *lbLab) natRules(t *testing.T) string {
	chains, err := lab.ipt.ListChains("nat")
	must(t, err)
	sort.Strings(chains)
	var b strings.Builder
	for _, c := range chains {
		rules, err := lab.ipt.List("nat", c)
		must(t, err)
		fmt.Fprintf(&b, "%s\n%s\n", c, strings.Join(rules, "\n"))
	}
	return b.String()
}

func TestIPTablesSyncAndMasterLB(t *testing.T) {
	lab := newLab(t)
	srv := startServer(t)
	setupTenant(t, srv, "t1", publicIP, "c1")
	addRunning(t, srv, "t1", "web", "c1", map[string]string{"i-0": lab.backends[0], "i-1": lab.backends[1]})

	cfg := lbsync.IPTablesConfig{Source: srv, IPT: lab.ipt, Cloud: "c1", Publish: srv,
		LBAddr: netip.MustParseAddr(lbAddr), Resync: 300 * time.Millisecond, Logger: testLogger(t)}
	ipts := runIPTablesSync(t, cfg)

	svc, ok := ipts.ServiceAddr("t1/web")
	if !ok {
		t.Fatal("no service address for t1/web")
	}
	cloudURL := "http://" + svc.String() + "/"
	hasService := func(key string, draining int) func() (bool, string) {
		return func() (bool, string) {
			for _, s := range ipts.Services() {
				if s.Key() == key {
					n := 0
					for _, b := range s.Backends {
						if b.Draining {
							n++
						}
					}
					return n == draining, fmt.Sprintf("%d draining", n)
				}
			}
			return false, key + " not programmed"
		}
	}
	waitFor(t, 30*time.Second, "t1/web programmed", hasService("t1/web", 0))

	t.Run("cloud LB spreads over the instances", func(t *testing.T) {
		got, err := lab.count(t, cloudURL, 40)
		must(t, err)
		if got["be0"] == 0 || got["be1"] == 0 {
			t.Fatalf("requests to %s: %v, want both backends", svc, got)
		}
	})

	t.Run("LB address published in the cloud's metadata", func(t *testing.T) {
		waitFor(t, 5*time.Second, "cloud c1 meta lb_addr", func() (bool, string) {
			a, ok := lbsync.CloudMetaAddrs(srv)("c1")
			return ok && a.String() == lbAddr, a.String()
		})
	})

	t.Run("restart rebuilds the same rules", func(t *testing.T) {
		before := lab.natRules(t)
		fresh, err := lbsync.NewIPTablesSync(cfg)
		must(t, err)
		must(t, fresh.Sync())
		if after := lab.natRules(t); after != before {
			t.Fatalf("a fresh IPTablesSync changed the rules:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	t.Run("master LB holds the public IP while leader", func(t *testing.T) {
		ctlLinks := testLinks(t, lab.ctl)
		m, err := lbsync.NewMasterLB(lbsync.MasterConfig{Leader: srv, Tables: ipts, Links: ctlLinks, Uplink: "up0",
			GARP: netcfg.GARPConfig{Interval: 10 * time.Millisecond, RepeatAfter: time.Hour}, Resync: 300 * time.Millisecond,
			Logger: testLogger(t)})
		must(t, err)
		var cancelledAt atomic.Pointer[time.Time]
		srv.RegisterLeaderService("master-lb", func(ctx context.Context) error {
			go func() {
				<-ctx.Done()
				now := time.Now()
				cancelledAt.Store(&now)
			}()
			return m.Run(ctx)
		})
		vip := netip.MustParseAddr(publicIP)
		held := func() bool {
			ok, err := ctlLinks.HasVIP("up0", vip)
			must(t, err)
			return ok
		}
		waitFor(t, 30*time.Second, "public IP on up0", func() (bool, string) { return held(), "" })
		waitFor(t, 30*time.Second, "master service programmed", hasService("t1/web"+lbsync.MasterGroupSuffix, 0))
		got, err := lab.count(t, "http://"+publicIP+":8080/", 40)
		must(t, err)
		if got["be0"] == 0 || got["be1"] == 0 {
			t.Fatalf("requests to the public IP: %v, want both backends", got)
		}

		// Leadership ends (the server shuts down): the VIP must go within 1 s
		// of the service context's cancellation.
		goneAt := make(chan time.Time, 1)
		go func() {
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				if ok, err := ctlLinks.HasVIP("up0", vip); err == nil && !ok {
					goneAt <- time.Now()
					return
				}
				time.Sleep(5 * time.Millisecond) // polling interval
			}
			close(goneAt)
		}()
		must(t, srv.Shutdown())
		gone, ok := <-goneAt
		if !ok {
			t.Fatal("public IP still held 30 s after shutdown")
		}
		c := cancelledAt.Load()
		if c == nil {
			t.Fatal("leader service context was never cancelled")
		}
		if d := gone.Sub(*c); d > time.Second {
			t.Fatalf("public IP released %v after leadership loss, want ≤ 1 s", d)
		}
		t.Logf("public IP released %v after the leader service's context was cancelled", gone.Sub(*c).Round(time.Millisecond))
		if len(m.Held()) != 0 {
			t.Fatalf("Held() = %v after leadership loss", m.Held())
		}
	})
}

func TestIPTablesSyncDrainsAndDeletesTenant(t *testing.T) {
	lab := newLab(t)
	srv := startServer(t)
	setupTenant(t, srv, "t1", "", "c1")
	addRunning(t, srv, "t1", "web", "c1", map[string]string{"i-0": lab.backends[0], "i-1": lab.backends[1]})
	ipts := runIPTablesSync(t, lbsync.IPTablesConfig{Source: srv, IPT: lab.ipt, Cloud: "c1",
		LBAddr: netip.MustParseAddr(lbAddr), Resync: 300 * time.Millisecond})
	svc, _ := ipts.ServiceAddr("t1/web")
	url := "http://" + svc.String() + "/"
	waitFor(t, 30*time.Second, "both backends answer", func() (bool, string) {
		got, err := lab.count(t, url, 10)
		if err != nil {
			return false, err.Error()
		}
		return got["be0"] > 0 && got["be1"] > 0, fmt.Sprint(got)
	})

	setState(t, srv, fsm.StateDraining, "i-1")
	waitFor(t, 30*time.Second, "i-1 drained", func() (bool, string) {
		for _, s := range ipts.Services() {
			for _, b := range s.Backends {
				if b.Addr.String() == lab.backends[1] {
					return b.Draining, ""
				}
			}
		}
		return false, ""
	})
	got, err := lab.count(t, url, 30)
	must(t, err)
	if got["be1"] != 0 || got["be0"] != 30 {
		t.Fatalf("after draining i-1: %v, want be0 only", got)
	}

	apply(t, srv, fsm.DeleteTenantType, fsm.DeleteTenant{Name: "t1", Time: t0})
	setState(t, srv, fsm.StateTerminating, "i-0", "i-1")
	setState(t, srv, fsm.StateTerminated, "i-0", "i-1")
	waitFor(t, 30*time.Second, "tenant rules removed", func() (bool, string) {
		if len(ipts.Services()) != 0 {
			return false, "services still desired"
		}
		rules := lab.natRules(t)
		return !strings.Contains(rules, "aas:t1/"), rules
	})
}

// TestMasterLBAcrossClouds: the leader's cloud c1 (controller ctl1, one
// instance) and cloud c2 (controller ctl2, two instances) each run their
// IPTablesSync; the master LB on ctl1 DNATs the public IP to c1's instance
// directly and to c2's LB address with weight 2.
func TestMasterLBAcrossClouds(t *testing.T) {
	lab := twoClouds(t)
	m, err := lbsync.NewMasterLB(lbsync.MasterConfig{Leader: lab.srv, Tables: lab.tables, Links: testLinks(t, lab.ctl), Uplink: "up0",
		GARP: netcfg.GARPConfig{Interval: 10 * time.Millisecond, RepeatAfter: time.Hour}, Resync: 300 * time.Millisecond,
		Logger: testLogger(t)})
	must(t, err)
	lab.srv.RegisterLeaderService("master-lb", m.Run)

	waitFor(t, 30*time.Second, "master service over both clouds", func() (bool, string) {
		for _, s := range lab.tables.Services() {
			if s.Group == "web"+lbsync.MasterGroupSuffix {
				weights := map[string]int{}
				for _, b := range s.Backends {
					weights[b.Addr.Addr().String()] = b.Weight
				}
				return len(s.Backends) == 2 && weights["198.18.10.2"] == 1 && weights["198.18.20.2"] == 2, fmt.Sprint(weights)
			}
		}
		return false, "not programmed"
	})
	var got map[string]int
	waitFor(t, 30*time.Second, "requests to reach every instance of both clouds", func() (bool, string) {
		g, err := lab.count(t, "http://"+publicIP+":8080/", 60)
		if err != nil {
			return false, err.Error()
		}
		got = g
		return g["be0"] > 0 && g["be1"] > 0 && g["be2"] > 0, fmt.Sprint(g)
	})
	t.Logf("60 requests to the public IP: %v (expected shares 1/3 each)", got)
}

// TestIPTablesSyncWaitsUntilCaughtUp: until CaughtUp reports true a
// (restarted) controller leaves the nat table as it finds it — the rules
// its previous process left keep forwarding — and programs it on the first
// pass after.
func TestIPTablesSyncWaitsUntilCaughtUp(t *testing.T) {
	lab := newLab(t)
	srv := startServer(t)
	setupTenant(t, srv, "t1", "", "c1")
	addRunning(t, srv, "t1", "web", "c1", map[string]string{"i-0": lab.backends[0]})
	var caughtUp atomic.Bool
	var asked atomic.Int32
	ipts := runIPTablesSync(t, lbsync.IPTablesConfig{Source: srv, IPT: lab.ipt, Cloud: "c1",
		LBAddr: netip.MustParseAddr(lbAddr), Resync: 100 * time.Millisecond,
		CaughtUp: func() bool { asked.Add(1); return caughtUp.Load() }})
	waitFor(t, 10*time.Second, "three gated passes", func() (bool, string) {
		return asked.Load() >= 3, fmt.Sprint(asked.Load())
	})
	if rules := lab.natRules(t); strings.Contains(rules, "aas:t1/") || len(ipts.Services()) != 0 {
		t.Fatalf("programmed before caught up: services %v, rules:\n%s", ipts.Services(), rules)
	}
	caughtUp.Store(true)
	svc, _ := ipts.ServiceAddr("t1/web")
	waitFor(t, 10*time.Second, "the backend answers once caught up", func() (bool, string) {
		got, err := lab.count(t, "http://"+svc.String()+"/", 3)
		if err != nil {
			return false, err.Error()
		}
		return got["be0"] == 3, fmt.Sprint(got)
	})
}
