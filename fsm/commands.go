package fsm

import (
	"fmt"
	"time"
)

// Command type bytes. Values are part of the on-disk log format: never
// renumber, only append. fsm/DESIGN.md has the table with meanings.
const (
	UpsertHypervisorType     MessageType = 1
	SetLivenessType          MessageType = 2
	UpsertCloudType          MessageType = 3
	DeleteCloudType          MessageType = 4
	ApplyTenantType          MessageType = 5
	DeleteTenantType         MessageType = 6
	SetDesiredType           MessageType = 7
	SetGroupSuspendedType    MessageType = 8
	CreateInstancesType      MessageType = 9
	UpdateInstancesType      MessageType = 10
	SetInstanceProtectedType MessageType = 11
	ReapInstancesType        MessageType = 12
	RecordMetricsType        MessageType = 13
	AppendActivityType       MessageType = 14
	SetSettingsType          MessageType = 15
	RemoveHypervisorType     MessageType = 16
)

// Command is a command payload; its CommandType is the log entry's first
// byte. Every command struct of this package implements it.
type Command interface {
	CommandType() MessageType
}

// EncodeCommand builds the log entry of a command.
func EncodeCommand(c Command) ([]byte, error) { return Encode(c.CommandType(), c) }

// DecodeCommand decodes a log entry into its command struct (a value, e.g.
// SetDesired), for tools and logs. It fails like Apply on an empty entry,
// an unknown type byte or a bad payload.
func DecodeCommand(data []byte) (Command, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty entry", ErrBadCommand)
	}
	def, ok := dispatch[MessageType(data[0])]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownCommand, data[0])
	}
	return def.decode(data[1:])
}

// registerCommand registers a command struct T and its apply function;
// decoding of the payload into T happens here, once for all commands.
func registerCommand[T Command](name string, apply func(s *State, index uint64, c *T) (any, error)) {
	var zero T
	register(zero.CommandType(), name, func(s *State, index uint64, payload []byte) (any, error) {
		var c T
		if err := decode(payload, &c); err != nil {
			return nil, err
		}
		return apply(s, index, &c)
	})
	def := dispatch[zero.CommandType()]
	def.decode = func(payload []byte) (Command, error) {
		var c T
		if err := decode(payload, &c); err != nil {
			return nil, err
		}
		return c, nil
	}
	dispatch[zero.CommandType()] = def
}

// CommandType implementations: the type byte of each command.
func (UpsertHypervisor) CommandType() MessageType     { return UpsertHypervisorType }
func (SetLiveness) CommandType() MessageType          { return SetLivenessType }
func (UpsertCloud) CommandType() MessageType          { return UpsertCloudType }
func (DeleteCloud) CommandType() MessageType          { return DeleteCloudType }
func (ApplyTenant) CommandType() MessageType          { return ApplyTenantType }
func (DeleteTenant) CommandType() MessageType         { return DeleteTenantType }
func (SetDesired) CommandType() MessageType           { return SetDesiredType }
func (SetGroupSuspended) CommandType() MessageType    { return SetGroupSuspendedType }
func (CreateInstances) CommandType() MessageType      { return CreateInstancesType }
func (UpdateInstances) CommandType() MessageType      { return UpdateInstancesType }
func (SetInstanceProtected) CommandType() MessageType { return SetInstanceProtectedType }
func (ReapInstances) CommandType() MessageType        { return ReapInstancesType }
func (RecordMetrics) CommandType() MessageType        { return RecordMetricsType }
func (AppendActivity) CommandType() MessageType       { return AppendActivityType }
func (SetSettings) CommandType() MessageType          { return SetSettingsType }
func (RemoveHypervisor) CommandType() MessageType     { return RemoveHypervisorType }

// Types returns the registered command types in ascending order.
func Types() []MessageType {
	var out []MessageType
	for t := MessageType(0); ; t++ {
		if _, ok := dispatch[t]; ok {
			out = append(out, t)
		}
		if t == 255 {
			return out
		}
	}
}

// appendActivity assigns the next sequence number to e and appends it to
// the bounded activity log.
func (s *State) appendActivity(e ActivityEntry) uint64 {
	s.ActivitySeq++
	e.Seq = s.ActivitySeq
	e.Time = e.Time.UTC()
	s.Activity = pushBounded(s.Activity, e, s.Settings.ActivityCap)
	return e.Seq
}

// pushBounded appends v and drops the oldest elements beyond max. Dropping
// reslices the front, so the cost is amortised O(1): append copies only the
// live window when it grows the backing array (which also releases the
// dropped elements). Elements are never overwritten in place, so a snapshot
// may share these slices with the live state.
func pushBounded[T any](s []T, v T, max int) []T {
	s = append(s, v)
	return trimFront(s, max)
}

// insertBounded inserts v at index i of s and keeps the newest max
// elements. At the end it is pushBounded; anywhere else it copies into a
// new backing array (with some room to append into), because a snapshot
// may share the old one and must never see an element change under it.
func insertBounded[T any](s []T, i int, v T, max int) []T {
	if i >= len(s) {
		return pushBounded(s, v, max)
	}
	out := make([]T, 0, len(s)+1+len(s)/4)
	out = append(out, s[:i]...)
	out = append(out, v)
	out = append(out, s[i:]...)
	return trimFront(out, max)
}

// trimFront keeps the newest max elements (reslicing only; see pushBounded).
func trimFront[T any](s []T, max int) []T {
	if over := len(s) - max; over > 0 {
		s = s[over:]
	}
	return s
}

// utc normalises a command time so that all replicas store the same value.
func utc(t time.Time) time.Time { return t.UTC() }
