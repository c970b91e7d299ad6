package site

import (
	"context"
	"sort"
	"time"

	"aas/cluster/tenant"
	"aas/fsm"
	"aas/nodes/driver"
)

// RequestCounter reports how many new connections this controller's load
// balancer has sent to each instance, by instance ID, as cumulative
// counters (lbsync.ProxySync and lbsync.IPTablesSync implement it). A
// counter that goes down was reset; an instance that is not listed has
// received nothing (yet).
type RequestCounter interface {
	InstanceRequests() map[string]uint64
}

// requestLoad is the request rates of one stats pass.
type requestLoad struct {
	rates    map[string]float64 // instance ID → new connections per second
	measured bool               // rates cover the interval since the previous pass
}

// RecordStats polls every usable hypervisor's stats once and writes one
// RecordMetrics per group with running instances in this cloud: the
// average CPU utilisation (0..1 of the instance's allotment) over ready
// instances (running and healthy) and how many that is, the request rate
// the load balancer sent to the cloud's running instances (Config.Requests),
// plus each running instance's load (the FSM keeps those only for tenants
// that log samples). Every point carries this cloud's name. A group
// without a ready, sampled instance gets no point: missing metrics must not
// look like an idle group.
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
	now := r.cfg.Now()
	req := r.requestLoad(now)
	for _, cmd := range aggregate(v, samples, req, r.cfg.Cloud, r.cfg.DefaultTemplate) {
		cmd.Point.Time = now
		actx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
		_, err := r.cfg.Cluster.Apply(actx, fsm.RecordMetricsType, cmd)
		cancel()
		if err != nil && ctx.Err() == nil {
			r.log.Debug("record metrics", "group", fsm.GroupKey(cmd.Tenant, cmd.Group), "error", err)
		}
	}
}

// requestLoad reads the load balancer's counters and turns them into rates
// over the time since the previous reading (none without a counter source
// or before a second reading).
func (r *Reconciler) requestLoad(now time.Time) requestLoad {
	if r.cfg.Requests == nil {
		return requestLoad{}
	}
	cur := r.cfg.Requests.InstanceRequests()
	r.mu.Lock()
	defer r.mu.Unlock()
	prev, prevAt := r.reqPrev, r.reqAt
	r.reqPrev, r.reqAt = cur, now
	if prevAt.IsZero() || !now.After(prevAt) {
		return requestLoad{}
	}
	return requestLoad{rates: requestRates(prev, cur, now.Sub(prevAt)), measured: true}
}

// requestRates is each instance's new connections per second between two
// readings dt apart; pure. A counter below its previous value was reset
// (its new value is what came since); an instance without a previous
// value counts from 0.
func requestRates(prev, cur map[string]uint64, dt time.Duration) map[string]float64 {
	out := make(map[string]float64, len(cur))
	if dt <= 0 {
		return out
	}
	for id, c := range cur {
		d := c
		if p, ok := prev[id]; ok && c >= p {
			d = c - p
		}
		out[id] = float64(d) / dt.Seconds()
	}
	return out
}

// aggregate builds the per-group metric commands (without time) of cloud
// from the newest samples and request rates; pure.
func aggregate(v *view, samples map[string]driver.Stats, req requestLoad, cloud string, def tenant.Template) []fsm.RecordMetrics {
	type acc struct {
		cmd   fsm.RecordMetrics
		sum   float64
		ready int
		rps   float64
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
		var rps float64
		if req.measured {
			rps = req.rates[in.ID]
		}
		a.rps += rps
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
			a.cmd.Instances = append(a.cmd.Instances, fsm.InstanceLoad{ID: in.ID, CPU: cpu, RPS: rps})
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
		a.cmd.Point.Cloud = cloud
		a.cmd.Point.AvgCPU = a.sum / float64(a.ready)
		a.cmd.Point.Instances = a.ready // what the average is over (scaler.Sample)
		if req.measured {
			a.cmd.Point.RPS, a.cmd.Point.RPSMeasured = a.rps, true
		}
		out = append(out, a.cmd)
	}
	return out
}
