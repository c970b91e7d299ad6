package site

import (
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"testing"
	"time"

	"aas/cluster/tenant"
	"aas/fsm"
	"aas/nodes"
	"aas/nodes/driver"
	"aas/nodes/health"
	"aas/scaler"
)

func TestPickHypervisor(t *testing.T) {
	h := func(id string, capacity int, l fsm.Liveness, drv string) fsm.Hypervisor {
		return fsm.Hypervisor{ID: id, Capacity: capacity, Liveness: l, Driver: drv}
	}
	process := func(h fsm.Hypervisor) bool { return h.Driver == "process" }
	cases := []struct {
		name string
		hyps []fsm.Hypervisor
		load map[string]int
		want string // "" = none
	}{
		{"fewest relative to capacity", []fsm.Hypervisor{h("a", 4, "alive", "process"), h("b", 10, "alive", "process")},
			map[string]int{"a": 1, "b": 3}, "a"},
		{"ratio, not count", []fsm.Hypervisor{h("a", 2, "alive", "process"), h("b", 10, "alive", "process")},
			map[string]int{"a": 1, "b": 3}, "b"},
		{"ties by id", []fsm.Hypervisor{h("a", 4, "alive", "process"), h("b", 4, "alive", "process")},
			map[string]int{"a": 2, "b": 2}, "a"},
		{"full ones skipped", []fsm.Hypervisor{h("a", 2, "alive", "process"), h("b", 2, "alive", "process")},
			map[string]int{"a": 2, "b": 1}, "b"},
		{"all full", []fsm.Hypervisor{h("a", 1, "alive", "process")}, map[string]int{"a": 1}, ""},
		{"only alive", []fsm.Hypervisor{h("a", 4, "suspect", "process"), h("b", 4, "failed", "process"), h("c", 4, "alive", "process")},
			map[string]int{"c": 3}, "c"},
		{"driver must fit the template", []fsm.Hypervisor{h("a", 4, "alive", "docker"), h("b", 4, "alive", "process")},
			map[string]int{"b": 3}, "b"},
		{"capacity 0 is unlimited", []fsm.Hypervisor{h("a", 0, "alive", "process"), h("b", 4, "alive", "process")},
			map[string]int{"a": 100, "b": 1}, "a"},
		{"none", nil, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := pickHypervisor(tc.hyps, tc.load, process)
			if !ok {
				got.ID = ""
			}
			if got.ID != tc.want {
				t.Fatalf("picked %q, want %q", got.ID, tc.want)
			}
		})
	}
}

func TestObserve(t *testing.T) {
	running := fsm.Instance{ID: "i1", State: fsm.StateRunning, Health: fsm.HealthUnknown, Address: "127.0.0.1:1"}
	st := func(s driver.State, hs health.Status, addr string) nodes.InstanceStatus {
		return nodes.InstanceStatus{Instance: driver.Instance{ID: "i1", State: s, Addr: addr}, Health: health.Report{Status: hs, LastError: "refused"}}
	}
	cases := []struct {
		name    string
		st      nodes.InstanceStatus
		listed  bool
		changed bool
		want    fsm.InstanceUpdate
	}{
		{"vanished", nodes.InstanceStatus{}, false, true, fsm.InstanceUpdate{ID: "i1", State: fsm.StateFailed, Reason: "vanished from hypervisor h"}},
		{"exited", st(driver.StateExited, health.StatusGone, ""), true, true, fsm.InstanceUpdate{ID: "i1", State: fsm.StateFailed, Reason: "exited on hypervisor h"}},
		{"gone", st(driver.StateRunning, health.StatusGone, "127.0.0.1:1"), true, true, fsm.InstanceUpdate{ID: "i1", State: fsm.StateFailed, Reason: "gone from hypervisor h"}},
		{"unhealthy", st(driver.StateRunning, health.StatusUnhealthy, "127.0.0.1:1"), true, true,
			fsm.InstanceUpdate{ID: "i1", State: fsm.StateFailed, Health: fsm.HealthUnhealthy, Reason: "unhealthy: refused"}},
		{"became healthy", st(driver.StateRunning, health.StatusHealthy, "127.0.0.1:1"), true, true, fsm.InstanceUpdate{ID: "i1", Health: fsm.HealthHealthy}},
		{"new address", st(driver.StateRunning, health.StatusStarting, "127.0.0.1:2"), true, true, fsm.InstanceUpdate{ID: "i1", Address: "127.0.0.1:2"}},
		{"nothing new", st(driver.StateRunning, health.StatusStarting, "127.0.0.1:1"), true, false, fsm.InstanceUpdate{ID: "i1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, changed := observe(running, tc.st, tc.listed, "h")
			if changed != tc.changed || u != tc.want {
				t.Fatalf("got %+v (changed %v), want %+v (changed %v)", u, changed, tc.want, tc.changed)
			}
		})
	}
}

