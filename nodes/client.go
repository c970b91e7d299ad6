package nodes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"aas/nodes/driver"
	"aas/nodes/health"
)

// Client is the typed client of a hypervisor agent's node API, used by the
// controllers' site reconcilers. Errors wrap the package's sentinels
// (ErrStaleTerm, ErrNotFound, ErrInvalidSpec, ErrBadRequest, ...).
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client for the agent at baseURL (http://host:port or
// https://host:port). hc may be nil; for mutual TLS pass a client whose
// transport has the controller's certificate.
func NewClient(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	if !strings.Contains(baseURL, "://") {
		baseURL = "http://" + baseURL
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}
}

// Create creates spec.ID on the agent, or returns the existing instance of
// that ID (created reports which). term is the caller's Raft term.
func (c *Client) Create(ctx context.Context, term uint64, spec driver.InstanceSpec, check *health.Check) (st InstanceStatus, created bool, err error) {
	body, err := json.Marshal(CreateRequest{Spec: spec, Health: check})
	if err != nil {
		return InstanceStatus{}, false, err
	}
	status, err := c.do(ctx, http.MethodPost, "/v1/instances", term, spec.ID, body, &st)
	return st, status == http.StatusCreated, err
}

// Delete deletes instance id; deleting an unknown ID succeeds.
func (c *Client) Delete(ctx context.Context, term uint64, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/instances/"+url.PathEscape(id), term, id, nil, nil)
	return err
}

// List returns every instance on the agent with its health.
func (c *Client) List(ctx context.Context, term uint64) ([]InstanceStatus, error) {
	var r ListResponse
	_, err := c.do(ctx, http.MethodGet, "/v1/instances", term, "", nil, &r)
	return r.Instances, err
}

// Stats returns the newest CPU/memory sample of every running instance in
// one call, with up to recent older samples each.
func (c *Client) Stats(ctx context.Context, term uint64, recent int) ([]InstanceStats, error) {
	var r StatsResponse
	_, err := c.do(ctx, http.MethodGet, "/v1/stats?recent="+strconv.Itoa(recent), term, "", nil, &r)
	return r.Stats, err
}

// Health returns the agent's identity, capacity and counts.
func (c *Client) Health(ctx context.Context) (AgentHealth, error) {
	var h AgentHealth
	_, err := c.do(ctx, http.MethodGet, "/v1/health", 0, "", nil, &h)
	return h, err
}

func (c *Client) do(ctx context.Context, method, path string, term uint64, id string, body []byte, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if term > 0 || method != http.MethodGet {
		req.Header.Set(HeaderTerm, strconv.FormatUint(term, 10))
	}
	if id != "" {
		req.Header.Set(HeaderInstanceID, id)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("node api %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("node api %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e errorBody
		_ = json.Unmarshal(b, &e)
		for _, ec := range errorCodes {
			if ec.code == e.Code {
				msg := strings.TrimPrefix(strings.TrimPrefix(e.Error, ec.err.Error()), ": ")
				return resp.StatusCode, fmt.Errorf("node api %s %s: %w: %s", method, path, ec.err, msg)
			}
		}
		return resp.StatusCode, fmt.Errorf("node api %s %s: status %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("node api %s %s: decode: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// IsStaleTerm reports whether err is a term-fencing refusal.
func IsStaleTerm(err error) bool { return errors.Is(err, ErrStaleTerm) }
