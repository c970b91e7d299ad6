package site_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/cluster"
	"aas/cluster/converge"
	"aas/cluster/site"
	"aas/cluster/tenant"
	"aas/fsm"
	"aas/nodes"
	"aas/nodes/driver"
	"aas/nodes/health"
	"aas/nodes/workload"
	"aas/scaler"
)

// The controller implements what both packages need.
var (
	_ site.Cluster              = (*cluster.Server)(nil)
	_ converge.Cluster          = (*cluster.Server)(nil)
	_ cluster.LeaderServiceFunc = (*converge.Converger)(nil).Run
)

const envWorkload = "AAS_SITE_TEST_WORKLOAD"

// TestMain lets the test binary double as the demo workload: the process
// template re-executes it with envWorkload set (no build of cmd/ctl needed).
func TestMain(m *testing.M) {
	if os.Getenv(envWorkload) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		err := workload.Run(ctx, workload.Config{Listen: os.Getenv(driver.EnvListen), InstanceID: os.Getenv(driver.EnvInstanceID)}, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testLogger(t testing.TB) hclog.Logger {
	if os.Getenv("AAS_TEST_LOG") == "" {
		return hclog.NewNullLogger()
	}
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Debug, Output: os.Stderr})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	// Fail with a message, not the test binary's timeout panic.
	if d, ok := t.Deadline(); ok && d.Add(-15*time.Second).Before(deadline) {
		deadline = d.Add(-15 * time.Second)
	}
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, last)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
}

// lab is a single-node controller with a converger, a site reconciler and
// one in-process hypervisor agent (process driver, loopback).
type lab struct {
	t      *testing.T
	srv    *cluster.Server
	agent  *nodes.Agent
	client *nodes.Client
	log    hclog.Logger
	// home is the controller running the site reconciler (default srv).
	home *cluster.Server
	// requests is the reconciler's load balancer counter source (optional).
	requests site.RequestCounter
	stop     context.CancelFunc
	done     chan struct{}
}

