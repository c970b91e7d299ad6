package site_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"testing"
	"time"

	"aas/cluster/lbsync"
	"aas/fsm"
)

// Requests through the group's load balancer (the dev-mode proxy) become
// the request rate of the group's metric points: measured, with this
// cloud's name, close to the rate that was sent (one connection per
// request, so connections are requests).
func TestMetricPointsCarryRequestRate(t *testing.T) {
	l := newLab(t)
	l.converged(2)

	ps, err := lbsync.NewProxySync(lbsync.ProxyConfig{Source: l.srv, Cloud: "local", Resync: 200 * time.Millisecond, Logger: l.log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ps.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	l.stopReconciler()
	l.requests = ps
	l.startReconciler()
	var ep string
	waitFor(t, 10*time.Second, "the group's proxy endpoint", func() (bool, string) {
		ep = ps.Endpoints()["acme/web"]
		return ep != "", fmt.Sprint(ps.Endpoints())
	})

	// 40 requests a second for 4 s, a new connection each.
	const rate, dur = 40, 4 * time.Second
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	sent := 0
	var failed []error
	start := time.Now()
	tick := time.NewTicker(time.Second / rate) // pacing of the load, not synchronisation
	for time.Since(start) < dur {
		<-tick.C
		resp, err := client.Get("http://" + ep + "/")
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err != nil {
			failed = append(failed, err)
		} else {
			sent++
		}
	}
	tick.Stop()
	end := time.Now()
	if len(failed) > 0 {
		t.Fatalf("%d requests failed through the proxy, first: %v", len(failed), failed[0])
	}
	want := float64(sent) / end.Sub(start).Seconds()

	// The points of stats passes whose whole interval (500 ms) lay inside
	// the load.
	var inside []fsm.MetricPoint
	waitFor(t, 10*time.Second, "measured points during the load", func() (bool, string) {
		var pts []fsm.MetricPoint
		l.srv.FSM().Read(func(s *fsm.State) { pts = s.MetricHistory("acme", "web") })
		inside = inside[:0]
		for _, p := range pts {
			if p.RPSMeasured && p.Time.After(start.Add(time.Second)) && !p.Time.After(end) {
				inside = append(inside, p)
			}
		}
		return len(inside) >= 3, fmt.Sprintf("%d of %d points (last %+v)", len(inside), len(pts), pts[len(pts)-1:])
	})
	sum := 0.0
	for _, p := range inside {
		if p.Cloud != "local" || p.RPS <= 0 {
			t.Fatalf("point %+v: want cloud local and a request rate > 0", p)
		}
		sum += p.RPS
	}
	got := sum / float64(len(inside))
	t.Logf("sent %d requests in %v = %.1f/s; %d points measured %.1f/s on average", sent, end.Sub(start).Round(time.Millisecond), want, len(inside), got)
	if math.Abs(got-want)/want > 0.25 {
		t.Fatalf("points measured %.1f requests/s on average, %.1f/s were sent: %+v", got, want, inside)
	}
}
