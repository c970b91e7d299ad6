// Package conformance is the test suite every instance driver must pass:
// idempotent create and delete, adoption after a restart, and CPU stats for
// a busy instance that agree with the OS's own accounting.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"aas/nodes/driver"
)

// Harness adapts a driver to the suite.
type Harness struct {
	// New opens the driver over the same backing store each time it is
	// called; calling it again models a restarted agent.
	New func(t *testing.T) driver.Driver
	// Spec returns a spec for a fresh instance whose application burns
	// cpuPerRequest of CPU per request to "/".
	Spec func(t *testing.T, id string, cpuPerRequest time.Duration) driver.InstanceSpec
	// Get performs an HTTP GET of path on the instance (nil: plain HTTP
	// to Instance.Addr). Only used when Busy is set.
	Get func(ctx context.Context, inst driver.Instance, path string) (int, error)
	// Busy enables the CPU tests (the instance really runs code).
	Busy bool
	// PID returns the host PID of the instance's main process so CPU can be
	// checked against /proc independently (nil: skip the accuracy check).
	PID func(t *testing.T, d driver.Driver, inst driver.Instance) int
	// Timeout bounds waiting for an instance to become reachable.
	Timeout time.Duration
}

// Run runs the suite as subtests of t.
func Run(t *testing.T, h Harness) {
	if h.Timeout == 0 {
		h.Timeout = 30 * time.Second
	}
	if h.Get == nil {
		h.Get = HTTPGet
	}
	t.Run("CreateIdempotent", func(t *testing.T) { testCreateIdempotent(t, h) })
	t.Run("DeleteIdempotent", func(t *testing.T) { testDeleteIdempotent(t, h) })
	t.Run("RestartAdopts", func(t *testing.T) { testRestartAdopts(t, h) })
	t.Run("InvalidSpec", func(t *testing.T) { testInvalidSpec(t, h) })
	if h.Busy {
		t.Run("StatsBusyCPU", func(t *testing.T) { testStatsBusy(t, h) })
	}
}

// HTTPGet GETs http://inst.Addr/path and returns the status code.
func HTTPGet(ctx context.Context, inst driver.Instance, path string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+inst.Addr+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// WaitHealthy polls GET /healthz until it answers 200 or timeout passes.
func WaitHealthy(ctx context.Context, get func(context.Context, driver.Instance, string) (int, error), inst driver.Instance, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for wait := 2 * time.Millisecond; time.Now().Before(deadline); wait = min(wait*2, 100*time.Millisecond) {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		code, err := get(cctx, inst, "/healthz")
		cancel()
		if err == nil && code == http.StatusOK {
			return nil
		}
		last = fmt.Errorf("status %d: %v", code, err)
		time.Sleep(wait) // polling with a deadline
	}
	return fmt.Errorf("instance %s not healthy after %s: %w", inst.ID, timeout, last)
}

func uniqueID(t *testing.T, suffix string) string {
	return fmt.Sprintf("ct-%d-%s", time.Now().UnixNano()%1e9, suffix)
}

func find(list []driver.Instance, id string) []driver.Instance {
	var out []driver.Instance
	for _, i := range list {
		if i.ID == id {
			out = append(out, i)
		}
	}
	return out
}

func cleanup(t *testing.T, d driver.Driver, id string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Delete(ctx, id); err != nil {
			t.Errorf("cleanup delete %s: %v", id, err)
		}
	})
}

func testCreateIdempotent(t *testing.T, h Harness) {
	ctx := context.Background()
	d := h.New(t)
	id := uniqueID(t, "idem")
	spec := h.Spec(t, id, 0)
	cleanup(t, d, id)
	const parallel = 4
	var wg sync.WaitGroup
	res := make([]driver.Instance, parallel)
	errs := make([]error, parallel)
	for i := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = d.Create(ctx, spec)
		}()
	}
	wg.Wait()
	for i := range parallel {
		if errs[i] != nil {
			t.Fatalf("create #%d: %v", i, errs[i])
		}
		if res[i].NativeID != res[0].NativeID || res[i].ID != id {
			t.Fatalf("create #%d returned %+v, #0 returned %+v: a second instance was made", i, res[i], res[0])
		}
	}
	again, err := d.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if again.NativeID != res[0].NativeID {
		t.Fatalf("sequential re-create gave native ID %q, want %q", again.NativeID, res[0].NativeID)
	}
	list, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := find(list, id); len(got) != 1 || got[0].State != driver.StateRunning {
		t.Fatalf("List has %d entries for %s (%+v), want 1 running", len(got), id, got)
	}
	if got := find(list, id)[0]; got.Tenant != spec.Tenant || got.Group != spec.Group {
		t.Fatalf("List entry tenant/group %q/%q, want %q/%q", got.Tenant, got.Group, spec.Tenant, spec.Group)
	}
}

