package gossip

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		time.Sleep(10 * time.Millisecond) // polling period, not synchronisation
	}
	t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, last)
}

func testLogger(t *testing.T) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Warn, Output: t.Output()})
}

func metaFor(id string) Meta {
	return Meta{NodeID: id, Role: RoleHypervisor, Cloud: "cloud-" + id, Driver: "process", Capacity: 4,
		APIAddr: "127.0.0.1:7073", HTTPAddr: "127.0.0.1:7070", RaftAddr: "127.0.0.1:7071"}
}

func startNode(t *testing.T, id string, key []byte) *Node {
	t.Helper()
	n, err := Start(Config{NodeID: id, BindAddr: "127.0.0.1:0", Meta: metaFor(id), Key: key,
		Logger: testLogger(t), Timing: FastTiming()})
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	t.Cleanup(func() { _ = n.Shutdown() })
	return n
}

func stateOf(n *Node, id string) (Member, bool) {
	for _, m := range n.Members() {
		if m.NodeID == id {
			return m, true
		}
	}
	return Member{}, false
}

func cluster(t *testing.T, ids ...string) []*Node {
	t.Helper()
	var nodes []*Node
	for _, id := range ids {
		nodes = append(nodes, startNode(t, id, nil))
	}
	for _, n := range nodes[1:] {
		if k, err := n.Join([]string{nodes[0].Addr()}); err != nil || k != 1 {
			t.Fatalf("join %s: k=%d err=%v", n.NodeID(), k, err)
		}
	}
	for _, n := range nodes {
		waitFor(t, 10*time.Second, n.NodeID()+" sees everyone alive", func() (bool, string) {
			ms := n.Members()
			alive := 0
			for _, m := range ms {
				if m.State == StateAlive {
					alive++
				}
			}
			return alive == len(ids), fmt.Sprint(ms)
		})
	}
	return nodes
}

func TestStartPortZeroGivesUsablePort(t *testing.T) {
	n := startNode(t, "a", nil)
	host, ps, err := net.SplitHostPort(n.Addr())
	if err != nil {
		t.Fatalf("Addr %q: %v", n.Addr(), err)
	}
	port, _ := strconv.Atoi(ps)
	if host != "127.0.0.1" || port == 0 {
		t.Fatalf("Addr = %q, want 127.0.0.1 with a real port", n.Addr())
	}
	c, err := net.DialTimeout("tcp", n.Addr(), time.Second)
	if err != nil {
		t.Fatalf("dial the reported port: %v", err)
	}
	c.Close()
	// The same port is bound for UDP too: binding it again must fail.
	if pc, err := net.ListenPacket("udp", n.Addr()); err == nil {
		pc.Close()
		t.Fatalf("UDP port %s is free; memberlist should hold it", n.Addr())
	}
	self, ok := stateOf(n, "a")
	if !ok || self.State != StateAlive || self.Addr != n.Addr() || self.Meta != metaFor("a") {
		t.Fatalf("self member = %+v, ok=%v", self, ok)
	}
}

func TestThreeNodesSeeEachOtherWithMeta(t *testing.T) {
	nodes := cluster(t, "n1", "n2", "n3")
	for _, n := range nodes {
		ms := n.Members()
		if len(ms) != 3 {
			t.Fatalf("%s sees %d members: %v", n.NodeID(), len(ms), ms)
		}
		for i, m := range ms {
			if i > 0 && ms[i-1].NodeID >= m.NodeID {
				t.Fatalf("members not sorted: %v", ms)
			}
			if m.Meta != metaFor(m.NodeID) {
				t.Errorf("%s sees %s meta %+v, want %+v", n.NodeID(), m.NodeID, m.Meta, metaFor(m.NodeID))
			}
			if m.Addr != nodes[i].Addr() {
				t.Errorf("%s sees %s at %s, want %s", n.NodeID(), m.NodeID, m.Addr, nodes[i].Addr())
			}
		}
	}
}

func TestUpdateMetaPropagates(t *testing.T) {
	nodes := cluster(t, "n1", "n2", "n3")
	// Drain any pending signal so the next one is caused by the update.
	select {
	case <-nodes[0].Changes():
	default:
	}
	m := metaFor("n3")
	m.Capacity = 99
	m.Cloud = "elsewhere"
	if err := nodes[2].UpdateMeta(m); err != nil {
		t.Fatal(err)
	}
	if got := nodes[2].LocalMeta(); got != m {
		t.Fatalf("LocalMeta = %+v, want %+v", got, m)
	}
	select {
	case <-nodes[0].Changes():
	case <-time.After(10 * time.Second):
		t.Fatal("no Changes signal after a metadata update")
	}
	for _, n := range nodes[:2] {
		waitFor(t, 10*time.Second, n.NodeID()+" sees the new meta", func() (bool, string) {
			got, _ := stateOf(n, "n3")
			return got.Meta == m && got.State == StateAlive, fmt.Sprint(got)
		})
	}
}

