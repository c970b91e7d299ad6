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

func TestDecodeCommandRoundTrip(t *testing.T) {
	seen := map[MessageType]bool{}
	for _, entry := range encodedLog(t, 3, 300) {
		c, err := DecodeCommand(entry)
		if err != nil {
			t.Fatalf("decode %s: %v", CommandName(MessageType(entry[0])), err)
		}
		if c.CommandType() != MessageType(entry[0]) {
			t.Fatalf("decoded %T for type %d", c, entry[0])
		}
		again, err := EncodeCommand(c)
		if err != nil || !bytes.Equal(again, entry) {
			t.Fatalf("re-encoding %T changed the entry:\n%s\n%s", c, entry, again)
		}
		seen[c.CommandType()] = true
	}
	if len(seen) != len(Types()) {
		t.Fatalf("the generator produced %d of %d command types", len(seen), len(Types()))
	}
	for _, bad := range [][]byte{nil, {200}, {byte(SetDesiredType), 'x'}} {
		if _, err := DecodeCommand(bad); err == nil {
			t.Fatalf("DecodeCommand(%q) succeeded", bad)
		}
	}
}

func TestReasonRoundTrip(t *testing.T) {
	h := seeded(t)
	for _, tc := range []struct {
		entry []byte
		want  error
	}{
		{[]byte{222}, ErrUnknownCommand},
		{mustEncode(t, DeleteCloud{Name: "zz"}), ErrNotFound},
		{mustEncode(t, ApplyTenant{Tenant: acmeTenant().Tenant, ExpectedVersion: u64(7), Time: at(1)}), ErrVersionConflict},
		{mustEncode(t, UpsertCloud{}), ErrBadCommand},
	} {
		r := h.f.ApplyBytes(99, tc.entry)
		reason := Reason(r.Err)
		remote := RemoteError(reason, r.Err.Error())
		if !errors.Is(remote, tc.want) || remote.Error() != r.Err.Error() {
			t.Errorf("reason %q: remote %v does not match %v", reason, remote, tc.want)
		}
		if tc.want != ErrUnknownCommand && !errors.Is(remote, ErrBadCommand) {
			t.Errorf("reason %q: remote error does not wrap ErrBadCommand", reason)
		}
	}
	if Reason(errors.New("x")) != "" || errors.Is(RemoteError("", "x"), ErrBadCommand) {
		t.Fatal("foreign errors must map to no reason")
	}
}

func mustEncode(t testing.TB, c Command) []byte {
	b, err := EncodeCommand(c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPersistWhileApplying encodes a snapshot while commands keep changing
// every shared part of the state (instances, activity, metrics, samples,
// settings trims, tenant deletion). Run with -race: the snapshot shares
// memory with the live state and must never see a write; its content must
// equal the state at Snapshot time.
func TestPersistWhileApplying(t *testing.T) {
	h := seeded(t)
	var ids []string
	for i := 0; i < 8; i++ {
		ids = append(ids, "i"+itoa(i))
	}
	h.create("c1", ids...)
	for i, id := range ids {
		h.walk(id, StateProvisioning, StateRunning)
		h.ok(RecordMetricsType, RecordMetrics{Tenant: "acme", Group: "web", Point: MetricPoint{Time: at(100 + i), AvgCPU: 0.5},
			Instances: []InstanceLoad{{ID: id, CPU: 0.5}}})
	}
	want := h.json()
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w := &harness{t: t, f: h.f, index: h.index}
		for i := 0; i < 50; i++ {
			id := ids[i%len(ids)]
			w.try(UpdateInstancesType, UpdateInstances{Time: at(200 + i), Updates: []InstanceUpdate{{ID: id, Health: HealthUnhealthy, Address: "127.0.0.1:9"}}})
			w.try(SetInstanceProtectedType, SetInstanceProtected{ID: id, Protected: i%2 == 0, Time: at(200 + i)})
			w.try(RecordMetricsType, RecordMetrics{Tenant: "acme", Group: "web", Point: MetricPoint{Time: at(200 + i), AvgCPU: 0.9},
				Instances: []InstanceLoad{{ID: id, CPU: 0.9}}})
			w.try(AppendActivityType, AppendActivity{Entry: ActivityEntry{Time: at(200 + i), Kind: "note", Inputs: map[string]float64{"i": float64(i)}}})
			w.try(SetSettingsType, SetSettings{Settings: Settings{ActivityCap: 3 + i%3, MetricHistoryCap: 2 + i%2, InstanceSampleCap: 1 + i%2}})
		}
		w.try(DeleteTenantType, DeleteTenant{Name: "acme", Time: at(300)})
		w.try(ReapInstancesType, ReapInstances{Before: at(400), Time: at(400)})
	}()
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	<-done
	g := New(nil)
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	if got := (&harness{t: t, f: g}).json(); !bytes.Equal(got, want) {
		t.Fatalf("snapshot changed by later applies:\n got %s\nwant %s", got, want)
	}
}

func TestReadSnapshotRejectsUnknownFormat(t *testing.T) {
	for _, tc := range []struct {
		name, data string
	}{
		{"no header", `{"index":3}`},
		{"newer format", `{"format":99}` + "\n" + `{"index":3}`},
		{"zero format", `{"format":0}` + "\n" + `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadSnapshot(bytes.NewReader([]byte(tc.data)))
			if !errors.Is(err, ErrSnapshotFormat) {
				t.Fatalf("err = %v, want ErrSnapshotFormat", err)
			}
		})
	}
	s, err := ReadSnapshot(bytes.NewReader([]byte(`{"format":1}` + "\n" + `{"index":3}`)))
	if err != nil || s.Index != 3 || s.Tenants == nil || s.Settings.ActivityCap != DefaultActivityCap {
		t.Fatalf("minimal snapshot: %v %+v", err, s)
	}
}
