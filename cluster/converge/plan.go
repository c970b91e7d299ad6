package converge

import (
	"fmt"
	"sort"

	"aas/fsm"
	"aas/scaler"
)

// Plan is what one group needs to match its desired count. Create entries
// lack IDs (the caller assigns them).
type Plan struct {
	Group   string // group key
	Create  []fsm.NewInstance
	Updates []fsm.InstanceUpdate
	Reason  string
}

// unlimited marks a capacity without bound (scaler.Cloud's convention).
const unlimited = -1

// capMin combines two capacities where -1 is unlimited.
func capMin(a, b int) int {
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	}
	return min(a, b)
}

// PlanAll plans every group of s (read-only; call inside FSM.Read). Pure:
// the same state gives the same plans.
//
//   - Counted instances are pending, provisioning and running (scaler's
//     Counted); draining ones are on their way out, failed and terminated
//     ones are gone — so a failed instance is replaced at once.
//   - Too few: draining instances on alive hypervisors are taken back
//     first (newest drain first), then new instances are placed with
//     scaler.Place over the group's clouds, each cloud's capacity being
//     the least of its own limit, the group's per-cloud max and what its
//     alive hypervisors can still hold (a cloud without alive hypervisors
//     takes nothing, so replacements go elsewhere).
//   - Too many: scaler.Place picks victims (least preferred cloud first,
//     newest first, never protected); running ones drain, pending ones
//     are cancelled, provisioning ones are terminated.
//
// Groups being deleted are left to the FSM's drain.
func PlanAll(s *fsm.State) []Plan { return Decide(Gather(s)) }

// Inputs is the part of the state a plan depends on, copied out of the
// FSM so that planning runs without holding its lock.
type Inputs struct {
	Clouds      []fsm.Cloud
	Hypervisors []fsm.Hypervisor
	// CloudLive is each cloud's live instance count.
	CloudLive map[string]int
	// HypervisorLive counts live instances per hypervisor; Unplaced per
	// cloud the live ones without a hypervisor yet.
	HypervisorLive map[string]int
	Unplaced       map[string]int
	Groups         []GroupInputs
}

// GroupInputs is one group with its live instances (oldest first).
type GroupInputs struct {
	Group fsm.Group
	Live  []fsm.Instance
}

// Gather copies the inputs of a plan out of s (call inside FSM.Read).
func Gather(s *fsm.State) Inputs {
	in := Inputs{Clouds: s.CloudList(), Hypervisors: s.HypervisorList(""), CloudLive: map[string]int{},
		HypervisorLive: map[string]int{}, Unplaced: map[string]int{}}
	for _, cl := range in.Clouds {
		in.CloudLive[cl.Name] = s.CloudLiveCount(cl.Name)
	}
	for _, inst := range s.Instances {
		if !inst.Live() {
			continue
		}
		if inst.Hypervisor == "" {
			in.Unplaced[inst.Cloud]++
		} else {
			in.HypervisorLive[inst.Hypervisor]++
		}
	}
	for _, g := range s.AllGroups() {
		if g.Deleting {
			continue
		}
		in.Groups = append(in.Groups, GroupInputs{Group: g, Live: s.LiveGroupInstances(g.Tenant, g.Name)})
	}
	return in
}

// Decide plans every group of the inputs (pure; see PlanAll).
func Decide(in Inputs) []Plan {
	alive := map[string]bool{}
	// What each cloud can still take.
	free := map[string]int{}
	for _, cl := range in.Clouds {
		cf := unlimited
		if cl.Capacity > 0 {
			cf = max(0, cl.Capacity-in.CloudLive[cl.Name])
		}
		hf, some := 0, false
		for _, h := range in.Hypervisors {
			if h.Cloud != cl.Name || h.Liveness != fsm.LivenessAlive {
				continue
			}
			alive[h.ID] = true
			some = true
			if hf == unlimited {
				continue
			}
			if h.Capacity <= 0 {
				hf = unlimited
			} else {
				hf += max(0, h.Capacity-in.HypervisorLive[h.ID])
			}
		}
		if !some {
			hf = 0
		} else if hf != unlimited {
			hf = max(0, hf-in.Unplaced[cl.Name])
		}
		free[cl.Name] = capMin(cf, hf)
	}
	priority := map[string]int{}
	for _, cl := range in.Clouds {
		priority[cl.Name] = cl.Priority
	}

	var plans []Plan
	for _, gi := range in.Groups {
		if gi.Group.Deleting {
			continue
		}
		p := planGroup(gi.Group, gi.Live, in.Clouds, priority, free, alive)
		if len(p.Create) > 0 || len(p.Updates) > 0 {
			plans = append(plans, p)
		}
	}
	return plans
}