// observe polls the state of id on each observer until every observer sees
// want, and returns the sequence of distinct states each one saw.
func observe(t *testing.T, observers []*Node, id string, want State, timeout time.Duration) [][]State {
	t.Helper()
	seen := make([][]State, len(observers))
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		done := true
		for i, o := range observers {
			m, ok := stateOf(o, id)
			st := State("forgotten")
			if ok {
				st = m.State
			}
			if len(seen[i]) == 0 || seen[i][len(seen[i])-1] != st {
				seen[i] = append(seen[i], st)
			}
			if st != want {
				done = false
			}
		}
		if done {
			return seen
		}
		time.Sleep(5 * time.Millisecond) // polling period
	}
	t.Fatalf("not every observer saw %s as %s within %s: %v", id, want, timeout, seen)
	return nil
}

func TestFailedNodeIsSuspectThenDead(t *testing.T) {
	nodes := cluster(t, "n1", "n2", "n3")
	start := time.Now()
	if err := nodes[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	seen := observe(t, nodes[:2], "n3", StateDead, 15*time.Second)
	t.Logf("dead everywhere after %s; states seen: %v", time.Since(start), seen)
	sawSuspect := false
	for i, s := range seen {
		for j, st := range s {
			switch st {
			case StateLeft, "forgotten":
				t.Errorf("observer %d saw %s (sequence %v)", i, st, s)
			case StateSuspect:
				if j+1 < len(s) && s[j+1] != StateDead && s[j+1] != StateAlive {
					t.Errorf("observer %d: suspect followed by %s", i, s[j+1])
				}
				sawSuspect = true
			}
		}
	}
	if !sawSuspect {
		t.Errorf("no observer saw n3 suspect before dead: %v", seen)
	}
}

func TestLeaveIsLeftNotDead(t *testing.T) {
	nodes := cluster(t, "n1", "n2", "n3")
	if err := nodes[2].Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := nodes[2].Shutdown(); err != nil {
		t.Fatal(err)
	}
	seen := observe(t, nodes[:2], "n3", StateLeft, 10*time.Second)
	for i, s := range seen {
		for _, st := range s {
			if st == StateDead {
				t.Errorf("observer %d saw a graceful leave as dead: %v", i, s)
			}
		}
	}
	// The survivors still see each other (suspect is a legitimate transient
	// local opinion on a loaded machine; dead or left is not).
	for _, n := range nodes[:2] {
		for _, id := range []string{"n1", "n2"} {
			if m, _ := stateOf(n, id); m.State != StateAlive && m.State != StateSuspect {
				t.Errorf("%s sees %s as %s", n.NodeID(), id, m.State)
			}
		}
	}
}

func TestEncryption(t *testing.T) {
	k1 := bytes.Repeat([]byte{1}, 32)
	k2 := bytes.Repeat([]byte{2}, 32)
	k3 := bytes.Repeat([]byte{3}, 16)
	cases := []struct {
		name       string
		seed, node []byte
		wantJoin   bool
	}{
		{"same key", k1, k1, true},
		{"wrong key", k1, k2, false},
		{"wrong key length", k1, k3, false},
		{"plaintext into encrypted", k1, nil, false},
		{"encrypted into plaintext", nil, k1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seed := startNode(t, "seed", tc.seed)
			n := startNode(t, "joiner", tc.node)
			k, err := n.Join([]string{seed.Addr()})
			if tc.wantJoin {
				if err != nil || k != 1 {
					t.Fatalf("join: k=%d err=%v", k, err)
				}
				waitFor(t, 10*time.Second, "seed sees joiner", func() (bool, string) {
					m, ok := stateOf(seed, "joiner")
					return ok && m.State == StateAlive, fmt.Sprint(seed.Members())
				})
				return
			}
			if err == nil || !errors.Is(err, ErrJoin) || k != 0 {
				t.Fatalf("join with mismatched keys: k=%d err=%v, want ErrJoin", k, err)
			}
			if _, ok := stateOf(seed, "joiner"); ok {
				t.Fatalf("seed lists the joiner: %v", seed.Members())
			}
		})
	}
}

