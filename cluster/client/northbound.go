package client

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"

	"aas/cluster/northbound/wire"
	"aas/fsm"
)

// This file holds the client side of the northbound API (tenants, groups,
// instances, activity, metrics export, settings); the server side is
// cluster/northbound, the bodies are in cluster/northbound/wire.

// tenantFileQuery names the file (for error messages) and the expected
// version (< 0: none).
func tenantFileQuery(file string, version int64) string {
	q := url.Values{}
	if file != "" {
		q.Set(wire.ParamFile, filepath.Base(file))
	}
	if version >= 0 {
		q.Set(wire.ParamVersion, strconv.FormatInt(version, 10))
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// ValidateTenant asks the agent to parse and validate a tenant file; file
// names it in errors. A rejected file is an *Error with code 400 whose
// Message lists "file:line: field: reason" lines.
func (c *Client) ValidateTenant(ctx context.Context, file string, data []byte) (wire.Validated, error) {
	var out wire.Validated
	err := c.Do(ctx, http.MethodPost, "/v1/tenants/validate"+tenantFileQuery(file, -1), data, &out)
	return out, err
}

// ApplyTenant applies a tenant file as one Raft command. version is the
// tenant's expected current version (0: must not exist yet; < 0: the
// version the agent sees when it checks the file).
func (c *Client) ApplyTenant(ctx context.Context, file string, data []byte, version int64) (wire.Applied, error) {
	var out wire.Applied
	err := c.Do(ctx, http.MethodPost, "/v1/tenants"+tenantFileQuery(file, version), data, &out)
	return out, err
}

// DiffTenant reports what applying a tenant file would change.
func (c *Client) DiffTenant(ctx context.Context, name, file string, data []byte) (wire.Diff, error) {
	var out wire.Diff
	err := c.Do(ctx, http.MethodPost, "/v1/tenants/"+url.PathEscape(name)+"/diff"+tenantFileQuery(file, -1), data, &out)
	return out, err
}

// Tenants lists the tenants.
func (c *Client) Tenants(ctx context.Context) ([]wire.TenantSummary, error) {
	var out []wire.TenantSummary
	err := c.Do(ctx, http.MethodGet, "/v1/tenants", nil, &out)
	return out, err
}

// Tenant returns one tenant with its spec (secrets redacted).
func (c *Client) Tenant(ctx context.Context, name string) (wire.Tenant, error) {
	var out wire.Tenant
	err := c.Do(ctx, http.MethodGet, "/v1/tenants/"+url.PathEscape(name), nil, &out)
	return out, err
}

// DeleteTenant deletes a tenant (its instances are drained first).
func (c *Client) DeleteTenant(ctx context.Context, name string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/tenants/"+url.PathEscape(name), nil, nil)
}

// Groups lists the scaling groups, of one tenant when tenant is not empty.
func (c *Client) Groups(ctx context.Context, tenant string) ([]wire.Group, error) {
	var out []wire.Group
	p := "/v1/groups"
	if tenant != "" {
		p += "?" + url.Values{"tenant": {tenant}}.Encode()
	}
	err := c.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

func groupPath(tenant, group string) string {
	return "/v1/tenants/" + url.PathEscape(tenant) + "/groups/" + url.PathEscape(group)
}

// Group returns one scaling group.
func (c *Client) Group(ctx context.Context, tenant, group string) (wire.Group, error) {
	var out wire.Group
	err := c.Do(ctx, http.MethodGet, groupPath(tenant, group), nil, &out)
	return out, err
}

// ScaleGroup sets a group's desired count manually (clamped to min/max).
func (c *Client) ScaleGroup(ctx context.Context, tenant, group string, desired int, reason string) (wire.ScaleResponse, error) {
	var out wire.ScaleResponse
	err := c.Do(ctx, http.MethodPost, groupPath(tenant, group)+"/scale", wire.ScaleRequest{Desired: desired, Reason: reason}, &out)
	return out, err
}

// SuspendGroup suspends (or, with suspend false, resumes) automatic
// scaling of a group.
func (c *Client) SuspendGroup(ctx context.Context, tenant, group string, suspend bool, reason string) (wire.Group, error) {
	var out wire.Group
	verb := "/resume"
	if suspend {
		verb = "/suspend"
	}
	err := c.Do(ctx, http.MethodPost, groupPath(tenant, group)+verb, wire.SuspendRequest{Reason: reason}, &out)
	return out, err
}

// InstanceFilter selects instances; empty fields match everything.
type InstanceFilter struct {
	Tenant, Group, Cloud, State string
}

// Instances lists instances.
func (c *Client) Instances(ctx context.Context, f InstanceFilter) ([]fsm.Instance, error) {
	q := url.Values{}
	for k, v := range map[string]string{"tenant": f.Tenant, "group": f.Group, "cloud": f.Cloud, "state": f.State} {
		if v != "" {
			q.Set(k, v)
		}
	}
	p := "/v1/instances"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out []fsm.Instance
	err := c.Do(ctx, http.MethodGet, p, nil, &out)
	return out, err
}

// ProtectInstance turns scale-in protection of an instance on or off.
func (c *Client) ProtectInstance(ctx context.Context, id string, protected bool) (fsm.Instance, error) {
	var out fsm.Instance
	err := c.Do(ctx, http.MethodPost, "/v1/instances/"+url.PathEscape(id)+"/protect", wire.ProtectRequest{Protected: protected}, &out)
	return out, err
}

// LogQuery selects activity entries or metrics: tenant, group, and a time
// range (Since/Until: RFC 3339 or a duration ago such as "90m").
type LogQuery struct {
	Tenant, Group, Since, Until string
}

func (q LogQuery) values(format string) string {
	v := url.Values{}
	for k, s := range map[string]string{"tenant": q.Tenant, "group": q.Group, "since": q.Since, "until": q.Until, "format": format} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// Activity returns the matching activity entries, oldest first.
func (c *Client) Activity(ctx context.Context, q LogQuery) ([]fsm.ActivityEntry, error) {
	var out []fsm.ActivityEntry
	err := c.Do(ctx, http.MethodGet, "/v1/activity"+q.values(wire.FormatJSON), nil, &out)
	return out, err
}

// ActivityCSV returns the matching activity entries as CSV.
func (c *Client) ActivityCSV(ctx context.Context, q LogQuery) ([]byte, error) {
	var out []byte
	err := c.Do(ctx, http.MethodGet, "/v1/activity"+q.values(wire.FormatCSV), nil, &out)
	return out, err
}

// MetricsExport returns the matching group metric points and instance
// load samples.
func (c *Client) MetricsExport(ctx context.Context, q LogQuery) (wire.MetricsExport, error) {
	var out wire.MetricsExport
	err := c.Do(ctx, http.MethodGet, "/v1/metrics/export"+q.values(wire.FormatJSON), nil, &out)
	return out, err
}

// MetricsCSV returns the matching metrics export as CSV.
func (c *Client) MetricsCSV(ctx context.Context, q LogQuery) ([]byte, error) {
	var out []byte
	err := c.Do(ctx, http.MethodGet, "/v1/metrics/export"+q.values(wire.FormatCSV), nil, &out)
	return out, err
}

// Settings returns the cluster-wide retention caps.
func (c *Client) Settings(ctx context.Context) (fsm.Settings, error) {
	var out fsm.Settings
	err := c.Do(ctx, http.MethodGet, "/v1/settings", nil, &out)
	return out, err
}

// SetSettings changes the retention caps given (nil fields are kept).
func (c *Client) SetSettings(ctx context.Context, req wire.SettingsRequest) (fsm.Settings, error) {
	var out fsm.Settings
	err := c.Do(ctx, http.MethodPut, "/v1/settings", req, &out)
	return out, err
}
