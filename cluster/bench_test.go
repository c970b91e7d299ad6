package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"aas/fsm"
)

// BenchmarkApplyThroughRaft measures commands/s committed through raft
// (real BoltDB with fsync, TCP transport on loopback): on a single node and
// on a 3-node cluster, with 64 concurrent writers so raft batches entries
// into one log write and one replication round. Each sub-benchmark also
// measures the same setup with one sequential writer in the same run and
// reports the batched/sequential ratio. The nosync variants (log without
// fsync: unsafe, benchmark only) show what the disk costs.
//
//	go test -run '^$' -bench ApplyThroughRaft -benchtime 5000x ./cluster/
func BenchmarkApplyThroughRaft(b *testing.B) {
	for _, tc := range []struct {
		nodes       int
		viaFollower bool
		noSync      bool
	}{{1, false, false}, {3, false, false}, {3, true, false}, {1, false, true}, {3, false, true}} {
		name := fmt.Sprintf("nodes=%d", tc.nodes)
		if tc.viaFollower {
			name += "/via-follower"
		}
		if tc.noSync {
			name += "/nosync"
		}
		mk := func(b testing.TB, id string) Config {
			cfg := benchConfig(b, id)
			cfg.RaftNoSync = tc.noSync
			return cfg
		}
		b.Run(name, func(b *testing.B) {
			var servers []*Server
			if tc.nodes == 1 {
				cfg := mk(b, "b1")
				cfg.Bootstrap = true
				servers = []*Server{startServer(b, cfg)}
			} else {
				servers = startClusterWith(b, tc.nodes, mk)
			}
			leader := waitAgreedLeader(b, servers, 30*time.Second)
			target := leader
			if tc.viaFollower {
				target = followers(servers, leader)[0]
			}
			var seq atomic.Int64
			apply := func() error {
				id := fmt.Sprintf("h%d", seq.Add(1))
				_, err := target.Apply(context.Background(), fsm.UpsertHypervisorType,
					fsm.UpsertHypervisor{Hypervisor: fsm.Hypervisor{ID: id, Cloud: "c", Driver: "process", Capacity: 4}})
				return err
			}
			// Baseline in the same run: one writer, one command per round.
			const baseN = 200
			t0 := time.Now()
			for range baseN {
				if err := apply(); err != nil {
					b.Fatal(err)
				}
			}
			seqRate := float64(baseN) / time.Since(t0).Seconds()

			const writers = 64
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			var next atomic.Int64
			var firstErr atomic.Value
			for range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if err := apply(); err != nil {
							firstErr.CompareAndSwap(nil, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			if err, _ := firstErr.Load().(error); err != nil {
				b.Fatal(err)
			}
			rate := float64(b.N) / el.Seconds()
			b.ReportMetric(rate, "cmds/s")
			b.ReportMetric(seqRate, "seq-cmds/s")
			b.ReportMetric(rate/seqRate, "batched/seq")
		})
	}
}

func benchConfig(b testing.TB, id string) Config {
	cfg := testConfig(b, id)
	cfg.Raft, _ = RaftProfile(ProfileTuned)
	return cfg
}

// startClusterWith is startCluster with a config constructor.
func startClusterWith(t testing.TB, n int, mk func(testing.TB, string) Config) []*Server {
	t.Helper()
	var servers []*Server
	for i := 1; i <= n; i++ {
		cfg := mk(t, fmt.Sprintf("s%d", i))
		cfg.BootstrapExpect = n
		if i > 1 {
			cfg.Join = []string{servers[0].HTTPAddr()}
		}
		servers = append(servers, startServer(t, cfg))
	}
	return servers
}
