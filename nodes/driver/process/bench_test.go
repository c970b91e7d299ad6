package process_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"aas/nodes/driver"
	"aas/nodes/driver/conformance"
	"aas/nodes/driver/process"
	"aas/nodes/internal/testworkload"
)

func freeAddr(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// BenchmarkCreateToHealthy: median of 20 creates (create call until
// /healthz answers) through the process driver in loopback mode, against
// the baseline of starting the same binary directly.
func BenchmarkCreateToHealthy(b *testing.B) {
	const n = 20
	for range b.N {
		d, err := process.New(process.Config{DataDir: b.TempDir(), Logger: testLogger(b)})
		if err != nil {
			b.Fatal(err)
		}
		tmpl := testworkload.Template(0)
		base := conformance.BareProcessToHealthy(b, n, func(int) string { return freeAddr(b) }, func(int) *exec.Cmd {
			c := exec.Command(tmpl.Command, tmpl.Args...)
			c.Env = []string{"PATH=" + os.Getenv("PATH"), "AAS_TESTWORKLOAD=1"}
			return c
		})
		got := conformance.CreateToHealthy(b, d, n, func(i int) driver.InstanceSpec {
			return driver.InstanceSpec{ID: fmt.Sprintf("bench-%d", i), Tenant: "t", Group: "g", Process: tmpl}
		}, nil)
		mb, mg := conformance.Median(base), conformance.Median(got)
		b.ReportMetric(float64(mg)/float64(time.Millisecond), "ms-median-driver")
		b.ReportMetric(float64(mb)/float64(time.Millisecond), "ms-median-bare")
		b.ReportMetric(float64(mg)/float64(mb), "ratio")
	}
}
