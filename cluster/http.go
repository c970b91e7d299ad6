package cluster

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/hashicorp/raft"

	"aas/cluster/api"
	"aas/fsm"
)

// routes registers the controller's own endpoints.
func (s *Server) routes() {
	rt := s.router
	rt.MapError(func(err error) int {
		switch {
		case errors.Is(err, ErrCommandRejected):
			return http.StatusUnprocessableEntity
		case errors.Is(err, ErrShutdown):
			return http.StatusServiceUnavailable
		case errors.Is(err, ErrJoin):
			return http.StatusBadGateway
		}
		return 0
	})
	rt.Handle("GET", "/v1/status/leader", s.handleLeader)
	rt.Handle("GET", "/v1/status/peers", s.handlePeers)
	rt.Handle("GET", "/v1/health", s.handleHealth)
	rt.Handle("GET", "/v1/hypervisors", s.handleHypervisors)
	rt.Handle("GET", "/v1/members", s.handleMembers)
	rt.Handle("POST", "/v1/join", s.handleJoin)
	rt.Handle("POST", "/v1/leave", s.handleLeave)
	rt.Handle("DELETE", "/v1/peers/{id}", s.handleRemovePeer)
	rt.Handle("GET", "/v1/internal/identity", s.handleIdentity)
	rt.Handle("POST", "/v1/internal/identity", s.handleIdentityExchange)
	rt.Handle("POST", "/v1/internal/add-voter", s.handleAddVoter)
	rt.Handle("POST", "/v1/internal/apply", s.handleApply)
	rt.HandleHTTP("GET", "/readyz", http.HandlerFunc(s.handleReadyz))
}

func (s *Server) handleLeader(w http.ResponseWriter, r *http.Request) (any, error) {
	li, ok := s.Leader()
	if !ok {
		return nil, api.ErrNoLeader
	}
	return li, nil
}