func newLab(t *testing.T) *lab {
	t.Helper()
	log := testLogger(t)
	srv, err := cluster.New(cluster.Config{
		NodeID: "c1", Cloud: "local", DataDir: t.TempDir(),
		HTTPAddr: "127.0.0.1:0", RaftAddr: "127.0.0.1:0", Bootstrap: true,
		Raft: cluster.RaftTiming{HeartbeatTimeout: 500 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond,
			LeaderLeaseTimeout: 500 * time.Millisecond, CommitTimeout: 20 * time.Millisecond},
		Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown() })
	waitFor(t, 20*time.Second, "leadership", func() (bool, string) {
		return srv.LeadershipEstablished(), "not leader yet"
	})

	agent := startAgent(t, log, "hv1")
	l := &lab{t: t, srv: srv, agent: agent, client: nodes.NewClient(agent.URL(), nil), log: log}
	seed(t, l.apply, agent.Addr())

	conv, err := converge.New(converge.Config{Cluster: srv, Logger: log, Interval: 300 * time.Millisecond,
		ReapInterval: 500 * time.Millisecond, ReapAfter: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv.RegisterLeaderService("converge", conv.Run)
	l.startReconciler()
	t.Cleanup(l.stopReconciler)
	return l
}

// startAgent starts a hypervisor agent (process driver, loopback) and
// deletes every instance it holds at the end of the test.
func startAgent(t *testing.T, log hclog.Logger, id string) *nodes.Agent {
	t.Helper()
	agent, err := nodes.NewAgent(nodes.AgentConfig{
		NodeID: id, Cloud: "local", Driver: nodes.DriverProcess, APIAddr: "127.0.0.1:0",
		DataDir: t.TempDir(), Logger: log, SyncInterval: 200 * time.Millisecond, SampleInterval: 300 * time.Millisecond,
		DefaultHealth: health.Check{Interval: 300 * time.Millisecond, Timeout: 300 * time.Millisecond, Grace: 10 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Leave no process behind, whatever happened.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if list, err := agent.Driver().List(ctx); err == nil {
			for _, in := range list {
				_ = agent.Driver().Delete(ctx, in.ID)
			}
		}
		_ = agent.Shutdown(ctx)
	})
	return agent
}

// seed registers the agent as hypervisor hv1 and tenant
// acme with group web (min 2, the test binary as workload).
func seed(t *testing.T, apply func(fsm.Command), agentAddr string) {
	t.Helper()
	tmpl, err := json.Marshal(tenant.Template{
		Driver: tenant.DriverProcess,
		Process: &driver.ProcessTemplate{Command: mustExe(t), Args: []string{"-test.run=^$"},
			Env: map[string]string{envWorkload: "1"}},
		Health: &tenant.Health{Type: tenant.HealthHTTP, Path: "/healthz", Interval: scaler.Duration(300 * time.Millisecond),
			Timeout: scaler.Duration(300 * time.Millisecond), Grace: scaler.Duration(10 * time.Second), UnhealthyThreshold: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	// Cloud "local" is not registered here: its site reconciler does that.
	apply(fsm.UpsertHypervisor{Hypervisor: fsm.Hypervisor{ID: "hv1", Cloud: "local", Driver: "process",
		APIAddr: agentAddr, Capacity: 16, Liveness: fsm.LivenessAlive, Since: now}})
	apply(fsm.ApplyTenant{Time: now,
		Tenant: fsm.TenantSpec{Name: "acme", Networks: []fsm.Network{{Name: "net", Subnets: []fsm.Subnet{
			{CIDR: "198.18.1.0/24", Gateway: "198.18.1.1", RangeStart: "198.18.1.10", RangeEnd: "198.18.1.60"}}}}},
		Groups: []fsm.GroupSpec{{Name: "web", Min: 2, Max: 10, Template: tmpl, DrainPeriod: 500 * time.Millisecond}},
	})
}

func (l *lab) startReconciler() {
	home := l.home
	if home == nil {
		home = l.srv
	}
	rec, err := site.New(site.Config{Cluster: home, Cloud: "local", Logger: l.log, Requests: l.requests,
		Resync: 300 * time.Millisecond, StatsInterval: 500 * time.Millisecond, CallTimeout: 15 * time.Second})
	if err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.stop, l.done = cancel, make(chan struct{})
	go func() {
		defer close(l.done)
		_ = rec.Run(ctx)
	}()
}

func (l *lab) stopReconciler() {
	if l.stop != nil {
		l.stop()
		<-l.done
		l.stop = nil
	}
}

func (l *lab) apply(cmd fsm.Command) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := l.srv.Apply(ctx, cmd.CommandType(), cmd); err != nil {
		l.t.Fatalf("apply %T: %v", cmd, err)
	}
}

func (l *lab) instances() []fsm.Instance {
	var out []fsm.Instance
	l.srv.FSM().Read(func(s *fsm.State) { out = s.GroupInstances("acme", "web") })
	return out
}

func byState(ins []fsm.Instance) map[fsm.InstanceState][]fsm.Instance {
	m := map[fsm.InstanceState][]fsm.Instance{}
	for _, in := range ins {
		m[in.State] = append(m[in.State], in)
	}
	return m
}

func summary(ins []fsm.Instance) string {
	var parts []string
	for _, in := range ins {
		parts = append(parts, in.ID+"="+string(in.State)+"/"+string(in.Health))
	}
	return strings.Join(parts, " ")
}

// agentIDs lists what really runs on the hypervisor.
func (l *lab) agentIDs() (map[string]nodes.InstanceStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := l.client.List(ctx, 0)
	if err != nil {
		return nil, err
	}
	m := map[string]nodes.InstanceStatus{}
	for _, st := range list {
		m[st.ID] = st
	}
	return m, nil
}

// converged waits until the group has exactly n running, healthy
// instances, nothing else live, and the agent runs exactly those.
func (l *lab) converged(n int) []fsm.Instance {
	l.t.Helper()
	var running []fsm.Instance
	waitFor(l.t, 60*time.Second, fmt.Sprintf("%d running instances", n), func() (bool, string) {
		ins := l.instances()
		live := 0
		running = running[:0]
		for _, in := range ins {
			if in.Live() {
				live++
			}
			if in.State == fsm.StateRunning && in.Health == fsm.HealthHealthy {
				running = append(running, in)
			}
		}
		if live != n || len(running) != n {
			return false, summary(ins)
		}
		agent, err := l.agentIDs()
		if err != nil {
			return false, err.Error()
		}
		if len(agent) != n {
			return false, fmt.Sprintf("agent runs %d: %v", len(agent), keys(agent))
		}
		for _, in := range running {
			if st, ok := agent[in.ID]; !ok || st.State != driver.StateRunning {
				return false, "agent lacks " + in.ID
			}
		}
		return true, ""
	})
	return running
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// answers checks that every instance serves HTTP and reports its own ID.
func answers(t *testing.T, ins []fsm.Instance) {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, in := range ins {
		waitFor(t, 20*time.Second, "HTTP answer of "+in.ID, func() (bool, string) {
			resp, err := hc.Get("http://" + in.Address + "/")
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			var body workload.Response
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				return false, err.Error()
			}
			return resp.StatusCode == 200 && body.InstanceID == in.ID, fmt.Sprintf("%d %+v", resp.StatusCode, body)
		})
	}
}

func pidGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// A zombie (state Z) has exited and waits for its parent to reap it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func (l *lab) setDesired(n int) {
	l.apply(fsm.SetDesired{Tenant: "acme", Group: "web", Desired: n, Time: time.Now(), Source: fsm.SourceManual})
}

func TestGroupLifecycle(t *testing.T) {
	l := newLab(t)

	// min 2: two instances reach running and answer HTTP.
	began := time.Now()
	two := l.converged(2)
	t.Logf("loops started → 2 running and healthy: %v", time.Since(began).Round(time.Millisecond))
	answers(t, two)

	// Scale out to 5.
	began = time.Now()
	l.setDesired(5)
	five := l.converged(5)
	t.Logf("desired 2 → 5 running and healthy: %v", time.Since(began).Round(time.Millisecond))
	answers(t, five)
	agent, err := l.agentIDs()
	if err != nil {
		t.Fatal(err)
	}
	pids := map[string]int{}
	for id, st := range agent {
		pid, err := strconv.Atoi(st.NativeID)
		if err != nil {
			t.Fatalf("instance %s: native id %q is not a pid", id, st.NativeID)
		}
		pids[id] = pid
	}

	// Scale in to 2: three drain, then terminate, and their processes go.
	began = time.Now()
	l.setDesired(2)
	var victims []string
	waitFor(t, 20*time.Second, "three instances leaving", func() (bool, string) {
		ins := l.instances()
		victims = victims[:0]
		for _, in := range ins {
			if slices.Contains([]fsm.InstanceState{fsm.StateDraining, fsm.StateTerminating, fsm.StateTerminated}, in.State) {
				victims = append(victims, in.ID)
			}
		}
		return len(victims) == 3, summary(ins)
	})
	kept := l.converged(2)
	t.Logf("desired 5 → 2 (drain period 500ms) → 3 deleted: %v", time.Since(began).Round(time.Millisecond))
	for _, in := range kept {
		if slices.Contains(victims, in.ID) {
			t.Fatalf("victim %s still running", in.ID)
		}
	}
	for _, id := range victims {
		if in, ok := find(l.instances(), id); ok && in.State != fsm.StateTerminated {
			t.Errorf("victim %s is %s, want terminated (or reaped)", id, in.State)
		}
		waitFor(t, 20*time.Second, "process of "+id+" gone", func() (bool, string) {
			return pidGone(pids[id]), "pid " + strconv.Itoa(pids[id]) + " alive"
		})
	}

	// Kill one instance's process: it is marked failed and replaced.
	victim := kept[0]
	agent, err = l.agentIDs()
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(agent[victim.ID].NativeID)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	waitFor(t, 30*time.Second, victim.ID+" failed", func() (bool, string) {
		in, ok := find(l.instances(), victim.ID)
		return !ok || in.State == fsm.StateFailed, in.ID + "=" + string(in.State)
	})
	replaced := l.converged(2)
	t.Logf("SIGKILL → failed → replacement running and healthy: %v", time.Since(began).Round(time.Millisecond))
	for _, in := range replaced {
		if in.ID == victim.ID {
			t.Fatalf("killed instance %s counted as running", victim.ID)
		}
	}
	answers(t, replaced)

	// Restart the reconciler with an orphan on the agent: the new one
	// deletes the orphan and creates nothing twice.
	l.stopReconciler()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, _, err := l.client.Create(ctx, l.srv.Term(), driver.InstanceSpec{ID: "stray-1", Tenant: "acme", Group: "web",
		Process: &driver.ProcessTemplate{Command: mustExe(t), Args: []string{"-test.run=^$"}, Env: map[string]string{envWorkload: "1"}}}, nil); err != nil {
		t.Fatal(err)
	}
	l.startReconciler()
	after := l.converged(2)
	if ids(after) != ids(replaced) {
		t.Fatalf("restart changed the running set: before %s, after %s", ids(replaced), ids(after))
	}
	waitFor(t, 20*time.Second, "FSM and agent agree", func() (bool, string) {
		agent, err := l.agentIDs()
		if err != nil {
			return false, err.Error()
		}
		return strings.Join(keys(agent), ",") == ids(after), strings.Join(keys(agent), ",")
	})

	// A reconciler that died after recording provisioning and after the
	// agent created the instance, but before reporting running: its
	// successor adopts the instance instead of creating a second one.
	l.stopReconciler()
	l.setDesired(3)
	var pending fsm.Instance
	waitFor(t, 20*time.Second, "a pending instance", func() (bool, string) {
		p := byState(l.instances())[fsm.StatePending]
		if len(p) == 1 {
			pending = p[0]
		}
		return len(p) == 1, summary(l.instances())
	})
	l.apply(fsm.UpdateInstances{Time: time.Now(), Updates: []fsm.InstanceUpdate{
		{ID: pending.ID, State: fsm.StateProvisioning, Hypervisor: "hv1"}}})
	st, _, err := l.client.Create(ctx, l.srv.Term(), driver.InstanceSpec{ID: pending.ID, Tenant: "acme", Group: "web",
		Process: &driver.ProcessTemplate{Command: mustExe(t), Args: []string{"-test.run=^$"}, Env: map[string]string{envWorkload: "1"}}},
		// the check the dead reconciler sent: the group template's
		&health.Check{Kind: health.KindHTTP, Path: "/healthz", Interval: 300 * time.Millisecond, Timeout: 300 * time.Millisecond,
			Grace: 10 * time.Second, UnhealthyThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	l.startReconciler()
	three := l.converged(3)
	adopted, ok := find(three, pending.ID)
	if !ok || adopted.Address != st.Addr {
		t.Fatalf("instance %s not adopted as created (addr %s): %s", pending.ID, st.Addr, summary(three))
	}
	agent, err = l.agentIDs()
	if err != nil {
		t.Fatal(err)
	}
	if agent[pending.ID].NativeID != st.NativeID {
		t.Fatalf("instance %s was created again: pid %s, first %s", pending.ID, agent[pending.ID].NativeID, st.NativeID)
	}

	// Metrics reached the FSM for the autoscaler.
	waitFor(t, 20*time.Second, "metric points", func() (bool, string) {
		var pts []fsm.MetricPoint
		l.srv.FSM().Read(func(s *fsm.State) { pts = s.MetricHistory("acme", "web") })
		if len(pts) == 0 {
			return false, "none"
		}
		p := pts[len(pts)-1]
		return p.Instances >= 1 && p.AvgCPU >= 0, fmt.Sprintf("%+v", p)
	})
}

func mustExe(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func find(ins []fsm.Instance, id string) (fsm.Instance, bool) {
	for _, in := range ins {
		if in.ID == id {
			return in, true
		}
	}
	return fsm.Instance{}, false
}

func ids(ins []fsm.Instance) string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.ID
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
