package e2e

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/e2e/clusterproc"
	"aas/e2e/labkit"
	"aas/internal/testenv"
)

// testLogWriter sends a logger's lines to t.Log.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// labBinary is the start of every lab test: it skips with -short, needs
// root and ip(8), and builds ctl into a temporary directory (returned too).
func labBinary(t *testing.T) (bin, dir string) {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: builds ctl and runs a namespace lab")
	}
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "ip")
	dir = t.TempDir()
	bin, err := clusterproc.BuildCtl(dir)
	if err != nil {
		t.Fatal(err)
	}
	return bin, dir
}

// upLab brings a lab up with opts — by default 3 clouds, the test's log at
// Warn, 60 s to get ready — and takes it down at cleanup.
func upLab(t *testing.T, ctx context.Context, opts labkit.Options) *labkit.Lab {
	t.Helper()
	if opts.Clouds == 0 {
		opts.Clouds = 3
	}
	if opts.Logger == nil {
		opts.Logger = hclog.New(&hclog.LoggerOptions{Name: "test", Output: testLogWriter{t}, Level: hclog.Warn})
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	lab, err := labkit.Up(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Down(); err != nil {
			t.Errorf("cleanup down: %v", err)
		}
	})
	return lab
}

// TestLab brings up the 3-cloud namespace lab with real ctl processes,
// checks the cluster and the lab's isolation, kills the leader controller
// with SIGKILL a few times and measures how long the survivors take to
// agree on a new leader, then takes the lab down and checks that nothing
// it made is left.
func TestLab(t *testing.T) {
	bin, _ := labBinary(t)
	const clouds = 3
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	logger := hclog.New(&hclog.LoggerOptions{Name: "test", Output: testLogWriter{t}, Level: hclog.Info})
	lab := upLab(t, ctx, labkit.Options{Clouds: clouds, CtlPath: bin, Logger: logger})
	st := lab.State()
	if got := len(st.AllNamespaces()); got != 2*clouds+2 {
		t.Fatalf("namespaces: got %d, want %d: %v", got, 2*clouds+2, st.AllNamespaces())
	}
	if st.Tenant == "" {
		t.Logf("demo tenant not applied: %s", st.TenantNote)
	}

	t.Run("one leader agreed by all", func(t *testing.T) {
		views := lab.Leaders(ctx, lab.ControllerIDs()...)
		ids := map[string]bool{}
		for _, v := range views {
			ids[v] = true
		}
		if len(ids) != 1 {
			t.Fatalf("controllers disagree: %v", views)
		}
		if _, ok := lab.Controller(st.Leader); !ok || !ids[st.Leader] {
			t.Fatalf("leader %q is not a lab controller (views %v)", st.Leader, views)
		}
	})

	t.Run("hypervisors alive on every controller", func(t *testing.T) {
		for _, c := range lab.Controllers() {
			hs, err := lab.Client(c).Hypervisors(ctx)
			if err != nil {
				t.Fatalf("%s: %v", c.ID, err)
			}
			var alive []string
			for _, h := range hs {
				if h.Liveness == "alive" && strings.HasPrefix(h.ID, st.Prefix+"-") {
					alive = append(alive, h.ID+"@"+h.Cloud)
				}
			}
			sort.Strings(alive)
			if len(alive) != clouds {
				t.Fatalf("%s sees alive %v, want %d hypervisors", c.ID, alive, clouds)
			}
			for _, h := range lab.Hypervisors() {
				if !contains(alive, h.ID+"@"+h.Cloud) {
					t.Errorf("%s does not see %s in cloud %s alive: %v", c.ID, h.ID, h.Cloud, alive)
				}
			}
		}
	})

	t.Run("demo tenant on every controller", func(t *testing.T) {
		if st.Tenant == "" {
			t.Skipf("demo tenant not applied: %s", st.TenantNote)
		}
		for _, c := range lab.Controllers() {
			// Replication to followers is asynchronous: poll.
			deadline := time.Now().Add(10 * time.Second)
			for {
				ts, err := lab.Client(c).Tenants(ctx)
				found := false
				for _, tn := range ts {
					found = found || tn.Name == st.Tenant
				}
				if found {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s does not list tenant %s (err %v, got %v)", c.ID, st.Tenant, err, ts)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})

	t.Run("no route out of the lab", func(t *testing.T) {
		for _, ns := range st.AllNamespaces() {
			out, err := exec.Command("ip", "-n", ns, "-4", "route", "show").CombinedOutput()
			if err != nil {
				t.Fatalf("ip -n %s route: %v\n%s", ns, err, out)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if line == "" {
					continue
				}
				dst := strings.Fields(line)[0]
				if dst == "default" || !strings.HasPrefix(dst, "198.1") {
					t.Errorf("namespace %s has route %q outside 198.18.0.0/15", ns, line)
				}
			}
		}
		// The lab puts nothing in the host's namespace.
		for _, name := range hostLinks(t) {
			if strings.HasPrefix(name, st.Prefix) {
				t.Errorf("host namespace has lab link %s", name)
			}
		}
	})

	t.Run("leader killed: survivors elect a new leader", func(t *testing.T) {
		const trials = 3
		var took []time.Duration
		vipFollows := lab.HoldsVIPSupported() && st.Tenant != ""
		if !vipFollows {
			t.Log("VIP check skipped: the agent has no -uplink flag yet or no tenant is applied")
		} else {
			l, err := lab.WaitLeader(ctx, lab.ControllerIDs()...)
			if err != nil {
				t.Fatal(err)
			}
			waitVIP(t, lab, l, time.Now(), "")
		}
		for trial := 1; trial <= trials; trial++ {
			all := lab.ControllerIDs()
			wctx, wcancel := context.WithTimeout(ctx, 20*time.Second)
			old, err := lab.WaitLeader(wctx, all...)
			wcancel()
			if err != nil {
				t.Fatalf("trial %d: before kill: %v", trial, err)
			}
			c, _ := lab.Controller(old)
			start := time.Now()
			if err := lab.KillController(old); err != nil {
				t.Fatalf("trial %d: kill %s: %v", trial, old, err)
			}
			var survivors []string
			for _, id := range all {
				if id != old {
					survivors = append(survivors, id)
				}
			}
			wctx, wcancel = context.WithTimeout(ctx, 15*time.Second)
			nl, err := lab.WaitLeader(wctx, survivors...)
			wcancel()
			d := time.Since(start)
			if err != nil {
				t.Fatalf("trial %d: after killing %s (pid %d): %v", trial, old, c.PID, err)
			}
			if nl == old {
				t.Fatalf("trial %d: killed leader %s still named leader", trial, old)
			}
			took = append(took, d)
			t.Logf("trial %d: killed leader %s (pid %d); %s agreed by %v after %v", trial, old, c.PID, nl, survivors, d.Round(time.Millisecond))
			if vipFollows {
				// The killed process could not release the address from its
				// namespace; the new leader must hold it meanwhile.
				waitVIP(t, lab, nl, start, old)
			}
			restarted := time.Now()
			if err := lab.RestartController(old); err != nil {
				t.Fatalf("trial %d: restart %s: %v", trial, old, err)
			}
			wctx, wcancel = context.WithTimeout(ctx, 20*time.Second)
			_, err = lab.WaitLeader(wctx, all...)
			wcancel()
			if err != nil {
				t.Fatalf("trial %d: after restarting %s: %v", trial, old, err)
			}
			if vipFollows {
				// Back as a follower, the ex-leader drops its stray address.
				l, err := lab.WaitLeader(ctx, all...)
				if err != nil {
					t.Fatal(err)
				}
				waitVIP(t, lab, l, restarted, "")
			}
		}
		sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
		t.Logf("time to new leader over %d trials (raft profile tuned, veth WAN): min %v median %v max %v",
			len(took), took[0].Round(time.Millisecond), took[len(took)/2].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	})

	t.Run("down leaves nothing behind", func(t *testing.T) {
		st := lab.State() // current PIDs (restarted controllers)
		var pids []int
		for _, c := range st.Controllers {
			pids = append(pids, c.PID)
		}
		for _, h := range st.Hypervisors {
			pids = append(pids, h.PID)
		}
		if err := lab.Down(); err != nil {
			t.Fatalf("down: %v", err)
		}
		if left := labkit.ListNamespaces(st.Prefix); len(left) > 0 {
			t.Errorf("namespaces left: %v", left)
		}
		out, err := exec.Command("ip", "netns", "list").CombinedOutput()
		if err != nil {
			t.Fatalf("ip netns list: %v\n%s", err, out)
		}
		if strings.Contains(string(out), st.Prefix) {
			t.Errorf("ip netns list still shows the lab:\n%s", out)
		}
		for _, name := range hostLinks(t) {
			if strings.HasPrefix(name, st.Prefix) {
				t.Errorf("host link left: %s", name)
			}
		}
		for _, pid := range pids {
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("agent pid %d still exists (kill 0: %v)", pid, err)
			}
		}
		if _, err := os.Stat(st.WorkDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("work dir %s left (stat: %v)", st.WorkDir, err)
		}
		if err := lab.Down(); err != nil {
			t.Errorf("second down is not a no-op: %v", err)
		}
	})
}

// waitVIP polls until exactly leader holds the lab's VIP.
// waitVIP waits until the leader is the only controller holding the VIP,
// not counting dead (a killed controller whose namespace still has it).
func waitVIP(t *testing.T, lab *labkit.Lab, leader string, since time.Time, dead string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		all, err := lab.VIPHolders()
		if err != nil {
			t.Fatal(err)
		}
		var holders []string
		for _, h := range all {
			if h != dead {
				holders = append(holders, h)
			}
		}
		if len(holders) == 1 && holders[0] == leader {
			t.Logf("VIP on %s %v after the kill/start", leader, time.Since(since).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("VIP holders %v, want only the leader %s", holders, leader)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hostLinks(t *testing.T) []string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, i := range ifs {
		out = append(out, i.Name)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
