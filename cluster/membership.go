package cluster

import (
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/nodes/gossip"
)

// Member states as gossip reports them.
const (
	MemberAlive   = string(gossip.StateAlive)
	MemberSuspect = string(gossip.StateSuspect)
	MemberDead    = string(gossip.StateDead)
	MemberLeft    = string(gossip.StateLeft)
)

// Member roles announced in gossip metadata.
const (
	RoleServer     = gossip.RoleServer
	RoleHypervisor = gossip.RoleHypervisor
)

// Member is one gossip member as the cluster uses it.
type Member struct {
	ID       string
	Addr     string // gossip address
	Role     string
	Cloud    string
	Driver   string
	Capacity int
	APIAddr  string
	HTTPAddr string
	RaftAddr string
	State    string
}

// Membership is the gossip layer as the controller needs it. The
// production implementation wraps aas/nodes/gossip (gossip_node.go).
type Membership interface {
	Members() []Member
	// Changes is signalled (coalesced) on any membership or state change.
	Changes() <-chan struct{}
	Join(addrs []string) (int, error)
	Addr() string
	Leave(timeout time.Duration) error
	Shutdown() error
}

// gossipSettings is what the controller hands to the gossip starter.
type gossipSettings struct {
	NodeID, BindAddr, Cloud, HTTPAddr, RaftAddr string
	Key                                         []byte
	Fast                                        bool
	Logger                                      hclog.Logger
}

// startGossip starts the gossip member of a controller (role server).
var startGossip = startGossipNode
