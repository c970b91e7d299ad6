package site

import (
	"context"
	"fmt"

	"aas/fsm"
	"aas/nodes"
	"aas/nodes/driver"
	"aas/nodes/health"
)

// orphanSightings is how many consecutive listings must show an instance
// the FSM does not know before it is deleted: a follower's FSM may lag
// the commit that created it by a moment, never by two passes.
const orphanSightings = 2

// adopt lists every usable hypervisor of the cloud and compares with the
// FSM: orphans are deleted, running instances that vanished, exited or
// turned unhealthy are reported failed, health and address changes are
// reported. It returns the FSM updates to write.
func (r *Reconciler) adopt(ctx context.Context, v *view) []fsm.InstanceUpdate {
	var ups []fsm.InstanceUpdate
	seen := map[string]bool{}
	for _, h := range v.hyps {
		if !usable(h) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, r.cfg.ListTimeout)
		list, err := r.client(h).List(cctx, r.cfg.Cluster.Term())
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("list instances", "hypervisor", h.ID, "error", err)
			}
			continue
		}
		has := make(map[string]nodes.InstanceStatus, len(list))
		for _, st := range list {
			has[st.ID] = st
			fi, known := v.byID[st.ID]
			switch {
			case known && fi.State.Terminal():
				r.deleteOrphan(ctx, h, st.ID, "instance is "+string(fi.State))
			case known && (fi.State == fsm.StatePending || fi.Hypervisor == h.ID):
				// ours, or about to be placed
			default:
				seen[st.ID] = true
				r.mu.Lock()
				r.orphan[st.ID]++
				n := r.orphan[st.ID]
				r.mu.Unlock()
				if n >= orphanSightings {
					why := "unknown to the cluster"
					if known {
						why = "the cluster places it on " + fi.Hypervisor
					}
					r.deleteOrphan(ctx, h, st.ID, why)
				}
			}
		}
		for _, fi := range v.instances {
			if fi.Hypervisor != h.ID || r.isBusy(fi.ID) {
				continue
			}
			if fi.State != fsm.StateRunning && fi.State != fsm.StateDraining {
				continue
			}
			st, ok := has[fi.ID]
			if u, changed := observe(fi, st, ok, h.ID); changed {
				ups = append(ups, u)
			}
		}
	}
	r.mu.Lock()
	for id := range r.orphan {
		if !seen[id] {
			delete(r.orphan, id)
		}
	}
	r.mu.Unlock()
	return ups
}

// observe compares a running or draining FSM instance with what its agent
// reports and returns the update to write, if any.
func observe(fi fsm.Instance, st nodes.InstanceStatus, listed bool, hyp string) (fsm.InstanceUpdate, bool) {
	u := fsm.InstanceUpdate{ID: fi.ID}
	switch {
	case !listed:
		u.State, u.Reason = fsm.StateFailed, "vanished from hypervisor "+hyp
	case st.State != driver.StateRunning:
		u.State, u.Reason = fsm.StateFailed, fmt.Sprintf("%s on hypervisor %s", st.State, hyp)
	case st.Health.Status == health.StatusGone:
		u.State, u.Reason = fsm.StateFailed, "gone from hypervisor "+hyp
	case st.Health.Status == health.StatusUnhealthy:
		u.State, u.Health = fsm.StateFailed, fsm.HealthUnhealthy
		u.Reason = "unhealthy: " + st.Health.LastError
	default:
		changed := false
		if hl := healthOf(st.Health.Status); hl != fi.Health {
			u.Health, changed = hl, true
		}
		if st.Addr != "" && st.Addr != fi.Address {
			u.Address, changed = st.Addr, true
		}
		return u, changed
	}
	return u, true
}

// deleteOrphan deletes an instance the FSM does not account for.
func (r *Reconciler) deleteOrphan(ctx context.Context, h fsm.Hypervisor, id, why string) {
	r.spawn(ctx, id, func(ctx context.Context) {
		cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
		defer cancel()
		if err := r.client(h).Delete(cctx, r.cfg.Cluster.Term(), id); err != nil {
			if ctx.Err() == nil {
				r.log.Warn("delete orphan", "instance", id, "hypervisor", h.ID, "error", err)
			}
			return
		}
		r.mu.Lock()
		delete(r.orphan, id)
		r.mu.Unlock()
		r.log.Info("deleted orphan instance", "instance", id, "hypervisor", h.ID, "why", why)
	})
}

// healthOf maps an agent health status to the FSM's.
func healthOf(s health.Status) fsm.Health {
	switch s {
	case health.StatusHealthy:
		return fsm.HealthHealthy
	case health.StatusUnhealthy, health.StatusGone:
		return fsm.HealthUnhealthy
	}
	return fsm.HealthUnknown
}
