package main

import (
	"fmt"
	"io"
)

func init() {
	register("leave", "make the agent at -address/CTL_ADDR leave the cluster gracefully and exit", runLeave)
}

func runLeave(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("leave", stderr)
	addr := addressFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr(fs, "leave takes no arguments")
	}
	ctx, cancel := requestContext()
	defer cancel()
	c := apiClient(*addr)
	if err := c.Leave(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "agent at %s left the cluster\n", c.Address())
	return nil
}
