package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"aas/cluster/client"
	"aas/e2e/clusterproc"
	"aas/fsm"
)

// TestDevAgentLifecycle is issue 5's first acceptance check, run as a user
// would: a dev agent and the seed's tenant.yml (min 2) → two process
// instances answer through the group's endpoint; scale to 5 → five; back to
// 2 → three drain and are removed, their processes gone; stopping the dev
// agent leaves no instance process behind.
func TestDevAgentLifecycle(t *testing.T) {
	bin, dir := ctlBin(t)
	port, err := clusterproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var logBuf lockedBuffer
	agent := exec.Command(bin, "agent", "-dev", "-http-addr", addr, "-stats-interval", "1s")
	agent.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	agent.Stdout, agent.Stderr = &logBuf, &logBuf
	agent.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = syscall.Kill(-agent.Process.Pid, syscall.SIGKILL)
			_ = agent.Wait()
			// Instances run in their own sessions: a killed agent leaves them.
			for _, pid := range workloadPIDs(t, dir) {
				if n, err := strconv.Atoi(pid); err == nil {
					_ = syscall.Kill(n, syscall.SIGKILL)
				}
			}
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", tail(logBuf.String(), 6000))
		}
	})
	cl := client.New("http://" + addr)
	ctx := context.Background()
	poll(t, 10*time.Second, "agent ready", func() bool {
		ok, _, err := cl.Ready(ctx)
		return err == nil && ok
	})

	env := []string{"CTL_ADDR=http://" + addr}
	ctlEnv(t, bin, env, "tenant", "apply", filepath.Join("..", "examples", "seed-tenant.yml"))
	running := func(n int) func() bool {
		return func() bool {
			ins, err := cl.Instances(ctx, client.InstanceFilter{Tenant: "demo", State: "running"})
			return err == nil && len(ins) == n && allHealthy(ins)
		}
	}
	poll(t, 30*time.Second, "2 running instances", running(2))

	// Both instances answer through the group's endpoint.
	ep := endpoint(t, cl)
	seen := map[string]bool{}
	// A new connection per request: the endpoint balances connections (L4).
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	poll(t, 15*time.Second, "both instances serve through the endpoint", func() bool {
		resp, err := hc.Get("http://" + ep + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct {
			InstanceID string `json:"instance_id"`
		}
		if json.NewDecoder(resp.Body).Decode(&body) == nil && body.InstanceID != "" {
			seen[body.InstanceID] = true
		}
		return len(seen) == 2
	})

	ctlEnv(t, bin, env, "group", "scale", "demo/default", "5")
	poll(t, 30*time.Second, "5 running instances", running(5))
	before := workloadPIDs(t, dir)
	if len(before) != 5 {
		t.Fatalf("%d workload processes for 5 instances", len(before))
	}

	ctlEnv(t, bin, env, "group", "scale", "demo/default", "2")
	poll(t, 10*time.Second, "3 instances draining", func() bool {
		ins, err := cl.Instances(ctx, client.InstanceFilter{Tenant: "demo", State: "draining"})
		return err == nil && len(ins) == 3
	})
	// The seed's drain period is the default (30 s); then they terminate.
	poll(t, 90*time.Second, "3 instances terminated, 2 running", func() bool {
		ins, err := cl.Instances(ctx, client.InstanceFilter{Tenant: "demo", State: "terminated"})
		return err == nil && len(ins) == 3 && running(2)()
	})
	poll(t, 10*time.Second, "their processes gone", func() bool { return len(workloadPIDs(t, dir)) == 2 })

	out := ctlEnv(t, bin, env, "activity", "-tenant", "demo", "-format", "csv")
	if !strings.Contains(out, ",2,5,") {
		t.Errorf("activity CSV lacks the 2→5 action:\n%s", out)
	}

	// Stopping the dev agent (temporary data dir) removes its instances.
	_ = agent.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- agent.Wait() }()
	select {
	case <-done:
		stopped = true
	case <-time.After(60 * time.Second):
		t.Fatal("dev agent did not stop within 60 s of SIGTERM")
	}
	if pids := workloadPIDs(t, dir); len(pids) != 0 {
		t.Fatalf("instance processes left after the dev agent stopped: %v", pids)
	}
}

func allHealthy(ins []fsm.Instance) bool {
	for _, in := range ins {
		if in.Health != "healthy" {
			return false
		}
	}
	return true
}

func endpoint(t *testing.T, cl *client.Client) string {
	t.Helper()
	var ep string
	poll(t, 10*time.Second, "group endpoint", func() bool {
		var eps []struct{ Tenant, Address string }
		if err := cl.Do(context.Background(), http.MethodGet, "/v1/endpoints", nil, &eps); err != nil {
			return false
		}
		for _, e := range eps {
			if e.Tenant == "demo" {
				ep = e.Address
			}
		}
		return ep != ""
	})
	return ep
}

// workloadPIDs lists live `ctl workload` processes started from the test's
// binary (by its path in /proc/PID/cmdline).
func workloadPIDs(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) > 1 && strings.HasPrefix(args[0], dir) && args[1] == "workload" {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !strings.Contains(string(st), ") Z ") {
				pids = append(pids, e.Name())
			}
		}
	}
	return pids
}

func ctlEnv(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("ctl %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// poll checks cond every 100 ms until it holds or d passes.
func poll(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond) // polling interval, not synchronisation
	}
}

// lockedBuffer is a bytes.Buffer safe for the agent's two output streams.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
