package nodes_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/nodes"
	"aas/nodes/driver"
	"aas/nodes/health"
	"aas/nodes/internal/testworkload"
)

func TestMain(m *testing.M) {
	testworkload.MaybeRun()
	runChildAgent()
	os.Exit(m.Run())
}

func logger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Warn})
}

func startAgent(t testing.TB, dir string) *nodes.Agent {
	t.Helper()
	a, err := nodes.NewAgent(nodes.AgentConfig{
		NodeID: "hv1", Cloud: "c1", Driver: "process", APIAddr: "127.0.0.1:0", DataDir: dir, Logger: logger(t),
		SampleInterval: 50 * time.Millisecond, SyncInterval: 20 * time.Millisecond,
		DefaultHealth: health.Check{Interval: 20 * time.Millisecond, Timeout: 15 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	return a
}

func stop(t testing.TB, a *nodes.Agent) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func spec(id string) driver.InstanceSpec {
	return driver.InstanceSpec{ID: id, Tenant: "acme", Group: "web", Process: testworkload.Template(0)}
}

// deleteAll removes every instance through the API (test cleanup).
func deleteAll(t testing.TB, c *nodes.Client, term uint64) {
	ctx := context.Background()
	list, err := c.List(ctx, 0)
	if err != nil {
		t.Errorf("cleanup list: %v", err)
		return
	}
	for _, i := range list {
		if err := c.Delete(ctx, term, i.ID); err != nil {
			t.Errorf("cleanup delete %s: %v", i.ID, err)
		}
	}
}

func TestTermFencingAndIdempotency(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := startAgent(t, dir)
	c := nodes.NewClient(a.URL(), nil)

	first, created, err := c.Create(ctx, 5, spec("i1"), nil)
	if err != nil || !created {
		t.Fatalf("create: created=%v err=%v", created, err)
	}
	type call struct {
		name    string
		do      func() error
		wantErr error
	}
	calls := []call{
		{"same id same term returns the existing one", func() error {
			again, created, err := c.Create(ctx, 5, spec("i1"), nil)
			if err == nil && (created || again.NativeID != first.NativeID) {
				t.Errorf("re-create: created=%v native %s, want existing %s", created, again.NativeID, first.NativeID)
			}
			return err
		}, nil},
		{"lower term create refused", func() error { _, _, err := c.Create(ctx, 4, spec("i2"), nil); return err }, nodes.ErrStaleTerm},
		{"lower term delete refused", func() error { return c.Delete(ctx, 3, "i1") }, nodes.ErrStaleTerm},
		{"lower term list refused", func() error { _, err := c.List(ctx, 1); return err }, nodes.ErrStaleTerm},
		{"higher term raises the fence", func() error { _, _, err := c.Create(ctx, 7, spec("i2"), nil); return err }, nil},
		{"former term now stale", func() error { return c.Delete(ctx, 5, "i2") }, nodes.ErrStaleTerm},
		{"bad spec", func() error {
			s := spec("bad id")
			_, _, err := c.Create(ctx, 7, s, nil)
			return err
		}, nodes.ErrInvalidSpec},
		{"missing command", func() error {
			s := spec("nocmd")
			s.Process = nil
			_, _, err := c.Create(ctx, 7, s, nil)
			return err
		}, nodes.ErrInvalidSpec},
		{"bad health check", func() error {
			_, _, err := c.Create(ctx, 7, spec("hc"), &health.Check{Kind: "icmp"})
			return err
		}, health.ErrInvalidCheck},
		{"delete unknown is fine", func() error { return c.Delete(ctx, 7, "nope") }, nil},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if tc.wantErr == nil && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
	list, err := c.List(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("agent has %d instances, want 2 (i1, i2): %+v", len(list), list)
	}

	// Raw calls: missing headers are refused with 400 and change nothing.
	for _, tc := range []struct {
		name   string
		header map[string]string
	}{
		{"no term", map[string]string{nodes.HeaderInstanceID: "i9"}},
		{"no id", map[string]string{nodes.HeaderTerm: "7"}},
		{"bad term", map[string]string{nodes.HeaderTerm: "seven", nodes.HeaderInstanceID: "i9"}},
	} {
		req, _ := http.NewRequest(http.MethodPost, a.URL()+"/v1/instances", strings.NewReader(`{"spec":{"id":"i9","process":{"command":"/bin/true"}}}`))
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", tc.name, resp.StatusCode)
		}
	}

	// The fence survives a restart of the agent.
	stop(t, a)
	a = startAgent(t, dir)
	defer stop(t, a)
	c = nodes.NewClient(a.URL(), nil)
	if err := c.Delete(ctx, 6, "i1"); !errors.Is(err, nodes.ErrStaleTerm) {
		t.Fatalf("after restart, term 6 delete: %v, want ErrStaleTerm", err)
	}
	h, err := c.Health(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Term != 7 || h.Instances != 2 || h.Running != 2 || h.Driver != "process" || h.Capacity.CPUs < 1 || h.Capacity.MemoryBytes == 0 {
		t.Fatalf("health after restart %+v, want term 7 and 2 adopted running instances", h)
	}
	deleteAll(t, c, 7)
}

func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
}

func healthOf(list []nodes.InstanceStatus, id string) health.Status {
	for _, i := range list {
		if i.ID == id {
			return i.Health.Status
		}
	}
	return ""
}

// Instances become healthy, stats arrive in one call, a killed instance is
// reported gone, and a restarted agent adopts the survivors.
func TestAgentHealthStatsAdoption(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := startAgent(t, dir)
	c := nodes.NewClient(a.URL(), nil)
	var pids []int
	for _, id := range []string{"a1", "a2"} {
		st, _, err := c.Create(ctx, 1, spec(id), nil)
		if err != nil {
			t.Fatal(err)
		}
		pid := a.Driver().(interface{ PID(string) int }).PID(st.ID)
		pids = append(pids, pid)
	}
	waitFor(t, "both healthy", 20*time.Second, func() bool {
		list, err := c.List(ctx, 1)
		return err == nil && healthOf(list, "a1") == health.StatusHealthy && healthOf(list, "a2") == health.StatusHealthy
	})
	waitFor(t, "stats with recent samples", 20*time.Second, func() bool {
		s, err := c.Stats(ctx, 1, 3)
		return err == nil && len(s) == 2 && len(s[0].Recent) >= 2 && s[0].Latest.MemoryBytes > 0
	})
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a1 gone", 20*time.Second, func() bool {
		list, err := c.List(ctx, 1)
		return err == nil && healthOf(list, "a1") == health.StatusGone
	})
	stop(t, a)
	a = startAgent(t, dir)
	defer stop(t, a)
	c = nodes.NewClient(a.URL(), nil)
	list, err := c.List(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || healthOf(list, "a1") != health.StatusGone {
		t.Fatalf("restarted agent lists %+v, want a1 gone and a2", list)
	}
	waitFor(t, "a2 healthy after restart", 20*time.Second, func() bool {
		list, err := c.List(ctx, 1)
		return err == nil && healthOf(list, "a2") == health.StatusHealthy
	})
	st, created, err := c.Create(ctx, 1, spec("a2"), nil)
	if err != nil || created || st.NativeID != "" && st.NativeID != list[1].NativeID {
		t.Fatalf("re-create of adopted a2: created=%v native=%s err=%v", created, st.NativeID, err)
	}
	deleteAll(t, c, 1)
}

func TestOpenDriverErrors(t *testing.T) {
	_, err := nodes.OpenDriver(context.Background(), nodes.DriverConfig{Name: "vmware"})
	if !errors.Is(err, nodes.ErrUnknownDriver) {
		t.Fatalf("unknown driver: %v", err)
	}
	_, err = nodes.NewAgent(nodes.AgentConfig{NodeID: "x", DataDir: t.TempDir(), Driver: "vmware"})
	if !errors.Is(err, nodes.ErrUnknownDriver) {
		t.Fatalf("agent with unknown driver: %v", err)
	}
}
