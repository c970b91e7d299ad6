// Package libvirt is the libvirt instance driver: domains defined from an
// XML template through libvirt.org/go/libvirt. The real implementation needs
// cgo and the `libvirt` build tag; without it New returns
// driver.ErrDriverNotBuilt.
package libvirt

import (
	"github.com/hashicorp/go-hclog"
)

// DefaultURI is the connection used when Config.URI is empty.
const DefaultURI = "qemu:///system"

// Config configures the libvirt driver.
type Config struct {
	// URI is the libvirt connection URI, e.g. qemu:///system or
	// test:///default.
	URI    string
	Logger hclog.Logger
}
