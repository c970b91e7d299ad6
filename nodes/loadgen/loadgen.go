package loadgen

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"aas/scaler/trace"
)

// Config is one replay.
type Config struct {
	// Trace to replay (required).
	Trace *trace.Trace
	// Target URL (http or https, required); Method defaults to GET.
	Target string
	Method string
	// Speedup compresses trace time: 60 replays an hour in a minute.
	Speedup float64
	// Scale multiplies the trace's load (default 1).
	Scale float64
	// MaxRate caps the request rate (requests/s; 0: no cap).
	MaxRate float64
	// Duration stops the replay early (wall time; 0: the whole trace).
	Duration time.Duration
	// Timeout of one request (default 10s).
	Timeout time.Duration
	// MaxWorkers bounds requests in flight (default 512): with a target
	// slower than the rate, the achieved rate drops instead of the
	// number of goroutines and sockets growing without bound.
	MaxWorkers uint64
	// Grace is how long after the trace's end requests still due are sent
	// by a client that fell behind (default 5s); the rest is dropped.
	Grace time.Duration
	// ReportEvery is the period of progress reports (default 5s).
	ReportEvery time.Duration
	// Progress, when set, receives a report every ReportEvery.
	Progress func(Progress)
	// NewConnections opens one TCP connection per request (no
	// keep-alive), as HTTP/1.0 clients and many crawlers do; an L4 load
	// balancer then sees and spreads every request, and a scale-out
	// reaches the new instances at once instead of when pooled
	// connections churn.
	NewConnections bool
	// DialContext, when set, opens the connections (e.g. from another
	// network namespace: netcfg.DialContextIn).
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// OnResult, when set, sees every response (or failure) in the order
	// they complete, on the replay's goroutine: keep it short.
	OnResult func(Hit)
	Logger   hclog.Logger
}

// Hit is one request's outcome.
type Hit struct {
	// At is when the request was sent; Latency how long it took.
	At      time.Time
	Latency time.Duration
	// Code is the HTTP status (0: no response); Err the failure, empty on
	// success (a 2xx/3xx response).
	Code uint16
	Err  string
	// Body is the start of the response body (up to 4 KiB).
	Body []byte
}

// Progress is one periodic report.
type Progress struct {
	Elapsed time.Duration
	// TraceTime is the trace's clock (seconds, as in the file).
	TraceTime float64
	// TargetRate is the trace's rate now; AchievedRate the responses per
	// second received in the period.
	TargetRate, AchievedRate float64
	// Requests and Errors in the period.
	Requests, Errors uint64
	P50, P95, P99    time.Duration
}

// String is one line for a terminal.
func (p Progress) String() string {
	return fmt.Sprintf("%7.1fs trace t=%-9s target %8.1f/s achieved %8.1f/s  p50 %-9s p95 %-9s p99 %-9s errors %d/%d",
		p.Elapsed.Seconds(), traceClock(p.TraceTime), p.TargetRate, p.AchievedRate,
		round(p.P50), round(p.P95), round(p.P99), p.Errors, p.Requests)
}

// Summary is the outcome of a replay.
type Summary struct {
	// Expected is the number of requests the trace asked for.
	Expected float64
	Requests uint64
	// Success is the ratio of 2xx/3xx responses (0..1).
	Success  float64
	Duration time.Duration
	// Rate is requests per second sent.
	Rate                     float64
	P50, P95, P99, Max, Mean time.Duration
	StatusCodes              map[string]int
	// Errors counts failed requests by kind ("500 Internal Server Error",
	// "connection refused", "timeout", ...).
	Errors map[string]int
}

// Dropped is the number of requests the trace asked for that were not sent
// (the client fell more than Grace behind, or the replay was cancelled).
func (s Summary) Dropped() int {
	return max(0, int(math.Floor(s.Expected+1e-9))-int(s.Requests))
}

// Failed is the number of failed requests.
func (s Summary) Failed() int {
	n := 0
	for _, c := range s.Errors {
		n += c
	}
	return n
}

