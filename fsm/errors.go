package fsm

import "errors"

// reasons names the sentinels, most specific first, for carrying a
// rejection across the network (a write forwarded to the leader).
var reasons = []struct {
	name string
	err  error
}{
	{"invalid_transition", ErrInvalidTransition},
	{"not_found", ErrNotFound},
	{"version_conflict", ErrVersionConflict},
	{"conflict", ErrConflict},
	{"in_use", ErrInUse},
	{"suspended", ErrSuspended},
	{"capacity", ErrCapacity},
	{"deleting", ErrDeleting},
	{"unknown_command", ErrUnknownCommand},
	{"bad_command", ErrBadCommand},
}

// Reason returns the name of the most specific sentinel of this package
// that err wraps ("not_found", "version_conflict", ..., "bad_command"), or
// "" for none. RemoteError turns it back into a matching error.
func Reason(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return ""
}

// RemoteError rebuilds a rejection received from another node: its text is
// msg, and errors.Is matches the sentinel named by reason (and
// ErrBadCommand for every reason except "unknown_command"). An unknown or
// empty reason gives a plain error.
func RemoteError(reason, msg string) error {
	e := &remoteError{msg: msg}
	for _, r := range reasons {
		if r.name == reason {
			e.is = append(e.is, r.err)
			if r.err != ErrUnknownCommand && r.err != ErrBadCommand {
				e.is = append(e.is, ErrBadCommand)
			}
		}
	}
	return e
}

type remoteError struct {
	msg string
	is  []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.is }
