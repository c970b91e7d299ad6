package fsm

import (
	"time"
)

// NewInstance describes one instance to create. The leader assigns ID;
// the FSM allocates IP from the tenant network's ranges.
type NewInstance struct {
	ID         string `json:"id"`
	Tenant     string `json:"tenant"`
	Group      string `json:"group"`
	Cloud      string `json:"cloud"`
	Hypervisor string `json:"hypervisor,omitempty"`
	// Network defaults to the group's network.
	Network string `json:"network,omitempty"`
	Address string `json:"address,omitempty"`
}

// CreateInstances creates a batch of instances in state pending, all or
// nothing. Each gets the lowest free address of its network's ranges
// (free: not held by a live instance nor quarantined at Time after an
// instance failure, see IPQuarantine). A cloud's Capacity bounds its live
// instances (ErrCapacity). The result is the created instances
// ([]Instance, in batch order).
type CreateInstances struct {
	Time      time.Time     `json:"time"`
	Instances []NewInstance `json:"instances"`
}

// InstanceUpdate changes one instance. Empty fields are left alone. A State
// must be a legal lifecycle step (see CanTransition), else
// ErrInvalidTransition.
type InstanceUpdate struct {
	ID         string        `json:"id"`
	State      InstanceState `json:"state,omitempty"`
	Hypervisor string        `json:"hypervisor,omitempty"`
	Address    string        `json:"address,omitempty"`
	Health     Health        `json:"health,omitempty"`
	Reason     string        `json:"reason,omitempty"`
}

// UpdateInstances applies a batch of instance updates, all or nothing, in
// order (one instance may appear several times). An instance entering a
// terminal state frees its IP — a failed one only after IPQuarantine (see
// ipalloc.go); when it was the last live instance of a group being
// deleted, the group (and maybe its tenant) goes too.
type UpdateInstances struct {
	Time    time.Time        `json:"time"`
	Updates []InstanceUpdate `json:"updates"`
}

// SetInstanceProtected sets or clears an instance's scale-in protection.
type SetInstanceProtected struct {
	ID        string    `json:"id"`
	Protected bool      `json:"protected"`
	Time      time.Time `json:"time"`
}

// ReapInstances forgets terminated and failed instances last updated
// before Before, with their load samples — except failed instances whose
// address is still quarantined at Time (IPQuarantine; see
// Instance.Reapable). The result is how many went (int).
type ReapInstances struct {
	Before time.Time `json:"before"`
	Time   time.Time `json:"time"`
}

func init() {
	registerCommand("create-instances", applyCreateInstances)
	registerCommand("update-instances", applyUpdateInstances)
	registerCommand("set-instance-protected", applySetInstanceProtected)
	registerCommand("reap-instances", applyReapInstances)
}

func applyCreateInstances(s *State, _ uint64, c *CreateInstances) (any, error) {
	if err := checkTime(c.Time); err != nil {
		return nil, err
	}
	if len(c.Instances) == 0 {
		return nil, invalid("no instances")
	}
	// Validate the whole batch before changing anything.
	ids := make(map[string]bool, len(c.Instances))
	adding := map[string]int{} // cloud -> new live instances
	for i := range c.Instances {
		ni := &c.Instances[i]
		if err := checkName("instances["+itoa(i)+"].id", ni.ID); err != nil {
			return nil, err
		}
		if ids[ni.ID] || s.Instances[ni.ID] != nil {
			return nil, reject(ErrConflict, "instance id %q already exists", ni.ID)
		}
		ids[ni.ID] = true
		if err := checkHostPort("instances["+itoa(i)+"].address", ni.Address); err != nil {
			return nil, err
		}
		g, err := s.lookupGroup(ni.Tenant, ni.Group)
		if err != nil {
			return nil, fieldErr("instance "+ni.ID, err)
		}
		if ni.Network == "" {
			ni.Network = g.Network
		}
		if _, ok := s.idx.ranges[ni.Tenant][ni.Network]; !ok {
			return nil, reject(ErrNotFound, "instance %s: tenant %q has no network %q", ni.ID, ni.Tenant, ni.Network)
		}
		cl := s.Clouds[ni.Cloud]
		if cl == nil {
			return nil, reject(ErrNotFound, "instance %s: cloud %q", ni.ID, ni.Cloud)
		}
		if ni.Hypervisor != "" {
			h := s.Hypervisors[ni.Hypervisor]
			if h == nil {
				return nil, reject(ErrNotFound, "instance %s: hypervisor %q", ni.ID, ni.Hypervisor)
			}
			if h.Cloud != ni.Cloud {
				return nil, invalid("instance %s: hypervisor %q is in cloud %q, not %q", ni.ID, h.ID, h.Cloud, ni.Cloud)
			}
		}
		adding[ni.Cloud]++
		if cl.Capacity > 0 && s.idx.liveByCloud[ni.Cloud]+adding[ni.Cloud] > cl.Capacity {
			return nil, reject(ErrCapacity, "cloud %q holds at most %d live instances", ni.Cloud, cl.Capacity)
		}
	}
	// Allocate addresses; undo on failure so the command changes nothing.
	now := utc(c.Time)
	created := make([]*Instance, 0, len(c.Instances))
	for _, ni := range c.Instances {
		ip, err := s.allocateIP(ni.Tenant, ni.Network, ni.ID, now)
		if err != nil {
			for _, inst := range created {
				s.releaseIP(inst)
			}
			return nil, fieldErr("instance "+ni.ID, err)
		}
		created = append(created, &Instance{
			ID: ni.ID, Tenant: ni.Tenant, Group: ni.Group, Cloud: ni.Cloud,
			Hypervisor: ni.Hypervisor, Network: ni.Network, IP: ip.String(), Address: ni.Address,
			State: StatePending, Health: HealthUnknown, Created: now, Updated: now, Since: now,
		})
	}
	out := make([]Instance, len(created))
	for i, inst := range created {
		s.Instances[inst.ID] = inst
		s.indexInstance(inst)
		out[i] = *inst
	}
	return out, nil
}

