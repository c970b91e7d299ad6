package main

import (
	"fmt"
	"io"
)

func init() {
	register("peers", "list the raft peers, or remove one: peers [list] | peers remove ID", runPeers)
}

func runPeers(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("peers", stderr)
	addr := addressFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: ctl peers [-address A] [list]\n       ctl peers [-address A] remove ID")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	rest := fs.Args()
	// Accept flags after the subcommand too: ctl peers remove -address A ID.
	if len(rest) > 0 {
		sub := newFlagSet("peers "+rest[0], stderr)
		subAddr := addressFlag(sub)
		if err := parseFlags(sub, rest[1:]); err != nil {
			return err
		}
		if *subAddr != "" {
			*addr = *subAddr
		}
		rest = append([]string{rest[0]}, sub.Args()...)
	}
	ctx, cancel := requestContext()
	defer cancel()
	c := apiClient(*addr)
	switch {
	case len(rest) == 0 || (rest[0] == "list" && len(rest) == 1):
		peers, err := c.Peers(ctx)
		if err != nil {
			return err
		}
		printPeers(stdout, peers)
		return nil
	case rest[0] == "remove" && len(rest) == 2:
		if err := c.RemovePeer(ctx, rest[1]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed peer %s\n", rest[1])
		return nil
	}
	fs.Usage()
	return errUsage
}
