// Package process is the default instance driver: an instance is an OS
// process running the template's command.
//
// In loopback mode (no root) the process listens on a free 127.0.0.1 port
// passed in $AAS_LISTEN. In netns mode (root) it runs in its own network
// namespace with a veth on the tenant's bridge and its IP from the tenant
// range, so it looks like a small VM on the tenant network.
//
// Instances are tracked in a JSON state file under the data directory; a
// restarted driver re-adopts the live PIDs it finds there after checking
// /proc/PID/stat (start time, against PID reuse), /proc/PID/cmdline and the
// AAS_INSTANCE_ID marker in /proc/PID/environ.
package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/internal/atomicfile"
	"aas/nodes/driver"
)

// Mode selects how instances are networked.
type Mode string

// Modes of the process driver.
const (
	ModeLoopback Mode = "loopback"
	ModeNetNS    Mode = "netns"
)

// DefaultPort is the application port in netns mode when the spec has none.
const DefaultPort = 8080

// Config configures the process driver.
type Config struct {
	// DataDir holds the state file and instance logs (required).
	DataDir string
	// Mode is loopback (default) or netns.
	Mode Mode
	// BindHost is the loopback address instances listen on (default 127.0.0.1).
	BindHost string
	// HostNetNS is the path of the network namespace holding the tenant
	// bridges (netns mode); empty means the agent's own namespace.
	HostNetNS string
	// StopTimeout is how long Delete waits after SIGTERM before SIGKILL
	// (default 5s).
	StopTimeout time.Duration
	Logger      hclog.Logger
}

var _ driver.Driver = (*Driver)(nil)

// Driver is the process driver.
type Driver struct {
	cfg       Config
	log       hclog.Logger
	statePath string
	logDir    string

	mu   sync.Mutex
	recs map[string]*record
	last map[string]cpuSample
}

// record is one instance in the state file.
type record struct {
	Spec       driver.InstanceSpec `json:"spec"`
	PID        int                 `json:"pid"`
	StartTicks uint64              `json:"start_ticks"`
	Argv0      string              `json:"argv0"`
	Addr       string              `json:"addr"`
	IP         string              `json:"ip,omitempty"`
	NetNS      string              `json:"netns,omitempty"`
	HostVeth   string              `json:"host_veth,omitempty"`
	CreatedAt  time.Time           `json:"created_at"`
}

type cpuSample struct {
	at  time.Time
	cpu float64
}

type stateFile struct {
	Version   int                `json:"version"`
	Instances map[string]*record `json:"instances"`
}

// New opens (or creates) the driver's state under cfg.DataDir and re-adopts
// the live instances recorded there.
func New(cfg Config) (*Driver, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("process driver: data dir is required")
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeLoopback
	}
	if cfg.Mode != ModeLoopback && cfg.Mode != ModeNetNS {
		return nil, fmt.Errorf("process driver: unknown mode %q (want loopback or netns)", cfg.Mode)
	}
	if cfg.BindHost == "" {
		cfg.BindHost = "127.0.0.1"
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	dir := filepath.Join(cfg.DataDir, "process")
	d := &Driver{
		cfg:       cfg,
		log:       cfg.Logger.Named("process"),
		statePath: filepath.Join(dir, "instances.json"),
		logDir:    filepath.Join(dir, "logs"),
		recs:      map[string]*record{},
		last:      map[string]cpuSample{},
	}
	if err := os.MkdirAll(d.logDir, 0o750); err != nil {
		return nil, fmt.Errorf("process driver: %w", err)
	}
	if err := d.load(); err != nil {
		return nil, err
	}
	for id, r := range d.recs {
		if d.verify(r) {
			d.log.Info("adopted instance", "id", id, "pid", r.PID)
		} else {
			d.log.Warn("recorded instance is not running", "id", id, "pid", r.PID)
		}
	}
	return d, nil
}

// Name implements driver.Driver.
func (d *Driver) Name() string { return "process" }

// Close implements driver.Driver; instances keep running.
func (d *Driver) Close() error { return nil }

func (d *Driver) load() error {
	b, err := os.ReadFile(d.statePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("process driver: read state: %w", err)
	}
	var sf stateFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return fmt.Errorf("process driver: state file %s: %w", d.statePath, err)
	}
	for id, r := range sf.Instances {
		if r == nil || r.Spec.ID != id {
			return fmt.Errorf("process driver: state file %s: instance %q: id mismatch", d.statePath, id)
		}
		d.recs[id] = r
	}
	return nil
}

