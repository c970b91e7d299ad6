package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	mobyclient "github.com/moby/moby/client"

	"aas/cluster/client"
	"aas/fsm"
	"aas/internal/testenv"
	"aas/nodes/driver/docker"
)

// reactionSubnet is the docker reaction test's tenant network (lab space,
// used by no other test).
const reactionSubnet = "198.19.86.0/24"

// reactionTenant is a one-group tenant scaled like the lab's closed loop
// (target tracking on the request rate the load balancer counts,
// loopPerInstance req/s per instance) whose template runs the workload with the given driver.
func reactionTenant(name, driverTemplate string) string {
	return fmt.Sprintf(`name: %s
networks:
  - name: net
    subnets:
      - cidr: %s
groups:
  - name: web
    template:
%s      health:
        type: http
        path: /healthz
        interval: 1s
        timeout: 500ms
    drain: 2s
    scaling:
      min: 1
      max: 4
      metric: rps
      target: %g
      metric_period: 6s
      cooldown_out: 6s
      cooldown_in: 1h
      policies:
        - name: track
          target:
            tolerance: 0.1
`, name, reactionSubnet, driverTemplate, loopPerInstance)
}

// TestReactionTimePerDriver measures, for each instance driver that can
// serve traffic here, the time from a load step (4 → 25 req/s, see
// stepReaction) to the first request answered by a new instance, through
// one controller (userspace proxy LB, stats every 2 s) and one hypervisor
// agent: detection, decision, creation, boot, first health check and the
// LB update together. The process driver in its netns mode is measured by
// TestLabClosedLoop in the lab; libvirt's test:///default driver defines
// domains that never run a guest, so it has no reaction time to measure.
func TestReactionTimePerDriver(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: runs agents")
	}
	bin, dir := ctlBin(t)
	for _, drv := range []string{"process", "docker"} {
		t.Run(drv, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			var tmpl string
			name := "rt" + drv[:2] + randHex(t, 3)
			switch drv {
			case "process":
				tmpl = fmt.Sprintf(`      driver: process
      port: 8080
      process:
        command: %q
        args: [workload, -listen, "$AAS_LISTEN", -id, "$AAS_INSTANCE_ID", -cpu-ms, "%g"]
`, bin, loopCPUms)
			case "docker":
				testenv.RequireRoot(t)
				testenv.RequireDocker(t)
				d, err := docker.New(ctx, docker.Config{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { d.Close() })
				engine := d.Client()
				tag := "aas-e2e-ctl:" + randHex(t, 4)
				if err := d.BuildScratchImage(ctx, tag, bin); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					if _, err := engine.ImageRemove(ctx, tag, mobyclient.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
						t.Logf("cleanup: remove image %s: %v", tag, err)
					}
				})
				t.Cleanup(func() { removeTenantDocker(t, engine, name) })
				tmpl = fmt.Sprintf(`      driver: docker
      port: 8080
      docker:
        image: %s
        cmd: [workload, -listen, "0.0.0.0:8080", -cpu-ms, "%g"]
`, tag, loopCPUms)
			}

			labDir := filepath.Join(dir, drv)
			if err := os.MkdirAll(labDir, 0o755); err != nil {
				t.Fatal(err)
			}
			srv, _ := startPair(t, bin, labDir, drv, "-raft-profile", "fast", "-stats-interval", "2s", "-lb", "proxy")
			cl := srv.Client()
			tf := filepath.Join(t.TempDir(), "tenant.yml")
			yml := reactionTenant(name, tmpl)
			if err := os.WriteFile(tf, []byte(yml), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := cl.ApplyTenant(ctx, tf, []byte(yml), 0); err != nil {
				t.Fatal(err)
			}
			ep := tenantEndpoint(t, cl, name)
			poll(t, 60*time.Second, "the first instance healthy", func() bool {
				ins, err := cl.Instances(ctx, clientFilter(name))
				if err != nil {
					return false
				}
				for _, in := range ins {
					if in.State == fsm.StateRunning && in.Health == fsm.HealthHealthy {
						return true
					}
				}
				return false
			})
			var d net.Dialer
			hits := &loopHits{}
			reaction, sum := stepReaction(t, ctx, "http://"+ep+"/", d.DialContext, hits)
			t.Logf("load step 4 → 25 req/s: first new instance served %v after the step (%s driver); %d requests, %d failed",
				reaction.Round(10*time.Millisecond), drv, sum.Requests, sum.Failed())
		})
	}
}

func clientFilter(tenant string) client.InstanceFilter { return client.InstanceFilter{Tenant: tenant} }