func applyUpdateInstances(s *State, _ uint64, c *UpdateInstances) (any, error) {
	if err := checkTime(c.Time); err != nil {
		return nil, err
	}
	if len(c.Updates) == 0 {
		return nil, invalid("no updates")
	}
	// Validate in order against the states the batch will produce.
	states := map[string]InstanceState{}
	for i, u := range c.Updates {
		inst := s.Instances[u.ID]
		if inst == nil {
			return nil, reject(ErrNotFound, "updates[%d]: instance %q", i, u.ID)
		}
		if err := checkHostPort("updates["+itoa(i)+"].address", u.Address); err != nil {
			return nil, err
		}
		cur, ok := states[u.ID]
		if !ok {
			cur = inst.State
		}
		if u.State != "" {
			if !u.State.Valid() {
				return nil, invalid("updates[%d]: instance %s: unknown state %q", i, u.ID, u.State)
			}
			if !CanTransition(cur, u.State) {
				return nil, reject(ErrInvalidTransition, "instance %s: %s → %s", u.ID, cur, u.State)
			}
			states[u.ID] = u.State
		}
		switch u.Health {
		case "", HealthUnknown, HealthHealthy, HealthUnhealthy:
		default:
			return nil, invalid("updates[%d]: instance %s: health %q", i, u.ID, u.Health)
		}
		if u.Hypervisor != "" {
			h := s.Hypervisors[u.Hypervisor]
			if h == nil {
				return nil, reject(ErrNotFound, "updates[%d]: instance %s: hypervisor %q", i, u.ID, u.Hypervisor)
			}
			if h.Cloud != inst.Cloud {
				return nil, invalid("updates[%d]: instance %s: hypervisor %q is in cloud %q, not %q", i, u.ID, h.ID, h.Cloud, inst.Cloud)
			}
		}
	}
	now := utc(c.Time)
	var touched []string
	for _, u := range c.Updates {
		inst := s.mutableInstance(u.ID)
		if u.Hypervisor != "" {
			inst.Hypervisor = u.Hypervisor
		}
		if u.Address != "" {
			inst.Address = u.Address
		}
		if u.Health != "" {
			inst.Health = u.Health
		}
		if u.State != "" && u.State != inst.State {
			s.transition(inst, u.State, now, u.Reason)
			if u.State.Terminal() {
				touched = append(touched, GroupKey(inst.Tenant, inst.Group))
			}
		} else if u.Reason != "" {
			inst.Reason = u.Reason
		}
		inst.Updated = now
	}
	for _, k := range touched {
		s.gcGroup(k)
	}
	return nil, nil
}

// transition moves an instance to a new state (already validated) and
// keeps the index in step. Failures are recorded in the activity log. inst
// must come from mutableInstance.
func (s *State) transition(inst *Instance, to InstanceState, now time.Time, reason string) {
	from := inst.State
	if from == to {
		return
	}
	if to.Terminal() && !from.Terminal() {
		s.unindexLive(inst)
	}
	inst.State = to
	inst.Since = now
	inst.Updated = now
	inst.Reason = reason
	if to == StateFailed {
		// Its process may still run: the address stays out of allocation
		// for IPQuarantine (ipalloc.go).
		s.addQuarantine(inst)
		msg := "instance " + inst.ID + " failed (was " + string(from) + ")"
		if reason != "" {
			msg += ": " + reason
		}
		s.appendActivity(ActivityEntry{Time: now, Kind: "instance", Tenant: inst.Tenant, Group: inst.Group,
			Cloud: inst.Cloud, Reason: msg})
	}
}

func applySetInstanceProtected(s *State, _ uint64, c *SetInstanceProtected) (any, error) {
	if err := checkTime(c.Time); err != nil {
		return nil, err
	}
	if s.Instances[c.ID] == nil {
		return nil, reject(ErrNotFound, "instance %q", c.ID)
	}
	inst := s.mutableInstance(c.ID)
	inst.Protected = c.Protected
	inst.Updated = utc(c.Time)
	return nil, nil
}

func applyReapInstances(s *State, _ uint64, c *ReapInstances) (any, error) {
	if err := checkTime(c.Time); err != nil {
		return nil, err
	}
	if c.Before.IsZero() {
		return nil, invalid("before is missing")
	}
	n := 0
	for id, inst := range s.Instances {
		if inst.Reapable(c.Before, c.Time) {
			s.unindexInstance(inst)
			delete(s.Instances, id)
			delete(s.Samples, id)
			n++
		}
	}
	return n, nil
}
