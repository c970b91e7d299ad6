package northbound

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"aas/cluster/northbound/wire"
	"aas/cluster/tenant"
	"aas/fsm"
)

// TestWritesThroughFollower: every write sent to a follower is forwarded
// to the leader, rejections keep their status across the hop, and the
// follower answers with its own write visible (read-your-writes).
func TestWritesThroughFollower(t *testing.T) {
	leader := startNode(t)
	follower := newNode(t, "nb2", false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := follower.srv.JoinCluster(ctx, []string{leader.srv.HTTPAddr()}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if li, ok := follower.srv.Leader(); ok && li.ID == leader.srv.ID() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("follower does not see the leader")
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}

	seed := repoFile(t, seedPath)
	var res wire.Applied
	follower.must(t, 200, "POST", "/v1/tenants", seed, &res)
	if res.Version != 1 || !res.Created {
		t.Fatalf("apply via follower: %+v", res)
	}
	if code, body := follower.do(t, "POST", "/v1/tenants?version=0", seed); code != http.StatusConflict || !strings.Contains(string(body), "version conflict") {
		t.Fatalf("stale apply via follower: %d %s", code, body)
	}
	if code, body := follower.do(t, "POST", "/v1/tenants/demo/groups/nope/scale", []byte(`{"desired":3}`)); code != http.StatusNotFound {
		t.Fatalf("unknown group via follower: %d %s", code, body)
	}
	var g wire.Group
	follower.must(t, 200, "POST", "/v1/tenants/demo/groups/"+tenant.DefaultGroupName+"/suspend", nil, &g)
	if !g.Suspended {
		t.Fatalf("the follower's answer does not show its own write: %+v", g)
	}
	var entries []fsm.ActivityEntry
	follower.must(t, 200, "GET", "/v1/activity?tenant=demo&kind=group", nil, &entries)
	if len(entries) != 1 || !strings.Contains(entries[0].Reason, "suspended") {
		t.Fatalf("activity on the follower: %+v", entries)
	}
}
