package nodes_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"aas/nodes"
	"aas/nodes/health"
)

// rssBytes is this process's resident set from /proc/self/status.
func rssBytes(tb testing.TB) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	tb.Fatal("VmRSS missing")
	return 0
}

func heapBytes() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkAgentMemory200: heap and RSS of a running agent (process
// driver, sampler at 1 s, health checks at 2 s) managing 200 live
// instances, against the same agent with none, measured in the same run.
// AAS_BENCH_INSTANCES overrides 200.
func BenchmarkAgentMemory200(b *testing.B) {
	n := 200
	if v, err := strconv.Atoi(os.Getenv("AAS_BENCH_INSTANCES")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	for range b.N {
		a, err := nodes.NewAgent(nodes.AgentConfig{
			NodeID: "bench", Cloud: "c", APIAddr: "127.0.0.1:0", DataDir: b.TempDir(), Logger: logger(b),
			SampleInterval: time.Second, DefaultHealth: health.Check{Interval: 2 * time.Second},
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Start(); err != nil {
			b.Fatal(err)
		}
		c := nodes.NewClient(a.URL(), nil)
		time.Sleep(1500 * time.Millisecond) // let the idle agent run a sampling round before the baseline
		heap0, rss0 := heapBytes(), rssBytes(b)
		var wg sync.WaitGroup
		ids := make(chan int)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range ids {
					if _, _, err := c.Create(ctx, 1, spec(fmt.Sprintf("m%03d", i)), nil); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		start := time.Now()
		for i := range n {
			ids <- i
		}
		close(ids)
		wg.Wait()
		waitFor(b, "all instances healthy", 5*time.Minute, func() bool {
			list, err := c.List(ctx, 1)
			if err != nil || len(list) != n {
				return false
			}
			for _, i := range list {
				if i.Health.Status != health.StatusHealthy {
					return false
				}
			}
			return true
		})
		allHealthy := time.Since(start)
		waitFor(b, "stats for all", time.Minute, func() bool {
			s, err := c.Stats(ctx, 1, 0)
			return err == nil && len(s) == n
		})
		time.Sleep(3 * time.Second) // a few sampling and health rounds at full load
		heap1, rss1 := heapBytes(), rssBytes(b)
		b.ReportMetric(float64(n), "instances")
		b.ReportMetric(allHealthy.Seconds(), "s-to-all-healthy")
		b.ReportMetric(float64(heap0)/(1<<20), "MiB-heap-idle")
		b.ReportMetric(float64(heap1)/(1<<20), "MiB-heap-loaded")
		b.ReportMetric(float64(rss0)/(1<<20), "MiB-rss-idle")
		b.ReportMetric(float64(rss1)/(1<<20), "MiB-rss-loaded")
		b.ReportMetric(float64(rss1)/float64(rss0), "rss-ratio")
		b.ReportMetric(float64(heap1-min(heap0, heap1))/float64(n)/1024, "KiB-heap-per-instance")
		deleteAll(b, c, 1)
		stop(b, a)
	}
}
