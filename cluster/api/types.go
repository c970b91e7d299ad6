// Package api holds what the controller HTTP API and its clients share: the
// wire types of /v1/... and the handler convention — handlers return
// (value, error) and are wrapped once into JSON and status codes.
package api

import (
	"encoding/json"
	"time"
)

// LeaderInfo is the body of GET /v1/status/leader.
type LeaderInfo struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr"`
}

// Peer is one raft server of the configuration (GET /v1/status/peers).
type Peer struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr,omitempty"`
	Suffrage string `json:"suffrage"`
	Leader   bool   `json:"leader"`
}

// Identity describes a controller; exchanged during discovery and join.
type Identity struct {
	ID         string `json:"id"`
	Cloud      string `json:"cloud,omitempty"`
	RaftAddr   string `json:"raft_addr"`
	HTTPAddr   string `json:"http_addr"`
	GossipAddr string `json:"gossip_addr,omitempty"`
	// BootstrapExpect is the node's -bootstrap-expect (0: none).
	BootstrapExpect int `json:"bootstrap_expect,omitempty"`
	// HasState is true once the node has raft state (bootstrapped or joined).
	HasState bool `json:"has_state"`
	// Leader is the raft leader ID this node currently sees ("" if none).
	Leader string `json:"leader,omitempty"`
}

// IdentityResponse is the body of GET /v1/internal/identity: the node
// itself and every controller it knows (so discovery is transitive).
type IdentityResponse struct {
	Self  Identity   `json:"self"`
	Known []Identity `json:"known"`
}

// JoinRequest is the body of POST /v1/join: the receiving agent joins the
// cluster that one of Addresses (controller HTTP addresses) belongs to.
type JoinRequest struct {
	Addresses []string `json:"addresses"`
}

// JoinResponse reports which address the join went through.
type JoinResponse struct {
	Via    string `json:"via"`
	Leader string `json:"leader,omitempty"`
}

// AddVoterRequest is the body of POST /v1/internal/add-voter: the sender
// asks the leader to make it a voter.
type AddVoterRequest struct {
	Node Identity `json:"node"`
}

// AddVoterResponse tells the joiner who the leader is and what it knows.
type AddVoterResponse struct {
	Leader Identity   `json:"leader"`
	Known  []Identity `json:"known"`
}

// ApplyResponse is the body returned by POST /v1/internal/apply: the raft
// index the command was committed at and the FSM's result value.
type ApplyResponse struct {
	Index uint64          `json:"index"`
	Value json.RawMessage `json:"value,omitempty"`
}

// Hypervisor is one entry of GET /v1/hypervisors.
type Hypervisor struct {
	ID         string    `json:"id"`
	Cloud      string    `json:"cloud"`
	Driver     string    `json:"driver"`
	APIAddr    string    `json:"api_addr"`
	GossipAddr string    `json:"gossip_addr"`
	Capacity   int       `json:"capacity"`
	Liveness   string    `json:"liveness"`
	Since      time.Time `json:"since"`
}

// Member is one gossip member as the local node sees it (GET /v1/members).
type Member struct {
	ID    string `json:"id"`
	Addr  string `json:"addr"`
	Role  string `json:"role"`
	Cloud string `json:"cloud,omitempty"`
	State string `json:"state"`
}

// Health is the body of GET /v1/health.
type Health struct {
	ID          string `json:"id"`
	Cloud       string `json:"cloud,omitempty"`
	State       string `json:"state"` // raft state: Leader, Follower, Candidate, Shutdown
	Leader      string `json:"leader,omitempty"`
	Term        uint64 `json:"term"`
	LastIndex   uint64 `json:"last_index"`
	Applied     uint64 `json:"applied_index"`
	Ready       bool   `json:"ready"`
	Peers       int    `json:"peers"`
	Hypervisors int    `json:"hypervisors"`
}

// ErrorResponse is the body of every non-2xx answer.
type ErrorResponse struct {
	Error string `json:"error"`
	// Leader carries the leader's HTTP address with 421 "not leader" so a
	// client can follow the redirect.
	Leader string `json:"leader,omitempty"`
}