func TestJoinErrors(t *testing.T) {
	n := startNode(t, "a", nil)
	if _, err := n.Join(nil); !errors.Is(err, ErrJoin) {
		t.Fatalf("Join(nil) = %v, want ErrJoin", err)
	}
	// A port nobody listens on.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	if k, err := n.Join([]string{dead}); !errors.Is(err, ErrJoin) || k != 0 {
		t.Fatalf("Join(closed port) = %d, %v; want ErrJoin", k, err)
	}
	_ = n.Shutdown()
	if _, err := n.Join([]string{dead}); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Join after Shutdown = %v, want ErrShutdown", err)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	big := metaFor("a")
	big.Cloud = strings.Repeat("c", MaxMetaSize)
	other := metaFor("b")
	cases := []struct {
		name string
		cfg  Config
		want error
	}{
		{"no node id", Config{BindAddr: "127.0.0.1:0", Meta: metaFor("a")}, ErrInvalidConfig},
		{"meta too large", Config{NodeID: "a", BindAddr: "127.0.0.1:0", Meta: big}, ErrMetaTooLarge},
		{"meta of another node", Config{NodeID: "a", BindAddr: "127.0.0.1:0", Meta: other}, ErrInvalidConfig},
		{"bad role", Config{NodeID: "a", BindAddr: "127.0.0.1:0", Meta: Meta{Role: "client"}}, ErrInvalidMeta},
		{"bad key length", Config{NodeID: "a", BindAddr: "127.0.0.1:0", Meta: metaFor("a"), Key: []byte("short")}, ErrInvalidConfig},
		{"host name", Config{NodeID: "a", BindAddr: "localhost:0", Meta: metaFor("a")}, ErrInvalidConfig},
		{"no port", Config{NodeID: "a", BindAddr: "127.0.0.1", Meta: metaFor("a")}, ErrInvalidConfig},
		{"bad advertise", Config{NodeID: "a", BindAddr: "127.0.0.1:0", AdvertiseAddr: "nowhere:1", Meta: metaFor("a")}, ErrInvalidConfig},
		{"probe timeout too long", Config{NodeID: "a", BindAddr: "127.0.0.1:0", Meta: metaFor("a"),
			Timing: Timing{ProbeInterval: time.Second, ProbeTimeout: 2 * time.Second}}, ErrInvalidConfig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Start(tc.cfg)
			if err == nil {
				n.Shutdown()
				t.Fatal("Start succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestUpdateMetaTooLargeChangesNothing(t *testing.T) {
	n := startNode(t, "a", nil)
	before := n.LocalMeta()
	m := before
	m.HTTPAddr = strings.Repeat("h", 600)
	if err := n.UpdateMeta(m); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("UpdateMeta(too large) = %v, want ErrMetaTooLarge", err)
	}
	m = before
	m.NodeID = "someone-else"
	if err := n.UpdateMeta(m); !errors.Is(err, ErrInvalidMeta) {
		t.Fatalf("UpdateMeta(other id) = %v, want ErrInvalidMeta", err)
	}
	if got := n.LocalMeta(); got != before {
		t.Fatalf("LocalMeta changed to %+v", got)
	}
}

func TestAdvertiseAddr(t *testing.T) {
	// Advertise a port of our choosing; memberlist announces it as is.
	n, err := Start(Config{NodeID: "a", BindAddr: "127.0.0.1:0", AdvertiseAddr: "127.0.0.1:4242",
		Meta: metaFor("a"), Logger: testLogger(t), Timing: FastTiming()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	// memberlist overrides the advertised port with the bound one when the
	// bind port is 0; both outcomes must at least be consistent with Members.
	self, _ := stateOf(n, "a")
	if self.Addr != n.Addr() {
		t.Fatalf("self member addr %s != Addr() %s", self.Addr, n.Addr())
	}
}

// A failed node restarted under the same NodeID on a new port rejoins and
// is alive again at its new address (DeadNodeReclaimTime in FastTiming).
func TestRestartedNodeRejoins(t *testing.T) {
	nodes := cluster(t, "n1", "n2", "n3")
	old := nodes[2].Addr()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(nodes[2].Shutdown())
	observe(t, nodes[:2], "n3", StateDead, 15*time.Second)
	n3 := startNode(t, "n3", nil)
	if n3.Addr() == old {
		t.Skip("the OS handed out the same port again")
	}
	waitFor(t, 15*time.Second, "n3 rejoined at its new address", func() (bool, string) {
		if _, err := n3.Join([]string{nodes[0].Addr()}); err != nil {
			return false, err.Error()
		}
		for _, n := range nodes[:2] {
			m, _ := stateOf(n, "n3")
			if m.State != StateAlive || m.Addr != n3.Addr() {
				return false, fmt.Sprint(n.NodeID(), " sees ", m)
			}
		}
		return true, ""
	})
}

// Dead members are listed until GossipToTheDeadTime, then forgotten, with a
// Changes signal.
func TestDeadMemberIsForgotten(t *testing.T) {
	timing := FastTiming()
	timing.GossipToTheDeadTime = 1500 * time.Millisecond
	var nodes []*Node
	for _, id := range []string{"n1", "n2"} {
		n, err := Start(Config{NodeID: id, BindAddr: "127.0.0.1:0", Meta: metaFor(id), Logger: testLogger(t), Timing: timing})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Shutdown() })
		nodes = append(nodes, n)
	}
	if _, err := nodes[1].Join([]string{nodes[0].Addr()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "n1 sees n2", func() (bool, string) {
		m, ok := stateOf(nodes[0], "n2")
		return ok && m.State == StateAlive, fmt.Sprint(m)
	})
	nodes[1].Shutdown()
	observe(t, nodes[:1], "n2", StateDead, 15*time.Second)
	select { // drop the signal of the death itself
	case <-nodes[0].Changes():
	default:
	}
	select {
	case <-nodes[0].Changes():
	case <-time.After(15 * time.Second):
		t.Fatal("no Changes signal when the dead member was forgotten")
	}
	waitFor(t, 15*time.Second, "n2 forgotten", func() (bool, string) {
		_, ok := stateOf(nodes[0], "n2")
		return !ok, fmt.Sprint(nodes[0].Members())
	})
}
