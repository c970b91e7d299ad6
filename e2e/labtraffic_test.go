package e2e

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/vishvananda/netns"

	"aas/e2e/clusterproc"
	"aas/e2e/labkit"
	"aas/internal/testenv"
	"aas/netcfg"
)

// The VIP tests below probe the tenant's public IP from the client
// namespace with TCP connection attempts to vipProbePort, a port on which
// nothing listens and no group is published: the namespace holding the VIP
// answers with SYN-ACK or RST, a namespace without it cannot, and while no
// reachable namespace holds it the attempt times out. That isolates the
// master load balancer's part of a failover (leadership → address on the
// uplink → gratuitous ARP → client's neighbour entry) from the instances'.
const (
	vipProbePort     = 7070
	vipProbeTimeout  = 60 * time.Millisecond
	vipProbeInterval = 25 * time.Millisecond
)

// upVIPLab starts a 3-cloud lab with the demo tenant (its public IP is the
// lab's VIP) and waits until the leader alone holds the VIP.
func upVIPLab(t *testing.T, ctx context.Context) (*labkit.Lab, netns.NsHandle) {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: builds ctl and runs a namespace lab")
	}
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "ip")
	bin, err := clusterproc.BuildCtl(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "test", Output: testLogWriter{t}, Level: hclog.Warn})
	lab, err := labkit.Up(ctx, labkit.Options{Clouds: 3, CtlPath: bin, Logger: logger, ReadyTimeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Down(); err != nil {
			t.Errorf("cleanup down: %v", err)
		}
	})
	st := lab.State()
	if !lab.HoldsVIPSupported() || st.Tenant == "" {
		t.Fatalf("the lab's agents must hold the VIP (-uplink) and the demo tenant must apply (note: %s)", st.TenantNote)
	}
	ns, err := netcfg.NamespaceByName(st.ClientNS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	waitVIPAlone(t, ctx, lab, "")
	return lab, ns
}

