package cluster

import (
	"context"
	"fmt"
	"sort"
	"time"

	"aas/fsm"
)

// livenessOf maps a gossip member state to the liveness the FSM records.
func livenessOf(state string) fsm.Liveness {
	switch state {
	case MemberAlive:
		return fsm.LivenessAlive
	case MemberSuspect:
		return fsm.LivenessSuspect
	case MemberLeft:
		return fsm.LivenessLeft
	default:
		return fsm.LivenessFailed
	}
}

// livenessCommand is one write the reconciler decided on.
type livenessCommand struct {
	t       fsm.MessageType
	payload any
	id      string
}

// planLiveness compares gossip members with the FSM's hypervisors and
// returns the commands that bring the FSM in line: register or update
// hypervisors whose metadata changed, set liveness where it differs, and
// mark hypervisors gossip no longer lists at all as failed (unless they
// left). It is a pure function of its inputs.
func planLiveness(members []Member, hvs map[string]*fsm.Hypervisor, now time.Time) []livenessCommand {
	var out []livenessCommand
	seen := map[string]bool{}
	sort.Slice(members, func(i, j int) bool { return members[i].ID < members[j].ID })
	for _, m := range members {
		if m.Role != RoleHypervisor || m.ID == "" {
			continue
		}
		seen[m.ID] = true
		want := livenessOf(m.State)
		h, ok := hvs[m.ID]
		if !ok || h.Cloud != m.Cloud || h.Driver != m.Driver || h.APIAddr != m.APIAddr || h.GossipAddr != m.Addr || h.Capacity != m.Capacity {
			out = append(out, livenessCommand{t: fsm.UpsertHypervisorType, id: m.ID, payload: fsm.UpsertHypervisor{Hypervisor: fsm.Hypervisor{
				ID: m.ID, Cloud: m.Cloud, Driver: m.Driver, APIAddr: m.APIAddr, GossipAddr: m.Addr,
				Capacity: m.Capacity, Liveness: want, Since: now,
			}}})
			if ok && h.Liveness != want {
				out = append(out, livenessCommand{t: fsm.SetLivenessType, id: m.ID, payload: fsm.SetLiveness{ID: m.ID, Liveness: want, Time: now}})
			}
			continue
		}
		if h.Liveness != want {
			out = append(out, livenessCommand{t: fsm.SetLivenessType, id: m.ID, payload: fsm.SetLiveness{ID: m.ID, Liveness: want, Time: now}})
		}
	}
	ids := make([]string, 0, len(hvs))
	for id := range hvs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		h := hvs[id]
		if seen[id] || h.Liveness == fsm.LivenessLeft || h.Liveness == fsm.LivenessFailed {
			continue
		}
		out = append(out, livenessCommand{t: fsm.SetLivenessType, id: id, payload: fsm.SetLiveness{ID: id, Liveness: fsm.LivenessFailed, Time: now}})
	}
	return out
}

// runLivenessReconciler is the leader-only service that writes hypervisor
// registration and liveness from gossip into the FSM. Only the leader
// writes them, so replicas never race on a verdict.
func (s *Server) runLivenessReconciler(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.ReconcileInterval)
	defer tick.Stop()
	for {
		if err := s.reconcileLiveness(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("liveness reconcile failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-s.reconcileCh:
		}
	}
}

func (s *Server) reconcileLiveness(ctx context.Context) error {
	members := s.gossip.Members()
	var cmds []livenessCommand
	s.fsm.Read(func(st *fsm.State) {
		cmds = planLiveness(members, st.Hypervisors, time.Now().UTC())
	})
	for _, c := range cmds {
		if ctx.Err() != nil {
			return nil
		}
		if _, err := s.Apply(ctx, c.t, c.payload); err != nil {
			return fmt.Errorf("hypervisor %s: %s: %w", c.id, fsm.CommandName(c.t), err)
		}
		s.logger.Debug("hypervisor state written", "id", c.id, "command", fsm.CommandName(c.t))
	}
	return nil
}

// watchGossip keeps the directory current from server members' metadata
// and wakes the liveness reconciler on every membership change.
func (s *Server) watchGossip() {
	defer s.wg.Done()
	changes := s.gossip.Changes()
	for {
		s.mergeGossipServers()
		select {
		case s.reconcileCh <- struct{}{}:
		default:
		}
		select {
		case <-s.shutdownCh:
			return
		case _, ok := <-changes:
			if !ok {
				return
			}
		}
	}
}

func (s *Server) mergeGossipServers() {
	for _, m := range s.gossip.Members() {
		if m.Role == RoleServer && m.ID != s.self.ID && m.HTTPAddr != "" {
			cur, _ := s.dir.get(m.ID)
			cur.ID, cur.Cloud, cur.HTTPAddr, cur.RaftAddr, cur.GossipAddr = m.ID, m.Cloud, m.HTTPAddr, m.RaftAddr, m.Addr
			s.dir.merge(cur)
		}
	}
}
