package autoscale

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"aas/cluster"
	"aas/fsm"
	"aas/scaler"
)

// localCluster applies commands straight to an in-memory FSM: the loop's
// own cost without Raft's (fsync, network) in the way.
type localCluster struct {
	f     *fsm.FSM
	index uint64
}

var _ Cluster = (*localCluster)(nil)

func (c *localCluster) FSM() *fsm.FSM       { return c.f }
func (c *localCluster) VerifyLeader() error { return nil }
func (c *localCluster) Apply(_ context.Context, t fsm.MessageType, payload any) (cluster.Applied, error) {
	b, err := fsm.Encode(t, payload)
	if err != nil {
		return cluster.Applied{}, err
	}
	c.index++
	r := c.f.ApplyBytes(c.index, b)
	return cluster.Applied{Index: c.index}, r.Err
}

// benchWorld is n groups of 10 running instances with an hour of metric
// points at one per 30 s, evaluated every 30 s by the seed's policy.
func benchWorld(b *testing.B, n int, now time.Time) *localCluster {
	c := &localCluster{f: fsm.New(nil)}
	do := func(t fsm.MessageType, cmd any) {
		if _, err := c.Apply(context.Background(), t, cmd); err != nil {
			b.Fatalf("%s: %v", fsm.CommandName(t), err)
		}
	}
	spec := scaler.GroupSpec{Min: 1, Max: 50, MetricPeriod: scaler.Duration(30 * time.Second),
		ScaleInStabilization: scaler.Duration(5 * time.Minute),
		Policies:             []scaler.Policy{{Name: "seed", Reactive: &scaler.Reactive{Threshold: 0.6}}}}
	policy, _ := json.Marshal(spec)
	do(fsm.UpsertCloudType, fsm.UpsertCloud{Cloud: fsm.Cloud{Name: "c1", Priority: 1}})
	for i := range n {
		name := fmt.Sprintf("t%d", i)
		do(fsm.ApplyTenantType, fsm.ApplyTenant{Tenant: fsm.TenantSpec{Name: name, Networks: []fsm.Network{{Name: "net",
			Subnets: []fsm.Subnet{{CIDR: fmt.Sprintf("10.%d.%d.0/24", i/256, i%256), RangeStart: fmt.Sprintf("10.%d.%d.10", i/256, i%256),
				RangeEnd: fmt.Sprintf("10.%d.%d.200", i/256, i%256)}}}}},
			Groups: []fsm.GroupSpec{{Name: "web", Network: "net", Min: 1, Max: 50, Policy: policy}}, Time: now.Add(-2 * time.Hour)})
		do(fsm.SetDesiredType, fsm.SetDesired{Tenant: name, Group: "web", Desired: 10, Time: now.Add(-2 * time.Hour)})
		var ni []fsm.NewInstance
		var up []fsm.InstanceUpdate
		for j := range 10 {
			id := fmt.Sprintf("%s-%d", name, j)
			ni = append(ni, fsm.NewInstance{ID: id, Tenant: name, Group: "web", Cloud: "c1"})
			up = append(up, fsm.InstanceUpdate{ID: id, State: fsm.StateProvisioning},
				fsm.InstanceUpdate{ID: id, State: fsm.StateRunning, Health: fsm.HealthHealthy})
		}
		do(fsm.CreateInstancesType, fsm.CreateInstances{Time: now.Add(-2 * time.Hour), Instances: ni})
		do(fsm.UpdateInstancesType, fsm.UpdateInstances{Time: now.Add(-2 * time.Hour), Updates: up})
		for k := 120; k > 0; k-- {
			do(fsm.RecordMetricsType, fsm.RecordMetrics{Tenant: name, Group: "web",
				Point: fsm.MetricPoint{Time: now.Add(-time.Duration(k) * 30 * time.Second), AvgCPU: 0.5, Instances: 10}})
		}
	}
	return c
}

// BenchmarkEvaluate: one evaluation round of 1,000 groups (read the FSM,
// build the input, decide, record the evaluation) against the baseline of
// scaler.Decide alone on the same inputs built beforehand. Report the
// ratio loop/decide.
func BenchmarkEvaluate(b *testing.B) {
	const groups = 1000
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	b.Run("decide-only", func(b *testing.B) {
		c := benchWorld(b, groups, now)
		svc := New(c, nil, Options{Parallel: 1})
		var ins []scaler.Input
		for i := range groups {
			key := fsm.GroupKey(fmt.Sprintf("t%d", i), "web")
			snap, _ := svc.read(key, now.Add(-10*time.Minute), now.Add(-10*time.Minute))
			spec := svc.spec(string(snap.group.Policy)).spec
			ins = append(ins, scaler.Input{Group: spec, Instances: instances(snap.instances),
				Metrics: samples(snap.metrics, spec.Metric, now.Add(-time.Minute), 30*time.Second), Interval: 30 * time.Second, Now: now})
		}
		b.ResetTimer()
		for range b.N {
			for i := range ins {
				_ = scaler.Decide(ins[i])
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*groups), "ns/group")
	})
	b.Run("loop", func(b *testing.B) {
		c := benchWorld(b, groups, now)
		at := now
		svc := New(c, nil, Options{Parallel: 1, Now: func() time.Time { return at }})
		b.ResetTimer()
		for range b.N {
			at = at.Add(30 * time.Second)
			svc.Tick(context.Background(), nil)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*groups), "ns/group")
	})
}