// save writes the state file atomically (temp file, fsync, rename).
func (d *Driver) save() error {
	b, err := json.MarshalIndent(stateFile{Version: 1, Instances: d.recs}, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(d.statePath, b, 0o600); err != nil {
		return fmt.Errorf("process driver: save state: %w", err)
	}
	return nil
}

// alive is the cheap liveness check: the PID exists, is not a zombie and
// has the recorded start time (so a reused PID is not mistaken for it).
func (d *Driver) alive(r *record) bool {
	st, err := readProcStat(r.PID)
	return err == nil && !st.dead() && st.StartTicks == r.StartTicks
}

// verify is the full adoption check: alive, same argv[0], and the
// instance-ID marker in the environment.
func (d *Driver) verify(r *record) bool {
	if !d.alive(r) {
		return false
	}
	argv := cmdline(r.PID)
	if len(argv) == 0 || (argv[0] != r.Argv0 && argv[0] != "ip") {
		return false
	}
	return hasEnv(r.PID, driver.EnvInstanceID+"="+r.Spec.ID)
}

func (d *Driver) instance(r *record) driver.Instance {
	st := driver.StateExited
	if d.alive(r) {
		st = driver.StateRunning
	}
	return driver.Instance{
		ID: r.Spec.ID, Tenant: r.Spec.Tenant, Group: r.Spec.Group, Driver: "process",
		State: st, Addr: r.Addr, IP: r.IP, NativeID: strconv.Itoa(r.PID), CreatedAt: r.CreatedAt,
	}
}

// Create implements driver.Driver.
func (d *Driver) Create(ctx context.Context, spec driver.InstanceSpec) (driver.Instance, error) {
	if err := spec.Validate(); err != nil {
		return driver.Instance{}, err
	}
	if spec.Process == nil || spec.Process.Command == "" {
		return driver.Instance{}, fmt.Errorf("%w: field process.command is required by the process driver", driver.ErrInvalidSpec)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := d.recs[spec.ID]; ok {
		return d.instance(r), nil
	}
	if err := ctx.Err(); err != nil {
		return driver.Instance{}, err
	}
	r := &record{Spec: spec, Argv0: spec.Process.Command, CreatedAt: time.Now().UTC()}
	var listen string
	switch d.cfg.Mode {
	case ModeLoopback:
		port, err := freePort(d.cfg.BindHost)
		if err != nil {
			return driver.Instance{}, fmt.Errorf("process driver: %w", err)
		}
		listen = net.JoinHostPort(d.cfg.BindHost, strconv.Itoa(port))
		r.Addr = listen
	case ModeNetNS:
		n := spec.Network
		if n == nil || !n.IP.IsValid() || !n.Subnet.IsValid() || n.Bridge == "" {
			return driver.Instance{}, fmt.Errorf("%w: netns mode needs network.bridge, network.subnet and network.ip", driver.ErrInvalidSpec)
		}
		port := spec.Port
		if port == 0 {
			port = DefaultPort
		}
		listen = net.JoinHostPort(n.IP.String(), strconv.Itoa(port))
		r.Addr, r.IP = listen, n.IP.String()
		r.NetNS, r.HostVeth = nsNames(spec.ID)
		if err := d.setupNetNS(r); err != nil {
			d.teardownNetNS(r)
			return driver.Instance{}, fmt.Errorf("process driver: network for %s: %w", spec.ID, err)
		}
	}
	if err := d.start(r, listen); err != nil {
		if r.NetNS != "" {
			d.teardownNetNS(r)
		}
		return driver.Instance{}, err
	}
	d.recs[spec.ID] = r
	if err := d.save(); err != nil {
		d.stop(r)
		delete(d.recs, spec.ID)
		return driver.Instance{}, err
	}
	d.log.Info("created instance", "id", spec.ID, "pid", r.PID, "addr", r.Addr)
	return d.instance(r), nil
}

// start spawns the process in its own session so it outlives the agent.
func (d *Driver) start(r *record, listen string) error {
	spec := r.Spec
	_, port, _ := net.SplitHostPort(listen)
	vars := map[string]string{
		driver.EnvInstanceID: spec.ID,
		driver.EnvListen:     listen,
		"AAS_PORT":           port,
		"AAS_IP":             r.IP,
	}
	expand := func(s string) string {
		return os.Expand(s, func(k string) string {
			if v, ok := vars[k]; ok {
				return v
			}
			return "$" + k
		})
	}
	args := make([]string, len(spec.Process.Args))
	for i, a := range spec.Process.Args {
		args[i] = expand(a)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=/"}
	keys := make([]string, 0, len(spec.Process.Env))
	for k := range spec.Process.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, reserved := vars[k]; reserved {
			continue
		}
		env = append(env, k+"="+expand(spec.Process.Env[k]))
	}
	for _, k := range []string{driver.EnvInstanceID, driver.EnvListen, "AAS_PORT", "AAS_IP"} {
		env = append(env, k+"="+vars[k])
	}
	var cmd *exec.Cmd
	if r.NetNS != "" {
		// ip netns exec enters the namespace and execs the command: an
		// argument list, never a shell; the PID stays the same.
		cmd = exec.Command("ip", append([]string{"netns", "exec", r.NetNS, spec.Process.Command}, args...)...)
	} else {
		cmd = exec.Command(spec.Process.Command, args...)
	}
	cmd.Env = env
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	logf, err := os.OpenFile(filepath.Join(d.logDir, spec.ID+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("process driver: %w", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("process driver: start %s: %w", spec.ID, err)
	}
	r.PID = cmd.Process.Pid
	go func() { _ = cmd.Wait() }() // reap; adopted instances are reaped by init
	st, err := readProcStat(r.PID)
	if err != nil {
		return fmt.Errorf("process driver: start %s: %w", spec.ID, err)
	}
	r.StartTicks = st.StartTicks
	return nil
}

// stop terminates the instance's process group: SIGTERM, then SIGKILL after
// StopTimeout.
func (d *Driver) stop(r *record) {
	if !d.alive(r) {
		return
	}
	_ = syscall.Kill(-r.PID, syscall.SIGTERM)
	if d.waitDead(r, d.cfg.StopTimeout) {
		return
	}
	d.log.Warn("instance ignored SIGTERM, killing", "id", r.Spec.ID, "pid", r.PID)
	_ = syscall.Kill(-r.PID, syscall.SIGKILL)
	d.waitDead(r, 5*time.Second)
}

func (d *Driver) waitDead(r *record, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for wait := time.Millisecond; ; wait = min(wait*2, 50*time.Millisecond) {
		if !d.alive(r) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait) // polling the kernel for the process's exit
	}
}

// Delete implements driver.Driver.
func (d *Driver) Delete(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.recs[id]
	if !ok {
		return nil
	}
	d.stop(r)
	if r.NetNS != "" {
		d.teardownNetNS(r)
	}
	delete(d.recs, id)
	delete(d.last, id)
	if err := d.save(); err != nil {
		return err
	}
	d.log.Info("deleted instance", "id", id)
	return nil
}

// List implements driver.Driver.
func (d *Driver) List(ctx context.Context) ([]driver.Instance, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]driver.Instance, 0, len(d.recs))
	for _, r := range d.recs {
		out = append(out, d.instance(r))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Stats implements driver.Driver: utime+stime from /proc/PID/stat, as a
// delta over wall time since the previous sample (or since the process
// started); memory is the resident set size.
func (d *Driver) Stats(ctx context.Context, id string) (driver.Stats, error) {
	d.mu.Lock()
	r, ok := d.recs[id]
	prev, hasPrev := d.last[id]
	d.mu.Unlock()
	if !ok {
		return driver.Stats{}, fmt.Errorf("%w: %s", driver.ErrNotFound, id)
	}
	st, err := readProcStat(r.PID)
	now := time.Now()
	if err != nil || st.dead() || st.StartTicks != r.StartTicks {
		return driver.Stats{}, fmt.Errorf("%w: %s is not running", driver.ErrNotFound, id)
	}
	cpu := st.CPUSeconds()
	s := driver.Stats{ID: id, At: now, CPUSeconds: cpu, MemoryBytes: st.RSSPages * uint64(os.Getpagesize())}
	if hasPrev {
		if dt := now.Sub(prev.at).Seconds(); dt > 0 {
			s.CPU = (cpu - prev.cpu) / dt
		}
	} else if dt := now.Sub(startTime(st.StartTicks)).Seconds(); dt > 0 {
		s.CPU = cpu / dt
	}
	d.mu.Lock()
	if _, still := d.recs[id]; still {
		d.last[id] = cpuSample{at: now, cpu: cpu}
	}
	d.mu.Unlock()
	return s, nil
}

// PID returns the instance's process ID (0 if unknown); for tests and
// diagnostics.
func (d *Driver) PID(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if r, ok := d.recs[id]; ok {
		return r.PID
	}
	return 0
}

func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
