package northbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"strconv"

	"aas/cluster/api"
	"aas/cluster/northbound/wire"
	"aas/cluster/secrets"
	"aas/cluster/tenant"
	"aas/fsm"
	"aas/scaler"
)

// decodeStrict decodes JSON refusing unknown fields and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: decoding body: %v", api.ErrBadRequest, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: decoding body: trailing data after the JSON value", api.ErrBadRequest)
	}
	return nil
}

// fileName is the name tenant errors carry: ?file= (its base name only),
// default "tenant.yml".
func fileName(r *http.Request) string {
	if f := r.URL.Query().Get(wire.ParamFile); f != "" {
		return path.Base(f)
	}
	return "tenant.yml"
}

// parseTenant reads and parses the tenant file of a request. A file the
// parser rejects gives a *tenantError (400 with every field error).
func parseTenant(r *http.Request) (*tenant.Spec, error) {
	data, err := readBody(r, wire.MaxTenantFileSize)
	if err != nil {
		return nil, err
	}
	spec, err := tenant.Parse(data, fileName(r))
	if err != nil {
		return nil, &tenantError{code: http.StatusBadRequest, err: err}
	}
	return spec, nil
}

// tenantError is a rejected tenant file; it is written as
// wire.ValidationErrors by writeTenantError.
type tenantError struct {
	code int
	err  error
}

func (e *tenantError) Error() string { return e.err.Error() }
func (e *tenantError) Unwrap() error { return e.err }

// fail writes err: a tenantError as its field list, anything else is
// returned for the router to map.
func fail(w http.ResponseWriter, err error) (any, error) {
	var te *tenantError
	if !errors.As(err, &te) {
		return nil, err
	}
	body := wire.ValidationErrors{Error: te.err.Error(), Errors: []wire.FieldError{}}
	var fes tenant.FieldErrors
	var fe *tenant.FieldError
	switch {
	case errors.As(te.err, &fes):
		for _, e := range fes {
			body.Errors = append(body.Errors, fieldError(e))
		}
	case errors.As(te.err, &fe):
		body.Errors = append(body.Errors, fieldError(fe))
	default:
		body.Errors = append(body.Errors, wire.FieldError{Reason: te.err.Error(), Text: te.err.Error()})
	}
	api.WriteJSON(w, te.code, body)
	return nil, nil
}

func fieldError(e *tenant.FieldError) wire.FieldError {
	return wire.FieldError{File: e.File, Line: e.Line, Field: e.Field, Reason: e.Reason, Text: e.Error()}
}

func (a *API) handleValidate(w http.ResponseWriter, r *http.Request) (any, error) {
	spec, err := parseTenant(r)
	if err != nil {
		return fail(w, err)
	}
	if err := authorize(r, spec.Name); err != nil {
		return nil, err
	}
	return wire.Validated{Spec: tenant.Redact(spec)}, nil
}

// tenantView is what the handlers read of one tenant in a single read of
// the state, so that the checks and the expected version agree.
type tenantView struct {
	exists  bool
	version uint64
	current *fsm.ApplyTenant // the tenant as an apply command (nil if absent)
	others  []tenant.Spec    // every tenant, for CheckConflicts
}

func (a *API) readTenant(name string) tenantView {
	var v tenantView
	a.srv.FSM().Read(func(st *fsm.State) {
		for _, n := range st.TenantNames() {
			t, _ := st.Tenant(n)
			v.others = append(v.others, tenant.FromFSM(&t))
			if n != name {
				continue
			}
			v.exists, v.version = true, t.Version
			v.current = commandOf(t, st.TenantGroups(n))
		}
	})
	return v
}

// commandOf rebuilds the apply command that describes a tenant as stored.
func commandOf(t fsm.Tenant, groups []fsm.Group) *fsm.ApplyTenant {
	c := &fsm.ApplyTenant{Tenant: fsm.TenantSpec{Name: t.Name, PublicIP: t.PublicIP, Networks: t.Networks, Settings: t.Settings}}
	for _, g := range groups {
		c.Groups = append(c.Groups, fsm.GroupSpec{Name: g.Name, Network: g.Network, Min: g.Min, Max: g.Max,
			Policy: g.Policy, Template: g.Template, Clouds: g.Clouds, DrainPeriod: g.DrainPeriod})
	}
	return c
}

