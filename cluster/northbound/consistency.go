package northbound

import (
	"context"
	"fmt"
	"sync"
	"time"

	"aas/cluster/api"
	"aas/fsm"
)

// appliedWaiter lets a handler that wrote through Raft read its own write
// on this node: on a follower the forwarded command commits on the leader
// first and reaches the local FSM a little later.
type appliedWaiter struct {
	fsm *fsm.FSM
	mu  sync.Mutex
	ch  chan struct{} // closed and replaced after every local apply
}

func newAppliedWaiter(f *fsm.FSM) *appliedWaiter {
	w := &appliedWaiter{fsm: f, ch: make(chan struct{})}
	f.Observe(func(fsm.MessageType, uint64) {
		w.mu.Lock()
		close(w.ch)
		w.ch = make(chan struct{})
		w.mu.Unlock()
	})
	return w
}

func (w *appliedWaiter) index() uint64 {
	var i uint64
	w.fsm.Read(func(st *fsm.State) { i = st.Index })
	return i
}

// readYourWriteTimeout bounds the wait for the local FSM to catch up.
const readYourWriteTimeout = 5 * time.Second

// wait returns once the local state includes the command committed at
// index. The observer wakes it; a slow tick covers a snapshot install,
// which does not go through Observe.
func (w *appliedWaiter) wait(ctx context.Context, index uint64) error {
	ctx, cancel := context.WithTimeout(ctx, readYourWriteTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		w.mu.Lock()
		ch := w.ch
		w.mu.Unlock()
		if w.index() >= index {
			return nil
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("%w: the write committed at index %d but this node has not applied it yet", api.ErrUnavailable, index)
		}
	}
}
