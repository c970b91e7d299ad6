package fsm

import (
	"math"
	"time"
)

// Direction of a scaling change.
type Direction string

// Directions.
const (
	DirectionNone Direction = "none"
	DirectionOut  Direction = "out"
	DirectionIn   Direction = "in"
)

// Sources of a SetDesired.
const (
	SourceManual = "manual" // an operator (ctl group scale, API)
	SourceScaler = "scaler" // the leader's scaler
)

// MaxSlotKeyLen bounds a schedule slot key.
const MaxSlotKeyLen = 256

// SetDesired sets a group's desired count: an operator's manual scale or
// the scaler's decision. The count is clamped to [min, max]; a change
// stamps the cooldown time of its direction; the decision is kept as the
// group's LastDecision and appended to the activity log; FiredSlots are
// added to the group's fired schedule slots. A scaler decision for a
// suspended group fails with ErrSuspended; manual ones are accepted. The
// result is the clamped desired count (int).
type SetDesired struct {
	Tenant  string    `json:"tenant"`
	Group   string    `json:"group"`
	Desired int       `json:"desired"`
	Time    time.Time `json:"time"`
	Source  string    `json:"source"` // SourceManual (default) or SourceScaler
	// Direction is what the decider intended; informational (the stamped
	// direction follows the actual change).
	Direction  Direction          `json:"direction,omitempty"`
	Policy     string             `json:"policy,omitempty"`
	Reason     string             `json:"reason,omitempty"`
	Inputs     map[string]float64 `json:"inputs,omitempty"`
	Placement  map[string]int     `json:"placement,omitempty"`
	FiredSlots []string           `json:"fired_slots,omitempty"`
}

// SetGroupSuspended suspends or resumes a group's automatic scaling.
type SetGroupSuspended struct {
	Tenant    string    `json:"tenant"`
	Group     string    `json:"group"`
	Suspended bool      `json:"suspended"`
	Reason    string    `json:"reason,omitempty"`
	Time      time.Time `json:"time"`
}

func init() {
	registerCommand("set-desired", applySetDesired)
	registerCommand("set-group-suspended", applySetGroupSuspended)
}

// lookupGroup finds a group that is not being deleted.
func (s *State) lookupGroup(tenant, group string) (*Group, error) {
	g := s.Groups[GroupKey(tenant, group)]
	if g == nil {
		return nil, reject(ErrNotFound, "group %s/%s", tenant, group)
	}
	if g.Deleting {
		return nil, reject(ErrDeleting, "group %s/%s", tenant, group)
	}
	return g, nil
}

func applySetDesired(s *State, _ uint64, c *SetDesired) (any, error) {
	if err := checkTime(c.Time); err != nil {
		return nil, err
	}
	g, err := s.lookupGroup(c.Tenant, c.Group)
	if err != nil {
		return nil, err
	}
	switch c.Source {
	case "":
		c.Source = SourceManual
	case SourceManual, SourceScaler:
	default:
		return nil, invalid("source %q: want %q or %q", c.Source, SourceManual, SourceScaler)
	}
	switch c.Direction {
	case "", DirectionNone, DirectionOut, DirectionIn:
	default:
		return nil, invalid("direction %q: want out, in or none", c.Direction)
	}
	if c.Desired < 0 {
		return nil, invalid("desired %d is negative", c.Desired)
	}
	if c.Source == SourceScaler && g.Suspended {
		return nil, reject(ErrSuspended, "group %s/%s", c.Tenant, c.Group)
	}
	for k, v := range c.Inputs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, invalid("inputs[%q] is not a finite number", k)
		}
	}
	for cl, n := range c.Placement {
		if !ValidName(cl) || n < 0 {
			return nil, invalid("placement[%q] = %d: want a cloud name and a count >= 0", cl, n)
		}
	}
	for i, slot := range c.FiredSlots {
		if slot == "" || len(slot) > MaxSlotKeyLen {
			return nil, invalid("fired_slots[%d]: want 1-%d characters", i, MaxSlotKeyLen)
		}
	}

	now := utc(c.Time)
	from := g.Desired
	to := clamp(c.Desired, g.Min, g.Max)
	dir := DirectionNone
	switch {
	case to > from:
		dir = DirectionOut
		g.Cooldown.LastScaleOut = now
	case to < from:
		dir = DirectionIn
		g.Cooldown.LastScaleIn = now
	}
	g.Desired = to
	g.Updated = now
	intended := c.Direction
	if intended == "" {
		intended = dir
	}
	d := &Decision{Time: now, Source: c.Source, Direction: intended, From: from, To: to,
		Requested: c.Desired, Policy: c.Policy, Reason: c.Reason}
	d.Inputs = cloneInputs(c.Inputs)
	if len(c.Placement) > 0 {
		d.Placement = c.Placement
	}
	g.Cooldown.LastDecision = d
	for _, slot := range c.FiredSlots {
		if !g.HasFired(slot) {
			g.FiredSlots = pushBounded(g.FiredSlots, slot, s.Settings.FiredSlotCap)
		}
	}
	reason := c.Reason
	if to != c.Desired {
		if reason != "" {
			reason += "; "
		}
		reason += "requested " + itoa(c.Desired) + ", clamped to [" + itoa(g.Min) + "," + itoa(g.Max) + "]"
	}
	s.appendActivity(ActivityEntry{Time: now, Kind: "scale", Tenant: c.Tenant, Group: c.Group,
		From: from, To: to, Policy: policyOrSource(c.Policy, c.Source), Inputs: cloneInputs(c.Inputs), Reason: reason})
	return to, nil
}

func policyOrSource(policy, source string) string {
	if policy != "" {
		return policy
	}
	return source
}

func cloneInputs(m map[string]float64) map[string]float64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func applySetGroupSuspended(s *State, _ uint64, c *SetGroupSuspended) (any, error) {
	if err := checkTime(c.Time); err != nil {
		return nil, err
	}
	g, err := s.lookupGroup(c.Tenant, c.Group)
	if err != nil {
		return nil, err
	}
	if g.Suspended == c.Suspended {
		return nil, nil
	}
	now := utc(c.Time)
	g.Suspended = c.Suspended
	g.Updated = now
	what := "scaling resumed"
	if c.Suspended {
		what = "scaling suspended"
	}
	if c.Reason != "" {
		what += ": " + c.Reason
	}
	s.appendActivity(ActivityEntry{Time: now, Kind: "group", Tenant: c.Tenant, Group: c.Group,
		From: g.Desired, To: g.Desired, Reason: what})
	return nil, nil
}
