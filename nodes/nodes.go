// Package nodes is the hypervisor agent: it serves the node API (create,
// delete, list and stats of instances) over HTTP(S) on the management
// network, runs instances through a driver (process, docker, libvirt),
// samples their CPU and memory, and checks their health.
//
// Controllers talk to it with Client. Every mutating call carries the
// instance ID (the idempotency key) and the caller's Raft term; a term lower
// than the highest one seen is refused with ErrStaleTerm (fencing a deposed
// leader).
package nodes

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"

	"aas/nodes/driver"
	"aas/nodes/driver/docker"
	"aas/nodes/driver/libvirt"
	"aas/nodes/driver/process"
)

// Re-exported driver types, so callers need import only this package.
type (
	Driver          = driver.Driver
	InstanceSpec    = driver.InstanceSpec
	Instance        = driver.Instance
	Network         = driver.Network
	ProcessTemplate = driver.ProcessTemplate
	DockerTemplate  = driver.DockerTemplate
	LibvirtTemplate = driver.LibvirtTemplate
	Stats           = driver.Stats
)

// Sentinel errors (see also ErrStaleTerm in api.go).
var (
	ErrNotFound       = driver.ErrNotFound
	ErrInvalidSpec    = driver.ErrInvalidSpec
	ErrDriverNotBuilt = driver.ErrDriverNotBuilt
	ErrUnknownDriver  = driver.ErrUnknownDriver
)

// Driver names.
const (
	DriverProcess = "process"
	DriverDocker  = "docker"
	DriverLibvirt = "libvirt"
)

// DriverConfig selects and configures a driver.
type DriverConfig struct {
	// Name is process (default), docker or libvirt.
	Name string
	// DataDir is the agent's data directory (process driver state).
	DataDir string
	// ProcessMode is loopback (default) or netns.
	ProcessMode string
	// HostNetNS is the namespace holding tenant bridges (process netns mode).
	HostNetNS string
	// DockerHost overrides the engine address.
	DockerHost string
	// LibvirtURI is the libvirt connection (default qemu:///system).
	LibvirtURI string
	Logger     hclog.Logger
}

// OpenDriver opens the named driver. A libvirt driver in a binary built
// without the libvirt tag returns ErrDriverNotBuilt.
func OpenDriver(ctx context.Context, cfg DriverConfig) (driver.Driver, error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	switch cfg.Name {
	case "", DriverProcess:
		return process.New(process.Config{DataDir: cfg.DataDir, Mode: process.Mode(cfg.ProcessMode), HostNetNS: cfg.HostNetNS, Logger: cfg.Logger})
	case DriverDocker:
		return docker.New(ctx, docker.Config{Host: cfg.DockerHost, Logger: cfg.Logger})
	case DriverLibvirt:
		return libvirt.New(libvirt.Config{URI: cfg.LibvirtURI, Logger: cfg.Logger})
	default:
		return nil, fmt.Errorf("%w: %q (want process, docker or libvirt)", driver.ErrUnknownDriver, cfg.Name)
	}
}

// Resources is the capacity of a hypervisor.
type Resources struct {
	CPUs        int    `json:"cpus"`
	MemoryBytes uint64 `json:"memory_bytes"`
}

// Capacity reports this host's CPUs and total memory (from /proc/meminfo),
// for the gossip metadata and capacity-aware placement.
func Capacity() (Resources, error) {
	r := Resources{CPUs: runtime.NumCPU()}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return r, fmt.Errorf("capacity: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return r, fmt.Errorf("capacity: /proc/meminfo MemTotal: %w", err)
			}
			r.MemoryBytes = kb * 1024
			return r, nil
		}
	}
	return r, errors.Join(errors.New("capacity: MemTotal missing in /proc/meminfo"), sc.Err())
}
