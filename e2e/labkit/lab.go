package labkit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/vishvananda/netns"

	"aas/cluster/api"
	"aas/cluster/client"
	"aas/e2e/clusterproc"
	"aas/netcfg"
)

// Lab is a running lab. Its methods are safe for concurrent use.
type Lab struct {
	log hclog.Logger

	mu       sync.Mutex
	st       State
	exited   map[int]chan struct{} // agents this process started and reaps
	clientNS netns.NsHandle
	http     *http.Client
	down     bool
}

// Up builds the lab described by opts and returns it once every controller
// names the same leader and every hypervisor is alive in /v1/hypervisors
// (and the demo tenant is applied, unless skipped or unsupported). On error
// everything created so far is removed again.
func Up(ctx context.Context, opts Options) (*Lab, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	log := opts.Logger.Named("lab")
	l := &Lab{log: log, exited: map[int]chan struct{}{}, clientNS: netns.None()}
	st := &l.st
	st.Prefix = opts.Prefix
	st.VIP = DefaultVIP.String()
	st.StateFile = opts.StateFile
	st.Namespaces = nsNames(opts.Prefix, opts.Clouds)
	st.ClientNS = st.Namespaces[RoleClient][0]
	if opts.WorkDir == "" {
		dir, err := os.MkdirTemp("", opts.Prefix+"-")
		if err != nil {
			return nil, fmt.Errorf("labkit: work dir: %w", err)
		}
		st.WorkDir, st.OwnWorkDir = dir, true
	} else {
		abs, err := filepath.Abs(opts.WorkDir)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, fmt.Errorf("labkit: work dir: %w", err)
		}
		st.WorkDir = abs
	}
	fail := func(err error) (*Lab, error) {
		if derr := l.Down(); derr != nil {
			log.Error("cleanup after failed up", "error", derr)
		}
		return nil, err
	}

	st.CtlPath = opts.CtlPath
	if st.CtlPath == "" {
		log.Info("building ctl", "dir", st.WorkDir)
		bin, err := clusterproc.BuildCtl(st.WorkDir)
		if err != nil {
			return fail(err)
		}
		st.CtlPath = bin
	} else if abs, err := filepath.Abs(st.CtlPath); err == nil {
		st.CtlPath = abs
	}
	if _, err := os.Stat(st.CtlPath); err != nil {
		return fail(fmt.Errorf("%w: field CtlPath: %v", ErrInvalid, err))
	}

	log.Info("building network", "prefix", st.Prefix, "clouds", opts.Clouds)
	if err := buildNetwork(st); err != nil {
		return fail(err)
	}
	ns, err := netcfg.NamespaceByName(st.ClientNS)
	if err != nil {
		return fail(err)
	}
	l.clientNS = ns
	l.http = &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{
		DialContext: netcfg.DialContextIn(ns), MaxIdleConnsPerHost: 2, IdleConnTimeout: 10 * time.Second,
	}}

	extra := agentExtras(st.CtlPath)
	for i := 1; i <= opts.Clouds; i++ {
		c := ControllerInfo{
			Cloud: cloudName(i), ID: fmt.Sprintf("%s-c%d", st.Prefix, i), NS: st.Namespaces[RoleController][i-1],
			HTTPAddr:   hostPort(controllerWANAddr(i), PortHTTP),
			RaftAddr:   hostPort(controllerWANAddr(i), PortRaft),
			GossipAddr: hostPort(controllerWANAddr(i), PortGossip),
		}
		c.DataDir = filepath.Join(st.WorkDir, "c"+strconv.Itoa(i))
		c.LogFile = filepath.Join(st.WorkDir, "c"+strconv.Itoa(i)+".log")
		var peers []string
		for j := 1; j <= opts.Clouds; j++ {
			if j != i {
				peers = append(peers, hostPort(controllerWANAddr(j), PortHTTP))
			}
		}
		c.Args = []string{"-server", "-node-id", c.ID, "-cloud", c.Cloud, "-data-dir", c.DataDir,
			"-http-addr", c.HTTPAddr, "-raft-addr", c.RaftAddr, "-gossip-addr", c.GossipAddr,
			"-bootstrap-expect", strconv.Itoa(opts.Clouds)}
		if len(peers) > 0 {
			c.Args = append(c.Args, "-join", strings.Join(peers, ","))
		}
		if extra.raftProfile {
			c.Args = append(c.Args, "-raft-profile", opts.RaftProfile)
		}
		if extra.uplink {
			c.Args = append(c.Args, "-uplink", ctlUplink)
		}
		if extra.lbIPTables {
			c.Args = append(c.Args, "-lb", "iptables")
		}
		if opts.InstanceNetworks && extra.tenantBridges {
			// The site reconciler names instance bridges with
			// netcfg.BridgeName, the bridges buildInstanceNetworks makes.
			c.Args = append(c.Args, "-tenant-bridges")
		}
		c.Args = append(c.Args, opts.ControllerArgs...)
		st.Controllers = append(st.Controllers, c)

		h := HypervisorInfo{
			Cloud: c.Cloud, ID: fmt.Sprintf("%s-c%d-hv1", st.Prefix, i), NS: st.Namespaces[RoleHypervisor][i-1],
			APIAddr:    hostPort(hypervisorAddr(i), PortNodeAPI),
			GossipAddr: hostPort(hypervisorAddr(i), PortGossip),
			LogFile:    filepath.Join(st.WorkDir, "c"+strconv.Itoa(i)+"-hv1.log"),
			DataDir:    filepath.Join(st.WorkDir, "c"+strconv.Itoa(i)+"-hv1"),
		}
		h.Args = []string{"-hypervisor", "-node-id", h.ID, "-cloud", h.Cloud, "-driver", "process",
			"-data-dir", h.DataDir, "-api-addr", h.APIAddr, "-gossip-addr", h.GossipAddr, "-join", c.GossipAddr}
		if opts.InstanceNetworks && extra.processMode {
			h.Args = append(h.Args, "-process-mode", "netns")
		}
		st.Hypervisors = append(st.Hypervisors, h)
	}
	if opts.InstanceNetworks {
		file, err := tenantPath(opts.TenantFile)
		if err != nil {
			return fail(err)
		}
		subnets, err := tenantSubnets(file)
		if err != nil {
			return fail(err)
		}
		if err := buildInstanceNetworks(st, subnets); err != nil {
			return fail(err)
		}
		st.InstanceSubnets = subnets
		if extra.processMode {
			st.ProcessMode = "netns"
		} else {
			log.Warn("instance networks plumbed, but this ctl has no `agent -process-mode`: instances stay on the hypervisors' loopback")
		}
	}
	for i := range st.Controllers {
		if err := l.startController(i); err != nil {
			return fail(err)
		}
	}
	for i := range st.Hypervisors {
		h := &st.Hypervisors[i]
		if err := os.MkdirAll(h.DataDir, 0o755); err != nil {
			return fail(err)
		}
		pid, ex, err := startAgent(st.CtlPath, h.NS, h.LogFile, h.Args)
		if err != nil {
			return fail(err)
		}
		h.PID = pid
		l.exited[pid] = ex
	}
	if st.StateFile != "" {
		if err := WriteState(st.StateFile, st); err != nil {
			return fail(err)
		}
	}

	wctx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	start := time.Now()
	leader, err := l.WaitLeader(wctx, l.ControllerIDs()...)
	if err != nil {
		return fail(l.withLogs(err))
	}
	log.Info("leader agreed", "leader", leader, "after", time.Since(start).Round(time.Millisecond))
	if err := l.WaitHypervisorsAlive(wctx, opts.Clouds); err != nil {
		return fail(l.withLogs(err))
	}
	log.Info("hypervisors alive", "count", opts.Clouds, "after", time.Since(start).Round(time.Millisecond))
	// With -lb iptables every controller publishes its cloud's LB address,
	// which the master LB needs.
	if err := l.WaitClouds(wctx, extra.lbIPTables); errors.Is(err, ErrCloudsAPIMissing) {
		log.Warn("cannot check the clouds' registration", "error", err)
	} else if err != nil {
		return fail(l.withLogs(err))
	} else {
		log.Info("clouds registered", "after", time.Since(start).Round(time.Millisecond))
	}
	st.Leader = leader

	if opts.SkipTenant {
		st.TenantNote = "skipped (SkipTenant)"
	} else if name, err := l.applyDemoTenant(wctx, opts.TenantFile); err != nil {
		if !errors.Is(err, ErrTenantAPIMissing) {
			return fail(err)
		}
		st.TenantNote = "skipped: " + err.Error()
		log.Warn("demo tenant not applied: the agents do not serve POST /v1/tenants yet", "error", err)
	} else {
		st.Tenant = name
		log.Info("demo tenant applied", "tenant", name)
	}
	if st.StateFile != "" {
		if err := WriteState(st.StateFile, st); err != nil {
			return fail(err)
		}
	}
	return l, nil
}

