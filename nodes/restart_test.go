package nodes_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"aas/nodes"
	"aas/nodes/health"
)

// runChildAgent is the body of a child process started by startChildAgent:
// an agent on the given data dir that prints its URL and serves until
// SIGTERM.
func runChildAgent() {
	if os.Getenv("AAS_TEST_CHILD_AGENT") != "1" {
		return
	}
	a, err := nodes.NewAgent(nodes.AgentConfig{
		NodeID: "child", Cloud: "c", APIAddr: "127.0.0.1:0", DataDir: os.Getenv("AAS_TEST_DATA_DIR"),
		SyncInterval: 20 * time.Millisecond, SampleInterval: 100 * time.Millisecond,
		DefaultHealth: health.Check{Interval: 20 * time.Millisecond, Timeout: 15 * time.Millisecond},
	})
	if err == nil {
		err = a.Start()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("URL", a.URL())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	<-ctx.Done()
	stop()
	_ = a.Shutdown(context.Background())
	os.Exit(0)
}

func startChildAgent(t *testing.T, dir string) (*exec.Cmd, *nodes.Client) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "AAS_TEST_CHILD_AGENT=1", "AAS_TEST_DATA_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		t.Fatalf("child agent did not report its URL: %v", err)
	}
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "URL ")
	if !ok {
		t.Fatalf("child agent said %q", line)
	}
	return cmd, nodes.NewClient(url, nil)
}

// An agent process killed with SIGKILL leaves its instances running; a new
// agent process on the same data dir adopts them, creates none twice and
// still refuses the old term.
func TestAgentProcessRestartAdopts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cmd, c := startChildAgent(t, dir)
	var ids []string
	natives := map[string]string{}
	for i := range 3 {
		id := fmt.Sprintf("r%d", i)
		st, _, err := c.Create(ctx, 9, spec(id), nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		natives[id] = st.NativeID
	}
	allHealthy := func(c *nodes.Client) func() bool {
		return func() bool {
			list, err := c.List(ctx, 9)
			if err != nil || len(list) != len(ids) {
				return false
			}
			for _, i := range list {
				if i.Health.Status != health.StatusHealthy {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, "instances healthy", 30*time.Second, allHealthy(c))
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	cmd2, c2 := startChildAgent(t, dir)
	t.Cleanup(func() {
		deleteAll(t, c2, 9)
		_ = cmd2.Process.Signal(syscall.SIGTERM)
		_ = cmd2.Wait()
	})
	waitFor(t, "adopted instances healthy", 30*time.Second, allHealthy(c2))
	for _, id := range ids {
		st, created, err := c2.Create(ctx, 9, spec(id), nil)
		if err != nil {
			t.Fatal(err)
		}
		if created || st.NativeID != natives[id] {
			t.Fatalf("re-create of %s after agent restart: created=%v pid %s, want adopted pid %s", id, created, st.NativeID, natives[id])
		}
	}
	if list, _ := c2.List(ctx, 9); len(list) != len(ids) {
		t.Fatalf("%d instances after restart, want %d", len(list), len(ids))
	}
	if err := c2.Delete(ctx, 8, "r0"); !nodes.IsStaleTerm(err) {
		t.Fatalf("term 8 after restart: %v, want stale", err)
	}
}
