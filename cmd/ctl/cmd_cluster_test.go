package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"aas/cluster/client"
)

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func runCtl(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	rc := run(args, &out, &errb)
	return rc, out.String(), errb.String()
}

func TestAgentFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no mode", []string{"agent"}, "exactly one of -server, -hypervisor, -dev"},
		{"two modes", []string{"agent", "-server", "-dev"}, "exactly one of"},
		{"server without data dir", []string{"agent", "-server", "-node-id", "a"}, "-data-dir is required"},
		{"bad key", []string{"agent", "-dev", "-encrypt", "!!"}, "-encrypt: not base64"},
		{"short key", []string{"agent", "-dev", "-encrypt", "YWJj"}, "key is 3 bytes"},
		{"bad profile", []string{"agent", "-dev", "-raft-profile", "warp"}, "raft profile"},
		{"stray argument", []string{"agent", "-dev", "extra"}, "unexpected arguments"},
		{"hypervisor without join", []string{"agent", "-hypervisor", "-node-id", "h", "-gossip-addr", "127.0.0.1:0"}, "needs -join"},
		{"hypervisor without data dir", []string{"agent", "-hypervisor", "-node-id", "h", "-join", "127.0.0.1:1"}, "needs -data-dir"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc, _, errs := runCtl(tc.args...)
			if rc == 0 || !strings.Contains(errs, tc.want) {
				t.Fatalf("rc=%d stderr=%q, want failure mentioning %q", rc, errs, tc.want)
			}
		})
	}
}

// TestDevAgentStatusLeave runs `ctl agent -dev` in-process, checks it is
// ready well under 2s, reads `ctl status` and `ctl peers`, and stops it
// with `ctl leave`.
func TestDevAgentStatusLeave(t *testing.T) {
	addr := freeLoopbackAddr(t)
	done := make(chan int, 1)
	var agentOut, agentErr bytes.Buffer
	start := time.Now()
	go func() {
		done <- run([]string{"agent", "-dev", "-http-addr", addr, "-data-dir", t.TempDir(), "-log-level", "error"}, &agentOut, &agentErr)
	}()
	c := client.New(addr)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ok, _, _ := c.Ready(context.Background()); ok {
			break
		}
		select {
		case rc := <-done:
			t.Fatalf("agent exited early rc=%d: %s", rc, agentErr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev agent not ready: %s", agentErr.String())
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	ready := time.Since(start)
	t.Logf("dev agent ready after %v", ready)
	if ready > 2*time.Second {
		t.Errorf("dev agent ready after %v, want under 2s", ready)
	}

	t.Setenv(client.EnvAddress, addr)
	rc, out, errs := runCtl("status")
	if rc != 0 || !strings.Contains(out, "Leader: dev") || !strings.Contains(out, "HYPERVISOR") {
		t.Fatalf("status rc=%d out=%q err=%q", rc, out, errs)
	}
	// The dev agent's own hypervisor registers through gossip.
	waitStatus := time.Now().Add(20 * time.Second)
	for !strings.Contains(out, "dev-hv") || !strings.Contains(out, "alive") {
		if time.Now().After(waitStatus) {
			t.Fatalf("dev hypervisor not alive in status:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
		_, out, _ = runCtl("status")
	}
	rc, out, _ = runCtl("peers", "list")
	if rc != 0 || !strings.Contains(out, "dev") || !strings.Contains(out, "leader") {
		t.Fatalf("peers rc=%d out=%q", rc, out)
	}
	rc, _, errs = runCtl("peers", "remove", "ghost")
	if rc != 1 || !strings.Contains(errs, "not found") {
		t.Fatalf("peers remove ghost rc=%d err=%q", rc, errs)
	}
	rc, _, errs = runCtl("join")
	if rc != 2 {
		t.Fatalf("join without peer rc=%d err=%q", rc, errs)
	}
	rc, out, errs = runCtl("leave", "-address", addr)
	if rc != 0 || !strings.Contains(out, "left the cluster") {
		t.Fatalf("leave rc=%d out=%q err=%q", rc, out, errs)
	}
	select {
	case rc := <-done:
		if rc != 0 {
			t.Fatalf("agent rc=%d: %s", rc, agentErr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("agent did not exit after leave")
	}
	if !strings.Contains(agentOut.String(), "agent started: id=dev") {
		t.Errorf("agent stdout: %q", agentOut.String())
	}
}

func TestClientCommandsNeedAgent(t *testing.T) {
	addr := freeLoopbackAddr(t) // nothing listens there
	for _, args := range [][]string{{"status", "-address", addr}, {"leave", "-address", addr}, {"peers", "-address", addr}} {
		rc, _, errs := runCtl(args...)
		if rc != 1 || !strings.Contains(errs, "connection refused") {
			t.Errorf("%v: rc=%d err=%q", args, rc, errs)
		}
	}
}