func TestBuildSpec(t *testing.T) {
	ten := fsm.Tenant{Name: "acme", Networks: []fsm.Network{{Name: "net", Subnets: []fsm.Subnet{
		{CIDR: "198.18.1.0/24", Gateway: "198.18.1.1", RangeStart: "198.18.1.10", RangeEnd: "198.18.1.20"},
		{CIDR: "198.18.2.0/24", Gateway: "198.18.2.1", RangeStart: "198.18.2.10", RangeEnd: "198.18.2.20"}}}}}
	inst := fsm.Instance{ID: "web-1", Tenant: "acme", Group: "web", Network: "net", IP: "198.18.2.10"}
	def := DefaultProcessTemplate("/bin/ctl")
	docker := tenant.Template{Driver: tenant.DriverDocker, Port: 8080, Docker: &driver.DockerTemplate{Image: "aas/ctl", CPUs: 2},
		Health: &tenant.Health{Type: "tcp", Interval: scaler.Duration(time.Second), Timeout: scaler.Duration(5 * time.Second)}}
	raw, _ := json.Marshal(docker)
	bridge := func(tn, nw string, p netip.Prefix) string { return "br-" + tn + "-" + nw + "-" + p.Addr().String() }

	tm, err := template(raw, def)
	if err != nil {
		t.Fatal(err)
	}
	if supports(tm, "process") || !supports(tm, "docker") {
		t.Fatal("docker template must fit docker only")
	}
	spec, check, err := buildSpec(inst, ten, tm, "docker", bridge)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Docker == nil || spec.Process != nil || spec.Port != 8080 || spec.ID != "web-1" {
		t.Fatalf("spec = %+v", spec)
	}
	n := spec.Network
	if n == nil || n.Subnet.String() != "198.18.2.0/24" || n.IP.String() != "198.18.2.10" || n.Gateway.String() != "198.18.2.1" ||
		n.Bridge != "br-acme-net-198.18.2.0" {
		t.Fatalf("network = %+v", n)
	}
	if check == nil || check.Kind != health.KindTCP || check.Timeout != time.Second {
		t.Fatalf("check = %+v (timeout clamped to the interval)", check)
	}
	if err := check.Validate(); err != nil {
		t.Fatal(err)
	}
	if vcpus(tm, "docker") != 2 {
		t.Fatal("docker allotment")
	}
	if _, _, err := buildSpec(inst, ten, tm, "process", nil); !errors.Is(err, ErrTemplate) {
		t.Fatalf("process spec from a docker template: err = %v", err)
	}

	// No template: the default instance, keeping the group's port.
	empty, _ := json.Marshal(tenant.Template{Port: 9000})
	tm, err = template(empty, def)
	if err != nil || !supports(tm, "process") || tm.Port != 9000 {
		t.Fatalf("default template = %+v, %v", tm, err)
	}
	if _, err := template(json.RawMessage(`{"driver": 5}`), def); !errors.Is(err, ErrTemplate) {
		t.Fatalf("bad template: err = %v", err)
	}
}

func TestAggregate(t *testing.T) {
	tmpl, _ := json.Marshal(tenant.Template{Driver: "docker", Docker: &driver.DockerTemplate{Image: "x", CPUs: 2}})
	v := &view{
		instances: []fsm.Instance{
			{ID: "a", Tenant: "t", Group: "g", Hypervisor: "h", State: fsm.StateRunning, Health: fsm.HealthHealthy},
			{ID: "b", Tenant: "t", Group: "g", Hypervisor: "h", State: fsm.StateRunning, Health: fsm.HealthHealthy},
			{ID: "c", Tenant: "t", Group: "g", Hypervisor: "h", State: fsm.StateRunning, Health: fsm.HealthUnknown}, // not ready
			{ID: "d", Tenant: "t", Group: "g", Hypervisor: "h", State: fsm.StateDraining, Health: fsm.HealthHealthy},
			{ID: "e", Tenant: "t", Group: "idle", Hypervisor: "h", State: fsm.StateRunning, Health: fsm.HealthHealthy}, // no sample
		},
		hypByID: map[string]fsm.Hypervisor{"h": {ID: "h", Driver: "docker"}},
		groups:  map[string]fsm.Group{"t/g": {Tenant: "t", Name: "g", Template: tmpl}},
		logs:    map[string]bool{"t": true},
	}
	samples := map[string]driver.Stats{"a": {ID: "a", CPU: 1.0}, "b": {ID: "b", CPU: 0.6}, "c": {ID: "c", CPU: 2}, "d": {ID: "d", CPU: 2}}
	out := aggregate(v, samples, requestLoad{}, "c1", tenant.Template{})
	if len(out) != 1 {
		t.Fatalf("got %d points, want 1 (the group without samples gets none): %+v", len(out), out)
	}
	p := out[0]
	if p.Group != "g" || p.Point.Cloud != "c1" || p.Point.RPSMeasured || p.Point.Instances != 2 || p.Point.AvgCPU < 0.399 || p.Point.AvgCPU > 0.401 {
		t.Fatalf("point = %+v, want avg cpu 0.4 of a 2-cpu allotment over the 2 ready instances", p.Point)
	}
	if len(p.Instances) != 3 {
		t.Fatalf("instance loads = %+v, want a, b, c", p.Instances)
	}
	v.logs["t"] = false
	if out := aggregate(v, samples, requestLoad{}, "c1", tenant.Template{}); len(out[0].Instances) != 0 {
		t.Fatal("instance loads written for a tenant that does not log samples")
	}
}

