// Package wire holds the request and response bodies of the northbound
// API (tenants, groups, instances, activity, metrics, settings), shared by
// the handlers in cluster/northbound and the Go client in cluster/client.
// It is a leaf: it imports only fsm and cluster/tenant, so the client can
// use it without importing the controller.
package wire

import (
	"time"

	"aas/cluster/tenant"
	"aas/fsm"
)

// MaxTenantFileSize bounds a tenant file sent to the API (the parser's own
// limit; larger bodies get 413).
const MaxTenantFileSize = tenant.MaxFileSize

// MaxJSONBody bounds the small JSON bodies (scale, protect, settings).
const MaxJSONBody = 64 << 10

// Query parameters of the tenant file endpoints.
const (
	// ParamFile names the file in error messages ("seed.yml:7: ...").
	ParamFile = "file"
	// ParamVersion is the expected current version of the tenant for
	// optimistic concurrency (0: the tenant must not exist yet).
	ParamVersion = "version"
)

// FieldError is one problem of a tenant file, as JSON.
type FieldError struct {
	File   string `json:"file,omitempty"`
	Line   int    `json:"line,omitempty"`
	Field  string `json:"field,omitempty"`
	Reason string `json:"reason"`
	// Text is the "file:line: field: reason" form.
	Text string `json:"text"`
}

// ValidationErrors is the 400 body for a rejected tenant file. Error is
// every problem, one "file:line: field: reason" per line (the api's
// ErrorResponse shape, so generic clients read it too).
type ValidationErrors struct {
	Error  string       `json:"error"`
	Errors []FieldError `json:"errors"`
}

// TenantSummary is one entry of GET /v1/tenants.
type TenantSummary struct {
	Name     string    `json:"name"`
	Version  uint64    `json:"version"`
	PublicIP string    `json:"public_ip,omitempty"`
	Networks []string  `json:"networks"`
	Groups   []string  `json:"groups"`
	Deleting bool      `json:"deleting,omitempty"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
}

// Tenant is GET /v1/tenants/{name}: the summary and the tenant as a spec
// rebuilt from the replicated state, secrets redacted.
type Tenant struct {
	TenantSummary
	Spec *tenant.Spec `json:"spec"`
}

// Validated is the answer of POST /v1/tenants/validate: the parsed spec
// with defaults filled in, secrets redacted.
type Validated struct {
	Spec *tenant.Spec `json:"spec"`
}

// Applied is the answer of PUT /v1/tenants/{name} and POST /v1/tenants.
type Applied struct {
	Tenant string `json:"tenant"`
	// Version is the tenant's new version.
	Version uint64 `json:"version"`
	// Created is true when the tenant did not exist before.
	Created bool `json:"created"`
	// Index is the Raft index the command was committed at.
	Index uint64 `json:"index"`
	// Changes is what the apply changed (empty for a no-op re-apply).
	Changes []tenant.Change `json:"changes"`
}

// Diff is the answer of POST /v1/tenants/{name}/diff.
type Diff struct {
	Tenant string `json:"tenant"`
	// Exists is false when applying would create the tenant.
	Exists bool `json:"exists"`
	// Version is the current version (0 for a new tenant): send it as
	// ?version= with the apply to be sure nothing changed in between.
	Version uint64          `json:"version"`
	Changes []tenant.Change `json:"changes"`
}

// Group is one scaling group with its live instance count.
type Group struct {
	fsm.Group
	// Live counts the group's live (non-terminal) instances.
	Live int `json:"live"`
	// ByState counts the group's instances per lifecycle state.
	ByState map[string]int `json:"by_state,omitempty"`
}

// ScaleRequest is the body of POST /v1/tenants/{t}/groups/{g}/scale.
type ScaleRequest struct {
	Desired int    `json:"desired"`
	Reason  string `json:"reason,omitempty"`
}

// ScaleResponse reports the desired count after clamping to [min,max].
type ScaleResponse struct {
	Tenant    string `json:"tenant"`
	Group     string `json:"group"`
	Requested int    `json:"requested"`
	Desired   int    `json:"desired"`
}

// SuspendRequest is the optional body of .../suspend and .../resume.
type SuspendRequest struct {
	Reason string `json:"reason,omitempty"`
}

// ProtectRequest is the body of POST /v1/instances/{id}/protect.
type ProtectRequest struct {
	Protected bool `json:"protected"`
}

// SettingsRequest is the body of PUT /v1/settings: the retention caps to
// change; absent fields keep their current value.
type SettingsRequest struct {
	ActivityCap       *int `json:"activity_cap,omitempty"`
	MetricHistoryCap  *int `json:"metric_history_cap,omitempty"`
	InstanceSampleCap *int `json:"instance_sample_cap,omitempty"`
	FiredSlotCap      *int `json:"fired_slot_cap,omitempty"`
}

// MetricPoint is one aggregated group metric point of the export.
type MetricPoint struct {
	Tenant string `json:"tenant"`
	Group  string `json:"group"`
	fsm.MetricPoint
}

// LoadSample is one per-instance load sample of the export.
type LoadSample struct {
	Tenant   string `json:"tenant"`
	Group    string `json:"group"`
	Cloud    string `json:"cloud"`
	Instance string `json:"instance"`
	fsm.LoadSample
}

// MetricsExport is the JSON form of GET /v1/metrics/export.
type MetricsExport struct {
	Points  []MetricPoint `json:"points"`
	Samples []LoadSample  `json:"samples"`
}

// Formats of the log endpoints (?format=).
const (
	FormatJSON = "json"
	FormatCSV  = "csv"
)
