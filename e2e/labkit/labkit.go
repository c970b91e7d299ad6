// Package labkit builds a multi-cloud lab on one Linux machine out of
// network namespaces: a WAN bridge, N clouds (a controller namespace that
// routes for its cloud and a hypervisor namespace on the cloud's LAN), and
// a client namespace on the WAN. It runs real `ctl agent -server` and
// `ctl agent -hypervisor` processes inside them, waits until they form one
// cluster, and applies a demo tenant. Everything it creates carries a unique
// prefix and is recorded in a State, so Down (from the same process or, via
// the state file, from another one) removes exactly what Up made.
//
// Only 198.18.0.0/15 addresses are used and there is no route out of the
// lab: no link in the host's namespace, no default route, no NAT.
// See DESIGN.md.
package labkit

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/internal/atomicfile"
)

// Sentinel errors; match with errors.Is.
var (
	// ErrInvalid: an option or a state file is malformed.
	ErrInvalid = errors.New("labkit: invalid argument")
	// ErrNotReady: the cluster did not converge before the deadline.
	ErrNotReady = errors.New("labkit: lab not ready")
	// ErrTenantAPIMissing: the agents do not serve POST /v1/tenants.
	ErrTenantAPIMissing = errors.New("labkit: the agents have no tenant API")
)

// Options configure Up. The zero value is a 3-cloud lab.
type Options struct {
	// Clouds is the number of clouds (1..MaxClouds); 0 means 3.
	Clouds int
	// CtlPath is the ctl binary; empty builds aas/cmd/ctl into WorkDir
	// (the caller must run inside the module, as tests and `go run` do).
	CtlPath string
	// WorkDir holds data dirs, logs and the state file; empty creates a
	// temporary directory that Down removes.
	WorkDir string
	// Prefix names everything the lab creates; empty picks
	// "aaslab-" + 6 random hex digits.
	Prefix string
	// RaftProfile is passed as -raft-profile (default "tuned": 300 ms
	// timeouts, right for the veth LAN of a loaded machine).
	RaftProfile string
	// TenantFile is the demo tenant; empty means
	// examples/multicloud-tenant.yml found above the working directory.
	// The file's clouds are replaced by the lab's clouds.
	TenantFile string
	// SkipTenant leaves the demo tenant out.
	SkipTenant bool
	// InstanceNetworks plumbs the tenant's subnets for instances with
	// their own addresses: a bridge per subnet in every hypervisor
	// namespace (holding the gateway), forwarding there, and a route to
	// the subnets from each controller to its hypervisor. Hypervisor agents
	// then run the process driver with `-process-mode netns` when the ctl
	// binary has that flag (State.ProcessMode says whether it did).
	InstanceNetworks bool
	// ReadyTimeout bounds the wait for an agreed leader and live
	// hypervisors (default 90 s).
	ReadyTimeout time.Duration
	// StateFile, if set, is where Up writes the lab's State (JSON).
	StateFile string
	// ControllerArgs are appended to every controller's `ctl agent
	// -server` arguments (e.g. "-stats-interval", "2s"); they are recorded
	// in State, so RestartController keeps them.
	ControllerArgs []string
	// Logger receives progress; nil discards it.
	Logger hclog.Logger
}

// ControllerInfo describes one controller (`ctl agent -server`).
type ControllerInfo struct {
	Cloud      string   `json:"cloud"`
	ID         string   `json:"id"`
	NS         string   `json:"ns"`
	HTTPAddr   string   `json:"http_addr"`
	RaftAddr   string   `json:"raft_addr"`
	GossipAddr string   `json:"gossip_addr"`
	DataDir    string   `json:"data_dir"`
	LogFile    string   `json:"log_file"`
	PID        int      `json:"pid"`
	Args       []string `json:"args"`
}

// HypervisorInfo describes one hypervisor agent.
type HypervisorInfo struct {
	Cloud      string   `json:"cloud"`
	ID         string   `json:"id"`
	NS         string   `json:"ns"`
	APIAddr    string   `json:"api_addr"`
	GossipAddr string   `json:"gossip_addr"`
	DataDir    string   `json:"data_dir"`
	LogFile    string   `json:"log_file"`
	PID        int      `json:"pid"`
	Args       []string `json:"args"`
}

