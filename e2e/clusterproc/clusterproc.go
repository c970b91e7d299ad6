// Package clusterproc runs controllers and hypervisor agents as real `ctl`
// processes on 127.0.0.1 for end-to-end tests and the failover benchmark:
// build the binary once, start agents on free ports, kill -9 and restart
// them from their data dirs, and poll their HTTP APIs.
package clusterproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"aas/cluster/api"
	"aas/cluster/client"
)

// BuildCtl builds aas/cmd/ctl into dir and returns the binary's path. It
// must run inside the module (tests and `go run` do).
func BuildCtl(dir string) (string, error) {
	bin := filepath.Join(dir, "ctl")
	cmd := exec.Command("go", "build", "-o", bin, "aas/cmd/ctl")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ctl: %w\n%s", err, out)
	}
	return bin, nil
}

// FreePort returns a port free for TCP and UDP on 127.0.0.1 right now.
func FreePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, errors.New("clusterproc: no free port")
}

func freeAddr() (string, error) {
	p, err := FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}

// Node is one agent process; its addresses and data dir stay the same
// across restarts.
type Node struct {
	ID, HTTP, Raft, Gossip, DataDir string
	// Args are the agent arguments (without "agent").
	Args []string

	bin     string
	logPath string
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Lab is a set of agents sharing a binary and a base directory.
type Lab struct {
	Bin string
	Dir string
	// Extra arguments for every server (e.g. -raft-profile tuned).
	ServerArgs []string
}

// NewServer allocates addresses and a data dir for a controller. join and
// expect become -join and -bootstrap-expect (omitted when empty/zero).
func (l *Lab) NewServer(id string, expect int, join ...string) (*Node, error) {
	n := &Node{ID: id, bin: l.Bin, DataDir: filepath.Join(l.Dir, id)}
	var err error
	for _, p := range []*string{&n.HTTP, &n.Raft, &n.Gossip} {
		if *p, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	n.logPath = filepath.Join(l.Dir, id+".log")
	n.Args = []string{"-server", "-node-id", id, "-cloud", "cloud-" + id, "-data-dir", n.DataDir,
		"-http-addr", n.HTTP, "-raft-addr", n.Raft, "-gossip-addr", n.Gossip}
	if expect > 0 {
		n.Args = append(n.Args, "-bootstrap-expect", strconv.Itoa(expect))
	}
	if len(join) > 0 {
		n.Args = append(n.Args, "-join", strings.Join(join, ","))
	}
	n.Args = append(n.Args, l.ServerArgs...)
	return n, nil
}

// NewHypervisor allocates a gossip address for a hypervisor agent joining
// the gossip address join.
func (l *Lab) NewHypervisor(id, cloud, join string) (*Node, error) {
	g, err := freeAddr()
	if err != nil {
		return nil, err
	}
	api, err := freeAddr()
	if err != nil {
		return nil, err
	}
	n := &Node{ID: id, bin: l.Bin, Gossip: g, DataDir: filepath.Join(l.Dir, id), logPath: filepath.Join(l.Dir, id+".log")}
	n.Args = []string{"-hypervisor", "-node-id", id, "-cloud", cloud, "-driver", "process",
		"-api-addr", api, "-gossip-addr", g, "-data-dir", n.DataDir, "-join", join}
	return n, nil
}

// Start starts (or restarts) the agent process.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd != nil {
		select {
		case <-n.exited:
		default:
			return fmt.Errorf("clusterproc: %s already running", n.ID)
		}
	}
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(n.bin, append([]string{"agent"}, n.Args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("clusterproc: start %s: %w", n.ID, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	n.cmd, n.exited = cmd, exited
	return nil
}

// Kill sends SIGKILL and waits for the process to exit.
func (n *Node) Kill() error { return n.signal(syscall.SIGKILL) }

// Stop sends SIGTERM and waits for the process to exit.
func (n *Node) Stop() error { return n.signal(syscall.SIGTERM) }

func (n *Node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-exited:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-exited:
		return nil
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("clusterproc: %s did not exit on %v", n.ID, sig)
	}
}

// Running reports whether the process is alive.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Log returns the agent's log so far.
func (n *Node) Log() string {
	b, _ := os.ReadFile(n.logPath)
	return string(b)
}

// Client returns an API client for the node.
func (n *Node) Client() *client.Client {
	return client.New(n.HTTP).WithHTTPClient(&httpClient)
}

// Leader asks the node who the leader is (short timeout).
func (n *Node) Leader() (api.LeaderInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	return n.Client().Leader(ctx)
}

// Agreed returns the leader ID every node names, or "" if they differ,
// any fails to answer, or the agreed leader is in exclude.
func Agreed(nodes []*Node, exclude ...string) (string, string) {
	id := ""
	var views []string
	for _, n := range nodes {
		li, err := n.Leader()
		if err != nil {
			return "", fmt.Sprintf("%s: %v", n.ID, err)
		}
		views = append(views, n.ID+"→"+li.ID)
		if id != "" && li.ID != id {
			return "", strings.Join(views, " ")
		}
		id = li.ID
	}
	for _, x := range exclude {
		if id == x {
			return "", "still " + x
		}
	}
	return id, strings.Join(views, " ")
}

// WaitAgreed polls every interval until all nodes agree on a leader not in
// exclude, and returns it with the time it took.
func WaitAgreed(nodes []*Node, timeout, interval time.Duration, exclude ...string) (string, time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	last := ""
	for {
		id, detail := Agreed(nodes, exclude...)
		if id != "" {
			return id, time.Since(start), nil
		}
		last = detail
		if time.Now().After(deadline) {
			return "", time.Since(start), fmt.Errorf("clusterproc: no agreed leader after %v (last: %s)", timeout, last)
		}
		time.Sleep(interval)
	}
}

// ByID finds a node.
func ByID(nodes []*Node, id string) *Node {
	for _, n := range nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// Without returns nodes minus x.
func Without(nodes []*Node, x *Node) []*Node {
	var out []*Node
	for _, n := range nodes {
		if n != x {
			out = append(out, n)
		}
	}
	return out
}

var httpClient = *newHTTPClient()
