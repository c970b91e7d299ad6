// Package tenant parses and validates tenant files (tenant.yml): the seed's
// flat format (t_name, nw_name, subnet, dhcp_start, …, policy) and the
// richer documented format (several networks and subnets, clouds with
// priorities and capacity limits, several scaling groups with instance
// templates, health checks, drain periods and the scaling engine's
// policies, settings). See FORMAT.md for every field.
//
// Validation is strict and positional: every error names the file, the line
// and the field ("tenant.yml:7: groups[0].scaling.min: 6 is above max 5").
// The package is pure apart from LoadFile (file.go), a thin wrapper that
// reads a size-limited file and calls Parse; it never touches cluster state.
// CheckConflicts compares a spec with the other tenants, ToFSM produces the
// fsm.ApplyTenant payload, Secrets and Redact handle passwords.
package tenant

import (
	"aas/nodes/driver"
	"aas/scaler"
)

// Format names the syntax a spec was read from.
type Format string

// Formats.
const (
	FormatFlat Format = "flat" // the seed's tenant.yml
	FormatRich Format = "rich" // the documented format (FORMAT.md)
)

// Spec is one tenant as a tenant file describes it.
type Spec struct {
	// Name is the tenant's name (the seed's t_name).
	Name string `yaml:"name" json:"name"`
	// PublicIP is the tenant's public address (VIP) on the master load
	// balancer; optional.
	PublicIP string    `yaml:"public_ip" json:"public_ip,omitempty"`
	Settings Settings  `yaml:"settings" json:"settings"`
	Networks []Network `yaml:"networks" json:"networks"`
	// Clouds are the tenant's clouds in order of preference: the default
	// placement of every group.
	Clouds []Cloud  `yaml:"clouds" json:"clouds,omitempty"`
	Groups []Group  `yaml:"groups" json:"groups"`
	Format Format   `yaml:"-" json:"format"`
	Source string   `yaml:"-" json:"source,omitempty"` // file name given to Parse
	lines  *lineMap // positions of the fields, for later errors
}

// Settings are the tenant's service preferences.
type Settings struct {
	// Logging keeps per-instance load samples (should_log); default true.
	Logging bool `yaml:"logging" json:"logging"`
	// EncryptPasswords stores template passwords and secrets only
	// encrypted (should_encrypt_pwd); default false.
	EncryptPasswords bool `yaml:"encrypt_passwords" json:"encrypt_passwords"`
	// Retention bounds the tenant's activity and metric history (0: the
	// cluster's caps only).
	Retention scaler.Duration `yaml:"retention" json:"retention,omitempty"`
}

// Network is a tenant network with one or more subnets.
type Network struct {
	Name    string   `yaml:"name" json:"name"`
	Subnets []Subnet `yaml:"subnets" json:"subnets"`
}

// Subnet is an IPv4 or IPv6 prefix; instances get addresses from
// [DHCPStart, DHCPEnd]. Defaults: gateway the first address, the range the
// rest of the subnet (without the broadcast address for IPv4).
type Subnet struct {
	CIDR      string `yaml:"cidr" json:"cidr"`
	Gateway   string `yaml:"gateway" json:"gateway,omitempty"`
	DHCPStart string `yaml:"dhcp_start" json:"dhcp_start"`
	DHCPEnd   string `yaml:"dhcp_end" json:"dhcp_end"`
}

// Cloud is one cloud the tenant may use. Lower Priority is preferred;
// MaxInstances caps the instances placed there (0: no cap).
type Cloud struct {
	Name         string `yaml:"name" json:"name"`
	Priority     int    `yaml:"priority" json:"priority"`
	MaxInstances int    `yaml:"max_instances" json:"max_instances,omitempty"`
}

// Group is one scaling group.
type Group struct {
	Name string `yaml:"name" json:"name"`
	// Network the instances join; may be empty when the tenant has one.
	Network string `yaml:"network" json:"network,omitempty"`
	// Clouds overrides the tenant's clouds for this group.
	Clouds   []Cloud         `yaml:"clouds" json:"clouds,omitempty"`
	Template Template        `yaml:"template" json:"template"`
	Drain    scaler.Duration `yaml:"drain" json:"drain"`
	Scaling  Scaling         `yaml:"scaling" json:"scaling"`
}

// Scaling is the scaling engine's group spec, optionally started from one
// of its named presets (scaler.Named): fields set in the file override the
// preset's.
type Scaling struct {
	Preset           string `yaml:"preset" json:"preset,omitempty"`
	scaler.GroupSpec `yaml:",inline" json:",inline"`
}

// Drivers.
const (
	DriverProcess = "process"
	DriverDocker  = "docker"
	DriverLibvirt = "libvirt"
)

// Template is how a group's instances are created: exactly the block of
// Driver is used. An empty template (no driver) means the cluster's default
// instance (the demo workload).
type Template struct {
	Driver  string                  `yaml:"driver" json:"driver,omitempty"`
	Port    int                     `yaml:"port" json:"port,omitempty"`
	Process *driver.ProcessTemplate `yaml:"process" json:"process,omitempty"`
	Docker  *driver.DockerTemplate  `yaml:"docker" json:"docker,omitempty"`
	Libvirt *driver.LibvirtTemplate `yaml:"libvirt" json:"libvirt,omitempty"`
	// Password is the instance's login password: a secret.
	Password string `yaml:"password" json:"password,omitempty"`
	// Secrets are further named secrets handed to the instance.
	Secrets []Secret `yaml:"secrets" json:"secrets,omitempty"`
	Health  *Health  `yaml:"health" json:"health,omitempty"`
}

// Secret is a named secret value (stored encrypted with
// settings.encrypt_passwords).
type Secret struct {
	Name  string `yaml:"name" json:"name"`
	Value string `yaml:"value" json:"value"`
}

// Health check types.
const (
	HealthTCP  = "tcp"
	HealthHTTP = "http"
)

// Health is an instance health check, run from the hypervisor side.
type Health struct {
	Type string `yaml:"type" json:"type"` // tcp (default) or http
	Path string `yaml:"path" json:"path,omitempty"`
	// Port defaults to the template's port.
	Port     int             `yaml:"port" json:"port,omitempty"`
	Interval scaler.Duration `yaml:"interval" json:"interval"`
	Timeout  scaler.Duration `yaml:"timeout" json:"timeout"`
	// Grace after start during which failures do not count.
	Grace scaler.Duration `yaml:"grace" json:"grace"`
	// UnhealthyThreshold consecutive failures mark the instance unhealthy.
	UnhealthyThreshold int `yaml:"unhealthy_threshold" json:"unhealthy_threshold"`
}

// Defaults.
const (
	DefaultGroupName          = "default"
	DefaultDrain              = 30 // seconds
	DefaultHealthInterval     = 10 // seconds
	DefaultHealthTimeout      = 2  // seconds
	DefaultHealthGrace        = 30 // seconds
	DefaultUnhealthyThreshold = 3
	// MaxFileSize bounds a tenant file.
	MaxFileSize = 1 << 20
	// MaxDepth bounds the nesting of YAML collections.
	MaxDepth = 24
	// MaxNodes bounds the number of YAML nodes in a file.
	MaxNodes = 200000
	// MaxNameLen bounds names (a DNS label).
	MaxNameLen = 63
)
