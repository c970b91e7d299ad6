package conformance

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"syscall"
	"testing"
	"time"

	"aas/nodes/driver"
)

// CreateToHealthy creates n instances one after another and returns, for
// each, the time from the Create call until GET /healthz answers 200. The
// instances are deleted afterwards.
func CreateToHealthy(tb testing.TB, d driver.Driver, n int, spec func(i int) driver.InstanceSpec, get func(context.Context, driver.Instance, string) (int, error)) []time.Duration {
	tb.Helper()
	if get == nil {
		get = HTTPGet
	}
	ctx := context.Background()
	out := make([]time.Duration, 0, n)
	for i := range n {
		s := spec(i)
		start := time.Now()
		inst, err := d.Create(ctx, s)
		if err != nil {
			tb.Fatal(err)
		}
		if err := waitHealthyFast(ctx, get, inst, time.Minute); err != nil {
			tb.Fatal(err)
		}
		out = append(out, time.Since(start))
		if err := d.Delete(ctx, s.ID); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// waitHealthyFast polls every millisecond: the measured figure is the
// latency, so the poll period must stay well below it.
func waitHealthyFast(ctx context.Context, get func(context.Context, driver.Instance, string) (int, error), inst driver.Instance, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		code, err := get(cctx, inst, "/healthz")
		cancel()
		if err == nil && code == 200 {
			return nil
		}
		time.Sleep(time.Millisecond) // polling with a deadline
	}
	return fmt.Errorf("instance %s not healthy after %s", inst.ID, timeout)
}

// BareProcessToHealthy is the baseline: start cmd directly (no driver, no
// agent) with AAS_LISTEN=addr and time until /healthz answers, n times.
func BareProcessToHealthy(tb testing.TB, n int, addr func(i int) string, cmd func(i int) *exec.Cmd) []time.Duration {
	tb.Helper()
	out := make([]time.Duration, 0, n)
	for i := range n {
		a := addr(i)
		c := cmd(i)
		c.Env = append(c.Env, driver.EnvListen+"="+a)
		start := time.Now()
		if err := c.Start(); err != nil {
			tb.Fatal(err)
		}
		if err := waitHealthyFast(context.Background(), HTTPGet, driver.Instance{ID: "baseline", Addr: a}, time.Minute); err != nil {
			tb.Fatal(err)
		}
		out = append(out, time.Since(start))
		_ = c.Process.Signal(syscall.SIGTERM)
		_ = c.Wait()
	}
	return out
}

// Median of ds.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
