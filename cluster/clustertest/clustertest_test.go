package clustertest_test

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"aas/cluster/clustertest"
	"aas/fsm"
)

func TestConfig(t *testing.T) {
	cfg := clustertest.Config(t, "x1")
	if cfg.NodeID != "x1" || cfg.Bootstrap || cfg.BootstrapExpect != 0 {
		t.Errorf("id/bootstrap: %+v", cfg)
	}
	for _, a := range []string{cfg.HTTPAddr, cfg.RaftAddr} {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host != "127.0.0.1" || port != "0" {
			t.Errorf("address %q is not a free loopback port", a)
		}
	}
	if st, err := os.Stat(cfg.DataDir); err != nil || !st.IsDir() {
		t.Errorf("data dir %q: %v", cfg.DataDir, err)
	}
	if other := clustertest.Config(t, "x2"); other.DataDir == cfg.DataDir {
		t.Error("two nodes share a data dir")
	}
	if cfg.Raft != clustertest.Timing() || cfg.Logger == nil {
		t.Errorf("timing %+v logger %v", cfg.Raft, cfg.Logger)
	}
}

func TestStartLeader(t *testing.T) {
	s := clustertest.StartLeader(t, clustertest.Config(t, "solo"))
	if !s.IsLeader() || !s.LeadershipEstablished() {
		t.Fatal("StartLeader returned before the node led")
	}
	if s.ID() != "solo" {
		t.Errorf("ID = %q", s.ID())
	}
	for _, a := range []string{s.HTTPAddr(), s.RaftAddr()} {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "0" {
			t.Errorf("bound address %q", a)
		}
	}
	clustertest.Apply(t, s, fsm.UpsertCloudType, fsm.UpsertCloud{Cloud: fsm.Cloud{Name: "c9", Priority: 1}})
	var has bool
	s.FSM().Read(func(st *fsm.State) { _, has = st.Clouds["c9"] })
	if !has {
		t.Error("Apply returned before the command was in the state")
	}
}

func TestRepoFile(t *testing.T) {
	p := clustertest.RepoFile(t, "cluster/clustertest/clustertest.go")
	if filepath.Base(p) != "clustertest.go" {
		t.Errorf("RepoFile = %q", p)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(p), "..", "..", "go.mod")); err != nil {
		t.Errorf("%s is not two levels below the repository root: %v", p, err)
	}
}
