package northbound

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"aas/cluster"
	"aas/cluster/clustertest"
	"aas/fsm"
)

// testNode is a single-node controller on 127.0.0.1 with the northbound
// API registered, and a clock the test controls.
type testNode struct {
	srv  *cluster.Server
	api  *API
	base string
	now  time.Time
}

func startNode(t testing.TB) *testNode {
	t.Helper()
	n := newNode(t, "nb1", true)
	clustertest.WaitLeader(t, n.srv)
	return n
}

// newNode starts a controller with the API; bootstrap makes it a
// single-node cluster, otherwise it waits to be joined.
func newNode(t testing.TB, id string, bootstrap bool) *testNode {
	t.Helper()
	n := &testNode{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	cfg := clustertest.Config(t, id)
	cfg.Bootstrap = bootstrap
	srv := clustertest.Start(t, cfg)
	n.srv = srv
	var err error
	n.api, err = New(srv, Options{Now: func() time.Time { return n.now }})
	if err != nil {
		t.Fatal(err)
	}
	n.base = "http://" + srv.HTTPAddr()
	return n
}

// do sends a request and returns the status and body.
func (n *testNode) do(t testing.TB, method, path string, body []byte, hdr ...string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, n.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// must sends a request that must answer want, decoding JSON into out.
func (n *testNode) must(t testing.TB, want int, method, path string, body []byte, out any) {
	t.Helper()
	code, data := n.do(t, method, path, body)
	if code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, code, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decoding %s: %v", method, path, data, err)
		}
	}
}

func jsonBody(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// apply commits an fsm command directly (setup the API has no route for).
func (n *testNode) apply(t testing.TB, c fsm.Command) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.srv.Apply(ctx, c.CommandType(), c); err != nil {
		t.Fatalf("apply %T: %v", c, err)
	}
}

// stateIndex is the index of the last command the FSM accepted.
func (n *testNode) stateIndex() uint64 {
	var i uint64
	n.srv.FSM().Read(func(st *fsm.State) { i = st.Index })
	return i
}

// repoFile reads a file of the repository (rel to its root).
func repoFile(t testing.TB, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(clustertest.RepoFile(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
