package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	mobyclient "github.com/moby/moby/client"

	"aas/e2e/clusterproc"
	"aas/fsm"
	"aas/nodes/driver"
)

// engineContainer is what the Docker engine itself reports about one
// container of the test's tenant: the ground truth the FSM is compared with.
type engineContainer struct {
	ID       string // engine container ID
	Instance string // aas.instance label
	Created  int64  // engine creation time, unix seconds
	Running  bool
}

// tenantContainers lists every container (running or not) labelled with
// the tenant, by instance ID.
func tenantContainers(ctx context.Context, cli *mobyclient.Client, tenant string) (map[string]engineContainer, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := cli.ContainerList(ctx, mobyclient.ContainerListOptions{All: true,
		Filters: make(mobyclient.Filters).Add("label", driver.LabelTenant+"="+tenant)})
	if err != nil {
		return nil, fmt.Errorf("container list: %w", err)
	}
	out := make(map[string]engineContainer, len(res.Items))
	for _, c := range res.Items {
		out[c.Labels[driver.LabelInstance]] = engineContainer{ID: c.ID, Instance: c.Labels[driver.LabelInstance],
			Created: c.Created, Running: c.State == container.StateRunning}
	}
	return out, nil
}

// tenantNetworks lists the docker networks labelled with the tenant or
// named after it (aas-<tenant>-…).
func tenantNetworks(ctx context.Context, cli *mobyclient.Client, tenant string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := cli.NetworkList(ctx, mobyclient.NetworkListOptions{})
	if err != nil {
		return nil, fmt.Errorf("network list: %w", err)
	}
	var out []string
	for _, n := range res.Items {
		if n.Labels[driver.LabelTenant] == tenant || strings.HasPrefix(n.Name, "aas-"+tenant+"-") {
			out = append(out, n.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// removeTenantDocker force-removes whatever the tenant left in the engine
// (a failed run's cleanup; a passing run leaves nothing to remove).
func removeTenantDocker(t *testing.T, cli *mobyclient.Client, tenant string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := tenantContainers(ctx, cli, tenant)
	if err != nil {
		t.Logf("cleanup: %v", err)
	}
	for _, c := range cs {
		if _, err := cli.ContainerRemove(ctx, c.ID, mobyclient.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			t.Logf("cleanup: remove container %s: %v", c.ID[:12], err)
		}
	}
	nets, err := tenantNetworks(ctx, cli, tenant)
	if err != nil {
		t.Logf("cleanup: %v", err)
	}
	for _, n := range nets {
		if _, err := cli.NetworkRemove(ctx, n, mobyclient.NetworkRemoveOptions{}); err != nil {
			t.Logf("cleanup: remove network %s: %v", n, err)
		}
	}
}

// runningIDs returns the IDs of the running containers, sorted.
func runningIDs(cs map[string]engineContainer) []string {
	var out []string
	for id, c := range cs {
		if c.Running {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// sameSet reports whether a and b hold the same strings (order ignored).
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := make(map[string]int, len(a))
	for _, s := range a {
		m[s]++
	}
	for _, s := range b {
		if m[s] == 0 {
			return false
		}
		m[s]--
	}
	return true
}

// startPair starts one controller (`ctl agent -server` with serverArgs) and
// one hypervisor agent with the given driver in cloud "cloud-s1" under dir,
// waits until the controller is ready and the hypervisor alive, and stops
// both (showing their logs if the test failed) at cleanup.
func startPair(t *testing.T, bin, dir, driver string, serverArgs ...string) (srv, hv *clusterproc.Node) {
	t.Helper()
	lab := &clusterproc.Lab{Bin: bin, Dir: dir, ServerArgs: serverArgs}
	srv, err := lab.NewServer("s1", 1)
	if err != nil {
		t.Fatal(err)
	}
	hv, err = lab.NewHypervisor("hv-"+driver, "cloud-s1", srv.Gossip)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range hv.Args {
		if a == "-driver" {
			hv.Args[i+1] = driver
		}
	}
	t.Cleanup(func() {
		_ = hv.Kill()
		_ = srv.Kill()
		if driver == "process" {
			// Instances run in their own sessions: a killed agent leaves them.
			for _, pid := range workloadPIDs(t, filepath.Dir(bin)) {
				if n, err := strconv.Atoi(pid); err == nil {
					_ = syscall.Kill(n, syscall.SIGKILL)
				}
			}
		}
		if t.Failed() {
			t.Logf("--- controller log:\n%s", tail(srv.Log(), 8000))
			t.Logf("--- hypervisor log:\n%s", tail(hv.Log(), 8000))
		}
	})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if err := hv.Start(); err != nil {
		t.Fatal(err)
	}
	cl := srv.Client()
	ctx := context.Background()
	poll(t, 20*time.Second, "controller ready", func() bool {
		ok, _, err := cl.Ready(ctx)
		return err == nil && ok
	})
	poll(t, 20*time.Second, hv.ID+" alive", func() bool {
		hs, err := cl.Hypervisors(ctx)
		if err != nil {
			return false
		}
		for _, h := range hs {
			if h.ID == hv.ID && h.Liveness == string(fsm.LivenessAlive) && h.Driver == driver {
				return true
			}
		}
		return false
	})
	return srv, hv
}
