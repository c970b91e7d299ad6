package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/nodes/workload"
)

func init() {
	register("workload", "run the demo instance application (HTTP, CPU work per request, /healthz)", runWorkload)
}

func runWorkload(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("workload", stderr)
	listen := fs.String("listen", "", "host:port to listen on (default $AAS_LISTEN, else :8080)")
	work := fs.Duration("work", 0, "CPU time burnt per request, e.g. 20ms")
	cpuMS := fs.Float64("cpu-ms", 0, "CPU milliseconds burnt per request (alternative to -work)")
	id := fs.String("id", "", "instance ID reported in responses (default $AAS_INSTANCE_ID)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ctl workload: unexpected arguments %q\n", fs.Args())
		return errUsage
	}
	if *listen == "" {
		*listen = os.Getenv("AAS_LISTEN")
	}
	if *listen == "" {
		*listen = ":8080"
	}
	if *id == "" {
		*id = os.Getenv("AAS_INSTANCE_ID")
	}
	per := *work
	if *cpuMS > 0 {
		per = time.Duration(*cpuMS * float64(time.Millisecond))
	}
	if per < 0 {
		fmt.Fprintln(stderr, "ctl workload: -work must not be negative")
		return errUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := hclog.New(&hclog.LoggerOptions{Name: "workload", Output: stderr})
	return workload.Run(ctx, workload.Config{Listen: *listen, CPUPerRequest: per, InstanceID: *id, Logger: logger}, nil)
}
