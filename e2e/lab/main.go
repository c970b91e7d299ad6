// Command lab brings the multi-cloud namespace lab up and down (root):
//
//	go run ./e2e/lab up -clouds 3 [-ctl PATH] [-state FILE] [-work-dir DIR]
//	go run ./e2e/lab down [-state FILE]
//
// `up` prints the lab as JSON and leaves it running (the agents are
// detached, in their own process groups); `down` reads the state file and
// removes exactly what `up` made. See docs/lab.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/e2e/labkit"
)

func defaultState() string { return filepath.Join(os.TempDir(), "aaslab.json") }

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "lab:", err)
		}
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: lab up [-clouds N] [-ctl PATH] [-state FILE] | lab down [-state FILE]")
		return errors.New("missing subcommand")
	}
	switch args[0] {
	case "up":
		return up(args[1:], stdout, stderr)
	case "down":
		return down(args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown subcommand %q (want up or down)", args[0])
}

func up(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lab up", flag.ContinueOnError)
	fs.SetOutput(stderr)
	clouds := fs.Int("clouds", 3, fmt.Sprintf("number of clouds (1..%d)", labkit.MaxClouds))
	ctl := fs.String("ctl", "", "ctl binary (default: build aas/cmd/ctl into the work dir)")
	state := fs.String("state", defaultState(), "state file for `lab down`")
	workDir := fs.String("work-dir", "", "data dirs and logs (default: a new temp dir, removed by down)")
	profile := fs.String("raft-profile", "tuned", "raft timing profile of the controllers")
	tenantFile := fs.String("tenant", "", "demo tenant file (default: examples/multicloud-tenant.yml)")
	noTenant := fs.Bool("no-tenant", false, "do not apply the demo tenant")
	timeout := fs.Duration("timeout", 90*time.Second, "wait at most this long for the cluster")
	logLevel := fs.String("log-level", "info", "log level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("lab up: unexpected arguments %v", fs.Args())
	}
	if _, err := os.Stat(*state); err == nil {
		return fmt.Errorf("lab up: state file %s exists: a lab is up (run `lab down -state %s` first)", *state, *state)
	}
	abs, err := filepath.Abs(*state)
	if err != nil {
		return err
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "lab", Level: hclog.LevelFromString(*logLevel), Output: stderr})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	lab, err := labkit.Up(ctx, labkit.Options{
		Clouds: *clouds, CtlPath: *ctl, WorkDir: *workDir, RaftProfile: *profile,
		TenantFile: *tenantFile, SkipTenant: *noTenant, ReadyTimeout: *timeout,
		StateFile: abs, Logger: logger,
	})
	if err != nil {
		return err
	}
	st := lab.State()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}

func down(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lab down", flag.ContinueOnError)
	fs.SetOutput(stderr)
	state := fs.String("state", defaultState(), "state file written by `lab up`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("lab down: unexpected arguments %v", fs.Args())
	}
	st, err := labkit.ReadState(*state)
	if err != nil {
		return err
	}
	st.StateFile = *state
	if err := labkit.Teardown(st); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "lab %s removed\n", st.Prefix)
	return nil
}