func TestAggregateRequestRates(t *testing.T) {
	v := &view{
		instances: []fsm.Instance{
			{ID: "a", Tenant: "t", Group: "g", Hypervisor: "h", State: fsm.StateRunning, Health: fsm.HealthHealthy},
			{ID: "b", Tenant: "t", Group: "g", Hypervisor: "h", State: fsm.StateRunning, Health: fsm.HealthUnknown},  // not ready: still served
			{ID: "d", Tenant: "t", Group: "g", Hypervisor: "h", State: fsm.StateDraining, Health: fsm.HealthHealthy}, // not running
			{ID: "e", Tenant: "t", Group: "h", Hypervisor: "h", State: fsm.StateRunning, Health: fsm.HealthHealthy},
		},
		hypByID: map[string]fsm.Hypervisor{"h": {ID: "h", Driver: "process"}},
		groups:  map[string]fsm.Group{},
		logs:    map[string]bool{"t": true},
	}
	samples := map[string]driver.Stats{"a": {ID: "a", CPU: 0.5}, "b": {ID: "b", CPU: 0.5}, "e": {ID: "e", CPU: 0.1}}
	rates := map[string]float64{"a": 10, "b": 5, "d": 100, "other-cloud": 1000}
	for _, tc := range []struct {
		name       string
		req        requestLoad
		wantRPS    map[string]float64 // group → point RPS
		measured   bool
		instanceRP float64 // a's logged RPS
	}{
		{"no counter source", requestLoad{}, map[string]float64{"g": 0, "h": 0}, false, 0},
		{"rates without a previous reading", requestLoad{rates: rates, measured: false}, map[string]float64{"g": 0, "h": 0}, false, 0},
		{"measured", requestLoad{rates: rates, measured: true}, map[string]float64{"g": 15, "h": 0}, true, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := aggregate(v, samples, tc.req, "c2", tenant.Template{})
			if len(out) != 2 {
				t.Fatalf("%d points: %+v", len(out), out)
			}
			for _, c := range out {
				if c.Point.Cloud != "c2" || c.Point.RPSMeasured != tc.measured || c.Point.RPS != tc.wantRPS[c.Group] {
					t.Errorf("group %s: point %+v, want rps %v measured %v", c.Group, c.Point, tc.wantRPS[c.Group], tc.measured)
				}
			}
			if l := out[0].Instances[0]; l.ID != "a" || l.RPS != tc.instanceRP {
				t.Errorf("instance load %+v, want a with rps %v", l, tc.instanceRP)
			}
		})
	}
}

func TestRequestRates(t *testing.T) {
	for _, tc := range []struct {
		name      string
		prev, cur map[string]uint64
		dt        time.Duration
		want      map[string]float64
	}{
		{"steady", map[string]uint64{"a": 100, "b": 5}, map[string]uint64{"a": 130, "b": 5}, 10 * time.Second,
			map[string]float64{"a": 3, "b": 0}},
		{"reset: the new value is the delta", map[string]uint64{"a": 100}, map[string]uint64{"a": 20}, 10 * time.Second,
			map[string]float64{"a": 2}},
		{"new instance counts from 0", map[string]uint64{}, map[string]uint64{"n": 15}, 5 * time.Second,
			map[string]float64{"n": 3}},
		{"gone instance: no rate", map[string]uint64{"g": 9}, map[string]uint64{}, time.Second, map[string]float64{}},
		{"no time passed", map[string]uint64{"a": 1}, map[string]uint64{"a": 2}, 0, map[string]float64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := requestRates(tc.prev, tc.cur, tc.dt)
			if len(got) != len(tc.want) {
				t.Fatalf("rates %v, want %v", got, tc.want)
			}
			for k, w := range tc.want {
				if g, ok := got[k]; !ok || math.Abs(g-w) > 1e-9 {
					t.Fatalf("rates %v, want %v", got, tc.want)
				}
			}
		})
	}
}
