// Command ctlworkload is a stand-in for `ctl workload` with the same
// arguments ("workload -listen ... -cpu-ms ..."). The docker tests put the
// real static ctl into their image; they fall back to this binary, which
// depends only on nodes/workload, when cmd/ctl does not build at that moment
// (the tree is edited by several people at once).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"aas/nodes/workload"
)

func main() {
	args := os.Args[1:]
	if len(args) == 0 || args[0] != "workload" {
		fmt.Fprintln(os.Stderr, "usage: ctlworkload workload [-listen A] [-cpu-ms N] [-work D] [-id ID]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("workload", flag.ExitOnError)
	config := workload.RegisterFlags(fs)
	_ = fs.Parse(args[1:])
	cfg, err := config()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "workload", Output: os.Stderr})
	if err := workload.Run(ctx, cfg, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
