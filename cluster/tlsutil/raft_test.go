package tlsutil

import (
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// countFSM counts applied entries.
type countFSM struct {
	mu sync.Mutex
	n  int
}

func (f *countFSM) Apply(*raft.Log) any                 { f.mu.Lock(); f.n++; f.mu.Unlock(); return nil }
func (f *countFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, fmt.Errorf("no snapshots") }
func (f *countFSM) Restore(io.ReadCloser) error         { return nil }
func (f *countFSM) count() int                          { f.mu.Lock(); defer f.mu.Unlock(); return f.n }

var _ raft.FSM = (*countFSM)(nil)

type raftNode struct {
	r   *raft.Raft
	fsm *countFSM
	tr  *raft.NetworkTransport
}

func startRaft(t *testing.T, id string, f Files) *raftNode {
	t.Helper()
	tr, err := NewRaftTransport("127.0.0.1:0", nil, f, 3, 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(id)
	conf.HeartbeatTimeout = 300 * time.Millisecond
	conf.ElectionTimeout = 300 * time.Millisecond
	conf.LeaderLeaseTimeout = 300 * time.Millisecond
	conf.CommitTimeout = 20 * time.Millisecond
	conf.Logger = hclog.NewNullLogger()
	store := raft.NewInmemStore()
	fsm := &countFSM{}
	r, err := raft.NewRaft(conf, fsm, store, store, raft.NewInmemSnapshotStore(), tr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown().Error(); tr.Close() })
	return &raftNode{r: r, fsm: fsm, tr: tr}
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// TestRaftClusterOverTLSRefusesForeignPeer runs real raft nodes over the
// TLS stream layer: a peer with a CA-signed certificate joins and
// replicates; a peer with a foreign CA's certificate, added to the
// configuration by the leader, never receives a single entry.
func TestRaftClusterOverTLSRefusesForeignPeer(t *testing.T) {
	pki, foreign := newPKI(t), newPKI(t)
	a := startRaft(t, "a", pki.files(t, "a", false))
	b := startRaft(t, "b", pki.files(t, "b", false))
	c := startRaft(t, "c", foreign.files(t, "c", false))

	if err := a.r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: "a", Address: a.tr.LocalAddr()}}}).Error(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "a to lead", func() bool { return a.r.State() == raft.Leader })
	if err := a.r.AddVoter("b", b.tr.LocalAddr(), 0, 5*time.Second).Error(); err != nil {
		t.Fatalf("add trusted voter: %v", err)
	}
	if err := a.r.AddVoter("c", c.tr.LocalAddr(), 0, 5*time.Second).Error(); err != nil {
		t.Fatalf("add voter c (commits with a and b): %v", err)
	}
	for i := range 5 {
		if err := a.r.Apply([]byte(fmt.Sprintf("entry %d", i)), 5*time.Second).Error(); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 10*time.Second, "b to apply the entries", func() bool { return b.fsm.count() == 5 })
	// b has everything up to the last entry; c, reachable on loopback all
	// along, has nothing: every connection failed the TLS handshake.
	if n := c.fsm.count(); n != 0 {
		t.Fatalf("foreign peer applied %d entries", n)
	}
	if idx := c.r.LastIndex(); idx != 0 {
		t.Fatalf("foreign peer has log index %d", idx)
	}
}
