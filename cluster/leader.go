package cluster

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// LeaderServiceFunc is a leader-only service (liveness reconciler, scaler,
// master load balancer). It is started after this node won an election and
// committed a barrier (its FSM holds every committed write), and runs until
// ctx is cancelled — on loss of leadership or shutdown. It should return
// promptly then. A non-nil error returned while still leader is logged and
// the service restarted after a pause. Before any action outside the
// replicated state it must call (*Server).VerifyLeader.
type LeaderServiceFunc func(ctx context.Context) error

// leaderState is the leader loop's bookkeeping.
type leaderState struct {
	mu       sync.Mutex
	services map[string]LeaderServiceFunc
	ctx      context.Context // non-nil while leadership is established
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	// established is true between establishLeadership and revokeLeadership.
	established atomic.Bool
}

// RegisterLeaderService adds a leader-only service under a unique name. If
// leadership is already established it starts at once.
func (s *Server) RegisterLeaderService(name string, fn LeaderServiceFunc) {
	l := &s.leader
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, dup := l.services[name]; dup {
		panic("cluster: duplicate leader service " + name)
	}
	l.services[name] = fn
	if l.ctx != nil {
		s.startService(l.ctx, name, fn)
	}
}

// LeadershipEstablished reports whether this node is leader and its
// leader-only services are running.
func (s *Server) LeadershipEstablished() bool { return s.leader.established.Load() }

// monitorLeadership consumes raft's ordered leadership notifications and
// runs one leaderLoop per term of leadership (Consul's shape).
func (s *Server) monitorLeadership() {
	defer s.wg.Done()
	var stopCh, doneCh chan struct{}
	stop := func() {
		if stopCh != nil {
			close(stopCh)
			<-doneCh
			stopCh, doneCh = nil, nil
		}
	}
	for {
		select {
		case isLeader := <-s.leaderNotify:
			switch {
			case isLeader && stopCh == nil:
				stopCh, doneCh = make(chan struct{}), make(chan struct{})
				go func(stopCh, doneCh chan struct{}) {
					defer close(doneCh)
					s.leaderLoop(stopCh)
				}(stopCh, doneCh)
				s.logger.Info("cluster leadership acquired")
			case !isLeader && stopCh != nil:
				stop()
				s.logger.Info("cluster leadership lost")
			}
		case <-s.shutdownCh:
			stop()
			return
		}
	}
}

// leaderLoop: barrier until the FSM is current, then establish leadership;
// on stop, revoke it.
func (s *Server) leaderLoop(stopCh chan struct{}) {
	defer s.revokeLeadership()
	backoff := s.cfg.Raft.HeartbeatTimeout
	for {
		err := s.raft.Barrier(time.Minute).Error()
		if err == nil {
			break
		}
		s.logger.Warn("leader barrier failed", "error", err)
		select {
		case <-stopCh:
			return
		case <-time.After(backoff):
		}
	}
	s.establishLeadership()
	<-stopCh
}

// establishLeadership starts every registered leader-only service.
func (s *Server) establishLeadership() {
	l := &s.leader
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ctx, l.cancel = context.WithCancel(context.Background())
	names := make([]string, 0, len(l.services))
	for n := range l.services {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s.startService(l.ctx, n, l.services[n])
	}
	l.established.Store(true)
	s.logger.Info("leadership established", "term", s.raft.CurrentTerm(), "services", names)
}

// revokeLeadership cancels the leader-only services and waits for them.
func (s *Server) revokeLeadership() {
	l := &s.leader
	l.mu.Lock()
	l.established.Store(false)
	if l.cancel != nil {
		l.cancel()
	}
	l.ctx, l.cancel = nil, nil
	l.mu.Unlock()
	l.wg.Wait()
}

// startService runs fn until ctx ends, restarting it after failures.
// Called with l.mu held.
func (s *Server) startService(ctx context.Context, name string, fn LeaderServiceFunc) {
	s.leader.wg.Add(1)
	go func() {
		defer s.leader.wg.Done()
		for ctx.Err() == nil {
			err := fn(ctx)
			if ctx.Err() != nil {
				return
			}
			s.logger.Warn("leader service stopped; restarting", "service", name, "error", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}()
}
