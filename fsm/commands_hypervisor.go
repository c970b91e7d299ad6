package fsm

import (
	"fmt"
	"time"
)

// Command type bytes. Values are part of the on-disk log format: never
// renumber, only append.
const (
	UpsertHypervisorType MessageType = 1
	SetLivenessType      MessageType = 2
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

func init() {
	register(UpsertHypervisorType, "upsert-hypervisor", applyUpsertHypervisor)
	register(SetLivenessType, "set-liveness", applySetLiveness)
}

func applyUpsertHypervisor(s *State, _ uint64, payload []byte) (any, error) {
	var c UpsertHypervisor
	if err := decode(payload, &c); err != nil {
		return nil, err
	}
	h := c.Hypervisor
	if h.ID == "" {
		return nil, fmt.Errorf("%w: hypervisor id is empty", ErrBadCommand)
	}
	if h.Liveness == "" {
		h.Liveness = LivenessAlive
	}
	if old, ok := s.Hypervisors[h.ID]; ok && old.Liveness == h.Liveness {
		h.Since = old.Since
	}
	s.Hypervisors[h.ID] = &h
	return nil, nil
}

func applySetLiveness(s *State, _ uint64, payload []byte) (any, error) {
	var c SetLiveness
	if err := decode(payload, &c); err != nil {
		return nil, err
	}
	switch c.Liveness {
	case LivenessAlive, LivenessSuspect, LivenessFailed, LivenessLeft:
	default:
		return nil, fmt.Errorf("%w: liveness %q", ErrBadCommand, c.Liveness)
	}
	h, ok := s.Hypervisors[c.ID]
	if !ok {
		return nil, fmt.Errorf("%w: hypervisor %q not registered", ErrBadCommand, c.ID)
	}
	if h.Liveness != c.Liveness {
		h.Liveness = c.Liveness
		h.Since = c.Time
	}
	return nil, nil
}