// agentFeatures says which optional agent flags this ctl binary has.
type agentFeatures struct{ raftProfile, uplink, lbIPTables, processMode, tenantBridges bool }

// agentExtras reads `ctl agent -h` to find optional flags (the agent grows
// flags while the project is built; the lab uses those that exist).
func agentExtras(ctlPath string) agentFeatures {
	out, _ := execOutput(ctlPath, "agent", "-h")
	return agentFeatures{
		raftProfile:   strings.Contains(out, "-raft-profile"),
		uplink:        strings.Contains(out, "-uplink"),
		lbIPTables:    strings.Contains(out, "  -lb ") && strings.Contains(out, "iptables"),
		processMode:   strings.Contains(out, "-process-mode"),
		tenantBridges: strings.Contains(out, "-tenant-bridges"),
	}
}

func (l *Lab) startController(i int) error {
	c := &l.st.Controllers[i]
	if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
		return err
	}
	pid, ex, err := startAgent(l.st.CtlPath, c.NS, c.LogFile, c.Args)
	if err != nil {
		return err
	}
	c.PID = pid
	l.exited[pid] = ex
	return nil
}

// withLogs appends the tail of every agent log to err.
func (l *Lab) withLogs(err error) error {
	var b strings.Builder
	for _, f := range l.logFiles() {
		data, _ := os.ReadFile(f)
		if len(data) > 2000 {
			data = data[len(data)-2000:]
		}
		fmt.Fprintf(&b, "\n--- %s:\n%s", filepath.Base(f), data)
	}
	return fmt.Errorf("%w%s", err, b.String())
}