// Write prints the summary for a terminal.
func (s Summary) Write(w io.Writer) {
	fmt.Fprintf(w, "requests %d (trace asked for %.0f) in %s, %.1f/s\n", s.Requests, s.Expected, round(s.Duration), s.Rate)
	if d := s.Dropped(); d > 0 {
		fmt.Fprintf(w, "dropped  %d requests the client could not send in time\n", d)
	}
	fmt.Fprintf(w, "success  %.2f%% (%d failed)\n", 100*s.Success, s.Failed())
	fmt.Fprintf(w, "latency  mean %s p50 %s p95 %s p99 %s max %s\n", round(s.Mean), round(s.P50), round(s.P95), round(s.P99), round(s.Max))
	if len(s.StatusCodes) > 0 {
		fmt.Fprintf(w, "status   %s\n", counts(s.StatusCodes))
	}
	if len(s.Errors) > 0 {
		fmt.Fprintf(w, "errors   %s\n", counts(s.Errors))
	}
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

func traceClock(sec float64) string {
	return (time.Duration(math.Round(sec)) * time.Second).String()
}

func (c *Config) check() error {
	if c.Method == "" {
		c.Method = http.MethodGet
	}
	if c.Scale == 0 {
		c.Scale = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxWorkers == 0 {
		c.MaxWorkers = 512
	}
	if c.Grace <= 0 {
		c.Grace = 5 * time.Second
	}
	if c.ReportEvery <= 0 {
		c.ReportEvery = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	u, err := url.Parse(c.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: target %q: want an http:// or https:// URL", ErrConfig, c.Target)
	}
	return nil
}

// Run replays the trace against the target until the trace (or Duration)
// ends or ctx is cancelled, and returns the summary.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if err := cfg.check(); err != nil {
		return Summary{}, err
	}
	pacer, err := NewTracePacer(cfg.Trace, cfg.Speedup, cfg.Scale, cfg.MaxRate, cfg.Duration)
	if err != nil {
		return Summary{}, err
	}
	pacer.Grace = cfg.Grace
	log := cfg.Logger.Named("loadgen")
	opts := []func(*vegeta.Attacker){
		vegeta.Timeout(cfg.Timeout),
		vegeta.Workers(min(8, cfg.MaxWorkers)),
		vegeta.MaxWorkers(cfg.MaxWorkers),
		vegeta.KeepAlive(!cfg.NewConnections),
		vegeta.MaxBody(4096),
		vegeta.Redirects(vegeta.NoFollow),
	}
	if cfg.DialContext != nil {
		// vegeta's own dialer cannot be replaced; a client of ours can
		// (applied last, so the options above do not touch it).
		opts = append(opts, vegeta.Client(&http.Client{
			Timeout: cfg.Timeout,
			Transport: &http.Transport{
				DialContext:         cfg.DialContext,
				DisableKeepAlives:   cfg.NewConnections,
				MaxIdleConnsPerHost: 10000,
				IdleConnTimeout:     30 * time.Second,
			},
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}))
	}
	atk := vegeta.NewAttacker(opts...)
	targeter := vegeta.NewStaticTargeter(vegeta.Target{Method: cfg.Method, URL: cfg.Target})
	log.Info("replay", "trace", cfg.Trace.Name, "target", cfg.Target, "speedup", cfg.Speedup,
		"scale", cfg.Scale, "duration", pacer.Duration(), "requests", math.Round(pacer.Total()))

	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			atk.Stop()
		case <-stopped:
		}
	}()

	var total, window vegeta.Metrics
	errs := map[string]int{}
	var winReq, winErr uint64
	began := time.Now()
	winStart := began
	tick := time.NewTicker(cfg.ReportEvery)
	defer tick.Stop()
	report := func(now time.Time) {
		window.Close()
		el := now.Sub(began)
		p := Progress{Elapsed: el, TraceTime: pacer.TraceTime(el), TargetRate: pacer.Rate(el),
			Requests: winReq, Errors: winErr, P50: window.Latencies.P50, P95: window.Latencies.P95, P99: window.Latencies.P99}
		if d := now.Sub(winStart).Seconds(); d > 0 {
			p.AchievedRate = float64(winReq) / d
		}
		if cfg.Progress != nil {
			cfg.Progress(p)
		}
		window, winReq, winErr, winStart = vegeta.Metrics{}, 0, 0, now
	}
	// No duration for the attacker: the pacer stops it (after the last
	// hit, or Grace after the end).
	results := atk.Attack(targeter, pacer, 0, "replay")
	for {
		select {
		case r, ok := <-results:
			if !ok {
				if now := time.Now(); winReq > 0 && now.Sub(winStart) >= cfg.ReportEvery/10 {
					report(now)
				}
				total.Close()
				return summary(&total, errs, pacer.Total(), time.Since(began)), nil
			}
			total.Add(r)
			window.Add(r)
			if cfg.OnResult != nil {
				cfg.OnResult(Hit{At: r.Timestamp, Latency: r.Latency, Code: r.Code, Err: r.Error, Body: r.Body})
			}
			winReq++
			if r.Error != "" {
				winErr++
				errs[errorKind(r)]++
			}
		case now := <-tick.C:
			report(now)
		}
	}
}

func summary(m *vegeta.Metrics, errs map[string]int, expected float64, took time.Duration) Summary {
	s := Summary{Expected: expected, Requests: m.Requests, Success: m.Success, Duration: took,
		P50: m.Latencies.P50, P95: m.Latencies.P95, P99: m.Latencies.P99, Max: m.Latencies.Max, Mean: m.Latencies.Mean,
		StatusCodes: m.StatusCodes, Errors: errs}
	if took > 0 {
		s.Rate = float64(m.Requests) / took.Seconds()
	}
	return s
}

// errorKind names a failure without its variable parts (addresses, ports).
func errorKind(r *vegeta.Result) string {
	if r.Code != 0 {
		if t := http.StatusText(int(r.Code)); t != "" {
			return fmt.Sprintf("%d %s", r.Code, t)
		}
		return fmt.Sprintf("HTTP %d", r.Code)
	}
	e := r.Error
	for _, k := range []string{"connection refused", "connection reset", "timeout", "Client.Timeout", "no such host", "EOF", "broken pipe"} {
		if strings.Contains(e, k) {
			if k == "Client.Timeout" {
				k = "timeout"
			}
			return k
		}
	}
	if i := strings.LastIndex(e, ": "); i >= 0 && i+2 < len(e) {
		return e[i+2:]
	}
	return e
}
