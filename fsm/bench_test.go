package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"
)

// benchState builds an FSM with one tenant (a /12 range), groups of 1000
// instances each and n running instances spread over three clouds.
func benchState(b *testing.B, n int) *harness {
	b.Helper()
	h := newHarness(b)
	for _, c := range []string{"c1", "c2", "c3"} {
		h.ok(UpsertCloudType, UpsertCloud{Cloud: Cloud{Name: c}})
	}
	groups := (n + 999) / 1000
	cmd := ApplyTenant{Tenant: TenantSpec{Name: "big", Networks: []Network{{Name: "net", Subnets: []Subnet{{
		CIDR: "10.16.0.0/12", Gateway: "10.16.0.1", RangeStart: "10.16.0.2", RangeEnd: "10.31.255.254"}}}},
		Settings: TenantSettings{LogSamples: true}}, Time: at(0)}
	for g := 0; g < groups; g++ {
		cmd.Groups = append(cmd.Groups, GroupSpec{Name: fmt.Sprintf("g%d", g), Min: 0, Max: 1000,
			Policy: json.RawMessage(`{"type":"dynamic","threshold":0.6}`)})
	}
	h.ok(ApplyTenantType, cmd)
	clouds := []string{"c1", "c2", "c3"}
	for g := 0; g < groups; g++ {
		var c CreateInstances
		c.Time = at(1)
		var u UpdateInstances
		u.Time = at(2)
		for i := 0; i < 1000 && g*1000+i < n; i++ {
			id := fmt.Sprintf("g%d-i%d", g, i)
			c.Instances = append(c.Instances, NewInstance{ID: id, Tenant: "big", Group: fmt.Sprintf("g%d", g), Cloud: clouds[i%3]})
			u.Updates = append(u.Updates, InstanceUpdate{ID: id, State: StateProvisioning},
				InstanceUpdate{ID: id, State: StateRunning, Address: "127.0.0.1:8080", Health: HealthHealthy})
		}
		h.ok(CreateInstancesType, c)
		h.ok(UpdateInstancesType, u)
	}
	return h
}

// BenchmarkApply measures commands/s of the FSM alone for the commands the
// leader issues most. Baseline (same run): decoding the same payloads with
// encoding/json into the command struct, which every apply must do;
// "x-decode" is apply time / decode time.
func BenchmarkApply(b *testing.B) {
	type mk func(i int) (MessageType, any, any)
	cases := []struct {
		name string
		make mk
	}{
		{"set-desired", func(i int) (MessageType, any, any) {
			return SetDesiredType, SetDesired{Tenant: "big", Group: "g0", Desired: i % 900, Time: at(10 + i), Source: SourceScaler,
				Policy: "dynamic", Reason: "ceil((avg-threshold)/threshold*current)", Inputs: map[string]float64{"avg_cpu": 0.7, "threshold": 0.6}}, &SetDesired{}
		}},
		{"record-metrics", func(i int) (MessageType, any, any) {
			return RecordMetricsType, RecordMetrics{Tenant: "big", Group: "g1", Point: MetricPoint{Time: at(10 + i), AvgCPU: 0.5, RPS: 120, Instances: 1000},
				Instances: []InstanceLoad{{ID: "g1-i1", CPU: 0.4, RPS: 10}, {ID: "g1-i2", CPU: 0.6, RPS: 11}}}, &RecordMetrics{}
		}},
		{"update-instances-health", func(i int) (MessageType, any, any) {
			h := HealthHealthy
			if i%2 == 0 {
				h = HealthUnhealthy
			}
			return UpdateInstancesType, UpdateInstances{Time: at(10 + i), Updates: []InstanceUpdate{{ID: fmt.Sprintf("g2-i%d", i%1000), Health: h}}}, &UpdateInstances{}
		}},
		{"create-instance", func(i int) (MessageType, any, any) {
			return CreateInstancesType, CreateInstances{Time: at(10 + i), Instances: []NewInstance{{ID: fmt.Sprintf("new-%d", i), Tenant: "big", Group: "g3", Cloud: "c1"}}}, &CreateInstances{}
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			h := benchState(b, 4000)
			if tc.name == "create-instance" {
				// room for b.N instances in g3
				cmd := ApplyTenant{}
				h.f.Read(func(s *State) {
					t := s.Tenants["big"]
					cmd.Tenant = TenantSpec{Name: t.Name, Networks: t.Networks, Settings: t.Settings}
					for _, g := range s.TenantGroups("big") {
						cmd.Groups = append(cmd.Groups, GroupSpec{Name: g.Name, Min: 0, Max: MaxCap})
					}
				})
				cmd.Time = at(5)
				h.ok(ApplyTenantType, cmd)
			}
			entries := make([][]byte, b.N)
			var target any
			for i := range entries {
				var typ MessageType
				var cmd any
				typ, cmd, target = tc.make(i)
				entries[i], _ = Encode(typ, cmd)
			}
			// Baseline: decode only.
			start := time.Now()
			for _, e := range entries {
				if err := json.Unmarshal(e[1:], target); err != nil {
					b.Fatal(err)
				}
			}
			decode := time.Since(start)
			b.ResetTimer()
			start = time.Now()
			for i, e := range entries {
				if r := h.f.ApplyBytes(uint64(1e6+i), e); r.Err != nil {
					b.Fatal(r.Err)
				}
			}
			apply := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/apply.Seconds(), "cmds/s")
			b.ReportMetric(float64(apply)/float64(decode), "x-decode")
		})
	}
}

