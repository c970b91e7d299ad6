package loadgen

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"aas/scaler/trace"
)

func parse(t testing.TB, csv string) *trace.Trace {
	t.Helper()
	tr, err := trace.Parse(strings.NewReader(csv), "test.csv")
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// A step of 10 trace seconds; loads are requests per step.
const synthetic = "# synthetic\nt,load\n0,100\n10,300\n20,0\n30,200\n"

func TestTracePacer(t *testing.T) {
	tr := parse(t, synthetic)
	// speedup 20: a step lasts 0.5 s of wall time.
	p, err := NewTracePacer(tr, 20, 1, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, tc := range []struct {
		at       time.Duration
		expected float64
		rate     float64
	}{
		{0, 0, 200},
		{ms(250), 50, 200},
		{ms(500), 100, 600},
		{ms(1000), 400, 0},
		{ms(1250), 400, 0},
		{ms(1500), 400, 400},
		{ms(2000), 600, 0},
	} {
		if got := p.Expected(tc.at); math.Abs(got-tc.expected) > 1e-6 {
			t.Errorf("Expected(%v) = %v, want %v", tc.at, got, tc.expected)
		}
		if got := p.Rate(tc.at); got != tc.rate {
			t.Errorf("Rate(%v) = %v, want %v", tc.at, got, tc.rate)
		}
	}
	if p.Duration() != 2*time.Second || p.Total() != 600 {
		t.Fatalf("duration %v total %v, want 2s and 600", p.Duration(), p.Total())
	}
	// Pace: the 101st hit is the first of the second step (600/s).
	if w, stop := p.Pace(ms(500), 100); stop || math.Abs(float64(w-time.Second/600)) > float64(time.Microsecond) {
		t.Fatalf("Pace(0.5s, 100) = %v %v, want 1/600 s", w, stop)
	}
	// Hit 401 skips the silent step.
	if w, stop := p.Pace(ms(1000), 400); stop || math.Abs(float64(w-(500*time.Millisecond+time.Second/400))) > float64(time.Microsecond) {
		t.Fatalf("Pace(1s, 400) = %v %v, want the silent step skipped", w, stop)
	}
	if _, stop := p.Pace(ms(1900), 600); !stop {
		t.Fatal("Pace after the last hit does not stop")
	}
	// Behind schedule: fire at once.
	if w, stop := p.Pace(ms(400), 10); stop || w != 0 {
		t.Fatalf("Pace behind schedule = %v %v, want 0", w, stop)
	}

	// Scale, cap and duration.
	capped, err := NewTracePacer(tr, 20, 2, 500, 1200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// 400/s, then 1200 capped to 500/s, then 0 until the cut at 1.2 s.
	if got := capped.Total(); math.Abs(got-450) > 1e-6 || capped.Duration() != 1200*time.Millisecond {
		t.Fatalf("capped total %v duration %v, want 450 and 1.2s", got, capped.Duration())
	}

	for _, bad := range []struct {
		speed, scale, max float64
		d                 time.Duration
	}{{0, 1, 0, 0}, {math.NaN(), 1, 0, 0}, {1, -1, 0, 0}, {1, 1, -5, 0}, {1, 1, 0, -time.Second}} {
		if _, err := NewTracePacer(tr, bad.speed, bad.scale, bad.max, bad.d); !errors.Is(err, ErrConfig) {
			t.Errorf("NewTracePacer(%+v): %v, want ErrConfig", bad, err)
		}
	}
}

func TestReplayCountsRequests(t *testing.T) {
	var got atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	var mu sync.Mutex
	var reports []Progress
	sum, err := Run(context.Background(), Config{Trace: parse(t, synthetic), Target: srv.URL, Speedup: 20,
		ReportEvery: 500 * time.Millisecond, Progress: func(p Progress) {
			mu.Lock()
			reports = append(reports, p)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	// Open loop: the count is the trace's, whatever the latencies.
	if n := got.Load(); math.Abs(float64(n)-600) > 0.05*600 || sum.Requests != uint64(n) {
		t.Fatalf("server saw %d requests, summary %d; the trace asks for 600 (±5%%)", n, sum.Requests)
	}
	if sum.Success != 1 || sum.Failed() != 0 || sum.Expected != 600 {
		t.Fatalf("summary %+v, want all 600 successful", sum)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) < 2 {
		t.Fatalf("%d progress reports in a 2 s replay every 0.5 s", len(reports))
	}
	var seen uint64
	for _, r := range reports {
		seen += r.Requests
		if r.Requests > 0 && (r.P50 <= 0 || r.P99 < r.P50 || r.AchievedRate <= 0) {
			t.Fatalf("report %+v: want latencies and a rate", r)
		}
	}
	// A last window shorter than a tenth of the period is not reported.
	if seen > sum.Requests || float64(seen) < 0.8*float64(sum.Requests) {
		t.Fatalf("reports add up to %d requests, summary %d", seen, sum.Requests)
	}
}

func TestReplayCountsErrors(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%2 == 0 {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	sum, err := Run(context.Background(), Config{Trace: parse(t, "t,load\n0,100\n1,100\n"), Target: srv.URL, Speedup: 1})
	if err != nil {
		t.Fatal(err)
	}
	fails := sum.Errors["500 Internal Server Error"]
	if int64(fails) != n.Load()/2 || fails == 0 || sum.Failed() != fails {
		t.Fatalf("errors %v for %d requests, want every second one as a 500", sum.Errors, n.Load())
	}
	if math.Abs(sum.Success-0.5) > 0.01 || sum.StatusCodes["500"] != fails {
		t.Fatalf("success %v status %v, want 0.5", sum.Success, sum.StatusCodes)
	}
	var b strings.Builder
	sum.Write(&b)
	if !strings.Contains(b.String(), "500 Internal Server Error: ") {
		t.Fatalf("summary text lacks the error kind:\n%s", b.String())
	}
}

func TestReplayStopsOnCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	start := time.Now()
	// Two hours of 100 requests/s, cancelled at the first report.
	_, err := Run(ctx, Config{Trace: parse(t, "t,load\n0,360000\n3600,360000\n"), Target: srv.URL, Speedup: 1,
		ReportEvery: 100 * time.Millisecond, Progress: func(Progress) { once.Do(cancel) }})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("replay ran %v after cancel", took)
	}
}

func TestConfigErrors(t *testing.T) {
	tr := parse(t, synthetic)
	for _, target := range []string{"", "ftp://127.0.0.1/", "127.0.0.1:80", "http://"} {
		if _, err := Run(context.Background(), Config{Trace: tr, Target: target, Speedup: 1}); !errors.Is(err, ErrConfig) {
			t.Errorf("target %q: %v, want ErrConfig", target, err)
		}
	}
}

// TestReplayNewConnectionsAndHits: with NewConnections every request opens
// its own TCP connection (through the caller's dialer), and OnResult sees
// each request once with its body.
func TestReplayNewConnectionsAndHits(t *testing.T) {
	for _, fresh := range []bool{true, false} {
		t.Run(map[bool]string{true: "new-connections", false: "keep-alive"}[fresh], func(t *testing.T) {
			var conns, reqs atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reqs.Add(1)
				_, _ = w.Write([]byte("instance-7"))
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			defer srv.Close()
			var dials atomic.Int64
			d := &net.Dialer{}
			var hits []Hit
			sum, err := Run(context.Background(), Config{Trace: parse(t, "t,load\n0,100\n10,100\n"), Target: srv.URL, Speedup: 20,
				NewConnections: fresh,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					return d.DialContext(ctx, network, addr)
				},
				OnResult: func(h Hit) { hits = append(hits, h) }})
			if err != nil {
				t.Fatal(err)
			}
			n := reqs.Load()
			if n < 190 || sum.Requests != uint64(n) || len(hits) != int(n) {
				t.Fatalf("server saw %d requests, summary %d, hits %d; want the trace's 200", n, sum.Requests, len(hits))
			}
			if dials.Load() != conns.Load() {
				t.Fatalf("%d dials through DialContext, server saw %d connections", dials.Load(), conns.Load())
			}
			if fresh && conns.Load() != n {
				t.Fatalf("new connections: %d connections for %d requests", conns.Load(), n)
			}
			if !fresh && conns.Load() >= n/2 {
				t.Fatalf("keep-alive: %d connections for %d requests", conns.Load(), n)
			}
			for _, h := range hits {
				if h.Err != "" || h.Code != 200 || string(h.Body) != "instance-7" || h.At.IsZero() || h.Latency <= 0 {
					t.Fatalf("hit %+v", h)
				}
			}
		})
	}
}
