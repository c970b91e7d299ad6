// Package client is the Go client of the controller HTTP API, used by the
// ctl client commands, by controllers talking to each other (join, write
// forwarding) and by tests.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"aas/cluster/api"
)

// DefaultAddress is where client commands look for the agent when neither
// -address nor CTL_ADDR is given.
const DefaultAddress = "http://127.0.0.1:7070"

// EnvAddress is the environment variable naming the agent's address.
const EnvAddress = "CTL_ADDR"

// ResolveAddress picks flag value, then $CTL_ADDR, then DefaultAddress.
func ResolveAddress(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if v := os.Getenv(EnvAddress); v != "" {
		return v
	}
	return DefaultAddress
}

// NormalizeAddress turns "host:port" into "http://host:port" and strips a
// trailing slash.
func NormalizeAddress(addr string) string {
	addr = strings.TrimRight(strings.TrimSpace(addr), "/")
	if addr != "" && !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return addr
}

// Error is a non-2xx answer. It matches the api sentinel errors with
// errors.Is according to its status code (503 → api.ErrNoLeader or
// api.ErrUnavailable, 421 → api.ErrNotLeader, 404 → api.ErrNotFound, ...).
type Error struct {
	Code    int
	Message string
	// Leader is the leader's HTTP address carried by a 421 answer.
	Leader string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Code) }

// Is maps the status code back to the api sentinels.
func (e *Error) Is(target error) bool {
	switch target {
	case api.ErrNotLeader:
		return e.Code == http.StatusMisdirectedRequest
	case api.ErrNoLeader:
		return e.Code == http.StatusServiceUnavailable && strings.Contains(e.Message, api.ErrNoLeader.Error())
	case api.ErrUnavailable:
		return e.Code == http.StatusServiceUnavailable
	case api.ErrNotFound:
		return e.Code == http.StatusNotFound
	case api.ErrBadRequest:
		return e.Code == http.StatusBadRequest
	case api.ErrConflict:
		return e.Code == http.StatusConflict
	}
	return false
}

// Client talks to one agent.
type Client struct {
	addr string
	http *http.Client
}

// New returns a client for the agent at addr ("host:port" or a URL).
func New(addr string) *Client {
	return &Client{addr: NormalizeAddress(addr), http: &http.Client{Timeout: 30 * time.Second}}
}

// WithHTTPClient replaces the underlying http.Client.
func (c *Client) WithHTTPClient(h *http.Client) *Client { c.http = h; return c }

// Address is the agent's base URL.
func (c *Client) Address() string { return c.addr }

// Do sends a request and decodes a JSON answer into out (if non-nil). body
// is JSON-encoded unless it is a []byte (sent as application/octet-stream).
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/octet-stream"
	default:
		buf, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd, ctype = bytes.NewReader(buf), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.addr+path, rd)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Code: resp.StatusCode, Message: strings.TrimSpace(string(data))}
		var er api.ErrorResponse
		if json.Unmarshal(data, &er) == nil && er.Error != "" {
			e.Message, e.Leader = er.Error, er.Leader
		}
		return e
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decoding answer: %w", method, path, err)
	}
	return nil
}

// Leader returns the current raft leader as the agent sees it.
func (c *Client) Leader(ctx context.Context) (api.LeaderInfo, error) {
	var l api.LeaderInfo
	err := c.Do(ctx, http.MethodGet, "/v1/status/leader", nil, &l)
	return l, err
}

// Peers returns the raft configuration.
func (c *Client) Peers(ctx context.Context) ([]api.Peer, error) {
	var p []api.Peer
	err := c.Do(ctx, http.MethodGet, "/v1/status/peers", nil, &p)
	return p, err
}

// Hypervisors returns the hypervisors in the replicated state.
func (c *Client) Hypervisors(ctx context.Context) ([]api.Hypervisor, error) {
	var h []api.Hypervisor
	err := c.Do(ctx, http.MethodGet, "/v1/hypervisors", nil, &h)
	return h, err
}

// Members returns the gossip members the agent sees.
func (c *Client) Members(ctx context.Context) ([]api.Member, error) {
	var m []api.Member
	err := c.Do(ctx, http.MethodGet, "/v1/members", nil, &m)
	return m, err
}

// Health returns the agent's health summary.
func (c *Client) Health(ctx context.Context) (api.Health, error) {
	var h api.Health
	err := c.Do(ctx, http.MethodGet, "/v1/health", nil, &h)
	return h, err
}

// Ready reports whether /readyz answers 200, with its per-check text.
func (c *Client) Ready(ctx context.Context) (bool, string, error) {
	var raw []byte
	err := c.Do(ctx, http.MethodGet, "/readyz", nil, &raw)
	var e *Error
	if errors.As(err, &e) && e.Code == http.StatusServiceUnavailable {
		return false, e.Message, nil
	}
	if err != nil {
		return false, "", err
	}
	return true, string(raw), nil
}

// Identity returns the agent's identity and the controllers it knows.
func (c *Client) Identity(ctx context.Context) (api.IdentityResponse, error) {
	var id api.IdentityResponse
	err := c.Do(ctx, http.MethodGet, "/v1/internal/identity", nil, &id)
	return id, err
}

// ExchangeIdentity sends self and returns the agent's identity and the
// controllers it knows (discovery between controllers).
func (c *Client) ExchangeIdentity(ctx context.Context, self api.Identity) (api.IdentityResponse, error) {
	var id api.IdentityResponse
	err := c.Do(ctx, http.MethodPost, "/v1/internal/identity", self, &id)
	return id, err
}

// Join asks the agent to join the cluster one of addrs belongs to.
func (c *Client) Join(ctx context.Context, addrs ...string) (api.JoinResponse, error) {
	var out api.JoinResponse
	err := c.Do(ctx, http.MethodPost, "/v1/join", api.JoinRequest{Addresses: addrs}, &out)
	return out, err
}

// Leave asks the agent to leave the cluster gracefully and shut down.
func (c *Client) Leave(ctx context.Context) error {
	return c.Do(ctx, http.MethodPost, "/v1/leave", nil, nil)
}

// RemovePeer removes a server from the raft configuration.
func (c *Client) RemovePeer(ctx context.Context, id string) error {
	return c.Do(ctx, http.MethodDelete, "/v1/peers/"+url.PathEscape(id), nil, nil)
}

// AddVoter asks the agent (forwarded to the leader if it is a follower) to
// add node as a voter. Used by a joining controller.
func (c *Client) AddVoter(ctx context.Context, node api.Identity) (api.AddVoterResponse, error) {
	var out api.AddVoterResponse
	err := c.Do(ctx, http.MethodPost, "/v1/internal/add-voter", api.AddVoterRequest{Node: node}, &out)
	return out, err
}

// Apply sends an encoded fsm command (type byte + payload) to be committed.
func (c *Client) Apply(ctx context.Context, cmd []byte) (api.ApplyResponse, error) {
	var out api.ApplyResponse
	err := c.Do(ctx, http.MethodPost, "/v1/internal/apply", cmd, &out)
	return out, err
}