func (s *Server) handlePeers(w http.ResponseWriter, r *http.Request) (any, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("%w: raft configuration: %v", api.ErrUnavailable, err)
	}
	_, lid := s.raft.LeaderWithID()
	out := []api.Peer{}
	for _, srv := range f.Configuration().Servers {
		p := api.Peer{ID: string(srv.ID), RaftAddr: string(srv.Address), Suffrage: srv.Suffrage.String(), Leader: srv.ID == lid}
		if n, ok := s.dir.get(p.ID); ok {
			p.HTTPAddr = n.HTTPAddr
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) (any, error) {
	h := api.Health{
		ID: s.self.ID, Cloud: s.self.Cloud, State: s.raft.State().String(),
		Term: s.raft.CurrentTerm(), LastIndex: s.raft.LastIndex(), Applied: s.raft.AppliedIndex(),
	}
	if _, lid := s.raft.LeaderWithID(); lid != "" {
		h.Leader = string(lid)
	}
	h.Ready, _ = s.readiness()
	if f := s.raft.GetConfiguration(); f.Error() == nil {
		h.Peers = len(f.Configuration().Servers)
	}
	s.fsm.Read(func(st *fsm.State) { h.Hypervisors = len(st.Hypervisors) })
	return h, nil
}

func (s *Server) handleHypervisors(w http.ResponseWriter, r *http.Request) (any, error) {
	return s.Hypervisors(), nil
}

// Hypervisors lists the hypervisors of the replicated state, by ID.
func (s *Server) Hypervisors() []api.Hypervisor {
	out := []api.Hypervisor{}
	s.fsm.Read(func(st *fsm.State) {
		for _, h := range st.Hypervisors {
			out = append(out, api.Hypervisor{ID: h.ID, Cloud: h.Cloud, Driver: h.Driver, APIAddr: h.APIAddr,
				GossipAddr: h.GossipAddr, Capacity: h.Capacity, Liveness: string(h.Liveness), Since: h.Since})
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (s *Server) handleMembers(w http.ResponseWriter, r *http.Request) (any, error) {
	out := []api.Member{}
	if s.gossip == nil {
		return out, nil
	}
	for _, m := range s.gossip.Members() {
		out = append(out, api.Member{ID: m.ID, Addr: m.Addr, Role: m.Role, Cloud: m.Cloud, State: m.State})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *Server) handleJoin(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.JoinRequest
	if err := api.DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	return s.JoinCluster(r.Context(), req.Addresses)
}

func (s *Server) handleLeave(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := s.Leave(r.Context()); err != nil {
		return nil, err
	}
	return map[string]string{"left": s.self.ID}, nil
}

func (s *Server) handleRemovePeer(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if id == "" {
		return nil, fmt.Errorf("%w: peer id is empty", api.ErrBadRequest)
	}
	if !s.IsLeader() {
		if isForwarded(r) {
			return nil, s.notLeader()
		}
		c, err := s.leaderClient()
		if err != nil {
			return nil, err
		}
		return nil, c.Do(r.Context(), http.MethodDelete, "/v1/peers/"+id+"?forwarded=1", nil, nil)
	}
	return nil, s.removePeer(id)
}

func (s *Server) handleIdentity(w http.ResponseWriter, r *http.Request) (any, error) {
	return api.IdentityResponse{Self: s.identity(), Known: s.dir.list()}, nil
}

// handleIdentityExchange is discovery: the caller sends its identity (so a
// node without -join learns the servers that list it) and gets ours.
func (s *Server) handleIdentityExchange(w http.ResponseWriter, r *http.Request) (any, error) {
	var caller api.Identity
	if err := api.DecodeJSON(r, &caller); err != nil {
		return nil, err
	}
	if caller.ID != "" && caller.ID != s.self.ID {
		s.dir.merge(caller)
	}
	return api.IdentityResponse{Self: s.identity(), Known: s.dir.list()}, nil
}

func (s *Server) handleAddVoter(w http.ResponseWriter, r *http.Request) (any, error) {
	var req api.AddVoterRequest
	if err := api.DecodeJSON(r, &req); err != nil {
		return nil, err
	}
	if !s.IsLeader() {
		if isForwarded(r) {
			return nil, s.notLeader()
		}
		// Join through a follower: forward once to the leader.
		s.dir.merge(req.Node)
		c, err := s.leaderClient()
		if err != nil {
			return nil, err
		}
		var out api.AddVoterResponse
		if err := c.Do(r.Context(), http.MethodPost, "/v1/internal/add-voter?forwarded=1", req, &out); err != nil {
			return nil, err
		}
		return out, nil
	}
	if err := s.addVoter(req.Node); err != nil {
		return nil, err
	}
	return api.AddVoterResponse{Leader: s.identity(), Known: s.dir.list()}, nil
}

// CaughtUp reports whether this server's FSM reflects the cluster's
// committed state as far as it knows: a leader is known, the commit index
// has been learned (after a restart it is 0 until the leader's first
// append or heartbeat) and everything committed is applied. Components
// that act on the state from outside the leader (a cloud's load balancer)
// wait for it after a start instead of acting on a stale snapshot.
func (s *Server) CaughtUp() bool {
	if s.raft.State() == raft.Shutdown || !s.inConfiguration() {
		return false
	}
	if _, lid := s.raft.LeaderWithID(); lid == "" {
		return false
	}
	commit, applied := s.raft.CommitIndex(), s.raft.AppliedIndex()
	return commit > 0 && applied >= commit
}

// readiness evaluates the per-check state behind /readyz.
func (s *Server) readiness() (bool, []string) {
	ready := true
	var lines []string
	check := func(name string, ok bool, detail string) {
		if ok {
			lines = append(lines, name+": ok")
			return
		}
		ready = false
		lines = append(lines, name+": "+detail)
	}
	state := s.raft.State()
	_, lid := s.raft.LeaderWithID()
	switch {
	case state == raft.Shutdown:
		check("raft", false, "shut down")
	case !s.inConfiguration():
		check("raft", false, "not part of a cluster yet (waiting for bootstrap or join)")
	case lid == "":
		check("raft", false, "no leader")
	default:
		check("raft", true, "")
	}
	commit, applied := s.raft.CommitIndex(), s.raft.AppliedIndex()
	check("fsm", applied >= commit && commit > 0, fmt.Sprintf("applied index %d behind commit index %d", applied, commit))
	if state == raft.Leader {
		check("leader", s.leader.established.Load(), "leadership not established yet")
	}
	if s.gossip != nil {
		check("gossip", true, "")
	}
	if s.leaving.Load() {
		check("leave", false, "leaving")
	}
	return ready, lines
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ready, lines := s.readiness()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = io.WriteString(w, strings.Join(lines, "\n")+"\n")
}

// readBody reads at most limit bytes of a request body.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%w: reading body: %v", api.ErrBadRequest, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: body larger than %d bytes", api.ErrBadRequest, limit)
	}
	return b, nil
}
