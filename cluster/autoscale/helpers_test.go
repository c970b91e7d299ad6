package autoscale

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"aas/cluster"
	"aas/cluster/clustertest"
	"aas/fsm"
	"aas/internal/poll"
	"aas/scaler"
)

// The real controller satisfies the interface the loop needs.
var _ Cluster = (*cluster.Server)(nil)

// node is an in-process controller with the autoscale loop registered.
type node struct {
	srv *cluster.Server
	svc *Service
}

func startNode(t testing.TB, cfg cluster.Config, opts Options) *node {
	t.Helper()
	s := clustertest.Start(t, cfg)
	svc := New(s, cfg.Logger, opts)
	s.RegisterLeaderService("autoscale", svc.Run)
	return &node{srv: s, svc: svc}
}

// startCluster starts n controllers (bootstrap-expect n) and waits for an
// established leader.
func startCluster(t testing.TB, n int, opts Options) []*node {
	t.Helper()
	var nodes []*node
	for i := 1; i <= n; i++ {
		cfg := clustertest.Config(t, fmt.Sprintf("s%d", i))
		if n == 1 {
			cfg.Bootstrap = true
		} else {
			cfg.BootstrapExpect = n
			if i > 1 {
				cfg.Join = []string{nodes[0].srv.HTTPAddr()}
			}
		}
		nodes = append(nodes, startNode(t, cfg, opts))
	}
	waitLeader(t, nodes, nil)
	return nodes
}

// waitLeader waits for an established leader other than not.
func waitLeader(t testing.TB, nodes []*node, not *node) *node {
	t.Helper()
	var leader *node
	waitFor(t, 60*time.Second, "an established leader", func() (bool, string) {
		for _, n := range nodes {
			if n != not && n.srv.LeadershipEstablished() {
				leader = n
				return true, ""
			}
		}
		return false, "none yet"
	})
	return leader
}

// waitFor polls cond until it holds or the deadline passes.
var waitFor = poll.Until

// apply commits an FSM command through s.
var apply = clustertest.Apply

// setupTenant writes cloud c1 and tenant acme with group web (the policy
// encoded as cluster/tenant's ToFSM does: the scaler's GroupSpec as JSON)
// at the given desired count (set by an operator an hour ago).
func setupTenant(t testing.TB, s *cluster.Server, spec scaler.GroupSpec, desired int) {
	t.Helper()
	policy, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	apply(t, s, fsm.UpsertCloudType, fsm.UpsertCloud{Cloud: fsm.Cloud{Name: "c1", Priority: 1}})
	apply(t, s, fsm.ApplyTenantType, fsm.ApplyTenant{
		Tenant: fsm.TenantSpec{Name: "acme", Networks: []fsm.Network{{Name: "net", Subnets: []fsm.Subnet{{
			CIDR: "198.18.10.0/24", Gateway: "198.18.10.1", RangeStart: "198.18.10.10", RangeEnd: "198.18.10.200"}}}}},
		Groups: []fsm.GroupSpec{{Name: "web", Network: "net", Min: spec.Min, Max: spec.Max, Policy: policy,
			Clouds: []fsm.CloudPreference{{Cloud: "c1", Priority: 1}}}},
		Time: now,
	})
	// Stamped an hour ago: the operator's initial scale-out is not a
	// cooldown the test has to wait out.
	apply(t, s, fsm.SetDesiredType, fsm.SetDesired{Tenant: "acme", Group: "web", Desired: desired,
		Time: now.Add(-time.Hour), Source: fsm.SourceManual})
}

// world stands in for the converger and the site reconcilers at the one
// seam the test cannot run for real (hypervisors): it keeps the group's
// running, healthy instances equal to the desired count, straight through
// FSM commands, and records one metric point per tick with the CPU the
// test sets — what a site reports from its hypervisors' stats. CPU < 0
// means no metrics at all (the hypervisors do not answer).
type world struct {
	t     testing.TB
	nodes []*node
	cpu   atomic.Uint64 // math.Float64bits
	seq   int
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	down  map[*node]bool
}

func newWorld(t testing.TB, nodes []*node, cpu float64) *world {
	w := &world{t: t, nodes: nodes, stop: make(chan struct{}), down: map[*node]bool{}}
	w.setCPU(cpu)
	return w
}

