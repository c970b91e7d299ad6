// Package lbsync turns committed FSM state into load-balancer configuration
// on a controller: a userspace TCP proxy per group in dev mode (ProxySync),
// the cloud's iptables DNAT load balancer (IPTablesSync) and, on the leader
// only, the master load balancer that holds each tenant's public IP and
// spreads its traffic over the clouds (MasterLB). See DESIGN.md beside this
// file.
package lbsync

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"sort"
	"time"

	"aas/fsm"
)

// Sentinel errors.
var (
	// ErrConfig: a configuration is incomplete or malformed.
	ErrConfig = errors.New("lbsync: invalid config")
	// ErrUnknownCloud: the controller's cloud is not in the FSM yet.
	ErrUnknownCloud = errors.New("lbsync: unknown cloud")
)

// Source is what the synchronisers read: the replicated state.
// *cluster.Server implements it.
type Source interface {
	FSM() *fsm.FSM
}

// Leader is what the master LB needs besides the state: a quorum check
// before it takes the public IPs. *cluster.Server implements it.
type Leader interface {
	Source
	VerifyLeader() error
}

// Defaults.
const (
	DefaultResync      = 2 * time.Second
	DefaultPortSpan    = 1000
	DefaultServicePort = 80
	// DefaultDrainTimeout bounds how long a deleted group's proxy waits for
	// established connections when the group had no drain period.
	DefaultDrainTimeout = 30 * time.Second
)

// backend is one instance as a load balancer target.
type backend struct {
	ID       string
	Cloud    string
	Addr     string // host:port
	Draining bool
	// Unproven: running and active although its health is not known yet,
	// because its cloud has no healthy instance of the group (lbBackends).
	Unproven bool
}

// groupView is what the load balancers need of one group, read from the FSM
// in one pass.
type groupView struct {
	Tenant, Name string
	Key          string // tenant/group
	Created      time.Time
	Port         int // the application's port (template.port; 0 if unset)
	PublicIP     string
	DrainPeriod  time.Duration
	Backends     []backend // sorted by ID
}

// readGroups reads every group with its load-balanced instances
// (lbBackends).
func readGroups(f *fsm.FSM) []groupView {
	var out []groupView
	f.Read(func(s *fsm.State) {
		for _, g := range s.AllGroups() {
			v := groupView{Tenant: g.Tenant, Name: g.Name, Key: g.Key(), Created: g.Created,
				Port: templatePort(g.Template), DrainPeriod: g.DrainPeriod}
			if t, ok := s.Tenant(g.Tenant); ok {
				v.PublicIP = t.PublicIP
			}
			v.Backends = lbBackends(s.LiveGroupInstances(g.Tenant, g.Name))
			out = append(out, v)
		}
	})
	return out
}

// lbBackends picks a group's load-balancer targets from its live
// instances, sorted by ID:
//
//   - running with an address: active when healthy; draining when
//     unhealthy; and when its health is not known yet (its first check has
//     not passed: it may not listen yet) it is no target while its cloud
//     has a healthy running instance of the group, and active otherwise
//     (a cloud whose instances all just started, or a group without health
//     checks, keeps serving them: never a black hole);
//   - draining with an address: draining;
//   - any other state, or no address: no target.
//
// The gating is per cloud because each cloud's LB balances only its own
// instances, and the master LB weighs a cloud by exactly the active
// targets listed here (masterServices), so both agree. Such instances are
// marked Unproven: the master sends a cloud that has only unproven ones
// nothing while another cloud has a healthy one (provenClouds).
func lbBackends(live []fsm.Instance) []backend {
	proven := map[string]bool{} // cloud → has a healthy running instance
	for _, in := range live {
		if in.State == fsm.StateRunning && in.Address != "" && in.Health == fsm.HealthHealthy {
			proven[in.Cloud] = true
		}
	}
	var out []backend
	for _, in := range live {
		if in.Address == "" {
			continue
		}
		switch in.State {
		case fsm.StateRunning:
			unproven := false
			switch in.Health {
			case fsm.HealthHealthy:
			case fsm.HealthUnhealthy:
			default: // unknown (or never reported)
				if proven[in.Cloud] {
					continue
				}
				unproven = true
			}
			out = append(out, backend{ID: in.ID, Cloud: in.Cloud, Addr: in.Address,
				Draining: in.Health == fsm.HealthUnhealthy, Unproven: unproven})
		case fsm.StateDraining:
			out = append(out, backend{ID: in.ID, Cloud: in.Cloud, Addr: in.Address, Draining: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// templatePort reads the "port" field of a group's opaque template (the
// cluster/tenant Template schema); 0 when absent or unreadable.
func templatePort(raw json.RawMessage) int {
	if len(raw) == 0 {
		return 0
	}
	var t struct {
		Port int `json:"port"`
	}
	if err := json.Unmarshal(raw, &t); err != nil || t.Port < 0 || t.Port > 65535 {
		return 0
	}
	return t.Port
}

// AssignPorts gives every group key a port in [base, base+span): its home
// slot base + fnv32a(key) mod span, or the next free slot (linear probing)
// when an older group holds it. Groups are placed oldest first (created,
// then key), so a new group never moves an existing one; a group moves only
// if it had collided with a group that is deleted later. Every controller
// computes the same assignment from the same FSM state, which is how the
// master LB knows each cloud LB's port without any extra replicated field.
// Groups beyond span are left out.
func AssignPorts(groups []PortRequest, base, span int) map[string]int {
	if span <= 0 {
		span = DefaultPortSpan
	}
	gs := append([]PortRequest(nil), groups...)
	sort.Slice(gs, func(i, j int) bool {
		if !gs[i].Created.Equal(gs[j].Created) {
			return gs[i].Created.Before(gs[j].Created)
		}
		return gs[i].Key < gs[j].Key
	})
	used := make(map[int]bool, len(gs))
	out := make(map[string]int, len(gs))
	for _, g := range gs {
		if len(used) >= span {
			break
		}
		h := fnv.New32a()
		_, _ = h.Write([]byte(g.Key))
		slot := int(h.Sum32() % uint32(span))
		for used[slot] {
			slot = (slot + 1) % span
		}
		used[slot] = true
		out[g.Key] = base + slot
	}
	return out
}

// PortRequest is one group asking AssignPorts for a port.
type PortRequest struct {
	Key     string // tenant/group
	Created time.Time
}

func portRequests(gs []groupView) []PortRequest {
	out := make([]PortRequest, len(gs))
	for i, g := range gs {
		out[i] = PortRequest{Key: g.Key, Created: g.Created}
	}
	return out
}

// waker coalesces FSM apply notifications into a 1-slot channel.
type waker chan struct{}

func newWaker(f *fsm.FSM) waker {
	w := make(waker, 1)
	f.Observe(func(fsm.MessageType, uint64) { w.poke() })
	return w
}

func (w waker) poke() {
	select {
	case w <- struct{}{}:
	default:
	}
}

// loop calls pass at once, after every wake-up and every resync period,
// until ctx ends.
func loop(ctx context.Context, w waker, resync time.Duration, pass func()) {
	t := time.NewTicker(resync)
	defer t.Stop()
	for {
		pass()
		select {
		case <-ctx.Done():
			return
		case <-w:
		case <-t.C:
		}
	}
}