// State is everything a lab made; it is what `lab up` prints and writes to
// its state file, and all `lab down` needs.
type State struct {
	Prefix  string `json:"prefix"`
	WorkDir string `json:"work_dir"`
	// OwnWorkDir: Down removes WorkDir (Up created it).
	OwnWorkDir bool   `json:"own_work_dir"`
	CtlPath    string `json:"ctl_path"`
	// Namespaces by role: wan, controller, hypervisor, client.
	Namespaces  map[string][]string `json:"namespaces"`
	VIP         string              `json:"vip"`
	Controllers []ControllerInfo    `json:"controllers"`
	Hypervisors []HypervisorInfo    `json:"hypervisors"`
	ClientNS    string              `json:"client_ns"`
	StateFile   string              `json:"state_file,omitempty"`
	// Leader is the controller ID all agreed on when Up returned.
	Leader string `json:"leader,omitempty"`
	// Tenant is the demo tenant's name once applied; TenantNote says why
	// it was not when it was not.
	Tenant     string `json:"tenant,omitempty"`
	TenantNote string `json:"tenant_note,omitempty"`
	// InstanceSubnets are the tenant subnets plumbed on the hypervisors
	// (Options.InstanceNetworks); ProcessMode is the -process-mode the
	// hypervisor agents run with (empty: the agent's default).
	InstanceSubnets []InstanceSubnet `json:"instance_subnets,omitempty"`
	ProcessMode     string           `json:"process_mode,omitempty"`
}

// Namespace roles in State.Namespaces.
const (
	RoleWAN        = "wan"
	RoleController = "controller"
	RoleHypervisor = "hypervisor"
	RoleClient     = "client"
)

// AllNamespaces lists every namespace of the state.
func (s *State) AllNamespaces() []string {
	var out []string
	for _, role := range []string{RoleWAN, RoleController, RoleHypervisor, RoleClient} {
		out = append(out, s.Namespaces[role]...)
	}
	return out
}

// ReadState loads a state file written by Up.
func ReadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("labkit: read state: %w", err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: state file %s: %v", ErrInvalid, path, err)
	}
	if err := validPrefix(s.Prefix); err != nil {
		return nil, fmt.Errorf("state file %s: field prefix: %w", path, err)
	}
	return &s, nil
}

// WriteState writes s as indented JSON to path (atomically: temp + rename).
func WriteState(path string, s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("labkit: %w", err)
	}
	return nil
}

// NewPrefix returns "aaslab-" and 6 random hex digits.
func NewPrefix() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "aaslab-" + hex.EncodeToString(b[:])
}

// PrefixBase is how every lab prefix starts; namespaces named so are lab
// namespaces.
const PrefixBase = "aaslab-"

func validPrefix(p string) error {
	if !strings.HasPrefix(p, PrefixBase) || len(p) > 32 {
		return fmt.Errorf("%w: prefix %q must start with %q and be at most 32 bytes", ErrInvalid, p, PrefixBase)
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("%w: prefix %q has character %q (allowed: a-z 0-9 -)", ErrInvalid, p, r)
		}
	}
	return nil
}

func (o *Options) defaults() error {
	if o.Clouds == 0 {
		o.Clouds = 3
	}
	if o.Clouds < 1 || o.Clouds > MaxClouds {
		return fmt.Errorf("%w: field Clouds %d out of 1..%d", ErrInvalid, o.Clouds, MaxClouds)
	}
	if o.Prefix == "" {
		o.Prefix = NewPrefix()
	}
	if err := validPrefix(o.Prefix); err != nil {
		return fmt.Errorf("field Prefix: %w", err)
	}
	if o.RaftProfile == "" {
		o.RaftProfile = "tuned"
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 90 * time.Second
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	return nil
}

// findUp looks for rel in the working directory and its parents.
func findUp(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("labkit: %s not found above the working directory: %w", rel, os.ErrNotExist)
		}
		dir = parent
	}
}
