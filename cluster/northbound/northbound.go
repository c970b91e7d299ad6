// Package northbound is the controller's user-facing HTTP API: tenants
// (validate, apply, diff, get, list, delete), scaling groups (list, get,
// manual scale, suspend, resume), instances (list, protect), the activity
// log and the metrics export (JSON or CSV), the retention settings, and the
// Prometheus endpoint /metrics. Register adds every route to a running
// cluster.Server; every write is one Raft command through Server.Apply
// (forwarded to the leader from a follower). See DESIGN.md for the
// resource table.
package northbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"aas/cluster"
	"aas/cluster/acl"
	"aas/cluster/api"
	"aas/cluster/northbound/wire"
	"aas/fsm"
)

// Sentinel errors.
var (
	// ErrTooLarge: a request body exceeds its limit (413).
	ErrTooLarge = errors.New("request body too large")
	// ErrSecretsNotSealed: the tenant file asks for encrypted secrets but
	// the server has no sealing function configured (Options.SealSecret),
	// so the secrets would reach the Raft log in plaintext; refused (400).
	ErrSecretsNotSealed = errors.New("secret encryption is not configured on this server")
	// ErrRegistered: Register was called twice for the same server.
	ErrRegistered = errors.New("northbound routes already registered")
)

// Options tune the API. The zero value is usable.
type Options struct {
	// Logger is the parent logger; the API logs as "northbound".
	Logger hclog.Logger
	// Now stamps the commands (default time.Now). Commands carry their
	// time; the FSM never reads a clock.
	Now func() time.Time
	// Registry receives the Prometheus collectors served at /metrics
	// (default: a fresh registry for this server, never the global one).
	Registry *prometheus.Registry
	// SealSecret encrypts one secret value of a tenant file whose
	// settings ask for encrypted passwords (AES-GCM under the cluster key;
	// the security work provides it). Nil: such files are refused when
	// they carry a secret.
	SealSecret func(plain string) (string, error)
	// OpenSecret decrypts a sealed value (the inverse of SealSecret). Diff
	// uses it to compare a stored sealed secret with the file's plaintext
	// (sealing is randomised, so sealed values never compare equal).
	// Nil: sealed secrets are compared as redacted (a changed password
	// does not show in a diff).
	OpenSecret func(sealed string) (string, error)
	// ApplyTimeout bounds one Raft write (default 15s).
	ApplyTimeout time.Duration
}

// API serves the northbound resources of one server.
type API struct {
	srv     *cluster.Server
	log     hclog.Logger
	now     func() time.Time
	seal    func(string) (string, error)
	open    func(string) (string, error)
	timeout time.Duration
	reg     *prometheus.Registry
	metrics *collector
	applied *appliedWaiter
}

// Register adds the northbound routes and /metrics to srv with default
// options and the server's keyring (srv.Keyring) for tenant secrets.
// Call it once, right after cluster.New.
func Register(srv *cluster.Server, logger hclog.Logger) error {
	opts := Options{Logger: logger}
	if kr := srv.Keyring(); kr != nil {
		opts.SealSecret, opts.OpenSecret = kr.Seal, kr.Open
	}
	_, err := New(srv, opts)
	return err
}

// authorize is acl.Authorize for the tenant a request touches: 403 for a
// token of another tenant, nil with ACLs off.
func authorize(r *http.Request, tenant string) error { return acl.Authorize(r.Context(), tenant) }

// visible reports whether a list entry of tenant may be shown.
func visible(r *http.Request, tenant string) bool { return acl.Visible(r.Context(), tenant) }

// New registers the routes on srv and returns the API (for its Registry).
func New(srv *cluster.Server, opts Options) (a *API, err error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.ApplyTimeout <= 0 {
		opts.ApplyTimeout = 15 * time.Second
	}
	a = &API{srv: srv, log: opts.Logger.Named("northbound"), now: opts.Now, seal: opts.SealSecret, open: opts.OpenSecret,
		timeout: opts.ApplyTimeout, reg: opts.Registry}
	a.metrics = newCollector(srv)
	a.applied = newAppliedWaiter(srv.FSM())
	if err := a.reg.Register(a.metrics); err != nil {
		return nil, fmt.Errorf("northbound: prometheus: %w", err)
	}
	defer func() {
		// Router.Handle panics on a duplicate pattern, like ServeMux.
		if r := recover(); r != nil {
			a, err = nil, fmt.Errorf("%w: %v", ErrRegistered, r)
		}
	}()
	a.routes(srv.Router())
	return a, nil
}

// Registry is the Prometheus registry served at /metrics.
func (a *API) Registry() *prometheus.Registry { return a.reg }