// specOf turns an apply command back into a tenant spec. Diff compares
// two specs that both went through ToFSM and specOf, so that the parts
// the replicated state does not keep apart (tenant-level clouds, presets)
// do not show up as changes.
func specOf(c *fsm.ApplyTenant) (*tenant.Spec, error) {
	s := &tenant.Spec{Name: c.Tenant.Name, PublicIP: c.Tenant.PublicIP, Format: tenant.FormatRich,
		Settings: tenant.Settings{Logging: c.Tenant.Settings.LogSamples, EncryptPasswords: c.Tenant.Settings.EncryptSecrets,
			Retention: scaler.Duration(c.Tenant.Settings.Retention)}}
	for _, nw := range c.Tenant.Networks {
		n := tenant.Network{Name: nw.Name}
		for _, sn := range nw.Subnets {
			n.Subnets = append(n.Subnets, tenant.Subnet{CIDR: sn.CIDR, Gateway: sn.Gateway, DHCPStart: sn.RangeStart, DHCPEnd: sn.RangeEnd})
		}
		s.Networks = append(s.Networks, n)
	}
	for _, g := range c.Groups {
		tg := tenant.Group{Name: g.Name, Network: g.Network, Drain: scaler.Duration(g.DrainPeriod)}
		if tg.Network == "" && len(s.Networks) == 1 {
			tg.Network = s.Networks[0].Name
		}
		if len(g.Policy) > 0 {
			p, err := tenant.PolicyOf(g.Policy)
			if err != nil {
				return nil, fmt.Errorf("tenant %s group %s: stored policy: %w", c.Tenant.Name, g.Name, err)
			}
			tg.Scaling.GroupSpec = p
		}
		tg.Scaling.Min, tg.Scaling.Max = g.Min, g.Max
		tmpl, err := tenant.TemplateOf(g.Template)
		if err != nil {
			return nil, fmt.Errorf("tenant %s group %s: stored template: %w", c.Tenant.Name, g.Name, err)
		}
		tg.Template = tmpl
		for _, cp := range g.Clouds {
			tg.Clouds = append(tg.Clouds, tenant.Cloud{Name: cp.Cloud, Priority: cp.Priority, MaxInstances: cp.Max})
		}
		s.Groups = append(s.Groups, tg)
	}
	return s, nil
}

// changes lists what applying next over the tenant view would change.
// Sealed secrets are opened (or, without an opener, redacted) on both
// sides first: sealing is randomised, so the sealed forms of the same
// password always differ.
func (a *API) changes(v tenantView, next *fsm.ApplyTenant) ([]tenant.Change, error) {
	var cur *tenant.Spec
	if v.current != nil {
		var err error
		if cur, err = specOf(v.current); err != nil {
			return nil, err
		}
		a.revealSecrets(cur)
	}
	ns, err := specOf(next)
	if err != nil {
		return nil, err
	}
	a.revealSecrets(ns)
	out := tenant.Diff(cur, ns)
	if out == nil {
		out = []tenant.Change{}
	}
	return out, nil
}

// expectedVersion reads ?version=; ok is false when it is absent.
func expectedVersion(r *http.Request) (uint64, bool, error) {
	s := r.URL.Query().Get(wire.ParamVersion)
	if s == "" {
		return 0, false, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%w: query parameter %s=%q: want a non-negative integer", api.ErrBadRequest, wire.ParamVersion, s)
	}
	return v, true, nil
}

