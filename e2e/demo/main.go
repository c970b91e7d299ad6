// Command demo is `make demo`: it starts a dev agent, applies the demo
// tenant, replays a compressed real trace (one NASA day in three minutes by
// default) against the tenant's endpoint, prints every scaling action with
// its reason as it happens, and ends with a summary.
//
//	go run ./e2e/demo [-ctl bin/ctl] [-trace ../shared/traces/nasa_http_1995.csv] [-keep]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"aas/cluster/client"
	"aas/nodes/loadgen"
	"aas/scaler/trace"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	ctl, tracePath, tenantFile, httpAddr string
	from, span                           time.Duration
	speedup, scale                       float64
	keep                                 bool
	slo                                  time.Duration
}

func run() error {
	var o options
	flag.StringVar(&o.ctl, "ctl", "bin/ctl", "the ctl binary")
	flag.StringVar(&o.tracePath, "trace", "../shared/traces/nasa_http_1995.csv", "trace to replay (CSV t,load)")
	flag.StringVar(&o.tenantFile, "tenant", "examples/demo-tenant.yml", "tenant file to apply")
	flag.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:7070", "the dev agent's HTTP address")
	flag.DurationVar(&o.from, "from", 48*time.Hour, "where in the trace to start (trace time; 48h = Monday 3 July for NASA)")
	flag.DurationVar(&o.span, "span", 24*time.Hour, "how much of the trace to replay (trace time)")
	flag.Float64Var(&o.speedup, "speedup", 480, "trace seconds per wall second (480: a day in 3 minutes)")
	flag.Float64Var(&o.scale, "scale", 0.08, "multiply the trace's load by this")
	flag.DurationVar(&o.slo, "slo", 250*time.Millisecond, "latency objective per request")
	flag.BoolVar(&o.keep, "keep", false, "keep the agent running after the replay (Ctrl-C to stop)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	ctlPath, err := filepath.Abs(o.ctl)
	if err != nil {
		return err
	}
	tr, err := trace.ParseFile(o.tracePath)
	if err != nil {
		return fmt.Errorf("trace: %w (the traces live in ../shared/traces beside the repository)", err)
	}
	from := int64(o.from / time.Second)
	tr = tr.Window(from, from+int64(o.span/time.Second))
	if tr.Len() == 0 {
		return fmt.Errorf("trace %s has no samples in [%v, %v)", o.tracePath, o.from, o.from+o.span)
	}
	tenantYAML, err := os.ReadFile(o.tenantFile)
	if err != nil {
		return err
	}

	// 1. The dev agent, with this ctl on PATH so the tenant's template
	// (`command: ctl`) runs the demo workload of this very build.
	logPath := filepath.Join(os.TempDir(), "aas-demo-agent.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	agent := exec.Command(ctlPath, "agent", "-dev", "-http-addr", o.httpAddr, "-stats-interval", "2s")
	agent.Env = append(os.Environ(), "PATH="+filepath.Dir(ctlPath)+string(os.PathListSeparator)+os.Getenv("PATH"))
	agent.Stdout, agent.Stderr = logf, logf
	agent.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := agent.Start(); err != nil {
		return fmt.Errorf("start agent: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- agent.Wait() }()
	defer func() {
		_ = agent.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(40 * time.Second):
			_ = syscall.Kill(-agent.Process.Pid, syscall.SIGKILL)
		}
	}()
	fmt.Printf("dev agent starting (log: %s)\n", logPath)

	cl := client.New("http://" + o.httpAddr)
	if err := waitFor(ctx, 15*time.Second, exited, func(ctx context.Context) bool {
		ok, _, err := cl.Ready(ctx)
		return err == nil && ok
	}); err != nil {
		return fmt.Errorf("agent not ready: %w (see %s)", err, logPath)
	}

	// 2. The demo tenant.
	applied, err := cl.ApplyTenant(ctx, o.tenantFile, tenantYAML, 0)
	if err != nil {
		return fmt.Errorf("apply %s: %w", o.tenantFile, err)
	}
	fmt.Printf("tenant %s applied: version %d, %d change(s)\n", applied.Tenant, applied.Version, len(applied.Changes))
	var endpoint string
	if err := waitFor(ctx, 30*time.Second, exited, func(ctx context.Context) bool {
		endpoint = findEndpoint(ctx, cl)
		if endpoint == "" {
			return false
		}
		ins, err := cl.Instances(ctx, client.InstanceFilter{Tenant: "demo", State: "running"})
		return err == nil && len(ins) > 0
	}); err != nil {
		return fmt.Errorf("the demo group did not come up: %w (see %s)", err, logPath)
	}
	fmt.Printf("endpoint: http://%s  dashboard: http://%s/ui/\n\n", endpoint, o.httpAddr)

	// 3. Follow the activity log and the instance count while the load runs.
	follow := newFollower(cl)
	fctx, fstop := context.WithCancel(ctx)
	fdone := make(chan struct{})
	go func() { defer close(fdone); follow.run(fctx, os.Stdout) }()

	fmt.Printf("replaying %s from %v for %v of trace time at %gx (%v wall), load x%g\n\n",
		filepath.Base(o.tracePath), o.from, o.span, o.speedup, time.Duration(float64(o.span)/o.speedup).Round(time.Second), o.scale)
	sum, err := loadgen.Run(ctx, loadgen.Config{
		Trace: tr, Target: "http://" + endpoint + "/", Speedup: o.speedup, Scale: o.scale,
		Timeout: 5 * time.Second, ReportEvery: 10 * time.Second, NewConnections: true,
		Progress: func(p loadgen.Progress) {
			fmt.Printf("  load  t=%-8s target %6.1f req/s  achieved %6.1f req/s  p99 %-8v errors %d  instances %d\n",
				time.Duration(p.TraceTime*float64(time.Second)).Round(time.Minute), p.TargetRate, p.AchievedRate,
				p.P99.Round(time.Millisecond), p.Errors, follow.running())
		},
	})
	// Let the last scale-in show before the summary.
	if err == nil && ctx.Err() == nil {
		fmt.Println("\nload finished; watching scale-in for 45 s")
		select {
		case <-ctx.Done():
		case <-time.After(45 * time.Second):
		}
	}
	fstop()
	<-fdone
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}

	// 4. Summary.
	out, in := follow.actions()
	fmt.Println("\n== summary ==")
	fmt.Printf("scaling actions:    %d scale-out, %d scale-in (every one with its reason: ctl activity -tenant demo)\n", out, in)
	fmt.Printf("instance-minutes:   %.1f (peak %d instances)\n", follow.instanceMinutes(), follow.peak)
	fmt.Printf("requests:           %d sent, %.2f%% succeeded, %d failed\n", sum.Requests, 100*sum.Success, sum.Failed())
	fmt.Printf("latency:            p50 %v  p95 %v  p99 %v  (SLO %v: %s)\n", sum.P50.Round(time.Millisecond),
		sum.P95.Round(time.Millisecond), sum.P99.Round(time.Millisecond), o.slo, sloVerdict(sum.P99, o.slo))
	if len(sum.Errors) > 0 {
		fmt.Printf("errors:             %v\n", sum.Errors)
	}
	fmt.Printf("dashboard:          http://%s/ui/\n", o.httpAddr)
	fmt.Printf("CSV:                ctl activity -format csv / ctl metrics export -format csv (CTL_ADDR=http://%s)\n", o.httpAddr)
	if out == 0 || in == 0 {
		fmt.Println("note: expected at least one scale-out and one scale-in; see", logPath)
	}
	if o.keep && ctx.Err() == nil {
		fmt.Println("\nagent still running; Ctrl-C to stop")
		<-ctx.Done()
	}
	return nil
}

func sloVerdict(p99, slo time.Duration) string {
	if p99 <= slo {
		return "met"
	}
	return "violated at p99"
}

// findEndpoint asks the agent for the demo group's load-balancer endpoint.
func findEndpoint(ctx context.Context, cl *client.Client) string {
	var eps []struct {
		Tenant, Group, Address string
	}
	if err := cl.Do(ctx, http.MethodGet, "/v1/endpoints?tenant=demo", nil, &eps); err != nil {
		return ""
	}
	for _, e := range eps {
		if e.Tenant == "demo" {
			return e.Address
		}
	}
	return ""
}

// waitFor polls cond every 200 ms until it holds, the deadline passes or
// the agent exits.
func waitFor(ctx context.Context, d time.Duration, exited <-chan error, cond func(context.Context) bool) error {
	deadline := time.Now().Add(d)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok := cond(cctx)
		cancel()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case err := <-exited:
			return fmt.Errorf("agent exited: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// follower prints new activity entries and integrates the running count.
type follower struct {
	cl      *client.Client
	lastSeq uint64
	out, in int
	peak    int
	last    int
	minutes float64
	at      time.Time
}

func newFollower(cl *client.Client) *follower { return &follower{cl: cl} }

func (f *follower) running() int { return f.last }

func (f *follower) actions() (int, int) { return f.out, f.in }

func (f *follower) instanceMinutes() float64 { return f.minutes }

func (f *follower) run(ctx context.Context, w io.Writer) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	f.poll(ctx, w)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f.poll(ctx, w)
		}
	}
}

func (f *follower) poll(ctx context.Context, w io.Writer) {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	now := time.Now()
	if ins, err := f.cl.Instances(cctx, client.InstanceFilter{Tenant: "demo", State: "running"}); err == nil {
		if !f.at.IsZero() {
			f.minutes += float64(f.last) * now.Sub(f.at).Minutes()
		}
		f.at, f.last = now, len(ins)
		f.peak = max(f.peak, len(ins))
	}
	entries, err := f.cl.Activity(cctx, client.LogQuery{Tenant: "demo"})
	if err != nil {
		return
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Seq < entries[j].Seq })
	for _, e := range entries {
		if e.Seq <= f.lastSeq {
			continue
		}
		f.lastSeq = e.Seq
		if e.Kind != "scale" {
			continue
		}
		dir := "scale-in "
		if e.To > e.From {
			dir = "scale-out"
			f.out++
		} else {
			f.in++
		}
		fmt.Fprintf(w, "%s  %s %d → %d  [%s]  %s\n", e.Time.Local().Format("15:04:05"), dir, e.From, e.To, e.Policy, e.Reason)
	}
}