func testDeleteIdempotent(t *testing.T, h Harness) {
	ctx := context.Background()
	d := h.New(t)
	id := uniqueID(t, "del")
	if _, err := d.Create(ctx, h.Spec(t, id, 0)); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := d.Delete(ctx, id); err != nil {
			t.Fatalf("delete #%d: %v", i, err)
		}
	}
	list, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := find(list, id); len(got) != 0 {
		t.Fatalf("after delete List still has %+v", got)
	}
	if _, err := d.Stats(ctx, id); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Stats of deleted instance: %v, want ErrNotFound", err)
	}
	if err := d.Delete(ctx, "never-existed-"+id); err != nil {
		t.Fatalf("delete of unknown ID: %v", err)
	}
}

func testRestartAdopts(t *testing.T, h Harness) {
	ctx := context.Background()
	d1 := h.New(t)
	id := uniqueID(t, "adopt")
	spec := h.Spec(t, id, 0)
	inst, err := d1.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}
	d2 := h.New(t)
	cleanup(t, d2, id)
	list, err := d2.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := find(list, id)
	if len(got) != 1 || got[0].NativeID != inst.NativeID || got[0].State != driver.StateRunning {
		t.Fatalf("restarted driver lists %+v, want the running %s (%s)", got, id, inst.NativeID)
	}
	again, err := d2.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if again.NativeID != inst.NativeID {
		t.Fatalf("create after restart made %q, want the adopted %q", again.NativeID, inst.NativeID)
	}
	if list, _ = d2.List(ctx); len(find(list, id)) != 1 {
		t.Fatalf("after re-create List has %d entries for %s", len(find(list, id)), id)
	}
}

func testInvalidSpec(t *testing.T, h Harness) {
	d := h.New(t)
	bad := h.Spec(t, "x", 0)
	for _, id := range []string{"", "has space", "../escape", strings.Repeat("a", 100)} {
		bad.ID = id
		if _, err := d.Create(context.Background(), bad); !errors.Is(err, driver.ErrInvalidSpec) {
			t.Errorf("Create(id=%q) = %v, want ErrInvalidSpec", id, err)
		}
	}
}

// procCPU reads utime+stime of pid in seconds, independently of drivers.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100, nil
}

func testStatsBusy(t *testing.T, h Harness) {
	ctx := context.Background()
	d := h.New(t)
	id := uniqueID(t, "busy")
	inst, err := d.Create(ctx, h.Spec(t, id, 20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	cleanup(t, d, id)
	if err := WaitHealthy(ctx, h.Get, inst, h.Timeout); err != nil {
		t.Fatal(err)
	}
	pid := 0
	if h.PID != nil {
		pid = h.PID(t, d, inst)
	}
	idle, err := d.Stats(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var p0 float64
	t0 := time.Now()
	if pid > 0 {
		if p0, err = procCPU(pid); err != nil {
			t.Fatal(err)
		}
	}
	// Two clients in a closed loop keep the instance busy for 2 s.
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lctx.Err() == nil {
				_, _ = h.Get(lctx, inst, "/")
			}
		}()
	}
	wg.Wait()
	cancel()
	busy, err := d.Stats(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("idle sample %.3f cores, busy sample %.3f cores, %d MiB RSS", idle.CPU, busy.CPU, busy.MemoryBytes>>20)
	if busy.CPU < 0.1 { // the CI machine is shared: a low bar, accuracy is checked below
		t.Fatalf("busy instance reports %.3f cores, want >= 0.1", busy.CPU)
	}
	if busy.CPUSeconds <= idle.CPUSeconds {
		t.Fatalf("cumulative CPU did not grow: %.3f -> %.3f", idle.CPUSeconds, busy.CPUSeconds)
	}
	if busy.MemoryBytes == 0 {
		t.Fatal("memory is 0")
	}
	if pid > 0 {
		p1, err := procCPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		os := (p1 - p0) / time.Since(t0).Seconds()
		t.Logf("CPU accuracy: driver %.3f cores, /proc/%d/stat %.3f cores", busy.CPU, pid, os)
		if diff := busy.CPU - os; diff > 0.10 || diff < -0.10 {
			t.Fatalf("driver reports %.3f cores, OS accounting %.3f: differ by more than 10 points", busy.CPU, os)
		}
	}
}
