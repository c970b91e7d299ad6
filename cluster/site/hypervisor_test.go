package site_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"aas/fsm"
	"aas/nodes"
)

// TestFailedHypervisor: gossip (here: the SetLiveness the leader would
// write) declares hv1 failed → its instances are marked failed and
// replaced on hv2; when hv1 comes back alive, the instances it still runs
// are orphans of the cluster and are deleted.
func TestFailedHypervisor(t *testing.T) {
	l := newLab(t)
	first := l.converged(2)
	for _, in := range first {
		if in.Hypervisor != "hv1" {
			t.Fatalf("instance %s on %s, want hv1 (the only hypervisor)", in.ID, in.Hypervisor)
		}
	}
	hv2 := startAgent(t, l.log, "hv2")
	hv2c := nodes.NewClient(hv2.URL(), nil)
	l.apply(fsm.UpsertHypervisor{Hypervisor: fsm.Hypervisor{ID: "hv2", Cloud: "local", Driver: "process",
		APIAddr: hv2.Addr(), Capacity: 16, Liveness: fsm.LivenessAlive, Since: time.Now()}})
	l.apply(fsm.SetLiveness{ID: "hv1", Liveness: fsm.LivenessFailed, Time: time.Now()})

	waitFor(t, 60*time.Second, "replacements on hv2", func() (bool, string) {
		ins := l.instances()
		onHV2 := 0
		for _, in := range ins {
			if in.Hypervisor == "hv1" && in.Live() {
				return false, "still live on hv1: " + summary(ins)
			}
			if in.Hypervisor == "hv2" && in.State == fsm.StateRunning && in.Health == fsm.HealthHealthy {
				onHV2++
			}
		}
		return onHV2 == 2, summary(ins)
	})
	for _, in := range first {
		if got, ok := find(l.instances(), in.ID); ok && got.State != fsm.StateFailed {
			t.Fatalf("instance %s on the failed hypervisor is %s, want failed", in.ID, got.State)
		}
	}

	// hv1 was only unreachable: back alive, its leftovers are deleted.
	if ids, _ := l.agentIDs(); len(ids) != 2 {
		t.Fatalf("hv1 should still run its 2 old instances while failed, runs %v", keys(ids))
	}
	l.apply(fsm.SetLiveness{ID: "hv1", Liveness: fsm.LivenessAlive, Time: time.Now()})
	waitFor(t, 30*time.Second, "hv1 emptied", func() (bool, string) {
		ids, err := l.agentIDs()
		if err != nil {
			return false, err.Error()
		}
		return len(ids) == 0, fmt.Sprint(keys(ids))
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := hv2c.List(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("hv2 runs %d instances, want 2", len(list))
	}
}
