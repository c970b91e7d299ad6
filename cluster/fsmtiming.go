package cluster

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"aas/fsm"
)

// ApplyObserver receives the time the FSM took to apply one command (the
// fsm package is pure and has no clock; the server measures around it).
type ApplyObserver func(t fsm.MessageType, d time.Duration)

// timedFSM is the raft.FSM the server hands raft: the replicated state
// machine with its Apply timed for the apply-latency metric.
type timedFSM struct {
	*fsm.FSM
	mu  sync.RWMutex
	obs []ApplyObserver
}

var _ raft.FSM = (*timedFSM)(nil)

func (f *timedFSM) Apply(l *raft.Log) any {
	f.mu.RLock()
	obs := f.obs
	f.mu.RUnlock()
	if len(obs) == 0 || l.Type != raft.LogCommand || len(l.Data) == 0 {
		return f.FSM.Apply(l)
	}
	start := time.Now()
	res := f.FSM.Apply(l)
	d := time.Since(start)
	for _, o := range obs {
		o(fsm.MessageType(l.Data[0]), d)
	}
	return res
}

// ObserveApplyLatency registers fn to be called after every command this
// node's FSM applies, with the time the apply took. fn must not block.
func (s *Server) ObserveApplyLatency(fn ApplyObserver) {
	s.timed.mu.Lock()
	defer s.timed.mu.Unlock()
	s.timed.obs = append(s.timed.obs, fn)
}
