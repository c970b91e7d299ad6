// Package fsm is the replicated state machine of aas: the state every
// controller holds, the commands that change it, and snapshot/restore.
//
// It is pure: no I/O beyond the snapshot stream raft hands it, no clocks, no
// randomness. Timestamps and IDs travel inside commands, so every replica
// applying the same log reaches the same state.
package fsm

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// MessageType is the first byte of every raft log entry aas writes.
type MessageType uint8

// ErrUnknownCommand is returned (never panicked) for a type byte this build
// does not know; every replica returns the same error, so state cannot diverge.
var ErrUnknownCommand = errors.New("fsm: unknown command type")

// ErrBadCommand wraps payload decoding and validation failures of a command.
// Every rejection of a command wraps it, together with one of the more
// specific errors below when one applies.
var ErrBadCommand = errors.New("fsm: bad command")

// Specific rejection reasons; each is wrapped together with ErrBadCommand,
// so errors.Is(err, ErrBadCommand) holds for all of them.
var (
	// ErrInvalidTransition: an instance lifecycle step that the table in
	// lifecycle.go does not allow.
	ErrInvalidTransition = errors.New("invalid lifecycle transition")
	// ErrNotFound: the command names a tenant, group, cloud, instance or
	// hypervisor that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the command would duplicate something that must be
	// unique (instance ID, address range, public IP).
	ErrConflict = errors.New("conflict")
	// ErrVersionConflict: ApplyTenant's expected version is not the
	// tenant's current version (optimistic concurrency).
	ErrVersionConflict = errors.New("version conflict")
	// ErrInUse: the object still has live instances.
	ErrInUse = errors.New("in use")
	// ErrSuspended: a scaler decision for a suspended group.
	ErrSuspended = errors.New("group suspended")
	// ErrCapacity: no room left (cloud capacity, free addresses).
	ErrCapacity = errors.New("no capacity")
	// ErrDeleting: the tenant or group is being deleted.
	ErrDeleting = errors.New("being deleted")
)

// reject builds a command rejection wrapping ErrBadCommand and kind.
func reject(kind error, format string, args ...any) error {
	return fmt.Errorf("%w: %w: %s", ErrBadCommand, kind, fmt.Sprintf(format, args...))
}

// invalid builds a command rejection wrapping only ErrBadCommand.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadCommand, fmt.Sprintf(format, args...))
}

// applyFunc applies one decoded command to the state. It runs under the FSM
// write lock. index is the raft log index (usable as a deterministic sequence).
type applyFunc func(s *State, index uint64, payload []byte) (any, error)

// dispatch maps a type byte to its apply function. Filled by register in
// init functions of the command files.
var dispatch = map[MessageType]commandDef{}

type commandDef struct {
	name   string
	apply  applyFunc
	decode func(payload []byte) (Command, error)
}

func register(t MessageType, name string, fn applyFunc) {
	if _, dup := dispatch[t]; dup {
		panic(fmt.Sprintf("fsm: duplicate command type %d", t))
	}
	dispatch[t] = commandDef{name: name, apply: fn}
}

// CommandName returns the registered name of a type byte ("" if unknown).
func CommandName(t MessageType) string { return dispatch[t].name }

// Encode builds a log entry: the type byte followed by the JSON payload.
func Encode(t MessageType, payload any) ([]byte, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", CommandName(t), err)
	}
	out := make([]byte, 0, len(b)+1)
	out = append(out, byte(t))
	return append(out, b...), nil
}

// decode unmarshals a command payload into v. Unknown fields are ignored
// (every replica ignores them alike).
func decode(payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadCommand, err)
	}
	return nil
}

// FSM implements raft.FSM over State.
type FSM struct {
	mu     sync.RWMutex
	state  *State
	logger hclog.Logger
	// observers are called after every successful apply, outside the lock.
	obsMu     sync.Mutex
	observers []func(t MessageType, index uint64)
}

var _ raft.FSM = (*FSM)(nil)

// New returns an FSM with empty state.
func New(logger hclog.Logger) *FSM {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &FSM{state: NewState(), logger: logger.Named("fsm")}
}

// ApplyResult is what Apply returns for a command: the command's result or
// its error. raft hands it back through ApplyFuture.Response().
type ApplyResult struct {
	Index uint64
	Value any
	Err   error
}

