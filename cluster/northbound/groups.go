package northbound

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"aas/cluster/acl"
	"aas/cluster/api"
	"aas/cluster/northbound/wire"
	"aas/fsm"
)

// PolicyManual names manual decisions in the activity log.
const PolicyManual = "manual"

func groupView(st *fsm.State, g fsm.Group) wire.Group {
	out := wire.Group{Group: g, Live: st.LiveCount(g.Tenant, g.Name)}
	for _, inst := range st.GroupInstances(g.Tenant, g.Name) {
		if out.ByState == nil {
			out.ByState = map[string]int{}
		}
		out.ByState[string(inst.State)]++
	}
	return out
}

func (a *API) handleListGroups(w http.ResponseWriter, r *http.Request) (any, error) {
	tn := r.PathValue("tenant")
	if tn == "" {
		tn = r.URL.Query().Get("tenant")
	}
	if tn != "" {
		if err := authorize(r, tn); err != nil {
			return nil, err
		}
	}
	out := []wire.Group{}
	found := tn == ""
	a.srv.FSM().Read(func(st *fsm.State) {
		var groups []fsm.Group
		if tn == "" {
			groups = st.AllGroups()
		} else {
			_, found = st.Tenant(tn)
			groups = st.TenantGroups(tn)
		}
		for _, g := range groups {
			if visible(r, g.Tenant) {
				out = append(out, groupView(st, g))
			}
		}
	})
	if !found {
		return nil, fmt.Errorf("%w: tenant %q", api.ErrNotFound, tn)
	}
	return out, nil
}

func (a *API) handleGetGroup(w http.ResponseWriter, r *http.Request) (any, error) {
	tn, gn := r.PathValue("tenant"), r.PathValue("group")
	if err := authorize(r, tn); err != nil {
		return nil, err
	}
	var (
		out wire.Group
		ok  bool
	)
	a.srv.FSM().Read(func(st *fsm.State) {
		var g fsm.Group
		if g, ok = st.Group(tn, gn); ok {
			out = groupView(st, g)
		}
	})
	if !ok {
		return nil, fmt.Errorf("%w: group %s/%s", api.ErrNotFound, tn, gn)
	}
	return out, nil
}

func (a *API) handleScale(w http.ResponseWriter, r *http.Request) (any, error) {
	tn, gn := r.PathValue("tenant"), r.PathValue("group")
	if err := authorize(r, tn); err != nil {
		return nil, err
	}
	req := wire.ScaleRequest{Desired: -1}
	if err := decodeOptional(r, &req); err != nil {
		return nil, err
	}
	if req.Desired < 0 {
		return nil, fmt.Errorf("%w: field desired: want an instance count >= 0", api.ErrBadRequest)
	}
	reason := strings.TrimSpace(req.Reason)
	if reason == "" {
		reason = "manual scale through the API"
	}
	res, err := a.apply(r.Context(), fsm.SetDesiredType, fsm.SetDesired{Tenant: tn, Group: gn, Desired: req.Desired,
		Time: a.now().UTC(), Source: fsm.SourceManual, Policy: PolicyManual, Reason: reason})
	if err != nil {
		return nil, err
	}
	out := wire.ScaleResponse{Tenant: tn, Group: gn, Requested: req.Desired}
	if err := decodeStrict(res.Value, &out.Desired); err != nil {
		return nil, fmt.Errorf("scale %s/%s: result %q: %w", tn, gn, res.Value, err)
	}
	return out, nil
}

func (a *API) handleSuspend(suspend bool) api.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		tn, gn := r.PathValue("tenant"), r.PathValue("group")
		if err := authorize(r, tn); err != nil {
			return nil, err
		}
		var req wire.SuspendRequest
		if err := decodeOptional(r, &req); err != nil {
			return nil, err
		}
		if _, err := a.apply(r.Context(), fsm.SetGroupSuspendedType, fsm.SetGroupSuspended{Tenant: tn, Group: gn,
			Suspended: suspend, Reason: strings.TrimSpace(req.Reason), Time: a.now().UTC()}); err != nil {
			return nil, err
		}
		return a.handleGetGroup(w, r)
	}
}

// instanceFilter selects instances by the query parameters tenant, group,
// cloud and state (empty: any).
type instanceFilter struct {
	tenant, group, cloud, state string
	// visible hides other tenants' instances from a tenant token.
	visible func(tenant string) bool
}