// planGroup plans one group; it consumes free capacity for what it adds.
func planGroup(g fsm.Group, live []fsm.Instance, clouds []fsm.Cloud, priority map[string]int, free map[string]int, alive map[string]bool) Plan {
	p := Plan{Group: g.Key()}
	var counted, draining []fsm.Instance
	perCloud := map[string]int{}
	for _, in := range live {
		if scaler.InstanceState(in.State).Counted() {
			counted = append(counted, in)
			perCloud[in.Cloud]++
		} else if in.State == fsm.StateDraining {
			draining = append(draining, in)
		}
	}
	diff := g.Desired - len(counted)

	// The group's clouds, with what each can take for it now.
	var sc []scaler.Cloud
	if len(g.Clouds) > 0 {
		for _, pref := range g.Clouds {
			f, ok := free[pref.Cloud]
			if !ok {
				continue // not a known cloud
			}
			if pref.Max > 0 {
				f = capMin(f, max(0, pref.Max-perCloud[pref.Cloud]))
			}
			sc = append(sc, scaler.Cloud{Name: pref.Cloud, Priority: pref.Priority, Capacity: f})
		}
	} else {
		for _, cl := range clouds {
			sc = append(sc, scaler.Cloud{Name: cl.Name, Priority: priority[cl.Name], Capacity: free[cl.Name]})
		}
	}

	if diff > 0 && len(draining) > 0 {
		sort.SliceStable(draining, func(i, j int) bool {
			if !draining[i].Since.Equal(draining[j].Since) {
				return draining[i].Since.After(draining[j].Since)
			}
			return draining[i].ID > draining[j].ID
		})
		revived := 0
		for _, in := range draining {
			if diff == 0 {
				break
			}
			if !alive[in.Hypervisor] || in.Health == fsm.HealthUnhealthy {
				continue
			}
			p.Updates = append(p.Updates, fsm.InstanceUpdate{ID: in.ID, State: fsm.StateRunning,
				Reason: "taken back from draining: group below desired"})
			diff--
			revived++
		}
		if revived > 0 {
			p.Reason = fmt.Sprintf("revived %d draining; ", revived)
		}
	}
	switch {
	case diff > 0:
		pl, n, note := scaler.Place(sc, nil, diff)
		for _, a := range pl.Add {
			if a.Cloud == "" {
				continue // no cloud known: nothing can run it
			}
			for range a.Count {
				p.Create = append(p.Create, fsm.NewInstance{Tenant: g.Tenant, Group: g.Name, Cloud: a.Cloud})
			}
			if f := free[a.Cloud]; f != unlimited {
				free[a.Cloud] = max(0, f-a.Count)
			}
		}
		p.Reason += fmt.Sprintf("%d counted, desired %d: %s", len(counted), g.Desired, pl)
		if n < diff && note != "" {
			p.Reason += " (" + note + ")"
		}
	case diff < 0:
		ins := make([]scaler.Instance, len(counted))
		state := map[string]fsm.InstanceState{}
		for i, in := range counted {
			ins[i] = scaler.Instance{ID: in.ID, Cloud: in.Cloud, State: scaler.InstanceState(in.State),
				Created: in.Created, Protected: in.Protected, Ready: in.State == fsm.StateRunning && in.Health == fsm.HealthHealthy}
			state[in.ID] = in.State
		}
		pl, _, note := scaler.Place(sc, ins, diff)
		for _, id := range pl.Remove {
			u := fsm.InstanceUpdate{ID: id, Reason: fmt.Sprintf("scale-in: desired %d", g.Desired)}
			switch state[id] {
			case fsm.StateRunning:
				u.State = fsm.StateDraining
			case fsm.StateProvisioning:
				u.State = fsm.StateTerminating
			default:
				u.State = fsm.StateTerminated
			}
			p.Updates = append(p.Updates, u)
		}
		p.Reason += fmt.Sprintf("%d counted, desired %d: %s", len(counted), g.Desired, pl)
		if note != "" {
			p.Reason += " (" + note + ")"
		}
	}
	return p
}
