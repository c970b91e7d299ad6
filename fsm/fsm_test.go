package fsm

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/hashicorp/raft"
)

func TestDispatchTable(t *testing.T) {
	types := Types()
	if len(types) == 0 {
		t.Fatal("no command registered")
	}
	names := map[string]MessageType{}
	for i, typ := range types {
		if uint8(typ) != uint8(i+1) {
			t.Errorf("type bytes must be dense from 1: position %d holds %d", i, typ)
		}
		n := CommandName(typ)
		if n == "" {
			t.Errorf("type %d has no name", typ)
		}
		if other, dup := names[n]; dup {
			t.Errorf("name %q used by %d and %d", n, other, typ)
		}
		names[n] = typ
	}
}

func TestApplyRejectsUnknownAndEmpty(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrBadCommand},
		{"unknown type", []byte{250, '{', '}'}, ErrUnknownCommand},
		{"zero type", []byte{0}, ErrUnknownCommand},
		{"bad json", []byte{byte(UpsertCloudType), '{'}, ErrBadCommand},
		{"wrong json type", []byte{byte(UpsertCloudType), '[', ']'}, ErrBadCommand},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := New(nil)
			r := f.ApplyBytes(1, tc.data)
			if !errors.Is(r.Err, tc.want) {
				t.Fatalf("err = %v, want %v", r.Err, tc.want)
			}
			f.Read(func(s *State) {
				if s.Index != 0 {
					t.Errorf("index advanced to %d on a failed command", s.Index)
				}
			})
		})
	}
}

func TestApplyThroughRaftLogAndObserve(t *testing.T) {
	f := New(nil)
	var seen []MessageType
	f.Observe(func(typ MessageType, index uint64) { seen = append(seen, typ) })
	b, err := Encode(UpsertCloudType, UpsertCloud{Cloud: Cloud{Name: "c1"}})
	if err != nil {
		t.Fatal(err)
	}
	r := f.Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: b}).(ApplyResult)
	if r.Err != nil || r.Index != 7 {
		t.Fatalf("apply = %+v", r)
	}
	// Non-command entries are ignored.
	if r := f.Apply(&raft.Log{Index: 8, Type: raft.LogBarrier}).(ApplyResult); r.Err != nil {
		t.Fatal(r.Err)
	}
	// A failed command is not observed.
	f.ApplyBytes(9, []byte{byte(DeleteCloudType), '{', '}'})
	if len(seen) != 1 || seen[0] != UpsertCloudType {
		t.Fatalf("observed %v, want [upsert-cloud]", seen)
	}
	f.Read(func(s *State) {
		if s.Index != 7 || s.Clouds["c1"] == nil {
			t.Fatalf("state index %d clouds %v", s.Index, s.Clouds)
		}
	})
}

type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { m.cancelled = true; return nil }
func (m *memSink) Close() error  { return nil }

var _ raft.SnapshotSink = (*memSink)(nil)

func TestSnapshotIsIsolatedFromLaterApplies(t *testing.T) {
	h := seeded(t)
	h.create("c1", "a", "b")
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	want := h.json()
	// Changes after Snapshot must not leak into it.
	h.walk("a", StateProvisioning, StateRunning)
	h.ok(DeleteCloudType, DeleteCloud{Name: "c2"})
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	g := New(nil)
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	h2 := &harness{t: t, f: g}
	if got := h2.json(); !bytes.Equal(got, want) {
		t.Fatalf("restored state differs from the state at Snapshot:\n got %s\nwant %s", got, want)
	}
}

func TestRestoreFailureKeepsState(t *testing.T) {
	h := seeded(t)
	before := h.json()
	err := h.f.Restore(io.NopCloser(bytes.NewReader([]byte(`{"clouds": [`))))
	if err == nil {
		t.Fatal("restore of a truncated snapshot succeeded")
	}
	if !bytes.Equal(before, h.json()) {
		t.Fatal("failed restore changed the state")
	}
}