func (a *API) routes(rt *api.Router) {
	rt.Handle("POST", "/v1/tenants/validate", a.handleValidate)
	rt.Handle("POST", "/v1/tenants", a.handleApply)
	rt.Handle("PUT", "/v1/tenants/{name}", a.handleApply)
	rt.Handle("GET", "/v1/tenants", a.handleListTenants)
	rt.Handle("GET", "/v1/tenants/{name}", a.handleGetTenant)
	rt.Handle("DELETE", "/v1/tenants/{name}", a.handleDeleteTenant)
	rt.Handle("POST", "/v1/tenants/{name}/diff", a.handleDiff)

	rt.Handle("GET", "/v1/groups", a.handleListGroups)
	rt.Handle("GET", "/v1/tenants/{tenant}/groups", a.handleListGroups)
	rt.Handle("GET", "/v1/tenants/{tenant}/groups/{group}", a.handleGetGroup)
	rt.Handle("POST", "/v1/tenants/{tenant}/groups/{group}/scale", a.handleScale)
	rt.Handle("POST", "/v1/tenants/{tenant}/groups/{group}/suspend", a.handleSuspend(true))
	rt.Handle("POST", "/v1/tenants/{tenant}/groups/{group}/resume", a.handleSuspend(false))

	rt.Handle("GET", "/v1/instances", a.handleListInstances)
	rt.Handle("GET", "/v1/instances/{id}", a.handleGetInstance)
	rt.Handle("POST", "/v1/instances/{id}/protect", a.handleProtect)

	rt.Handle("GET", "/v1/activity", a.handleActivity)
	rt.Handle("GET", "/v1/metrics/export", a.handleMetricsExport)
	rt.Handle("GET", "/v1/settings", a.handleGetSettings)
	rt.Handle("PUT", "/v1/settings", a.handlePutSettings)

	rt.HandleHTTP("GET", "/metrics", a.metricsHandler())
}

// apply commits one command and turns an FSM rejection into an API error
// with the right status (the cluster's generic mapping would say 422).
// It returns once the local state includes the command, so a handler reads
// its own write even on a follower.
func (a *API) apply(ctx context.Context, t fsm.MessageType, payload any) (cluster.Applied, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	start := time.Now()
	res, err := a.srv.Apply(ctx, t, payload)
	a.metrics.observeWrite(t, time.Since(start), err)
	if err != nil {
		return res, rejection(err)
	}
	if err := a.applied.wait(ctx, res.Index); err != nil {
		return res, err
	}
	return res, nil
}

// fsmReasons maps the fsm's rejection reasons to API sentinels. The
// message fragments recognise a rejection forwarded from the leader, whose
// sentinel does not survive the hop.
var fsmReasons = []struct {
	reason string
	text   string
	api    error
}{
	{"not_found", "not found", api.ErrNotFound},
	{"version_conflict", "version conflict", api.ErrConflict},
	{"conflict", "conflict", api.ErrConflict},
	{"in_use", "in use", api.ErrConflict},
	{"deleting", "being deleted", api.ErrConflict},
	{"suspended", "group suspended", api.ErrConflict},
	{"capacity", "no capacity", api.ErrConflict},
	{"invalid_transition", "invalid lifecycle transition", api.ErrConflict},
	{"bad_command", "bad command", api.ErrBadRequest},
}

// rejection classifies an Apply error. Errors that are not a rejection
// (no leader, shutdown, timeouts) pass through unchanged.
func rejection(err error) error {
	if !errors.Is(err, cluster.ErrCommandRejected) {
		return err
	}
	reason := fsm.Reason(err)
	msg := strings.TrimPrefix(err.Error(), cluster.ErrCommandRejected.Error()+": ")
	for _, r := range fsmReasons {
		if reason == r.reason || (reason == "" || reason == "bad_command") && strings.Contains(msg, r.text) {
			// Drop ErrCommandRejected from the chain (it maps to 422)
			// but keep the fsm sentinel for errors.Is.
			return fmt.Errorf("%w: %w", r.api, fsm.RemoteError(r.reason, msg))
		}
	}
	return fmt.Errorf("%w: %s", api.ErrBadRequest, msg)
}

// readBody reads at most limit bytes; a longer body is ErrTooLarge (413).
func readBody(r *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading body: %v", api.ErrBadRequest, err)
	}
	if int64(len(data)) > limit {
		return nil, &api.StatusError{Code: http.StatusRequestEntityTooLarge,
			Err: fmt.Errorf("%w: the limit is %d bytes", ErrTooLarge, limit)}
	}
	return data, nil
}

// decodeOptional decodes a small JSON body strictly; an empty body leaves
// v as it is.
func decodeOptional(r *http.Request, v any) error {
	data, err := readBody(r, wire.MaxJSONBody)
	if err != nil {
		return err
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil
	}
	return decodeStrict(data, v)
}
