// Package driver defines the small interface every instance driver of a
// hypervisor agent implements (process, docker, libvirt) and the types that
// cross it. It does no I/O itself.
package driver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"time"
)

// Sentinel errors shared by all drivers; check them with errors.Is.
var (
	// ErrNotFound: no instance with that ID exists on this hypervisor.
	ErrNotFound = errors.New("instance not found")
	// ErrInvalidSpec: the instance spec is incomplete or malformed.
	ErrInvalidSpec = errors.New("invalid instance spec")
	// ErrDriverNotBuilt: the driver was not compiled into this binary
	// (libvirt needs the `libvirt` build tag and cgo).
	ErrDriverNotBuilt = errors.New("driver not built into this binary")
	// ErrUnknownDriver: no driver of that name exists.
	ErrUnknownDriver = errors.New("unknown driver")
)

// Driver creates, deletes, lists and measures instances on one hypervisor.
//
// Create is idempotent by InstanceSpec.ID: creating an ID that already exists
// returns the existing instance and never starts a second one. Delete is
// idempotent: deleting an unknown ID returns nil. List reports what really
// exists (found by labels, names or the driver's state file), so a restarted
// agent adopts the instances its predecessor created.
type Driver interface {
	// Name is the driver's name: "process", "docker" or "libvirt".
	Name() string
	Create(ctx context.Context, spec InstanceSpec) (Instance, error)
	Delete(ctx context.Context, id string) error
	List(ctx context.Context) ([]Instance, error)
	// Stats samples one instance's CPU and memory. CPU is expressed in
	// cores: 1.0 means one core fully busy over the sampling window (a
	// two-vCPU instance saturating both reports 2.0).
	Stats(ctx context.Context, id string) (Stats, error)
	// Close releases the driver's resources. It leaves instances running.
	Close() error
}

// State is the observed state of an instance.
type State string

// Instance states as observed by a driver.
const (
	StateRunning State = "running"
	StateExited  State = "exited" // exists (record, container, domain) but is not running
)

// InstanceSpec describes one instance to create.
type InstanceSpec struct {
	// ID is assigned by the leader and is the idempotency key.
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Group  string `json:"group"`
	// Network places the instance on the tenant's network. Optional: the
	// process driver in loopback mode ignores it.
	Network *Network `json:"network,omitempty"`
	// Port is the TCP port the application listens on inside the instance.
	// In loopback mode the driver picks a free 127.0.0.1 port instead.
	Port int `json:"port,omitempty"`
	// Exactly the template of the selected driver is used.
	Process *ProcessTemplate `json:"process,omitempty"`
	Docker  *DockerTemplate  `json:"docker,omitempty"`
	Libvirt *LibvirtTemplate `json:"libvirt,omitempty"`
}

// Network is the tenant network an instance is attached to.
type Network struct {
	// Name of the tenant network (docker network name suffix).
	Name string `json:"name,omitempty"`
	// Bridge is the Linux bridge on this hypervisor (process netns mode, libvirt).
	Bridge string `json:"bridge,omitempty"`
	// Subnet is the tenant's subnet, e.g. 198.18.1.0/24.
	Subnet netip.Prefix `json:"subnet"`
	// IP is the instance's address, allocated from the tenant range.
	IP netip.Addr `json:"ip"`
	// Gateway is the default route inside the instance (optional).
	Gateway netip.Addr `json:"gateway,omitempty"`
}

// ProcessTemplate is the process driver's template. Args and Env values may
// use $AAS_INSTANCE_ID, $AAS_LISTEN, $AAS_PORT and $AAS_IP, expanded by the
// driver (never by a shell).
type ProcessTemplate struct {
	Command string            `json:"command"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
}

// DockerTemplate is the docker driver's template.
type DockerTemplate struct {
	Image string            `json:"image"`
	Cmd   []string          `json:"cmd,omitempty"`
	Env   map[string]string `json:"env,omitempty"`
	// CPUs limits the container (0 = unlimited); MemoryBytes likewise.
	CPUs        float64 `json:"cpus,omitempty"`
	MemoryBytes int64   `json:"memory_bytes,omitempty"`
}

// LibvirtTemplate is the libvirt driver's template: a domain XML
// text/template filled with XML-escaped values (see package libvirt).
type LibvirtTemplate struct {
	DomainXML string `json:"domain_xml"`
	VCPUs     int    `json:"vcpus,omitempty"`
	MemoryMiB int    `json:"memory_mib,omitempty"`
}

// Instance is an instance as a driver observes it.
type Instance struct {
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Group  string `json:"group"`
	Driver string `json:"driver"`
	State  State  `json:"state"`
	// Addr is host:port where the application answers (management view).
	Addr string `json:"addr,omitempty"`
	// IP is the instance's address on the tenant network, if any.
	IP string `json:"ip,omitempty"`
	// NativeID is the driver's own handle: PID, container ID, domain UUID.
	NativeID  string    `json:"native_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Stats is one sample of an instance's resource use.
type Stats struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
	// CPU is the utilisation in cores over the window since the previous
	// sample (or since start for the first one): 0.5 = half of one core.
	CPU float64 `json:"cpu"`
	// CPUSeconds is the cumulative CPU time consumed by the instance.
	CPUSeconds float64 `json:"cpu_seconds"`
	// MemoryBytes is the resident memory.
	MemoryBytes uint64 `json:"memory_bytes"`
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// ValidID reports whether id is usable as an instance ID (it appears in
// container names, netns names, file names and labels).
func ValidID(id string) error {
	if !idRE.MatchString(id) {
		return fmt.Errorf("%w: field id: %q must match %s", ErrInvalidSpec, id, idRE)
	}
	return nil
}

// Validate checks the fields common to every driver.
func (s InstanceSpec) Validate() error {
	if err := ValidID(s.ID); err != nil {
		return err
	}
	if s.Port < 0 || s.Port > 65535 {
		return fmt.Errorf("%w: field port: %d out of range", ErrInvalidSpec, s.Port)
	}
	if n := s.Network; n != nil {
		if n.IP.IsValid() && n.Subnet.IsValid() && !n.Subnet.Contains(n.IP) {
			return fmt.Errorf("%w: field network.ip: %s not in subnet %s", ErrInvalidSpec, n.IP, n.Subnet)
		}
	}
	return nil
}

// Labels used to find instances again after an agent restart.
const (
	LabelTenant   = "aas.tenant"
	LabelGroup    = "aas.group"
	LabelInstance = "aas.instance"
	// EnvInstanceID is set in every instance's environment.
	EnvInstanceID = "AAS_INSTANCE_ID"
	// EnvListen is the host:port the instance should listen on.
	EnvListen = "AAS_LISTEN"
)
