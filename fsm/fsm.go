// Package fsm is the replicated state machine of aas: the state every
// controller holds, the commands that change it, and snapshot/restore.
//
// It is pure: no I/O beyond the snapshot stream raft hands it, no clocks, no
// randomness. Timestamps and IDs travel inside commands, so every replica
// applying the same log reaches the same state.
package fsm

import (
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
var ErrBadCommand = errors.New("fsm: bad command")

// applyFunc applies one decoded command to the state. It runs under the FSM
// write lock. index is the raft log index (usable as a deterministic sequence).
type applyFunc func(s *State, index uint64, payload []byte) (any, error)

// dispatch maps a type byte to its apply function. Filled by register in
// init functions of the command files.
var dispatch = map[MessageType]commandDef{}

type commandDef struct {
	name  string
	apply applyFunc
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

// decode unmarshals a command payload strictly into v.
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

// Snapshot captures a deep copy of the state for raft to persist.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, err := json.Marshal(f.state)
	if err != nil {
		return nil, fmt.Errorf("fsm snapshot: %w", err)
	}
	return &snapshot{data: b}, nil
}

// Restore replaces the state with the snapshot's: it decodes into fresh
// state and swaps it in, so a failed restore leaves the old state untouched.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	fresh := NewState()
	dec := json.NewDecoder(rc)
	if err := dec.Decode(fresh); err != nil {
		return fmt.Errorf("fsm restore: %w", err)
	}
	fresh.normalize()
	f.mu.Lock()
	f.state = fresh
	f.mu.Unlock()
	return nil
}

type snapshot struct{ data []byte }

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("fsm snapshot persist: %w", err)
	}
	return sink.Close()
}

func (s *snapshot) Release() {}
