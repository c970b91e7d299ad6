package fsm

import "time"

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
// live window when it grows the backing array.
func pushBounded[T any](s []T, v T, max int) []T {
	s = append(s, v)
	return trimFront(s, max)
}

// trimFront keeps the newest max elements.
func trimFront[T any](s []T, max int) []T {
	if over := len(s) - max; over > 0 {
		clear(s[:over])
		s = s[over:]
	}
	return s
}

// utc normalises a command time so that all replicas store the same value.
func utc(t time.Time) time.Time { return t.UTC() }
