package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"aas/nodes/workload"
)

func init() {
	register("workload", "run the demo instance application (HTTP, CPU work per request, /healthz)", runWorkload)
}

func runWorkload(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("workload", stderr)
	config := workload.RegisterFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config()
	if errors.Is(err, workload.ErrBadFlags) {
		fmt.Fprintf(stderr, "ctl workload: %v\n", err)
		return errUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "workload", Output: stderr})
	return workload.Run(ctx, cfg, nil)
}
