package labkit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startAgent runs `ip netns exec NS CTL agent ARGS...` (an argument list,
// never a shell string) in its own process group, detached from the
// caller's terminal, with output appended to logFile. ip(8) execs ctl, so
// the PID is the agent's. exited is closed when this process reaps it.
func startAgent(ctlPath, ns, logFile string, args []string) (pid int, exited chan struct{}, err error) {
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		return 0, nil, fmt.Errorf("labkit: the ip binary is needed: %w", err)
	}
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, nil, fmt.Errorf("labkit: agent log: %w", err)
	}
	argv := append([]string{"netns", "exec", ns, ctlPath, "agent"}, args...)
	cmd := exec.Command(ipPath, argv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return 0, nil, fmt.Errorf("labkit: start agent in %s: %w", ns, err)
	}
	logf.Close() // the child has its own copy
	exited = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	return cmd.Process.Pid, exited, nil
}

// procAlive reports whether pid runs (a zombie counts as gone).
func procAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// pid (comm) STATE ...; comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	return b[i+2] != 'Z' && b[i+2] != 'X'
}

// procCmdline returns the process's arguments (nil if gone).
func procCmdline(pid int) []string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// isLabAgent reports whether pid is a `ctl agent` of the lab rooted at
// workDir (its data dir, log or binary path lies under workDir, or its
// node ID carries the prefix), so that a recycled PID is never killed.
func isLabAgent(pid int, st *State) bool {
	args := procCmdline(pid)
	if len(args) < 2 {
		return false
	}
	agent := false
	mine := false
	for _, a := range args {
		if a == "agent" {
			agent = true
		}
		if st.WorkDir != "" && len(st.WorkDir) > 4 && strings.HasPrefix(a, st.WorkDir+string(os.PathSeparator)) {
			mine = true
		}
		if strings.HasPrefix(a, st.Prefix+"-") {
			mine = true
		}
	}
	return agent && mine
}

// labPIDs lists the live processes that are agents of the lab: the ones
// recorded in st plus any other whose command line marks it as the lab's
// (a restarted agent a crashed caller did not record).
func labPIDs(st *State) []int {
	seen := map[int]bool{}
	var out []int
	add := func(pid int) {
		if pid > 0 && !seen[pid] && procAlive(pid) && isLabAgent(pid, st) {
			seen[pid] = true
			out = append(out, pid)
		}
	}
	for _, c := range st.Controllers {
		add(c.PID)
	}
	for _, h := range st.Hypervisors {
		add(h.PID)
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			add(pid)
		}
	}
	return out
}

// killPID sends SIGKILL to pid's process group (the agents lead their own
// groups) and to pid, then polls until it is gone.
func killPID(pid int, timeout time.Duration) error {
	if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("labkit: kill %d: %w", pid, err)
	}
	return waitGone(pid, timeout)
}

func waitGone(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for procAlive(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("labkit: process %d still alive after %v", pid, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}
