package fsm

import (
	"time"
)

// UpsertHypervisor registers or updates a hypervisor's metadata.
type UpsertHypervisor struct {
	Hypervisor Hypervisor `json:"hypervisor"`
}

// SetLiveness records the leader's verdict on a hypervisor's liveness.
type SetLiveness struct {
	ID       string    `json:"id"`
	Liveness Liveness  `json:"liveness"`
	Time     time.Time `json:"time"`
}

// RemoveHypervisor forgets a hypervisor. It is rejected (ErrInUse) while
// live instances are placed on it.
type RemoveHypervisor struct {
	ID string `json:"id"`
}

func init() {
	registerCommand("upsert-hypervisor", applyUpsertHypervisor)
	registerCommand("set-liveness", applySetLiveness)
	registerCommand("remove-hypervisor", applyRemoveHypervisor)
}

func applyUpsertHypervisor(s *State, _ uint64, c *UpsertHypervisor) (any, error) {
	h := c.Hypervisor
	if h.ID == "" {
		return nil, invalid("hypervisor id is empty")
	}
	if h.Capacity < 0 {
		return nil, invalid("hypervisor %q: capacity %d is negative", h.ID, h.Capacity)
	}
	if h.Liveness == "" {
		h.Liveness = LivenessAlive
	}
	if !validLiveness(h.Liveness) {
		return nil, invalid("hypervisor %q: liveness %q", h.ID, h.Liveness)
	}
	h.Since = utc(h.Since)
	if old, ok := s.Hypervisors[h.ID]; ok && old.Liveness == h.Liveness {
		h.Since = old.Since
	}
	s.Hypervisors[h.ID] = h.clone()
	return nil, nil
}

func validLiveness(l Liveness) bool {
	switch l {
	case LivenessAlive, LivenessSuspect, LivenessFailed, LivenessLeft:
		return true
	}
	return false
}

func applySetLiveness(s *State, _ uint64, c *SetLiveness) (any, error) {
	if !validLiveness(c.Liveness) {
		return nil, invalid("liveness %q", c.Liveness)
	}
	h, ok := s.Hypervisors[c.ID]
	if !ok {
		return nil, reject(ErrNotFound, "hypervisor %q not registered", c.ID)
	}
	if h.Liveness != c.Liveness {
		h.Liveness = c.Liveness
		h.Since = utc(c.Time)
	}
	return nil, nil
}

func applyRemoveHypervisor(s *State, _ uint64, c *RemoveHypervisor) (any, error) {
	if _, ok := s.Hypervisors[c.ID]; !ok {
		return nil, reject(ErrNotFound, "hypervisor %q", c.ID)
	}
	if live := s.HypervisorInstances(c.ID); len(live) > 0 {
		return nil, reject(ErrInUse, "hypervisor %q runs %d live instances (%s, ...)", c.ID, len(live), live[0].ID)
	}
	delete(s.Hypervisors, c.ID)
	return nil, nil
}