func (l *Lab) logFiles() []string {
	var out []string
	for _, c := range l.st.Controllers {
		out = append(out, c.LogFile)
	}
	for _, h := range l.st.Hypervisors {
		out = append(out, h.LogFile)
	}
	return out
}

// State returns a copy of the lab's state.
func (l *Lab) State() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.st
	s.Controllers = append([]ControllerInfo(nil), l.st.Controllers...)
	s.Hypervisors = append([]HypervisorInfo(nil), l.st.Hypervisors...)
	return s
}

// Controllers returns the controllers (PIDs are the current ones).
func (l *Lab) Controllers() []ControllerInfo { return l.State().Controllers }

// Hypervisors returns the hypervisor agents.
func (l *Lab) Hypervisors() []HypervisorInfo { return l.State().Hypervisors }

// ControllerIDs returns the controllers' node IDs.
func (l *Lab) ControllerIDs() []string {
	var ids []string
	for _, c := range l.Controllers() {
		ids = append(ids, c.ID)
	}
	return ids
}

// Controller returns the controller with node ID id.
func (l *Lab) Controller(id string) (ControllerInfo, bool) {
	for _, c := range l.Controllers() {
		if c.ID == id {
			return c, true
		}
	}
	return ControllerInfo{}, false
}

// HTTPClient is an HTTP client whose connections start in the client
// namespace (the host's namespace has no route into the lab).
func (l *Lab) HTTPClient() *http.Client { return l.http }