func (w *world) setCPU(v float64) { w.cpu.Store(math.Float64bits(v)) }

func (w *world) markDown(n *node) {
	w.mu.Lock()
	w.down[n] = true
	w.mu.Unlock()
}

// via returns a live node to send commands through.
func (w *world) via() *node {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.nodes {
		if !w.down[n] {
			return n
		}
	}
	return nil
}

// run ticks every period until close.
func (w *world) run(period time.Duration) {
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-t.C:
				w.tick()
			}
		}
	}()
}

func (w *world) close() {
	close(w.stop)
	w.wg.Wait()
}

func (w *world) tick() {
	n := w.via()
	if n == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var desired int
	var live []fsm.Instance
	n.srv.FSM().Read(func(st *fsm.State) {
		if g := st.Groups[fsm.GroupKey("acme", "web")]; g != nil {
			desired = g.Desired
		}
		live = st.LiveGroupInstances("acme", "web")
	})
	sort.Slice(live, func(i, j int) bool {
		return live[i].Created.Before(live[j].Created) || live[i].Created.Equal(live[j].Created) && live[i].ID < live[j].ID
	})
	now := time.Now()
	switch {
	case len(live) < desired:
		var ni []fsm.NewInstance
		var up []fsm.InstanceUpdate
		for range desired - len(live) {
			w.seq++
			id := fmt.Sprintf("web-%d-%d", now.UnixNano(), w.seq)
			ni = append(ni, fsm.NewInstance{ID: id, Tenant: "acme", Group: "web", Cloud: "c1"})
			up = append(up, fsm.InstanceUpdate{ID: id, State: fsm.StateProvisioning},
				fsm.InstanceUpdate{ID: id, State: fsm.StateRunning, Health: fsm.HealthHealthy})
		}
		if _, err := n.srv.Apply(ctx, fsm.CreateInstancesType, fsm.CreateInstances{Time: now, Instances: ni}); err != nil {
			return
		}
		_, _ = n.srv.Apply(ctx, fsm.UpdateInstancesType, fsm.UpdateInstances{Time: now, Updates: up})
		return
	case len(live) > desired:
		var up []fsm.InstanceUpdate
		for _, in := range live[desired:] { // newest first out
			up = append(up, fsm.InstanceUpdate{ID: in.ID, State: fsm.StateDraining},
				fsm.InstanceUpdate{ID: in.ID, State: fsm.StateTerminating},
				fsm.InstanceUpdate{ID: in.ID, State: fsm.StateTerminated})
		}
		_, _ = n.srv.Apply(ctx, fsm.UpdateInstancesType, fsm.UpdateInstances{Time: now, Updates: up})
		return
	}
	cpu := math.Float64frombits(w.cpu.Load())
	if cpu < 0 || len(live) == 0 {
		return
	}
	_, _ = n.srv.Apply(ctx, fsm.RecordMetricsType, fsm.RecordMetrics{Tenant: "acme", Group: "web",
		Point: fsm.MetricPoint{Time: now, AvgCPU: cpu, Instances: len(live)}})
}

// scaleActivity returns the scale entries of acme/web.
func scaleActivity(s *cluster.Server) []fsm.ActivityEntry {
	var out []fsm.ActivityEntry
	s.FSM().Read(func(st *fsm.State) {
		for _, e := range st.Activity {
			if e.Kind == "scale" && e.Tenant == "acme" && e.Group == "web" && e.Policy != fsm.SourceManual {
				out = append(out, e)
			}
		}
	})
	return out
}

func evaluations(s *cluster.Server) []fsm.Evaluation {
	var out []fsm.Evaluation
	s.FSM().Read(func(st *fsm.State) { out = st.EvaluationHistory("acme", "web") })
	return out
}

func group(s *cluster.Server) fsm.Group {
	var g fsm.Group
	s.FSM().Read(func(st *fsm.State) {
		if p, ok := st.Group("acme", "web"); ok {
			g = p
		}
	})
	return g
}

func describe(es []fsm.ActivityEntry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "[%s %d→%d %s] ", e.Time.Format("15:04:05.000"), e.From, e.To, e.Reason)
	}
	return b.String()
}
