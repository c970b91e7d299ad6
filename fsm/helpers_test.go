package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

// harness applies commands to a fresh FSM with increasing indexes.
type harness struct {
	t     testing.TB
	f     *FSM
	index uint64
}

func newHarness(t testing.TB) *harness { return &harness{t: t, f: New(nil)} }

func (h *harness) try(typ MessageType, cmd any) ApplyResult {
	h.t.Helper()
	b, err := Encode(typ, cmd)
	if err != nil {
		h.t.Fatalf("encode: %v", err)
	}
	h.index++
	return h.f.ApplyBytes(h.index, b)
}

// ok applies a command that must succeed and returns its value.
func (h *harness) ok(typ MessageType, cmd any) any {
	h.t.Helper()
	r := h.try(typ, cmd)
	if r.Err != nil {
		h.t.Fatalf("%s: unexpected error: %v", CommandName(typ), r.Err)
	}
	return r.Value
}

// fail applies a command that must fail with want (and ErrBadCommand) and
// checks that the state did not change.
func (h *harness) fail(typ MessageType, cmd any, want error) {
	h.t.Helper()
	before := h.json()
	r := h.try(typ, cmd)
	if r.Err == nil {
		h.t.Fatalf("%s: succeeded, want error %v", CommandName(typ), want)
	}
	if !errors.Is(r.Err, ErrBadCommand) {
		h.t.Errorf("%s: error %v does not wrap ErrBadCommand", CommandName(typ), r.Err)
	}
	if want != nil && !errors.Is(r.Err, want) {
		h.t.Errorf("%s: error %v, want %v", CommandName(typ), r.Err, want)
	}
	if after := h.json(); !bytes.Equal(before, after) {
		h.t.Errorf("%s: rejected command changed the state:\nbefore %s\nafter  %s", CommandName(typ), before, after)
	}
}

func (h *harness) json() []byte {
	h.t.Helper()
	var b []byte
	var err error
	h.f.Read(func(s *State) { b, err = json.Marshal(s) })
	if err != nil {
		h.t.Fatal(err)
	}
	return b
}

func (h *harness) state() *State {
	var c *State
	h.f.Read(func(s *State) { c = s.Clone() })
	return c
}

func u64(v uint64) *uint64 { return &v }

// acmeTenant is a tenant with one network (10.1.0.0/24, range .10-.19) and
// one group "web" (min 1, max 5) in clouds c1 and c2.
func acmeTenant() ApplyTenant {
	return ApplyTenant{
		Tenant: TenantSpec{
			Name:     "acme",
			PublicIP: "198.18.100.1",
			Networks: []Network{{Name: "net", Subnets: []Subnet{{CIDR: "10.1.0.0/24", Gateway: "10.1.0.1", RangeStart: "10.1.0.10", RangeEnd: "10.1.0.19"}}}},
			Settings: TenantSettings{LogSamples: true},
		},
		Groups: []GroupSpec{{Name: "web", Min: 1, Max: 5, Policy: json.RawMessage(`{"type":"dynamic","threshold":0.6}`),
			Clouds: []CloudPreference{{Cloud: "c1", Priority: 1}, {Cloud: "c2", Priority: 2}}, DrainPeriod: 30 * time.Second}},
		Time: at(0),
	}
}

// seeded returns a harness with clouds c1 (capacity 8) and c2, hypervisors
// h1 (c1) and h2 (c2), and tenant acme.
func seeded(t testing.TB) *harness {
	h := newHarness(t)
	h.ok(UpsertCloudType, UpsertCloud{Cloud: Cloud{Name: "c1", Priority: 1, Capacity: 8}})
	h.ok(UpsertCloudType, UpsertCloud{Cloud: Cloud{Name: "c2", Priority: 2}})
	h.ok(UpsertHypervisorType, UpsertHypervisor{Hypervisor: Hypervisor{ID: "h1", Cloud: "c1", Driver: "process", Capacity: 10}})
	h.ok(UpsertHypervisorType, UpsertHypervisor{Hypervisor: Hypervisor{ID: "h2", Cloud: "c2", Driver: "process", Capacity: 10}})
	h.ok(ApplyTenantType, acmeTenant())
	return h
}

// create makes n pending instances web-<start..> of acme/web in cloud.
func (h *harness) create(cloud string, ids ...string) []Instance {
	h.t.Helper()
	var ni []NewInstance
	for _, id := range ids {
		ni = append(ni, NewInstance{ID: id, Tenant: "acme", Group: "web", Cloud: cloud})
	}
	return h.ok(CreateInstancesType, CreateInstances{Time: at(10), Instances: ni}).([]Instance)
}

// walk moves an instance through the given states.
func (h *harness) walk(id string, states ...InstanceState) {
	h.t.Helper()
	for i, st := range states {
		h.ok(UpdateInstancesType, UpdateInstances{Time: at(20 + i), Updates: []InstanceUpdate{{ID: id, State: st}}})
	}
}
