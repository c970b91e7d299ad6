//go:build libvirt

package libvirt_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"aas/nodes/driver"
	"aas/nodes/driver/conformance"
	"aas/nodes/driver/libvirt"
)

// BenchmarkCreateToRunning: median of 20 define+start calls against
// test:///default (its domains run no code, so "healthy" is "running"),
// against the baseline of a List call on the same connection.
func BenchmarkCreateToRunning(b *testing.B) {
	const n = 20
	ctx := context.Background()
	for range b.N {
		d, err := libvirt.New(libvirt.Config{URI: "test:///default"})
		if err != nil {
			b.Fatal(err)
		}
		var create, list []time.Duration
		for i := range n {
			id := fmt.Sprintf("bench-%d", i)
			t0 := time.Now()
			inst, err := d.Create(ctx, driver.InstanceSpec{ID: id, Tenant: "t", Group: "g"})
			if err != nil || inst.State != driver.StateRunning {
				b.Fatalf("create: %v %+v", err, inst)
			}
			create = append(create, time.Since(t0))
			t0 = time.Now()
			if _, err := d.List(ctx); err != nil {
				b.Fatal(err)
			}
			list = append(list, time.Since(t0))
			if err := d.Delete(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
		mc, ml := conformance.Median(create), conformance.Median(list)
		b.ReportMetric(float64(mc)/float64(time.Microsecond), "µs-median-create")
		b.ReportMetric(float64(ml)/float64(time.Microsecond), "µs-median-list")
		b.ReportMetric(float64(mc)/float64(ml), "ratio")
		d.Close()
	}
}
