package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	mobyclient "github.com/moby/moby/client"

	"aas/cluster/client"
	"aas/fsm"
	"aas/internal/testenv"
	"aas/nodes/driver/docker"
)

// dockerSubnet is the test tenant's network: lab space (198.18.0.0/15)
// used by no other test, so a run of the docker driver's own tests can go
// on beside this one.
const dockerSubnet = "198.19.85.0/24"

// TestDockerAcceptance is issue 5's Docker acceptance, run as an operator
// would, through the controller: one `ctl agent -server`, one
// `ctl agent -hypervisor -driver docker`, a tenant whose group runs a
// FROM-scratch image holding this very ctl. Checked against the engine
// itself (container list by the tenant's label), not only against the FSM:
//
//   - min 2 → two containers running, both answering with their own ID
//     directly and through the group's endpoint (userspace proxy);
//   - scale to 4 → four; back to 2 → two drained and their containers gone;
//   - docker kill of one → failed in the FSM, replaced by a new instance;
//   - SIGTERM of the hypervisor agent and a restart on the same data dir →
//     the same two containers adopted (same container IDs and creation
//     times), nothing created meanwhile;
//   - tenant delete → no container and no network of the tenant left.
func TestDockerAcceptance(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireDocker(t)
	start := time.Now()
	bin, dir := ctlBin(t)
	ctx := context.Background()

	// 1. The image: FROM scratch, /ctl as entrypoint, a tag unique to the run.
	drv, err := docker.New(ctx, docker.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close() })
	engine := drv.Client()
	suffix := randHex(t, 4)
	tag := "aas-e2e-ctl:" + suffix
	if err := drv.BuildScratchImage(ctx, tag, bin); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := engine.ImageRemove(ctx, tag, mobyclient.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
			t.Logf("cleanup: remove image %s: %v", tag, err)
		}
	})
	tenantName := "dk" + suffix
	// Registered before the agents' cleanup, so it runs after they are
	// gone: whatever a failed run left in the engine is removed.
	t.Cleanup(func() { removeTenantDocker(t, engine, tenantName) })
	t.Logf("ctl built and image %s ready after %v", tag, time.Since(start).Round(time.Millisecond))

	// 2. One controller and one docker hypervisor agent.
	srv, hv := startPair(t, bin, dir, "docker", "-raft-profile", "fast", "-stats-interval", "1s", "-lb", "proxy")
	cl := srv.Client()
	hvAlive := func(after time.Time) func() bool {
		return func() bool {
			hs, err := cl.Hypervisors(ctx)
			if err != nil {
				return false
			}
			for _, h := range hs {
				if h.ID == hv.ID && h.Liveness == string(fsm.LivenessAlive) && h.Driver == "docker" && !h.Since.Before(after.Truncate(time.Second)) {
					return true
				}
			}
			return false
		}
	}
	poll(t, 20*time.Second, "docker hypervisor alive", hvAlive(time.Time{}))
	t.Logf("controller and hypervisor up after %v", time.Since(start).Round(time.Millisecond))

	// 3. The tenant: one docker group, min 2, autoscaler held off.
	tenantFile := filepath.Join(t.TempDir(), "tenant.yml")
	if err := os.WriteFile(tenantFile, []byte(dockerTenant(tenantName, tag)), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"CTL_ADDR=http://" + srv.HTTP}
	ctlEnv(t, bin, env, "tenant", "validate", tenantFile)
	applied := time.Now()
	ctlEnv(t, bin, env, "tenant", "apply", tenantFile)

	instances := func(state string) []fsm.Instance {
		ins, err := cl.Instances(ctx, client.InstanceFilter{Tenant: tenantName, Group: "web", State: state})
		if err != nil {
			return nil
		}
		return ins
	}
	ids := func(ins []fsm.Instance) []string {
		out := make([]string, 0, len(ins))
		for _, in := range ins {
			out = append(out, in.ID)
		}
		sort.Strings(out)
		return out
	}
	// converged: n instances running and healthy in the FSM, and exactly
	// those n containers in the engine, all running, none besides.
	var last string
	converged := func(n int) func() bool {
		return func() bool {
			run := instances(string(fsm.StateRunning))
			cs, err := tenantContainers(ctx, engine, tenantName)
			if err != nil {
				last = err.Error()
				return false
			}
			last = fmt.Sprintf("fsm running %v (healthy %v), engine %d containers, running %v", ids(run), allHealthy(run), len(cs), runningIDs(cs))
			return len(run) == n && allHealthy(run) && len(cs) == n && sameSet(ids(run), runningIDs(cs))
		}
	}
	waitConverged := func(n int, d time.Duration) {
		t.Helper()
		begin := time.Now()
		deadline := begin.Add(d)
		for !converged(n)() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %v waiting for %d running containers: %s", d, n, last)
			}
			time.Sleep(100 * time.Millisecond) // polling interval
		}
		t.Logf("%d running containers after %v", n, time.Since(begin).Round(time.Millisecond))
	}
	logCreateToRunning := func(seen map[string]bool) {
		for _, in := range instances(string(fsm.StateRunning)) {
			if !seen[in.ID] {
				seen[in.ID] = true
				t.Logf("instance %s (%s): create→running %v", in.ID, in.Address, in.Since.Sub(in.Created).Round(time.Millisecond))
			}
		}
	}
	timed := map[string]bool{}

	// 4. Two containers, both serving with their own instance ID.
	waitConverged(2, 60*time.Second)
	t.Logf("tenant apply → 2 running containers: %v", time.Since(applied).Round(time.Millisecond))
	logCreateToRunning(timed)
	hc := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for _, in := range instances(string(fsm.StateRunning)) {
		if !strings.HasPrefix(in.IP, "198.19.85.") {
			t.Errorf("instance %s has IP %q, not from the tenant's subnet %s", in.ID, in.IP, dockerSubnet)
		}
		if got := workloadID(hc, "http://"+in.Address+"/"); got != in.ID {
			t.Errorf("container of %s at %s answers as %q", in.ID, in.Address, got)
		}
	}
	ep := tenantEndpoint(t, cl, tenantName)
	seen := map[string]bool{}
	poll(t, 15*time.Second, "both containers serve through the group's endpoint", func() bool {
		if id := workloadID(hc, "http://"+ep+"/"); id != "" {
			seen[id] = true
		}
		return len(seen) == 2
	})
	if !sameSet(mapKeys(seen), ids(instances(string(fsm.StateRunning)))) {
		t.Errorf("the endpoint served %v, the running instances are %v", mapKeys(seen), ids(instances(string(fsm.StateRunning))))
	}

	// Scale out to 4, then back to 2: two drain and their containers go.
	scaled := time.Now()
	ctlEnv(t, bin, env, "group", "scale", tenantName+"/web", "4")
	waitConverged(4, 60*time.Second)
	t.Logf("scale 2 → 4: %v", time.Since(scaled).Round(time.Millisecond))
	logCreateToRunning(timed)
	four := ids(instances(string(fsm.StateRunning)))

	scaled = time.Now()
	ctlEnv(t, bin, env, "group", "scale", tenantName+"/web", "2")
	waitConverged(2, 60*time.Second)
	t.Logf("scale 4 → 2 (2 s drain): %v", time.Since(scaled).Round(time.Millisecond))
	terminated := instances(string(fsm.StateTerminated))
	if len(terminated) != 2 {
		t.Fatalf("%d terminated instances after 4 → 2, want 2: %v", len(terminated), ids(terminated))
	}
	for _, in := range terminated {
		if !contains(four, in.ID) {
			t.Errorf("terminated %s was not one of the four", in.ID)
		}
	}

	// 5. docker kill of one container: failed in the FSM, replaced.
	before := ids(instances(string(fsm.StateRunning)))
	cs, err := tenantContainers(ctx, engine, tenantName)
	if err != nil {
		t.Fatal(err)
	}
	victim := before[0]
	killed := time.Now()
	if _, err := engine.ContainerKill(ctx, cs[victim].ID, mobyclient.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "killed instance failed in the FSM", func() bool {
		for _, in := range instances(string(fsm.StateFailed)) {
			if in.ID == victim {
				return true
			}
		}
		return false
	})
	t.Logf("docker kill → failed: %v", time.Since(killed).Round(time.Millisecond))
	waitConverged(2, 60*time.Second)
	t.Logf("docker kill → replacement running: %v", time.Since(killed).Round(time.Millisecond))
	logCreateToRunning(timed)
	after := ids(instances(string(fsm.StateRunning)))
	if contains(after, victim) || !contains(after, before[1]) {
		t.Fatalf("after the kill of %s: running %v (before %v)", victim, after, before)
	}
	failedBefore := len(instances(string(fsm.StateFailed)))

	// 6. SIGTERM the hypervisor agent, start it again on the same data
	// dir: it adopts its containers, nothing is created or replaced.
	adopted, err := tenantContainers(ctx, engine, tenantName)
	if err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if err := hv.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("hypervisor agent stopped (SIGTERM) in %v", time.Since(stopped).Round(time.Millisecond))
	if cs, err := tenantContainers(ctx, engine, tenantName); err != nil || !sameSet(runningIDs(cs), after) {
		t.Fatalf("containers after the agent stopped: %v (%v), want %v still running", runningIDs(cs), err, after)
	}
	restarted := time.Now()
	if err := hv.Start(); err != nil {
		t.Fatal(err)
	}
	poll(t, 30*time.Second, "restarted hypervisor alive", hvAlive(restarted))
	// Settled: a metric point taken after the restart proves the site has
	// listed and sampled the restarted agent (adoption runs first in the
	// same pass), not just that the FSM has not changed yet.
	poll(t, 30*time.Second, "metrics sampled from the restarted agent", func() bool {
		m, err := cl.MetricsExport(ctx, client.LogQuery{Tenant: tenantName, Group: "web"})
		if err != nil {
			return false
		}
		for _, p := range m.Points {
			if p.Time.After(restarted) && p.Instances == 2 {
				return true
			}
		}
		return false
	})
	waitConverged(2, 30*time.Second)
	t.Logf("agent restart → adopted and settled: %v", time.Since(restarted).Round(time.Millisecond))
	if got := ids(instances(string(fsm.StateRunning))); !sameSet(got, after) {
		t.Errorf("running instances after the restart %v, before %v", got, after)
	}
	if n := len(instances(string(fsm.StateFailed))); n != failedBefore {
		t.Errorf("%d failed instances after the restart, %d before", n, failedBefore)
	}
	for _, in := range instances("") {
		if in.Created.After(stopped) {
			t.Errorf("instance %s (%s) created during the restart", in.ID, in.State)
		}
	}
	now, err := tenantContainers(ctx, engine, tenantName)
	if err != nil {
		t.Fatal(err)
	}
	if len(now) != len(adopted) {
		t.Errorf("%d containers after the restart, %d before", len(now), len(adopted))
	}
	for id, c := range adopted {
		n, ok := now[id]
		switch {
		case !ok:
			t.Errorf("container of %s gone after the restart", id)
		case n.ID != c.ID || n.Created != c.Created || !n.Running:
			t.Errorf("container of %s: %s created %d running %v, before %s created %d", id, n.ID[:12], n.Created, n.Running, c.ID[:12], c.Created)
		}
	}

	// 7. Tenant delete: no container, no network of the tenant left.
	deleted := time.Now()
	ctlEnv(t, bin, env, "tenant", "delete", tenantName)
	poll(t, 60*time.Second, "no container of the tenant left", func() bool {
		cs, err := tenantContainers(ctx, engine, tenantName)
		return err == nil && len(cs) == 0
	})
	t.Logf("tenant delete → containers gone: %v", time.Since(deleted).Round(time.Millisecond))
	waitFor(t, 30*time.Second, "no network of the tenant left", func() (bool, string) {
		nets, err := tenantNetworks(ctx, engine, tenantName)
		return err == nil && len(nets) == 0, fmt.Sprintf("networks %v, error %v", nets, err)
	})
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// dockerTenant is the test's tenant in the rich format: one network on
// dockerSubnet, one group running image's workload with an HTTP health
// check, a short drain, and a reactive policy whose cooldowns and
// threshold times keep the autoscaler out of the way for the whole test.
func dockerTenant(name, image string) string {
	return fmt.Sprintf(`name: %s
networks:
  - name: net
    subnets:
      - cidr: %s
groups:
  - name: web
    template:
      driver: docker
      port: 8080
      docker:
        image: %s
        # The image's entrypoint is /ctl; the driver sets AAS_INSTANCE_ID
        # and AAS_LISTEN, which the workload takes as its defaults (the
        # engine does not expand $VARS in an exec-form command).
        cmd: [workload, -listen, "0.0.0.0:8080"]
      health:
        type: http
        path: /healthz
        interval: 1s
        timeout: 1s
        grace: 10s
    drain: 2s
    scaling:
      min: 2
      max: 6
      cooldown_out: 1h
      cooldown_in: 1h
      threshold_time_out: 1h
      threshold_time_in: 1h
      policies:
        - reactive:
            threshold: 0.8
`, name, dockerSubnet, image)
}

// workloadID asks a `ctl workload` for the instance ID it reports ("" on
// any error).
func workloadID(hc *http.Client, url string) string {
	resp, err := hc.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var body struct {
		InstanceID string `json:"instance_id"`
	}
	if json.NewDecoder(resp.Body).Decode(&body) != nil {
		return ""
	}
	return body.InstanceID
}

// tenantEndpoint waits for the proxy endpoint of the tenant's group.
func tenantEndpoint(t *testing.T, cl *client.Client, tenant string) string {
	t.Helper()
	var ep string
	poll(t, 15*time.Second, "group endpoint", func() bool {
		var eps []struct{ Tenant, Address string }
		if err := cl.Do(context.Background(), http.MethodGet, "/v1/endpoints", nil, &eps); err != nil {
			return false
		}
		for _, e := range eps {
			if e.Tenant == tenant {
				ep = e.Address
			}
		}
		return ep != ""
	})
	return ep
}

func mapKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
