package site

import (
	"context"
	"sort"

	"aas/cluster/tenant"
	"aas/fsm"
	"aas/nodes/driver"
)

// RecordStats polls every usable hypervisor's stats once and writes one
// RecordMetrics per group with running instances in this cloud: the
// average CPU utilisation (0..1 of the instance's allotment) over ready
// instances (running and healthy) and how many that is, plus each
// running instance's load (the FSM keeps those only for tenants that log
// samples). A group without a ready, sampled instance gets no point:
// missing metrics must not look like an idle group.
func (r *Reconciler) RecordStats(ctx context.Context) {
	v := r.read()
	samples := map[string]driver.Stats{}
	for _, h := range v.hyps {
		if !usable(h) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, r.cfg.ListTimeout)
		st, err := r.client(h).Stats(cctx, r.cfg.Cluster.Term(), 0)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("stats", "hypervisor", h.ID, "error", err)
			}
			continue
		}
		for _, s := range st {
			samples[s.Latest.ID] = s.Latest
		}
	}
	for _, cmd := range aggregate(v, samples, r.cfg.DefaultTemplate) {
		cmd.Point.Time = r.cfg.Now()
		actx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
		_, err := r.cfg.Cluster.Apply(actx, fsm.RecordMetricsType, cmd)
		cancel()
		if err != nil && ctx.Err() == nil {
			r.log.Debug("record metrics", "group", fsm.GroupKey(cmd.Tenant, cmd.Group), "error", err)
		}
	}
}

// aggregate builds the per-group metric commands (without time) from the
// newest samples; pure.
func aggregate(v *view, samples map[string]driver.Stats, def tenant.Template) []fsm.RecordMetrics {
	type acc struct {
		cmd   fsm.RecordMetrics
		sum   float64
		ready int
	}
	groups := map[string]*acc{}
	for _, in := range v.instances {
		if in.State != fsm.StateRunning {
			continue
		}
		k := fsm.GroupKey(in.Tenant, in.Group)
		a := groups[k]
		if a == nil {
			a = &acc{cmd: fsm.RecordMetrics{Tenant: in.Tenant, Group: in.Group}}
			groups[k] = a
		}
		s, ok := samples[in.ID]
		if !ok {
			continue
		}
		alloc := 1.0
		if g, ok := v.groups[k]; ok {
			if t, err := template(g.Template, def); err == nil {
				alloc = vcpus(t, v.hypByID[in.Hypervisor].Driver)
			}
		}
		cpu := s.CPU / alloc
		if cpu < 0 {
			cpu = 0
		}
		if v.logs[in.Tenant] {
			a.cmd.Instances = append(a.cmd.Instances, fsm.InstanceLoad{ID: in.ID, CPU: cpu})
		}
		if in.Health == fsm.HealthHealthy {
			a.sum += cpu
			a.ready++
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []fsm.RecordMetrics
	for _, k := range keys {
		a := groups[k]
		if a.ready == 0 {
			continue
		}
		a.cmd.Point.AvgCPU = a.sum / float64(a.ready)
		a.cmd.Point.Instances = a.ready // what the average is over (scaler.Sample)
		out = append(out, a.cmd)
	}
	return out
}
