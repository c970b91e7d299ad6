package lbsync_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/cluster"
	"aas/cluster/clustertest"
	"aas/fsm"
	"aas/internal/poll"
	"aas/internal/testlog"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func testLogger(t testing.TB) hclog.Logger { return testlog.New(t, t.Name()) }

// startServer starts a single-node controller on 127.0.0.1 and waits until
// it leads.
func startServer(t *testing.T) *cluster.Server {
	t.Helper()
	return clustertest.StartLeader(t, clustertest.Config(t, "n1"))
}

// waitFor polls cond until it holds or the deadline passes.
var waitFor = poll.Until

// apply commits an FSM command through s.
var apply = clustertest.Apply

// setupTenant creates clouds and a tenant with one group "web" on a
// 10.0.0.0/24 network (FSM addresses only; nothing is configured).
func setupTenant(t testing.TB, s *cluster.Server, tenant, publicIP string, clouds ...string) {
	t.Helper()
	for i, c := range clouds {
		apply(t, s, fsm.UpsertCloudType, fsm.UpsertCloud{Cloud: fsm.Cloud{Name: c, Priority: i}})
	}
	apply(t, s, fsm.ApplyTenantType, fsm.ApplyTenant{
		Tenant: fsm.TenantSpec{Name: tenant, PublicIP: publicIP, Networks: []fsm.Network{{Name: "net",
			Subnets: []fsm.Subnet{{CIDR: "10.9.0.0/24", Gateway: "10.9.0.1", RangeStart: "10.9.0.10", RangeEnd: "10.9.0.200"}}}}},
		Groups: []fsm.GroupSpec{{Name: "web", Max: 10, Template: []byte(`{"port":8080}`)}},
		Time:   t0,
	})
}

// addRunning creates instances in state running with the given addresses.
func addRunning(t testing.TB, s *cluster.Server, tenant, group, cloud string, addrs map[string]string) {
	t.Helper()
	var ni []fsm.NewInstance
	var ups []fsm.InstanceUpdate
	for id, a := range addrs {
		ni = append(ni, fsm.NewInstance{ID: id, Tenant: tenant, Group: group, Cloud: cloud, Address: a})
		ups = append(ups, fsm.InstanceUpdate{ID: id, State: fsm.StateProvisioning},
			fsm.InstanceUpdate{ID: id, State: fsm.StateRunning, Address: a})
	}
	apply(t, s, fsm.CreateInstancesType, fsm.CreateInstances{Time: t0, Instances: ni})
	apply(t, s, fsm.UpdateInstancesType, fsm.UpdateInstances{Time: t0, Updates: ups})
}

func setState(t testing.TB, s *cluster.Server, st fsm.InstanceState, ids ...string) {
	t.Helper()
	var ups []fsm.InstanceUpdate
	for _, id := range ids {
		ups = append(ups, fsm.InstanceUpdate{ID: id, State: st})
	}
	apply(t, s, fsm.UpdateInstancesType, fsm.UpdateInstances{Time: t0, Updates: ups})
}

// backends starts named HTTP servers on 127.0.0.1 that answer their name
// and count their hits.
type backends struct {
	mu    sync.Mutex
	hits  map[string]int
	addrs map[string]string // name → host:port
}

func startBackends(t *testing.T, names ...string) *backends {
	b := &backends{hits: map[string]int{}, addrs: map[string]string{}}
	for _, n := range names {
		name := n
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.mu.Lock()
			b.hits[name]++
			b.mu.Unlock()
			_, _ = io.WriteString(w, name)
		}))
		t.Cleanup(srv.Close)
		b.addrs[name] = strings.TrimPrefix(srv.URL, "http://")
	}
	return b
}

// get sends n requests to addr on fresh connections and counts the
// answering backends.
func get(t testing.TB, client *http.Client, addr string, n int) (map[string]int, error) {
	out := map[string]int{}
	for i := 0; i < n; i++ {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			return out, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return out, err
		}
		if resp.StatusCode != 200 {
			return out, fmt.Errorf("status %d", resp.StatusCode)
		}
		out[string(body)]++
	}
	return out, nil
}

func noKeepAlive() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
}
