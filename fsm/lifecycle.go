package fsm

// InstanceState is a step of an instance's lifecycle:
//
//	pending ─► provisioning ─► running ◄─► draining ─► terminating ─► terminated
//	   │            │             │                        ▲
//	   │            └─────────────┴────────────────────────┘ (forced)
//	   ├─► terminating, terminated (cancelled before it started)
//	   └─ every live state ─► failed
//
// transitions holds the exact table.
type InstanceState string

// Instance lifecycle states.
const (
	StatePending      InstanceState = "pending"      // created in the FSM, nothing on a host yet
	StateProvisioning InstanceState = "provisioning" // the site asked a hypervisor to start it
	StateRunning      InstanceState = "running"      // started; receives traffic when healthy
	StateDraining     InstanceState = "draining"     // no new connections for the drain period
	StateTerminating  InstanceState = "terminating"  // the site is deleting it
	StateTerminated   InstanceState = "terminated"   // gone (terminal)
	StateFailed       InstanceState = "failed"       // lost or could not start (terminal)
)

// transitions lists the legal next states of each state. Terminal states
// have none. A transition to the current state is always accepted as a
// no-op, so reconcilers can retry reports.
var transitions = map[InstanceState][]InstanceState{
	StatePending:      {StateProvisioning, StateTerminating, StateTerminated, StateFailed},
	StateProvisioning: {StateRunning, StateTerminating, StateFailed},
	StateRunning:      {StateDraining, StateTerminating, StateFailed},
	StateDraining:     {StateRunning, StateTerminating, StateFailed},
	StateTerminating:  {StateTerminated, StateFailed},
	StateTerminated:   nil,
	StateFailed:       nil,
}

// Valid reports whether s is a known state.
func (s InstanceState) Valid() bool {
	_, ok := transitions[s]
	return ok
}

// Terminal reports whether s is terminated or failed (no resources held,
// except a failed instance's address, quarantined for IPQuarantine).
func (s InstanceState) Terminal() bool { return s == StateTerminated || s == StateFailed }

// Live reports whether s is a known, non-terminal state.
func (s InstanceState) Live() bool { return s.Valid() && !s.Terminal() }

// CanTransition reports whether an instance may move from one state to the
// other (true for from == to when from is valid).
func CanTransition(from, to InstanceState) bool {
	next, ok := transitions[from]
	if !ok || !to.Valid() {
		return false
	}
	if from == to {
		return true
	}
	for _, n := range next {
		if n == to {
			return true
		}
	}
	return false
}
