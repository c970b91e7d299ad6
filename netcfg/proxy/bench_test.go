package proxy

import (
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// load sends n requests to addr from `workers` goroutines and returns the
// rate and the latencies.
func load(b *testing.B, c *http.Client, addr string, n, workers int) (float64, []time.Duration) {
	var next atomic.Int64
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				t0 := time.Now()
				if _, err := get(c, addr); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds(), lat
}

// cpuTime is this process's user+system CPU time: unlike wall-clock rates
// it barely moves when neighbours compete for the cores.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median[T float64 | time.Duration](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func p99(l []time.Duration) time.Duration {
	s := slices.Clone(l)
	slices.Sort(s)
	return s[len(s)*99/100]
}

// BenchmarkProxyVsDirect measures requests/s and p99 through the proxy as a
// ratio of the same load sent straight to the backend, in the same run.
// Metrics (medians over 5 interleaved rounds): ratio (proxy/direct req/s),
// added_p99_us.
func BenchmarkProxyVsDirect(b *testing.B) {
	for _, mode := range []struct {
		name      string
		keepAlive bool
	}{{"keepalive", true}, {"newconn", false}} {
		b.Run(mode.name, func(b *testing.B) {
			bes := startBackends(b, 1)
			p := startProxy(b, Config{Backends: backends(bes, nil)})
			client := func() *http.Client {
				return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
					DisableKeepAlives: !mode.keepAlive, MaxIdleConnsPerHost: 64}}
			}
			const workers = 8
			n := max(b.N, 200)
			// Warm up both paths.
			load(b, client(), bes[0].addr, 100, workers)
			load(b, client(), p.Addr().String(), 100, workers)
			b.ResetTimer()
			// Interleaved rounds; the median of per-round ratios resists
			// the noise of neighbours sharing the CPU.
			const rounds = 5
			var dRates, pRates, ratios []float64
			var dP99s, added []time.Duration
			var cpuRatios []float64
			for range rounds {
				c0 := cpuTime()
				dr, dl := load(b, client(), bes[0].addr, n, workers)
				c1 := cpuTime()
				pr, pl := load(b, client(), p.Addr().String(), n, workers)
				cpuRatios = append(cpuRatios, float64(cpuTime()-c1)/float64(c1-c0))
				dRates, pRates, ratios = append(dRates, dr), append(pRates, pr), append(ratios, pr/dr)
				dP99s, added = append(dP99s, p99(dl)), append(added, p99(pl)-p99(dl))
			}
			b.StopTimer()
			dRate, pRate, ratio := median(dRates), median(pRates), median(ratios)
			dP99, addedP99 := median(dP99s), median(added)
			b.ReportMetric(dRate, "direct_req/s")
			b.ReportMetric(pRate, "proxy_req/s")
			b.ReportMetric(ratio, "ratio")
			b.ReportMetric(median(cpuRatios), "cpu_ratio")
			b.ReportMetric(float64(dP99.Microseconds()), "direct_p99_us")
			b.ReportMetric(float64(addedP99.Microseconds()), "added_p99_us")
		})
	}
}
