package fsm

import "time"

// Liveness of a hypervisor as decided by the leader from gossip.
type Liveness string

const (
	LivenessAlive   Liveness = "alive"
	LivenessSuspect Liveness = "suspect"
	LivenessFailed  Liveness = "failed"
	LivenessLeft    Liveness = "left"
)

// Hypervisor is a host that runs instances, known through gossip.
type Hypervisor struct {
	ID         string            `json:"id"`
	Cloud      string            `json:"cloud"`
	Driver     string            `json:"driver"`
	APIAddr    string            `json:"api_addr"`
	GossipAddr string            `json:"gossip_addr"`
	Capacity   int               `json:"capacity"` // instances it can hold
	Meta       map[string]string `json:"meta,omitempty"`
	Liveness   Liveness          `json:"liveness"`
	Since      time.Time         `json:"since"` // when Liveness last changed (from the command)
}

// State is everything the cluster agrees on. Fields are exported for JSON
// snapshots; only command apply functions mutate it.
type State struct {
	// Index is the raft index of the last applied command.
	Index       uint64                 `json:"index"`
	Hypervisors map[string]*Hypervisor `json:"hypervisors"`
}

// NewState returns empty state with all maps allocated.
func NewState() *State {
	s := &State{}
	s.normalize()
	return s
}

// normalize allocates nil maps (after JSON decoding of an older snapshot).
func (s *State) normalize() {
	if s.Hypervisors == nil {
		s.Hypervisors = map[string]*Hypervisor{}
	}
}
