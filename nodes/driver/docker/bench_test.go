package docker_test

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"testing"
	"time"

	"aas/nodes/driver"
	"aas/nodes/driver/conformance"
)

// BenchmarkCreateToHealthy: median of 20 container creates (create call
// until /healthz answers over the tenant bridge) against the baseline of
// starting the same static ctl binary as a plain process.
func BenchmarkCreateToHealthy(b *testing.B) {
	const n = 20
	for range b.N {
		d := newDriver(b)
		dir := b.TempDir()
		bin, err := buildStaticCtl("go", repoRoot(b), dir)
		if err != nil {
			b.Fatal(err)
		}
		base := conformance.BareProcessToHealthy(b, n, func(int) string {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			return ln.Addr().String()
		}, func(int) *exec.Cmd { return exec.Command(bin, "workload") })
		got := conformance.CreateToHealthy(b, d, n, func(i int) driver.InstanceSpec {
			return spec(fmt.Sprintf("bench-%d", i), 0, 100+i)
		}, nil)
		mb, mg := conformance.Median(base), conformance.Median(got)
		b.ReportMetric(float64(mg)/float64(time.Millisecond), "ms-median-driver")
		b.ReportMetric(float64(mb)/float64(time.Millisecond), "ms-median-bare")
		b.ReportMetric(float64(mg)/float64(mb), "ratio")
		_ = d.RemoveNetwork(context.Background(), "acme", "net1")
		d.Close()
	}
}
