package converge

import (
	"context"
	"testing"
	"time"

	"aas/cluster"
	"aas/fsm"
)

// stuckCluster is a seam fake: raft's VerifyLeader future that is never
// answered (queued just before raft shut down) cannot be produced on
// demand with a real server.
type stuckCluster struct {
	f       *fsm.FSM
	entered chan struct{}
}

func (s *stuckCluster) FSM() *fsm.FSM { return s.f }
func (s *stuckCluster) Apply(context.Context, fsm.MessageType, any) (cluster.Applied, error) {
	return cluster.Applied{}, nil
}
func (s *stuckCluster) VerifyLeader() error {
	close(s.entered)
	select {} // never answered
}

var _ Cluster = (*stuckCluster)(nil)

func TestRunReturnsWhileVerifyLeaderHangs(t *testing.T) {
	w := newWorld(t, map[string]int{"a": 1}, hyp("ha", "a", 0, fsm.LivenessAlive))
	w.desired(2) // a plan exists, so a pass verifies leadership
	sc := &stuckCluster{f: w.f, entered: make(chan struct{})}
	c, err := New(Config{Cluster: sc, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-sc.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("Run never verified leadership")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