func (f instanceFilter) match(i *fsm.Instance) bool {
	return (f.visible == nil || f.visible(i.Tenant)) && (f.tenant == "" || i.Tenant == f.tenant) && (f.group == "" || i.Group == f.group) &&
		(f.cloud == "" || i.Cloud == f.cloud) && (f.state == "" || string(i.State) == f.state)
}

func (a *API) handleListInstances(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	f := instanceFilter{tenant: q.Get("tenant"), group: q.Get("group"), cloud: q.Get("cloud"), state: q.Get("state"),
		visible: func(t string) bool { return visible(r, t) }}
	if f.tenant != "" {
		if err := authorize(r, f.tenant); err != nil {
			return nil, err
		}
	}
	out := []fsm.Instance{}
	a.srv.FSM().Read(func(st *fsm.State) {
		if f.tenant != "" && f.group != "" {
			for _, i := range st.GroupInstances(f.tenant, f.group) {
				if f.match(&i) {
					out = append(out, i)
				}
			}
			return
		}
		for _, i := range st.Instances {
			if f.match(i) {
				out = append(out, *i)
			}
		}
	})
	slices.SortFunc(out, func(x, y fsm.Instance) int { return cmp.Compare(x.ID, y.ID) })
	return out, nil
}

func (a *API) handleGetInstance(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	var (
		out fsm.Instance
		ok  bool
	)
	a.srv.FSM().Read(func(st *fsm.State) { out, ok = st.Instance(id) })
	if !ok {
		return nil, fmt.Errorf("%w: instance %q", api.ErrNotFound, id)
	}
	if err := authorize(r, out.Tenant); err != nil {
		return nil, err
	}
	return out, nil
}

// authorizeInstance checks the caller may use the tenant of instance id
// (an unknown instance passes: the command then fails with 404).
func (a *API) authorizeInstance(r *http.Request, id string) error {
	var (
		inst fsm.Instance
		ok   bool
	)
	a.srv.FSM().Read(func(st *fsm.State) { inst, ok = st.Instance(id) })
	if !ok {
		return acl.AuthorizeManagement(r.Context())
	}
	return authorize(r, inst.Tenant)
}

func (a *API) handleProtect(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if err := a.authorizeInstance(r, id); err != nil {
		return nil, err
	}
	req := wire.ProtectRequest{Protected: true}
	if err := decodeOptional(r, &req); err != nil {
		return nil, err
	}
	if _, err := a.apply(r.Context(), fsm.SetInstanceProtectedType,
		fsm.SetInstanceProtected{ID: id, Protected: req.Protected, Time: a.now().UTC()}); err != nil {
		return nil, err
	}
	return a.handleGetInstance(w, r)
}

func (a *API) settings() fsm.Settings {
	var s fsm.Settings
	a.srv.FSM().Read(func(st *fsm.State) { s = st.Settings })
	return s
}

func (a *API) handleGetSettings(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := acl.AuthorizeManagement(r.Context()); err != nil {
		return nil, err
	}
	return a.settings(), nil
}

func (a *API) handlePutSettings(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := acl.AuthorizeManagement(r.Context()); err != nil {
		return nil, err
	}
	var req wire.SettingsRequest
	data, err := readBody(r, wire.MaxJSONBody)
	if err != nil {
		return nil, err
	}
	if err := decodeStrict(data, &req); err != nil {
		return nil, err
	}
	s := a.settings()
	for _, f := range []struct {
		name string
		v    *int
		dst  *int
	}{
		{"activity_cap", req.ActivityCap, &s.ActivityCap},
		{"metric_history_cap", req.MetricHistoryCap, &s.MetricHistoryCap},
		{"instance_sample_cap", req.InstanceSampleCap, &s.InstanceSampleCap},
		{"fired_slot_cap", req.FiredSlotCap, &s.FiredSlotCap},
	} {
		if f.v == nil {
			continue
		}
		if *f.v < 1 || *f.v > fsm.MaxCap {
			return nil, fmt.Errorf("%w: field %s: %d is outside [1,%d]", api.ErrBadRequest, f.name, *f.v, fsm.MaxCap)
		}
		*f.dst = *f.v
	}
	if _, err := a.apply(r.Context(), fsm.SetSettingsType, fsm.SetSettings{Settings: s}); err != nil {
		return nil, err
	}
	return a.settings(), nil
}
