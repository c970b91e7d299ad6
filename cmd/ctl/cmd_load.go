package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"aas/nodes/loadgen"
	"aas/scaler/trace"
)

func init() {
	register("load", "replay a real trace as open-loop HTTP load against a URL", runLoad)
}

func runLoad(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("load", stderr)
	tracePath := fs.String("trace", "", "trace file (CSV t,load; load = requests per trace step)")
	target := fs.String("target", "", "URL to send the requests to (http:// or https://)")
	speedup := fs.Float64("speedup", 1, "trace seconds per wall second (60: an hour in a minute)")
	duration := fs.Duration("duration", 0, "stop after this wall time (0: the whole trace)")
	scale := fs.Float64("scale", 1, "multiply the trace's load by this")
	maxRate := fs.Float64("max-rate", 0, "cap the request rate, requests/s (0: no cap)")
	timeout := fs.Duration("timeout", 10*time.Second, "timeout of one request")
	workers := fs.Uint64("max-workers", 512, "most requests in flight")
	every := fs.Duration("report", 5*time.Second, "period of the progress lines")
	method := fs.String("method", "GET", "HTTP method")
	fresh := fs.Bool("new-connections", false, "one TCP connection per request (no keep-alive): an L4 load balancer then spreads every request")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *tracePath == "" || *target == "" {
		fmt.Fprintln(stderr, "ctl load: -trace and -target are required")
		fs.Usage()
		return errUsage
	}
	tr, err := trace.ParseFile(*tracePath)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg := loadgen.Config{Trace: tr, Target: *target, Method: *method, Speedup: *speedup, Scale: *scale, NewConnections: *fresh,
		MaxRate: *maxRate, Duration: *duration, Timeout: *timeout, MaxWorkers: *workers, ReportEvery: *every,
		Progress: func(p loadgen.Progress) { fmt.Fprintln(stdout, p) }}
	sum, err := loadgen.Run(ctx, cfg)
	if errors.Is(err, loadgen.ErrConfig) {
		fmt.Fprintf(stderr, "ctl load: %v\n", err)
		return errUsage
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "--- summary")
	sum.Write(stdout)
	return nil
}