// BenchmarkSnapshotRestore100k measures Snapshot+Persist and Restore of a
// state with 100k running instances, the snapshot size, and as baseline
// (same run) json.Marshal+Unmarshal of the bare []Instance slice.
func BenchmarkSnapshotRestore100k(b *testing.B) {
	h := benchState(b, 100_000)
	var plain []Instance
	h.f.Read(func(s *State) {
		for _, k := range sortedKeys(s.Instances) {
			plain = append(plain, *s.Instances[k])
		}
	})
	start := time.Now()
	pb, err := json.Marshal(plain)
	if err != nil {
		b.Fatal(err)
	}
	var back []Instance
	if err := json.Unmarshal(pb, &back); err != nil {
		b.Fatal(err)
	}
	baseline := time.Since(start)

	var size int
	var snapTotal, persistTotal, restoreTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t1 := time.Now()
		snap, err := h.f.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		var sink memSink
		if err := snap.Persist(&sink); err != nil {
			b.Fatal(err)
		}
		snap.Release()
		t3 := time.Now()
		size = sink.Len()
		g := New(nil)
		if err := g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		snapTotal += t2.Sub(t1)
		persistTotal += t3.Sub(t2)
		restoreTotal += t4.Sub(t3)
		if i == 0 {
			var n int
			g.Read(func(s *State) { n = len(s.Instances) })
			if n != 100_000 {
				b.Fatalf("restored %d instances", n)
			}
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(size), "snapshot-bytes")
	b.ReportMetric(float64(size)/100_000, "bytes/instance")
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(snapTotal)/n, "ms-snapshot(lock)")
	b.ReportMetric(ms(persistTotal)/n, "ms-persist")
	b.ReportMetric(ms(restoreTotal)/n, "ms-restore")
	b.ReportMetric(ms(baseline), "ms-baseline-json-slice")
	b.ReportMetric(float64(persistTotal+restoreTotal)/n/float64(baseline), "x-baseline")
}

// BenchmarkHeap100k reports the heap held by an FSM with 100k running
// instances (HeapInuse delta after GC) and, as baseline in the same run,
// the heap of a bare []Instance slice holding the same instances (sharing
// their strings), i.e. what the maps, index and pointers add.
func BenchmarkHeap100k(b *testing.B) {
	var ms runtime.MemStats
	heap := func() int64 {
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapInuse)
	}
	for i := 0; i < b.N; i++ {
		base := heap()
		h := benchState(b, 100_000)
		fsmHeap := heap() - base
		var plain []Instance
		h.f.Read(func(s *State) {
			plain = make([]Instance, 0, len(s.Instances))
			for _, inst := range s.Instances {
				plain = append(plain, *inst)
			}
		})
		h = nil
		plainHeap := heap() - base
		runtime.KeepAlive(plain)
		b.ReportMetric(float64(fsmHeap), "heap-bytes")
		b.ReportMetric(float64(fsmHeap)/100_000, "heap-bytes/instance")
		b.ReportMetric(float64(plainHeap), "baseline-slice-bytes")
		b.ReportMetric(float64(fsmHeap)/float64(plainHeap), "x-baseline")
	}
}
