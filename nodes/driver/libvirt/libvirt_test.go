//go:build libvirt

package libvirt_test

import (
	"context"
	"testing"
	"time"

	lv "libvirt.org/go/libvirt"

	"aas/nodes/driver"
	"aas/nodes/driver/conformance"
	"aas/nodes/driver/libvirt"
)

// The test:///default driver keeps state per connection: one connection
// stands for the hypervisor, and each New is an agent (re)started on it.
func TestConformanceTestDriver(t *testing.T) {
	conn, err := lv.NewConnect("test:///default")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) driver.Driver {
			return libvirt.NewWithConn(libvirt.Config{URI: "test:///default"}, conn)
		},
		Spec: func(t *testing.T, id string, _ time.Duration) driver.InstanceSpec {
			return driver.InstanceSpec{ID: id, Tenant: "acme", Group: "web", Libvirt: &driver.LibvirtTemplate{MemoryMiB: 128}}
		},
		Busy: false, // test:///default domains run no code
	})
}

func TestStatsAndForeignDomains(t *testing.T) {
	d, err := libvirt.New(libvirt.Config{URI: "test:///default"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	// test:///default ships a domain named "test" that is not ours.
	list, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Fatalf("List reports foreign domains: %+v", list)
	}
	if _, err := d.Create(ctx, driver.InstanceSpec{ID: "s1", Tenant: "t", Group: "g"}); err != nil {
		t.Fatal(err)
	}
	s, err := d.Stats(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if s.MemoryBytes != 256<<20 {
		t.Fatalf("memory %d, want the template's 256 MiB", s.MemoryBytes)
	}
	if err := d.Delete(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stats(ctx, "s1"); err == nil {
		t.Fatal("stats of a deleted domain")
	}
}
