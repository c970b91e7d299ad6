// Package clustertest starts real in-process controllers for tests: Raft over
// TCP and the HTTP API on free 127.0.0.1 ports, BoltDB in a temporary data
// directory, timings loose enough for -race on a few loaded cores, shutdown
// through t.Cleanup, and waits that poll with a deadline.
//
// It is a normal package used only by _test.go files of other packages (the
// cluster package's own internal tests cannot import it; they share
// internal/poll and internal/testlog with it instead).
package clustertest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"aas/cluster"
	"aas/fsm"
	"aas/internal/poll"
	"aas/internal/testlog"
)

// LeaderTimeout is how long StartLeader and WaitLeader wait for a node to
// lead.
const LeaderTimeout = 30 * time.Second

// Timing is slower than the fast profile: tests run under -race on few,
// shared, heavily loaded cores, where 100 ms timeouts cause election storms.
func Timing() cluster.RaftTiming {
	return cluster.RaftTiming{
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		CommitTimeout:      20 * time.Millisecond,
	}
}

// Config is node id in cloud c1 on 127.0.0.1 with free ports (":0"), a
// fresh temporary data directory, Timing, a short join back-off and a
// testlog logger. Bootstrap is off: set Bootstrap, BootstrapExpect or Join
// as the test needs.
func Config(tb testing.TB, id string) cluster.Config {
	return cluster.Config{
		NodeID:       id,
		Cloud:        "c1",
		DataDir:      tb.TempDir(),
		HTTPAddr:     "127.0.0.1:0",
		RaftAddr:     "127.0.0.1:0",
		Raft:         Timing(),
		JoinRetryMax: 300 * time.Millisecond,
		Logger:       testlog.New(tb, id),
	}
}

// Start starts a node from cfg and shuts it down when the test ends.
func Start(tb testing.TB, cfg cluster.Config) *cluster.Server {
	tb.Helper()
	s, err := cluster.New(cfg)
	if err != nil {
		tb.Fatalf("start %s: %v", cfg.NodeID, err)
	}
	tb.Cleanup(func() { _ = s.Shutdown() })
	return s
}

// StartLeader starts cfg as a single-node cluster (Bootstrap on) and waits
// until it leads with its leadership established.
func StartLeader(tb testing.TB, cfg cluster.Config) *cluster.Server {
	tb.Helper()
	cfg.Bootstrap = true
	s := Start(tb, cfg)
	WaitLeader(tb, s)
	return s
}

// WaitLeader waits up to LeaderTimeout until s is the leader and its
// leadership is established (the leader loop has caught up).
func WaitLeader(tb testing.TB, s *cluster.Server) {
	tb.Helper()
	poll.Until(tb, LeaderTimeout, s.ID()+" to lead", func() (bool, string) {
		switch {
		case !s.IsLeader():
			return false, "not leader"
		case !s.LeadershipEstablished():
			return false, "leadership not established"
		}
		return true, ""
	})
}

// ApplyTimeout bounds Apply.
const ApplyTimeout = 30 * time.Second

// Apply commits the FSM command cmd of type typ through s (forwarded to the
// leader when s follows) and fails the test when that does not succeed
// within ApplyTimeout.
func Apply(tb testing.TB, s *cluster.Server, typ fsm.MessageType, cmd any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ApplyTimeout)
	defer cancel()
	if _, err := s.Apply(ctx, typ, cmd); err != nil {
		tb.Fatalf("apply %s via %s: %v", fsm.CommandName(typ), s.ID(), err)
	}
}

// RepoFile returns the path of rel (slash-separated) under the repository
// root, the nearest directory above the working directory that holds
// go.mod. It fails the test when there is no such directory or file.
func RepoFile(tb testing.TB, rel string) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("go.mod not found above the package directory")
		}
		dir = parent
	}
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("repository file %s: %v", rel, err)
	}
	return p
}
