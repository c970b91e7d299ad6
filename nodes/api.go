package nodes

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"aas/nodes/driver"
	"aas/nodes/health"
)

// HTTP headers of the node API.
const (
	// HeaderTerm carries the caller's Raft term (decimal). Required on
	// create and delete; checked when present on reads. Responses carry the
	// highest term the agent has seen.
	HeaderTerm = "X-Aas-Term"
	// HeaderInstanceID carries the instance ID, the idempotency key of
	// create and delete; it must match the body or path.
	HeaderInstanceID = "X-Aas-Instance-Id"
)

// ErrBadRequest: a malformed call (missing header, undecodable body).
var ErrBadRequest = errors.New("bad request")

// CreateRequest is the body of POST /v1/instances.
type CreateRequest struct {
	Spec driver.InstanceSpec `json:"spec"`
	// Health is the instance's health check (default: HTTP GET /healthz).
	Health *health.Check `json:"health,omitempty"`
}

// InstanceStatus is an instance with its health.
type InstanceStatus struct {
	driver.Instance
	Health health.Report `json:"health"`
}

// ListResponse is the body of GET /v1/instances.
type ListResponse struct {
	NodeID    string           `json:"node_id"`
	Instances []InstanceStatus `json:"instances"`
}

// InstanceStats is the newest sample of an instance plus recent ones.
type InstanceStats struct {
	Latest driver.Stats   `json:"latest"`
	Recent []driver.Stats `json:"recent,omitempty"`
}

// StatsResponse is the body of GET /v1/stats: every instance in one call.
type StatsResponse struct {
	NodeID string          `json:"node_id"`
	Stats  []InstanceStats `json:"stats"`
}

// AgentHealth is the body of GET /v1/health.
type AgentHealth struct {
	Status    string    `json:"status"`
	NodeID    string    `json:"node_id"`
	Cloud     string    `json:"cloud"`
	Driver    string    `json:"driver"`
	Capacity  Resources `json:"capacity"`
	Instances int       `json:"instances"`
	Running   int       `json:"running"`
	Term      uint64    `json:"term"`
}

// errorBody is every error response.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// Error codes on the wire, mapped back to sentinels by Client.
var errorCodes = []struct {
	err    error
	code   string
	status int
}{
	{ErrStaleTerm, "stale_term", http.StatusConflict},
	{driver.ErrInvalidSpec, "invalid_spec", http.StatusBadRequest},
	{health.ErrInvalidCheck, "invalid_check", http.StatusBadRequest},
	{ErrBadRequest, "bad_request", http.StatusBadRequest},
	{driver.ErrNotFound, "not_found", http.StatusNotFound},
	{driver.ErrDriverNotBuilt, "driver_not_built", http.StatusNotImplemented},
}

// handlerFunc is an API handler: it returns a value to encode as JSON or an
// error mapped to a status code. Wrapped once by serve.
type handlerFunc func(w http.ResponseWriter, r *http.Request) (any, error)

// created marks a result answered with 201.
type created struct{ v any }

func (a *Agent) serve(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := h(w, r)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(HeaderTerm, strconv.FormatUint(a.fence.Highest(), 10))
		if err != nil {
			status, code := http.StatusInternalServerError, "internal"
			for _, e := range errorCodes {
				if errors.Is(err, e.err) {
					status, code = e.status, e.code
					break
				}
			}
			if status == http.StatusInternalServerError {
				a.log.Error("api call failed", "method", r.Method, "path", r.URL.Path, "error", err)
			}
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(errorBody{Error: err.Error(), Code: code})
			return
		}
		status := http.StatusOK
		if c, ok := v.(created); ok {
			status, v = http.StatusCreated, c.v
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
}

func (a *Agent) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/instances", a.serve(a.handleCreate))
	mux.HandleFunc("DELETE /v1/instances/{id}", a.serve(a.handleDelete))
	mux.HandleFunc("GET /v1/instances", a.serve(a.handleList))
	mux.HandleFunc("GET /v1/stats", a.serve(a.handleStats))
	mux.HandleFunc("GET /v1/health", a.serve(a.handleHealth))
	return mux
}

// fenceTerm admits the request's term; required says whether it must be
// present.
func (a *Agent) fenceTerm(r *http.Request, required bool) error {
	v := r.Header.Get(HeaderTerm)
	if v == "" {
		if required {
			return fmt.Errorf("%w: header %s is required", ErrBadRequest, HeaderTerm)
		}
		return nil
	}
	term, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: header %s: %q is not a term", ErrBadRequest, HeaderTerm, v)
	}
	return a.fence.Observe(term)
}

func (a *Agent) handleCreate(w http.ResponseWriter, r *http.Request) (any, error) {
	var req CreateRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("%w: body: %v", ErrBadRequest, err)
	}
	if id := r.Header.Get(HeaderInstanceID); id == "" || id != req.Spec.ID {
		return nil, fmt.Errorf("%w: header %s %q must equal spec.id %q", ErrBadRequest, HeaderInstanceID, id, req.Spec.ID)
	}
	if err := a.fenceTerm(r, true); err != nil {
		return nil, err
	}
	st, isNew, err := a.createInstance(r.Context(), req)
	if err != nil {
		return nil, err
	}
	if isNew {
		return created{st}, nil
	}
	return st, nil
}

func (a *Agent) handleDelete(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if h := r.Header.Get(HeaderInstanceID); h != id {
		return nil, fmt.Errorf("%w: header %s %q must equal the path's %q", ErrBadRequest, HeaderInstanceID, h, id)
	}
	if err := driver.ValidID(id); err != nil {
		return nil, err
	}
	if err := a.fenceTerm(r, true); err != nil {
		return nil, err
	}
	if err := a.deleteInstance(r.Context(), id); err != nil {
		return nil, err
	}
	return map[string]string{"id": id, "status": "deleted"}, nil
}

func (a *Agent) handleList(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := a.fenceTerm(r, false); err != nil {
		return nil, err
	}
	list, err := a.List(r.Context())
	if err != nil {
		return nil, err
	}
	return ListResponse{NodeID: a.cfg.NodeID, Instances: list}, nil
}

func (a *Agent) handleStats(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := a.fenceTerm(r, false); err != nil {
		return nil, err
	}
	recent := 0
	if v := r.URL.Query().Get("recent"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: query recent: %q is not a count", ErrBadRequest, v)
		}
		recent = n
	}
	return StatsResponse{NodeID: a.cfg.NodeID, Stats: a.Stats(recent)}, nil
}

func (a *Agent) handleHealth(w http.ResponseWriter, r *http.Request) (any, error) {
	return a.Health(r.Context())
}
