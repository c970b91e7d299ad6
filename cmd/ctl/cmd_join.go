package main

import (
	"fmt"
	"io"
)

func init() {
	register("join", "make the agent at -address/CTL_ADDR join the cluster of PEER_HTTP_ADDR", runJoin)
}

func runJoin(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("join", stderr)
	addr := addressFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: ctl join [-address A] PEER_HTTP_ADDR [PEER_HTTP_ADDR...]")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	ctx, cancel := requestContext()
	defer cancel()
	resp, err := apiClient(*addr).Join(ctx, fs.Args()...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "joined via %s; leader %s\n", resp.Via, resp.Leader)
	return nil
}
