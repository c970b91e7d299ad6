//go:build !libvirt

package libvirt

import (
	"fmt"

	"aas/nodes/driver"
)

// Built reports whether the real driver is compiled in.
const Built = false

// New returns driver.ErrDriverNotBuilt: rebuild with -tags libvirt (cgo).
func New(cfg Config) (driver.Driver, error) {
	return nil, fmt.Errorf("libvirt: %w (rebuild with CGO_ENABLED=1 -tags libvirt)", driver.ErrDriverNotBuilt)
}