// Apply applies one raft log entry.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return ApplyResult{Index: l.Index}
	}
	return f.ApplyBytes(l.Index, l.Data)
}

// ApplyBytes applies an encoded command at the given index. It is what Apply
// does after unwrapping the raft log; exposed for tests and benchmarks.
func (f *FSM) ApplyBytes(index uint64, data []byte) ApplyResult {
	if len(data) == 0 {
		return ApplyResult{Index: index, Err: fmt.Errorf("%w: empty entry", ErrBadCommand)}
	}
	t := MessageType(data[0])
	def, ok := dispatch[t]
	if !ok {
		return ApplyResult{Index: index, Err: fmt.Errorf("%w: %d", ErrUnknownCommand, t)}
	}
	f.mu.Lock()
	v, err := def.apply(f.state, index, data[1:])
	if err == nil {
		f.state.Index = index
	}
	f.mu.Unlock()
	if err != nil {
		f.logger.Debug("command rejected", "command", def.name, "index", index, "error", err)
		return ApplyResult{Index: index, Err: fmt.Errorf("%s: %w", def.name, err)}
	}
	f.obsMu.Lock()
	obs := f.observers
	f.obsMu.Unlock()
	for _, o := range obs {
		o(t, index)
	}
	return ApplyResult{Index: index, Value: v}
}

// Observe registers fn to be called after every successful apply (for
// waking reconcilers). fn must not block.
func (f *FSM) Observe(fn func(t MessageType, index uint64)) {
	f.obsMu.Lock()
	defer f.obsMu.Unlock()
	f.observers = append(f.observers, fn)
}

// Read runs fn with the current state under the read lock. fn must not keep
// references into the state after it returns, nor modify it.
func (f *FSM) Read(fn func(s *State)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	fn(f.state)
}

// Snapshot captures a copy of the state under the read lock (sharing the
// immutable instances and bounded logs, see snapshotView); the slow part,
// encoding, happens in Persist without holding any lock.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	c := f.state.snapshotView()
	f.mu.RUnlock()
	return &snapshot{state: c}, nil
}

// Restore replaces the state with the snapshot's: it decodes into fresh
// state and swaps it in, so a failed restore leaves the old state untouched.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	fresh, err := ReadSnapshot(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.state = fresh
	f.mu.Unlock()
	f.logger.Info("restored snapshot", "index", fresh.Index, "tenants", len(fresh.Tenants),
		"groups", len(fresh.Groups), "instances", len(fresh.Instances))
	return nil
}

// SnapshotFormat is the version of the snapshot encoding WriteSnapshot
// produces. ReadSnapshot refuses a newer one (a snapshot written by a newer
// build) instead of misreading it.
const SnapshotFormat = 1

// snapshotHeader is the first JSON value of a snapshot.
type snapshotHeader struct {
	Format int `json:"format"`
}

// WriteSnapshot encodes s in the snapshot format: a header line
// {"format":N} followed by the state as one JSON document.
func WriteSnapshot(w io.Writer, s *State) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(snapshotHeader{Format: SnapshotFormat}); err != nil {
		return fmt.Errorf("fsm snapshot: %w", err)
	}
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("fsm snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("fsm snapshot: %w", err)
	}
	return nil
}

// ErrSnapshotFormat is returned by ReadSnapshot for a snapshot it cannot
// read (missing header or a newer format).
var ErrSnapshotFormat = errors.New("fsm: unsupported snapshot format")

// ReadSnapshot decodes a snapshot written by WriteSnapshot into fresh state
// with its derived index rebuilt.
func ReadSnapshot(r io.Reader) (*State, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("fsm restore: header: %w", err)
	}
	if h.Format < 1 || h.Format > SnapshotFormat {
		return nil, fmt.Errorf("%w: format %d (this build reads 1-%d)", ErrSnapshotFormat, h.Format, SnapshotFormat)
	}
	fresh := &State{}
	if err := dec.Decode(fresh); err != nil {
		return nil, fmt.Errorf("fsm restore: %w", err)
	}
	fresh.normalize()
	return fresh, nil
}

type snapshot struct{ state *State }

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := WriteSnapshot(sink, s.state); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("fsm snapshot persist: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() { s.state = nil }
