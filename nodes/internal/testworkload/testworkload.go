// Package testworkload lets a test binary act as the demo workload: a test's
// TestMain calls MaybeRun first, and a process template that re-executes the
// test binary with Env() runs workload.Run instead of the tests. This keeps
// process-driver tests independent of building cmd/ctl.
package testworkload

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"aas/nodes/driver"
	"aas/nodes/workload"
)

const envRun = "AAS_TESTWORKLOAD"

// MaybeRun runs the workload and exits if this process was started as one.
func MaybeRun() {
	if os.Getenv(envRun) != "1" {
		return
	}
	ms, _ := strconv.ParseFloat(os.Getenv("AAS_TESTWORKLOAD_CPU_MS"), 64)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := workload.Run(ctx, workload.Config{
		Listen:        os.Getenv(driver.EnvListen),
		CPUPerRequest: time.Duration(ms * float64(time.Millisecond)),
		InstanceID:    os.Getenv(driver.EnvInstanceID),
	}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// Template returns a process template that re-executes the running test
// binary as a workload burning cpuPerRequest per request.
func Template(cpuPerRequest time.Duration) *driver.ProcessTemplate {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return &driver.ProcessTemplate{
		Command: exe,
		Args:    []string{"-test.run=^$"},
		Env: map[string]string{
			envRun:                    "1",
			"AAS_TESTWORKLOAD_CPU_MS": strconv.FormatFloat(float64(cpuPerRequest)/float64(time.Millisecond), 'f', -1, 64),
		},
	}
}
