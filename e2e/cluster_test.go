package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"aas/e2e/clusterproc"
	"aas/fsm"
)

// ctlBin builds the binary once per test.
func ctlBin(t *testing.T) (string, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("e2e: builds and runs ctl processes")
	}
	dir := t.TempDir()
	bin, err := clusterproc.BuildCtl(dir)
	if err != nil {
		t.Fatal(err)
	}
	return bin, dir
}

func ctl(t *testing.T, bin string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("ctl %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func waitAgreed(t *testing.T, nodes []*clusterproc.Node, exclude ...string) string {
	t.Helper()
	id, took, err := clusterproc.WaitAgreed(nodes, 30*time.Second, 20*time.Millisecond, exclude...)
	if err != nil {
		for _, n := range nodes {
			t.Logf("--- %s log:\n%s", n.ID, tail(n.Log(), 3000))
		}
		t.Fatal(err)
	}
	t.Logf("leader %s agreed after %v", id, took.Round(time.Millisecond))
	return id
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, detail := cond()
		if ok {
			return
		}
		last = detail
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last: %s)", what, last)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// apply commits a hypervisor registration (no gossip member behind it, so
// the leader soon marks it failed: tests check presence only) through node n's HTTP API.
func apply(t *testing.T, n *clusterproc.Node, id string) {
	t.Helper()
	cmd, err := fsm.Encode(fsm.UpsertHypervisorType, fsm.UpsertHypervisor{Hypervisor: fsm.Hypervisor{ID: id, Cloud: "c", Driver: "process", Capacity: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := n.Client().Apply(ctx, cmd); err != nil {
		t.Fatalf("apply via %s: %v", n.ID, err)
	}
}

// hypervisors returns node n's view: id → liveness.
func hypervisors(n *clusterproc.Node) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	hs, err := n.Client().Hypervisors(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, h := range hs {
		out[h.ID] = h.Liveness
	}
	return out, nil
}

func waitHypervisor(t *testing.T, nodes []*clusterproc.Node, id, liveness string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%s %s on every node", id, liveness), func() (bool, string) {
		for _, n := range nodes {
			hs, err := hypervisors(n)
			if err != nil {
				return false, err.Error()
			}
			l, ok := hs[id]
			if !ok || (liveness != "" && l != liveness) {
				return false, fmt.Sprintf("%s sees %q", n.ID, hs[id])
			}
		}
		return true, ""
	})
}

// TestClusterAcceptance is the binary-level acceptance: three
// servers with -bootstrap-expect 3 agree on a leader; kill -9 of the leader
// → the survivors agree on a new one; the killed node restarts from its
// data dir with its state; a fourth server joins with `ctl join` pointed at
// a follower; a hypervisor agent killed without leaving shows failed in
// `ctl status`.
func TestClusterAcceptance(t *testing.T) {
	bin, dir := ctlBin(t)
	lab := &clusterproc.Lab{Bin: bin, Dir: dir, ServerArgs: []string{"-raft-profile", "tuned", "-log-level", "debug"}}
	var nodes []*clusterproc.Node
	for i := 1; i <= 3; i++ {
		var join []string
		for _, n := range nodes {
			join = append(join, n.HTTP)
		}
		n, err := lab.NewServer(fmt.Sprintf("s%d", i), 3, join...)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			_ = n.Kill()
		}
	})
	for _, n := range nodes {
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
	}
	leaderID := waitAgreed(t, nodes)
	apply(t, nodes[0], "before-kill")
	waitHypervisor(t, nodes, "before-kill", "", 10*time.Second)

	// kill -9 the leader.
	victim := clusterproc.ByID(nodes, leaderID)
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	survivors := clusterproc.Without(nodes, victim)
	newLeader := waitAgreed(t, survivors, victim.ID)
	apply(t, survivors[0], "while-down")

	// Restart from the data dir: rejoins with its state (and catches up).
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	if got := waitAgreed(t, nodes); got == victim.ID && newLeader == "" {
		t.Fatal("unreachable")
	}
	waitHypervisor(t, []*clusterproc.Node{victim}, "before-kill", "", 15*time.Second)
	waitHypervisor(t, []*clusterproc.Node{victim}, "while-down", "", 15*time.Second)

	// A fourth server started alone joins through a follower with ctl join.
	fourth, err := lab.NewServer("s4", 0)
	if err != nil {
		t.Fatal(err)
	}
	nodes = append(nodes, fourth)
	if err := fourth.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "s4 API up", func() (bool, string) {
		_, err := fourth.Leader()
		return err != nil && strings.Contains(err.Error(), "503"), fmt.Sprint(err)
	})
	leaderID = waitAgreed(t, nodes[:3])
	follower := clusterproc.Without(nodes[:3], clusterproc.ByID(nodes, leaderID))[0]
	out := ctl(t, bin, "join", "-address", fourth.HTTP, follower.HTTP)
	t.Logf("ctl join: %s", strings.TrimSpace(out))
	waitAgreed(t, nodes)
	waitHypervisor(t, []*clusterproc.Node{fourth}, "while-down", "", 15*time.Second)
	peers := ctl(t, bin, "peers", "-address", fourth.HTTP)
	for _, n := range nodes {
		if !strings.Contains(peers, n.ID+" ") {
			t.Errorf("ctl peers lacks %s:\n%s", n.ID, peers)
		}
	}

	// A hypervisor agent joins gossip, is killed without leaving → failed.
	hv, err := lab.NewHypervisor("hv1", "cloud-s1", nodes[1].Gossip)
	if err != nil {
		t.Fatal(err)
	}
	if err := hv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hv.Kill() })
	waitHypervisor(t, nodes, "hv1", "alive", 20*time.Second)
	if err := hv.Kill(); err != nil {
		t.Fatal(err)
	}
	waitHypervisor(t, nodes, "hv1", "failed", 30*time.Second)
	status := ctl(t, bin, "status", "-address", follower.HTTP)
	t.Logf("ctl status:\n%s", status)
	if !strings.Contains(status, "Leader: ") || !regexpLine(status, "hv1", "failed") {
		t.Fatalf("ctl status does not show hv1 failed:\n%s", status)
	}
}

// regexpLine reports whether some line holds both words.
func regexpLine(text, a, b string) bool {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, a) && strings.Contains(l, b) {
			return true
		}
	}
	return false
}

// TestClusterKillAllNoCommittedWriteLost writes through every node, kills
// all three servers with SIGKILL, restarts them from their data dirs and
// checks every acknowledged write is on every node.
func TestClusterKillAllNoCommittedWriteLost(t *testing.T) {
	bin, dir := ctlBin(t)
	lab := &clusterproc.Lab{Bin: bin, Dir: dir, ServerArgs: []string{"-raft-profile", "tuned"}}
	var nodes []*clusterproc.Node
	for i := 1; i <= 3; i++ {
		var join []string
		if i > 1 {
			join = []string{nodes[0].HTTP}
		}
		n, err := lab.NewServer(fmt.Sprintf("s%d", i), 3, join...)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			_ = n.Kill()
		}
	})
	for _, n := range nodes {
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
	}
	waitAgreed(t, nodes)
	var acked []string
	for i := range 30 {
		id := fmt.Sprintf("w%02d", i)
		apply(t, nodes[i%3], id) // returns only once committed
		acked = append(acked, id)
	}
	for _, n := range nodes {
		if err := n.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
	}
	waitAgreed(t, nodes)
	for _, id := range acked {
		waitHypervisor(t, nodes, id, "", 20*time.Second)
	}
}
