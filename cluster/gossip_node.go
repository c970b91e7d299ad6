package cluster

import (
	"aas/nodes/gossip"
)

// gossipNode adapts *gossip.Node to Membership.
type gossipNode struct{ *gossip.Node }

var _ Membership = gossipNode{}

// Members converts gossip members to the cluster's view.
func (g gossipNode) Members() []Member {
	ms := g.Node.Members()
	out := make([]Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, MemberFromGossip(m))
	}
	return out
}

// MemberFromGossip converts one gossip member.
func MemberFromGossip(m gossip.Member) Member {
	id := m.Meta.NodeID
	if id == "" {
		id = m.NodeID
	}
	return Member{
		ID: id, Addr: m.Addr, Role: m.Meta.Role, Cloud: m.Meta.Cloud, Driver: m.Meta.Driver,
		Capacity: m.Meta.Capacity, APIAddr: m.Meta.APIAddr, HTTPAddr: m.Meta.HTTPAddr,
		RaftAddr: m.Meta.RaftAddr, State: string(m.State),
	}
}

// startGossipNode starts a controller's gossip member (role server).
func startGossipNode(s gossipSettings) (Membership, error) {
	var timing gossip.Timing
	if s.Fast {
		timing = gossip.FastTiming()
	}
	n, err := gossip.Start(gossip.Config{
		NodeID:   s.NodeID,
		BindAddr: s.BindAddr,
		Meta: gossip.Meta{NodeID: s.NodeID, Role: gossip.RoleServer, Cloud: s.Cloud,
			HTTPAddr: s.HTTPAddr, RaftAddr: s.RaftAddr},
		Key:    s.Key,
		Logger: s.Logger,
		Timing: timing,
	})
	if err != nil {
		return nil, err
	}
	return gossipNode{n}, nil
}
