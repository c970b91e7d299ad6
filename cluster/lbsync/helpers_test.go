package lbsync_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/vishvananda/netns"

	"aas/cluster"
	"aas/cluster/clustertest"
	"aas/cluster/lbsync"
	"aas/fsm"
	"aas/internal/poll"
	"aas/internal/testenv"
	"aas/internal/testlog"
	"aas/netcfg"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testLogger(t testing.TB) hclog.Logger { return testlog.New(t, t.Name()) }

// startServer starts a single-node controller on 127.0.0.1 and waits until
// it leads.
func startServer(t *testing.T) *cluster.Server {
	t.Helper()
	return clustertest.StartLeader(t, clustertest.Config(t, "n1"))
}

// waitFor polls cond until it holds or the deadline passes.
var waitFor = poll.Until

// apply commits an FSM command through s.
var apply = clustertest.Apply

// setupTenant creates clouds and a tenant with one group "web" on a
// 10.0.0.0/24 network (FSM addresses only; nothing is configured).
func setupTenant(t testing.TB, s *cluster.Server, tenant, publicIP string, clouds ...string) {
	t.Helper()
	for i, c := range clouds {
		apply(t, s, fsm.UpsertCloudType, fsm.UpsertCloud{Cloud: fsm.Cloud{Name: c, Priority: i}})
	}
	apply(t, s, fsm.ApplyTenantType, fsm.ApplyTenant{
		Tenant: fsm.TenantSpec{Name: tenant, PublicIP: publicIP, Networks: []fsm.Network{{Name: "net",
			Subnets: []fsm.Subnet{{CIDR: "10.9.0.0/24", Gateway: "10.9.0.1", RangeStart: "10.9.0.10", RangeEnd: "10.9.0.200"}}}}},
		Groups: []fsm.GroupSpec{{Name: "web", Max: 10, Template: []byte(`{"port":8080}`)}},
		Time:   t0,
	})
}

// addRunning creates instances in state running with the given addresses.
func addRunning(t testing.TB, s *cluster.Server, tenant, group, cloud string, addrs map[string]string) {
	t.Helper()
	var ni []fsm.NewInstance
	var ups []fsm.InstanceUpdate
	for id, a := range addrs {
		ni = append(ni, fsm.NewInstance{ID: id, Tenant: tenant, Group: group, Cloud: cloud, Address: a})
		ups = append(ups, fsm.InstanceUpdate{ID: id, State: fsm.StateProvisioning},
			fsm.InstanceUpdate{ID: id, State: fsm.StateRunning, Address: a})
	}
	apply(t, s, fsm.CreateInstancesType, fsm.CreateInstances{Time: t0, Instances: ni})
	apply(t, s, fsm.UpdateInstancesType, fsm.UpdateInstances{Time: t0, Updates: ups})
}

func setState(t testing.TB, s *cluster.Server, st fsm.InstanceState, ids ...string) {
	t.Helper()
	var ups []fsm.InstanceUpdate
	for _, id := range ids {
		ups = append(ups, fsm.InstanceUpdate{ID: id, State: st})
	}
	apply(t, s, fsm.UpdateInstancesType, fsm.UpdateInstances{Time: t0, Updates: ups})
}

// backends starts named HTTP servers on 127.0.0.1 that answer their name
// and count their hits.
type backends struct {
	mu    sync.Mutex
	hits  map[string]int
	addrs map[string]string // name → host:port
}

func startBackends(t *testing.T, names ...string) *backends {
	b := &backends{hits: map[string]int{}, addrs: map[string]string{}}
	for _, n := range names {
		name := n
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.mu.Lock()
			b.hits[name]++
			b.mu.Unlock()
			_, _ = io.WriteString(w, name)
		}))
		t.Cleanup(srv.Close)
		b.addrs[name] = strings.TrimPrefix(srv.URL, "http://")
	}
	return b
}

// get sends n requests to addr on fresh connections and counts the
// answering backends.
func get(t testing.TB, client *http.Client, addr string, n int) (map[string]int, error) {
	out := map[string]int{}
	for i := 0; i < n; i++ {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			return out, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return out, err
		}
		if resp.StatusCode != 200 {
			return out, fmt.Errorf("status %d", resp.StatusCode)
		}
		out[string(body)]++
	}
	return out, nil
}

func noKeepAlive() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}

// runIPTablesSync creates an IPTablesSync from cfg (Logger defaults to the
// test's), runs it until the test ends and returns it.
func runIPTablesSync(t *testing.T, cfg lbsync.IPTablesConfig) *lbsync.IPTablesSync {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	s, err := lbsync.NewIPTablesSync(cfg)
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

// twoCloudLab: the leader's cloud c1 behind controller ctl (embedded lbLab:
// uplink up0 198.18.0.1/24 to the client namespace, one instance be0) and
// cloud c2 behind controller ctl2 (instances be1 and be2), the controllers
// linked over wan0 (198.18.20.1 and .2). Tenant t1 (public IP publicIP) runs
// group web on all three instances, and each controller runs its
// IPTablesSync with its LB address published.
type twoCloudLab struct {
	lbLab                 // cli; ctl and ipt are c1's controller
	ctl2   netns.NsHandle // c2's controller
	srv    *cluster.Server
	tables *lbsync.IPTablesSync // c1's, the one a master on ctl programs
}

func twoClouds(t *testing.T) *twoCloudLab {
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "iptables")
	cli, ctl1, ctl2 := testNS(t, "cli"), testNS(t, "ctl1"), testNS(t, "ctl2")
	wire(t, cli, "eth0", "198.18.0.2/24", ctl1, "up0", "198.18.0.1/24")
	wire(t, ctl1, "wan0", "198.18.20.1/24", ctl2, "wan0", "198.18.20.2/24")
	must(t, netcfg.SetSysctl(ctl1, "net.ipv4.ip_forward", "1"))
	must(t, netcfg.SetSysctl(ctl2, "net.ipv4.ip_forward", "1"))
	type site struct {
		ctl    netns.NsHandle
		cloud  string
		lbAddr string
		inst   map[string]string
	}
	sites := []site{{ctl1, "c1", "198.18.0.1", map[string]string{}}, {ctl2, "c2", "198.18.20.2", map[string]string{}}}
	for i, name := range []string{"be0", "be1", "be2"} {
		s := &sites[min(i, 1)]
		be := testNS(t, name)
		wire(t, s.ctl, name, fmt.Sprintf("198.18.%d.1/24", 10+i), be, "eth0", fmt.Sprintf("198.18.%d.2/24", 10+i))
		addr := fmt.Sprintf("198.18.%d.2:8080", 10+i)
		serveName(t, be, addr, name)
		s.inst["i-"+name] = addr
	}

	l := &twoCloudLab{lbLab: lbLab{cli: cli, ctl: ctl1}, ctl2: ctl2, srv: startServer(t)}
	setupTenant(t, l.srv, "t1", publicIP, "c1", "c2")
	for i, s := range sites {
		addRunning(t, l.srv, "t1", "web", s.cloud, s.inst)
		ipt, err := netcfg.NewIPTablesIn(s.ctl)
		must(t, err)
		t.Cleanup(func() { _ = netcfg.NewLB(ipt, nil).Teardown() })
		ts := runIPTablesSync(t, lbsync.IPTablesConfig{Source: l.srv, IPT: ipt, Cloud: s.cloud, Publish: l.srv,
			LBAddr: netip.MustParseAddr(s.lbAddr), Resync: 300 * time.Millisecond})
		if i == 0 {
			l.ipt, l.tables = ipt, ts
		}
	}
	return l
}
