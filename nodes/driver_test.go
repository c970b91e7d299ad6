package nodes_test

import (
	"context"
	"errors"
	"testing"

	"aas/nodes"
	"aas/nodes/driver/libvirt"
)

func TestLibvirtWithoutTag(t *testing.T) {
	if libvirt.Built {
		t.Skip("built with -tags libvirt")
	}
	_, err := nodes.OpenDriver(context.Background(), nodes.DriverConfig{Name: nodes.DriverLibvirt})
	if !errors.Is(err, nodes.ErrDriverNotBuilt) {
		t.Fatalf("libvirt without the tag: %v, want ErrDriverNotBuilt", err)
	}
}

func TestCapacity(t *testing.T) {
	c, err := nodes.Capacity()
	if err != nil {
		t.Fatal(err)
	}
	if c.CPUs < 1 || c.MemoryBytes < 1<<20 {
		t.Fatalf("capacity %+v", c)
	}
}
