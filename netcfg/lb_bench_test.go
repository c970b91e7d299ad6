package netcfg

import (
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// loadFrom sends n GETs, spread round-robin over urls, from workers
// goroutines; it returns the rate and the p99 latency.
func loadFrom(b *testing.B, c *http.Client, urls []string, n, workers int) (float64, time.Duration) {
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
				if _, err := get(c, urls[int(i)%len(urls)]); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	rate := float64(n) / time.Since(start).Seconds()
	slices.Sort(lat)
	return rate, lat[n*99/100]
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

// BenchmarkDNATVsDirect: client namespace → LB namespace → backend
// namespace. "direct" is routed through the LB namespace to the three
// backends in turn without NAT; "dnat" goes to the VIP and is balanced over three backends by
// the iptables rules (masquerade off and on). Each request is a new
// connection (newconn: every request meets the nat table) or reuses
// keep-alive connections. Metrics (medians over 5 interleaved rounds): ratio = req/s vs direct
// in the same run, added_p99_us.
func BenchmarkDNATVsDirect(b *testing.B) {
	lab := newLBLabRouted(b, true)
	lb := NewLB(lab.ipt, nil)
	b.Cleanup(func() { lb.Teardown() })
	svc := lab.service(nil)
	masq := lab.service(nil)
	masq.Group, masq.Port = "masq", 81
	svc.Masquerade = false
	must(b, lb.Sync([]Service{svc, masq}))
	var direct []string // the same three backends, addressed directly
	for _, a := range lab.backends {
		direct = append(direct, "http://"+a.String()+"/")
	}
	for _, mode := range []struct {
		name      string
		keepAlive bool
	}{{"newconn", false}, {"keepalive", true}} {
		client := func() *http.Client {
			return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				DialContext: DialContextIn(lab.client), DisableKeepAlives: !mode.keepAlive, MaxIdleConnsPerHost: 64}}
		}
		for _, path := range []struct {
			name string
			url  []string
		}{
			{"dnat", []string{"http://198.18.100.1:80/"}},
			{"dnat_masquerade", []string{"http://198.18.100.1:81/"}},
		} {
			b.Run(mode.name+"/"+path.name, func(b *testing.B) {
				const workers = 8
				n := max(b.N, 200)
				loadFrom(b, client(), direct, 100, workers) // warm-up
				loadFrom(b, client(), path.url, 100, workers)
				b.ResetTimer()
				// Interleaved rounds; the median of per-round ratios resists
				// the noise of neighbours sharing the CPU.
				const rounds = 5
				var dRates, pRates, ratios []float64
				var dP99s, added []time.Duration
				var cpuRatios []float64
				for range rounds {
					c0 := cpuTime()
					dr, dp := loadFrom(b, client(), direct, n, workers)
					c1 := cpuTime()
					pr, pp := loadFrom(b, client(), path.url, n, workers)
					cpuRatios = append(cpuRatios, float64(cpuTime()-c1)/float64(c1-c0))
					dRates, pRates, ratios = append(dRates, dr), append(pRates, pr), append(ratios, pr/dr)
					dP99s, added = append(dP99s, dp), append(added, pp-dp)
				}
				b.StopTimer()
				dRate, pRate, ratio := median(dRates), median(pRates), median(ratios)
				dP99, addedP99 := median(dP99s), median(added)
				b.ReportMetric(dRate, "direct_req/s")
				b.ReportMetric(pRate, "lb_req/s")
				b.ReportMetric(ratio, "ratio")
				b.ReportMetric(median(cpuRatios), "cpu_ratio")
				b.ReportMetric(float64(dP99.Microseconds()), "direct_p99_us")
				b.ReportMetric(float64(addedP99.Microseconds()), "added_p99_us")
			})
		}
	}
}
