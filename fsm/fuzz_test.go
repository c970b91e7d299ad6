package fsm

import (
	"bytes"
	"testing"
)

// FuzzApply feeds arbitrary log entries to an FSM holding a tenant, groups
// and instances: Apply must never panic, a rejected entry must leave the
// state byte-for-byte unchanged, and the invariants must hold afterwards.
func FuzzApply(f *testing.F) {
	for _, e := range encodedLog(f, 1, 200) {
		f.Add(e)
	}
	f.Add([]byte{})
	f.Add([]byte{0})
	f.Add([]byte{255, '{', '}'})
	f.Add([]byte{byte(CreateInstancesType), 'n', 'u', 'l', 'l'})
	f.Add([]byte{byte(ApplyTenantType), '{', '"', 't', 'e', 'n', 'a', 'n', 't', '"', ':', '1', '}'})
	f.Fuzz(func(t *testing.T, entry []byte) {
		h := seeded(t)
		h.create("c1", "a", "b")
		h.walk("a", StateProvisioning, StateRunning)
		before := h.json()
		r := h.f.ApplyBytes(1000, entry)
		if r.Err != nil && !bytes.Equal(before, h.json()) {
			t.Fatalf("rejected entry changed the state: %v", r.Err)
		}
		h.f.Read(func(s *State) { checkInvariants(t, 0, s) })
		// Whatever happened must survive a snapshot round trip.
		g := snapshotRestore(t, h.f)
		if !bytes.Equal(h.json(), (&harness{t: t, f: g}).json()) {
			t.Fatal("snapshot round trip differs")
		}
	})
}