// Client returns an API client for a controller, talking from the client
// namespace.
func (l *Lab) Client(c ControllerInfo) *client.Client {
	return client.New(c.HTTPAddr).WithHTTPClient(l.http)
}

// Leaders asks each controller in ids for the leader and returns the
// answers (error text for the ones that failed).
func (l *Lab) Leaders(ctx context.Context, ids ...string) map[string]string {
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range ids {
		c, ok := l.Controller(id)
		if !ok {
			out[id] = "error: unknown controller"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			li, err := l.Client(c).Leader(cctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				out[id] = "error: " + err.Error()
			} else {
				out[id] = li.ID
			}
		}()
	}
	wg.Wait()
	return out
}

// WaitLeader polls the controllers ids until all name the same leader, that
// leader is one of ids, and return it. ctx bounds the wait.
func (l *Lab) WaitLeader(ctx context.Context, ids ...string) (string, error) {
	in := map[string]bool{}
	for _, id := range ids {
		in[id] = true
	}
	var last map[string]string
	for {
		last = l.Leaders(ctx, ids...)
		agreed := ""
		for _, v := range last {
			if strings.HasPrefix(v, "error: ") || (agreed != "" && v != agreed) {
				agreed = ""
				break
			}
			agreed = v
		}
		if agreed != "" && in[agreed] {
			return agreed, nil
		}
		if err := l.checkRunning(ids); err != nil {
			return "", err
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: no agreed leader among %v: %s", ErrNotReady, ids, fmtViews(last))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ErrAgentExited: an agent the lab waits for is not running.
var ErrAgentExited = errors.New("labkit: agent exited")

// checkRunning fails when a controller in ids (nil: every controller and
// hypervisor) has exited, so a wait does not run into its deadline.
func (l *Lab) checkRunning(ids []string) error {
	st := l.State()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for _, c := range st.Controllers {
		if (ids == nil || want[c.ID]) && !procAlive(c.PID) {
			return fmt.Errorf("%w: controller %s (pid %d); see %s", ErrAgentExited, c.ID, c.PID, c.LogFile)
		}
	}
	if ids == nil {
		for _, h := range st.Hypervisors {
			if !procAlive(h.PID) {
				return fmt.Errorf("%w: hypervisor %s (pid %d); see %s", ErrAgentExited, h.ID, h.PID, h.LogFile)
			}
		}
	}
	return nil
}

func fmtViews(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"→"+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// WaitHypervisorsAlive polls every live controller until each lists at
// least n hypervisors of the lab as alive.
func (l *Lab) WaitHypervisorsAlive(ctx context.Context, n int) error {
	var last string
	for {
		ok := true
		for _, c := range l.Controllers() {
			if !procAlive(c.PID) {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			hs, err := l.Client(c).Hypervisors(cctx)
			cancel()
			alive := 0
			for _, h := range hs {
				if h.Liveness == "alive" && strings.HasPrefix(h.ID, l.st.Prefix+"-") {
					alive++
				}
			}
			if err != nil || alive < n {
				ok = false
				last = fmt.Sprintf("%s sees %d alive of %d (%v): %v", c.ID, alive, n, err, describe(hs))
				break
			}
		}
		if ok {
			return nil
		}
		if err := l.checkRunning(nil); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: hypervisors not alive: %s", ErrNotReady, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func describe(hs []api.Hypervisor) string {
	var parts []string
	for _, h := range hs {
		parts = append(parts, h.ID+"="+h.Liveness)
	}
	return strings.Join(parts, ",")
}

// KillController sends SIGKILL to the controller id (its process group)
// and waits until the process is gone.
func (l *Lab) KillController(id string) error {
	c, ok := l.Controller(id)
	if !ok {
		return fmt.Errorf("%w: unknown controller %q", ErrInvalid, id)
	}
	l.mu.Lock()
	ex := l.exited[c.PID]
	l.mu.Unlock()
	if err := killPID(c.PID, 10*time.Second); err != nil {
		return err
	}
	if ex != nil {
		select {
		case <-ex:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("labkit: controller %s (pid %d) not reaped", id, c.PID)
		}
	}
	return nil
}

// RestartController starts the controller id again from its data dir with
// the same arguments (after KillController).
func (l *Lab) RestartController(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, c := range l.st.Controllers {
		if c.ID == id {
			if procAlive(c.PID) {
				return fmt.Errorf("%w: controller %s still running (pid %d)", ErrInvalid, id, c.PID)
			}
			if err := l.startController(i); err != nil {
				return err
			}
			if l.st.StateFile != "" {
				return WriteState(l.st.StateFile, &l.st)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: unknown controller %q", ErrInvalid, id)
}

// HoldsVIPSupported reports whether the controllers were started with
// -uplink (the agent has the flag), so the leader puts the VIP on its
// WAN link.
func (l *Lab) HoldsVIPSupported() bool {
	for _, a := range l.State().Controllers[0].Args {
		if a == "-uplink" {
			return true
		}
	}
	return false
}

// VIPHolders returns the IDs of the controllers whose WAN link carries the
// lab's VIP right now (read from the kernel through netlink).
func (l *Lab) VIPHolders() ([]string, error) {
	st := l.State()
	vip, err := netip.ParseAddr(st.VIP)
	if err != nil {
		return nil, fmt.Errorf("%w: vip %q: %v", ErrInvalid, st.VIP, err)
	}
	var out []string
	for _, c := range st.Controllers {
		ns, err := netcfg.NamespaceByName(c.NS)
		if err != nil {
			return nil, err
		}
		lk, err := netcfg.NewLinks(ns)
		if err != nil {
			ns.Close()
			return nil, err
		}
		has, err := lk.HasVIP(ctlUplink, vip)
		lk.Close()
		ns.Close()
		if err != nil {
			return nil, err
		}
		if has {
			out = append(out, c.ID)
		}
	}
	return out, nil
}

// Down stops every agent of the lab (SIGKILL by PID / process group),
// deletes its namespaces (which removes all its links), its work dir if Up
// made it, and its state file. It is idempotent.
func (l *Lab) Down() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clientNS != netns.None() {
		l.clientNS.Close()
		l.clientNS = netns.None()
	}
	if l.http != nil {
		l.http.CloseIdleConnections()
	}
	err := Teardown(&l.st)
	for _, ex := range l.exited {
		select {
		case <-ex:
		case <-time.After(5 * time.Second):
		}
	}
	l.down = true
	return err
}

// Teardown removes what the lab described by st made; it is what `lab
// down` runs from the state file, with no Lab value at hand.
func Teardown(st *State) error {
	if err := validPrefix(st.Prefix); err != nil {
		return err
	}
	var errs []error
	for _, pid := range labPIDs(st) {
		if err := killPID(pid, 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	// The agents are gone, so none starts an instance meanwhile.
	if err := removeInstances(st); err != nil {
		errs = append(errs, err)
	}
	if err := deleteNamespaces(st); err != nil {
		errs = append(errs, err)
	}
	if st.OwnWorkDir && st.WorkDir != "" && strings.Contains(filepath.Base(st.WorkDir), st.Prefix) {
		if err := os.RemoveAll(st.WorkDir); err != nil {
			errs = append(errs, fmt.Errorf("labkit: remove work dir: %w", err))
		}
	}
	if st.StateFile != "" {
		if err := os.Remove(st.StateFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("labkit: remove state file: %w", err))
		}
	}
	return errors.Join(errs...)
}