// waitVIPAlone waits until all controllers (but skip) agree on a leader and
// that leader is the only one of them holding the VIP; it returns it.
func waitVIPAlone(t *testing.T, ctx context.Context, lab *labkit.Lab, skip string) string {
	t.Helper()
	var ids []string
	for _, id := range lab.ControllerIDs() {
		if id != skip {
			ids = append(ids, id)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		leader, err := lab.WaitLeader(wctx, ids...)
		cancel()
		all, herr := lab.VIPHolders()
		if herr != nil {
			t.Fatal(herr)
		}
		// skip (cut off and dead) may still carry the address.
		holders := slices.DeleteFunc(all, func(h string) bool { return h == skip })
		if err == nil && len(holders) == 1 && holders[0] == leader {
			return leader
		}
		if time.Now().After(deadline) {
			t.Fatalf("no single VIP holder = leader: leader %q (%v), holders %v", leader, err, holders)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// vipAnswers reports whether some namespace answered a TCP connection
// attempt to vip:vipProbePort from the client namespace (SYN-ACK or RST)
// within vipProbeTimeout.
func vipAnswers(ctx context.Context, dial func(context.Context, string, string) (net.Conn, error), vip string) bool {
	dctx, cancel := context.WithTimeout(ctx, vipProbeTimeout)
	defer cancel()
	c, err := dial(dctx, "tcp", net.JoinHostPort(vip, strconv.Itoa(vipProbePort)))
	if err == nil {
		c.Close()
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// percentile returns the p-th percentile (nearest rank) of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(p/100*float64(len(ds))+0.999999) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

// TestLabVIPFailover measures, over as many trials as fit in about a
// minute, the time from the loss of the leading controller's host to the
// first answer from the VIP in the client namespace. The host loss is its
// WAN link going down and its controller killed with SIGKILL: a kill -9
// alone would leave the dead leader's namespace (the "host") holding the
// address and answering for it, which a real crash does not. Between trials
// the controller restarts with its link still down, drops the stray VIP
// (checked) and only then gets its link back, so no trial starts with two
// holders.
func TestLabVIPFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 170*time.Second)
	defer cancel()
	lab, clientNS := upVIPLab(t, ctx)
	vip := lab.State().VIP
	dial := netcfg.DialContextIn(clientNS)
	if !vipAnswers(ctx, dial, vip) {
		t.Fatalf("VIP %s does not answer from the client namespace before any failure", vip)
	}

	const budget = 60 * time.Second
	const maxTrials = 25
	var took, overlaps, reanswer []time.Duration
	start := time.Now()
	for trial := 1; trial <= maxTrials && time.Since(start) < budget; trial++ {
		leader := waitVIPAlone(t, ctx, lab, "")
		// After the previous trial's overlap the client's neighbour entry
		// may point at the ex-leader: wait until the VIP answers.
		w := time.Now()
		for !vipAnswers(ctx, dial, vip) {
			if time.Since(w) > 15*time.Second {
				t.Fatalf("trial %d: VIP held by %s does not answer", trial, leader)
			}
			time.Sleep(vipProbeInterval) // probe period
		}
		if trial > 1 {
			reanswer = append(reanswer, time.Since(w))
		}
		t0 := time.Now()
		if err := lab.CutWAN(leader); err != nil {
			t.Fatal(err)
		}
		if err := lab.KillController(leader); err != nil {
			t.Fatal(err)
		}
		// Probe every vipProbeInterval until the first answer.
		var d time.Duration
		for {
			if vipAnswers(ctx, dial, vip) {
				d = time.Since(t0)
				break
			}
			if time.Since(t0) > 15*time.Second {
				holders, _ := lab.VIPHolders()
				t.Fatalf("trial %d: VIP not answering 15 s after losing leader %s (holders %v)", trial, leader, holders)
			}
			time.Sleep(vipProbeInterval) // probe period
		}
		took = append(took, d)
		nl := waitVIPAlone(t, ctx, lab, leader)
		t.Logf("trial %d: lost leader %s; VIP answered after %v (new holder %s)", trial, leader, d.Round(time.Millisecond), nl)

		// Restart the ex-leader and give it its link back. Its namespace
		// still carries the VIP (a real reboot would not keep it); the
		// agent drops it once it is a follower with a caught-up FSM (it
		// learns which addresses are public IPs from the log, and a
		// restarted node applies the log only after hearing the commit
		// index from the leader), so the overlap is measured.
		if err := lab.RestartController(leader); err != nil {
			t.Fatal(err)
		}
		if err := lab.RestoreWAN(leader); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		deadline := time.Now().Add(20 * time.Second)
		for {
			holders, err := lab.VIPHolders()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(holders, leader) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("trial %d: restarted ex-leader %s still holds the VIP 20 s after its link came back (holders %v)", trial, leader, holders)
			}
			time.Sleep(10 * time.Millisecond) // polling interval
		}
		overlaps = append(overlaps, time.Since(back))
	}
	if len(took) < 5 {
		t.Fatalf("only %d trials in %v", len(took), budget)
	}
	slices.Sort(took)
	t.Logf("VIP failover (leader host lost → first answer from the client namespace), %d trials, probes every %v with %v timeout: p50 %v p99 %v min %v max %v",
		len(took), vipProbeInterval, vipProbeTimeout, percentile(took, 50).Round(time.Millisecond),
		percentile(took, 99).Round(time.Millisecond), took[0].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	slices.Sort(overlaps)
	slices.Sort(reanswer)
	t.Logf("restarted ex-leader held its stray VIP after its link came back (two holders): p50 %v max %v; VIP silent at the next trial's start: p50 %v max %v",
		percentile(overlaps, 50).Round(time.Millisecond), overlaps[len(overlaps)-1].Round(time.Millisecond),
		percentile(reanswer, 50).Round(time.Millisecond), percentile(reanswer, 100).Round(time.Millisecond))
}

// TestLabPartitionDropsVIP cuts the leader's WAN link (the process keeps
// running): the cut-off leader loses its quorum, steps down and drops the
// VIP from its uplink within 1 s (read from its own namespace), the others
// elect a leader that takes the VIP, and at no probe (every 10 ms) do two
// controllers hold it. Healing the link leaves exactly one holder.
func TestLabPartitionDropsVIP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	lab, clientNS := upVIPLab(t, ctx)
	vip := lab.State().VIP
	dial := netcfg.DialContextIn(clientNS)

	const trials = 3
	var drops, takeovers []time.Duration
	for trial := 1; trial <= trials; trial++ {
		old := waitVIPAlone(t, ctx, lab, "")

		t0 := time.Now()
		if err := lab.CutWAN(old); err != nil {
			t.Fatal(err)
		}
		// Probe the holders (netlink, every namespace) until the old leader
		// dropped the VIP, another holds it and the client gets an answer.
		var dropped, taken time.Duration
		probes, answered := 0, false
		deadline := time.Now().Add(15 * time.Second)
		for dropped == 0 || taken == 0 || !answered {
			h, err := lab.VIPHolders()
			if err != nil {
				t.Fatal(err)
			}
			probes++
			at := time.Since(t0)
			if len(h) > 1 {
				t.Errorf("trial %d: at +%v two controllers hold the VIP: %v", trial, at.Round(time.Millisecond), h)
			}
			if dropped == 0 && !slices.Contains(h, old) {
				dropped = at
			}
			if taken == 0 && len(h) == 1 && h[0] != old {
				taken = at
			}
			if taken != 0 && !answered {
				answered = vipAnswers(ctx, dial, vip)
			}
			if time.Now().After(deadline) {
				t.Fatalf("trial %d: 15 s after cutting %s: holders %v, client answered %v", trial, old, h, answered)
			}
			time.Sleep(5 * time.Millisecond) // probe period
		}
		n := probes
		if dropped > time.Second {
			t.Errorf("trial %d: cut-off leader %s dropped the VIP after %v, want ≤ 1 s", trial, old, dropped)
		}
		drops, takeovers = append(drops, dropped), append(takeovers, taken)
		t.Logf("trial %d: WAN of leader %s cut; it dropped the VIP after %v; another controller held it after %v; %d holder probes",
			trial, old, dropped.Round(time.Millisecond), taken.Round(time.Millisecond), n)

		if err := lab.RestoreWAN(old); err != nil {
			t.Fatal(err)
		}
		// Healed: all three agree again, one holder.
		waitVIPAlone(t, ctx, lab, "")
	}
	slices.Sort(drops)
	slices.Sort(takeovers)
	t.Logf("partition: VIP dropped by the cut-off leader after min %v max %v; held by the new leader after min %v max %v (%d trials)",
		drops[0].Round(time.Millisecond), drops[len(drops)-1].Round(time.Millisecond),
		takeovers[0].Round(time.Millisecond), takeovers[len(takeovers)-1].Round(time.Millisecond), trials)
}

// TestLabInstanceNetwork checks the lab's plumbing for instances with
// their own addresses (labkit Options.InstanceNetworks): in each cloud a
// namespace plugged into the hypervisor's bridge of the tenant's first
// subnet, the way the process driver in netns mode plugs an instance, with
// an address of the subnet and a route via the subnet's gateway, serves
// HTTP; the cloud's controller (its load balancer's namespace) reaches it
// through its route to the subnet, and the replies find their way back.
func TestLabInstanceNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds ctl and runs a namespace lab")
	}
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "ip")
	bin, err := clusterproc.BuildCtl(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	logger := hclog.New(&hclog.LoggerOptions{Name: "test", Output: testLogWriter{t}, Level: hclog.Warn})
	lab, err := labkit.Up(ctx, labkit.Options{Clouds: 3, CtlPath: bin, Logger: logger, ReadyTimeout: 60 * time.Second,
		InstanceNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Down(); err != nil {
			t.Errorf("cleanup down: %v", err)
		}
	})
	st := lab.State()
	if len(st.InstanceSubnets) == 0 {
		t.Fatal("no instance subnets plumbed")
	}
	sn := st.InstanceSubnets[0]
	t.Logf("subnet %s/%s %s gateway %s bridge %s; hypervisors' process mode %q", sn.Tenant, sn.Network, sn.CIDR, sn.Gateway, sn.Bridge, st.ProcessMode)

	for i, h := range st.Hypervisors {
		c := st.Controllers[i]
		ip := sn.Gateway
		for range 40 + i {
			ip = ip.Next()
		}
		// The instance's namespace carries the lab prefix: Down removes it.
		name := st.Prefix + "-inst" + strconv.Itoa(i+1)
		instNS, err := netcfg.NewNamespace(name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { instNS.Close() })
		hvNS, err := netcfg.NamespaceByName(h.NS)
		if err != nil {
			t.Fatal(err)
		}
		hv, err := netcfg.NewLinks(hvNS)
		if err != nil {
			t.Fatal(err)
		}
		err = hv.AttachNamespace(sn.Bridge, "inst"+strconv.Itoa(i+1), instNS, "eth0", netip.PrefixFrom(ip, sn.CIDR.Bits()), netip.Addr{})
		hv.Close()
		hvNS.Close()
		if err != nil {
			t.Fatal(err)
		}
		in, err := netcfg.NewLinks(instNS)
		if err != nil {
			t.Fatal(err)
		}
		err = in.AddRoute(labkit.LabRange, sn.Gateway, "eth0") // the lab's rule: no default route
		in.Close()
		if err != nil {
			t.Fatal(err)
		}
		ln, err := netcfg.ListenIn(instNS, "tcp", netip.AddrPortFrom(ip, 9000).String())
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(h.Cloud + " " + r.RemoteAddr))
		})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })

		ctlNS, err := netcfg.NamespaceByName(c.NS)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ctlNS.Close() })
		hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DialContext: netcfg.DialContextIn(ctlNS), DisableKeepAlives: true}}
		resp, err := hc.Get("http://" + netip.AddrPortFrom(ip, 9000).String() + "/")
		if err != nil {
			t.Fatalf("cloud %s: controller %s cannot reach the instance address %s: %v", h.Cloud, c.ID, ip, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := strings.Fields(string(body)); len(got) != 2 || got[0] != h.Cloud {
			t.Fatalf("cloud %s: %s answered %q", h.Cloud, ip, body)
		}
		t.Logf("cloud %s: controller %s → instance %s on %s in %s: %q", h.Cloud, c.ID, ip, sn.Bridge, h.NS, body)
	}
}