// prepare parses and checks a tenant file against the current state and
// builds its apply command (secrets sealed, not yet stamped).
func (a *API) prepare(r *http.Request) (*tenant.Spec, tenantView, *fsm.ApplyTenant, error) {
	spec, err := parseTenant(r)
	if err != nil {
		return nil, tenantView{}, nil, err
	}
	if name := r.PathValue("name"); name != "" && name != spec.Name {
		return nil, tenantView{}, nil, &tenantError{code: http.StatusBadRequest,
			err: spec.Errorf("name", "the file names tenant %q but the request is for %q", spec.Name, name)}
	}
	if err := authorize(r, spec.Name); err != nil {
		return nil, tenantView{}, nil, err
	}
	v := a.readTenant(spec.Name)
	if err := tenant.CheckConflicts(spec, v.others); err != nil {
		return nil, v, nil, &tenantError{code: http.StatusConflict, err: err}
	}
	if err := a.sealSecrets(spec); err != nil {
		return nil, v, nil, err
	}
	cmd, err := tenant.ToFSM(spec)
	if err != nil {
		return nil, v, nil, fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	return spec, v, cmd, nil
}

// revealSecrets replaces every sealed secret of spec (a copy rebuilt for
// a diff, never stored or shown) with its plaintext, or with
// tenant.Redacted when it cannot be opened. Diff only shows secrets as
// fingerprinted placeholders.
func (a *API) revealSecrets(spec *tenant.Spec) {
	for _, p := range tenant.Secrets(spec) {
		if !secrets.IsSealed(*p) {
			continue
		}
		plain := tenant.Redacted
		if a.open != nil {
			if v, err := a.open(*p); err == nil {
				plain = v
			} else {
				a.log.Warn("cannot open a sealed secret for a diff", "tenant", spec.Name, "error", err)
			}
		}
		*p = plain
	}
}

// sealSecrets encrypts the secrets in place when the tenant asks for it.
func (a *API) sealSecrets(spec *tenant.Spec) error {
	if !spec.Settings.EncryptPasswords {
		return nil
	}
	secrets := tenant.Secrets(spec)
	if len(secrets) == 0 {
		return nil
	}
	if a.seal == nil {
		return fmt.Errorf("%w: %w (tenant %q has %d secret(s) and encrypt_passwords set)", api.ErrBadRequest, ErrSecretsNotSealed, spec.Name, len(secrets))
	}
	for _, p := range secrets {
		sealed, err := a.seal(*p)
		if err != nil {
			return fmt.Errorf("sealing a secret of tenant %q: %w", spec.Name, err)
		}
		*p = sealed
	}
	return nil
}

func (a *API) handleApply(w http.ResponseWriter, r *http.Request) (any, error) {
	want, given, err := expectedVersion(r)
	if err != nil {
		return nil, err
	}
	spec, v, cmd, err := a.prepare(r)
	if err != nil {
		return fail(w, err)
	}
	// Always send the version the checks saw: a change in between makes
	// the command fail instead of applying over unchecked state.
	if !given {
		want = v.version
	}
	chg, err := a.changes(v, cmd)
	if err != nil {
		return nil, err
	}
	cmd.ExpectedVersion = &want
	cmd.Time = a.now().UTC()
	res, err := a.apply(r.Context(), fsm.ApplyTenantType, cmd)
	if err != nil {
		return nil, err
	}
	out := wire.Applied{Tenant: spec.Name, Created: !v.exists, Index: res.Index, Changes: chg}
	if err := json.Unmarshal(res.Value, &out.Version); err != nil {
		return nil, fmt.Errorf("apply tenant %q: decoding the new version %q: %w", spec.Name, res.Value, err)
	}
	a.log.Info("tenant applied", "tenant", spec.Name, "version", out.Version, "changes", len(chg))
	return out, nil
}

func (a *API) handleDiff(w http.ResponseWriter, r *http.Request) (any, error) {
	spec, v, cmd, err := a.prepare(r)
	if err != nil {
		return fail(w, err)
	}
	chg, err := a.changes(v, cmd)
	if err != nil {
		return nil, err
	}
	return wire.Diff{Tenant: spec.Name, Exists: v.exists, Version: v.version, Changes: chg}, nil
}

func summary(t fsm.Tenant) wire.TenantSummary {
	s := wire.TenantSummary{Name: t.Name, Version: t.Version, PublicIP: t.PublicIP, Groups: append([]string{}, t.Groups...),
		Networks: []string{}, Deleting: t.Deleting, Created: t.Created, Updated: t.Updated}
	for _, n := range t.Networks {
		s.Networks = append(s.Networks, n.Name)
	}
	return s
}

func (a *API) handleListTenants(w http.ResponseWriter, r *http.Request) (any, error) {
	out := []wire.TenantSummary{}
	a.srv.FSM().Read(func(st *fsm.State) {
		for _, n := range st.TenantNames() {
			if !visible(r, n) {
				continue
			}
			t, _ := st.Tenant(n)
			out = append(out, summary(t))
		}
	})
	return out, nil
}

func (a *API) handleGetTenant(w http.ResponseWriter, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := authorize(r, name); err != nil {
		return nil, err
	}
	var (
		out   wire.Tenant
		cmd   *fsm.ApplyTenant
		found bool
	)
	a.srv.FSM().Read(func(st *fsm.State) {
		t, ok := st.Tenant(name)
		if !ok {
			return
		}
		found = true
		out.TenantSummary = summary(t)
		cmd = commandOf(t, st.TenantGroups(name))
	})
	if !found {
		return nil, fmt.Errorf("%w: tenant %q", api.ErrNotFound, name)
	}
	spec, err := specOf(cmd)
	if err != nil {
		return nil, err
	}
	out.Spec = tenant.Redact(spec)
	return out, nil
}

func (a *API) handleDeleteTenant(w http.ResponseWriter, r *http.Request) (any, error) {
	name := r.PathValue("name")
	if err := authorize(r, name); err != nil {
		return nil, err
	}
	want, given, err := expectedVersion(r)
	if err != nil {
		return nil, err
	}
	cmd := fsm.DeleteTenant{Name: name, Time: a.now().UTC()}
	if given {
		cmd.ExpectedVersion = &want
	}
	if _, err := a.apply(r.Context(), fsm.DeleteTenantType, cmd); err != nil {
		return nil, err
	}
	a.log.Info("tenant deletion requested", "tenant", name)
	return map[string]string{"deleted": name}, nil
}
