package nodes

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/internal/atomicfile"
	"aas/nodes/driver"
	"aas/nodes/health"
	"aas/nodes/metrics"
)

// DefaultAPIAddr is the hypervisor API's default listen address.
const DefaultAPIAddr = ":7073"

// AgentConfig configures a hypervisor agent.
type AgentConfig struct {
	NodeID string
	Cloud  string
	// Driver is process (default), docker or libvirt.
	Driver string
	// APIAddr is the listen address of the node API (default :7073; use
	// 127.0.0.1:0 in tests).
	APIAddr string
	// DataDir holds the term fence, instance metadata and process state.
	DataDir string
	// TLS, when set, serves HTTPS; set ClientAuth to
	// tls.RequireAndVerifyClientCert for mutual TLS.
	TLS    *tls.Config
	Logger hclog.Logger

	// DriverOptions carries driver-specific settings (process mode, host
	// netns, docker host, libvirt URI); Name and DataDir are taken from
	// above.
	DriverOptions DriverConfig
	// DriverImpl, when set, is used instead of opening Driver (tests, or a
	// caller that opened the driver itself).
	DriverImpl driver.Driver

	// SampleInterval and SampleWindow configure the metrics sampler
	// (default 5s, 60 samples).
	SampleInterval time.Duration
	SampleWindow   int
	// SyncInterval is how often the agent lists the driver to start health
	// checks for new instances and mark vanished ones gone (default 1s).
	SyncInterval time.Duration
	// DefaultHealth is the check for instances created without one and
	// for adopted instances without recorded metadata.
	DefaultHealth health.Check
}

// Agent is a hypervisor agent.
type Agent struct {
	cfg     AgentConfig
	log     hclog.Logger
	drv     driver.Driver
	fence   *termFence
	sampler *metrics.Sampler
	health  *health.Runner
	meta    *metaStore

	locks sync.Map // instance ID -> *sync.Mutex: one create/delete per ID at a time

	srv    *http.Server
	ln     net.Listener
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewAgent opens the data directory and the driver. Start serves.
func NewAgent(cfg AgentConfig) (*Agent, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("agent: data dir is required")
	}
	if cfg.NodeID == "" {
		return nil, errors.New("agent: node id is required")
	}
	if cfg.APIAddr == "" {
		cfg.APIAddr = DefaultAPIAddr
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = time.Second
	}
	if err := cfg.DefaultHealth.Validate(); err != nil {
		return nil, fmt.Errorf("agent: default health check: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	log := cfg.Logger.Named("agent")
	fence, err := openTermFence(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	meta, err := openMetaStore(filepath.Join(cfg.DataDir, "agent-instances.json"))
	if err != nil {
		return nil, err
	}
	drv := cfg.DriverImpl
	if drv == nil {
		dc := cfg.DriverOptions
		dc.Name, dc.DataDir, dc.Logger = cfg.Driver, cfg.DataDir, log
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		drv, err = OpenDriver(ctx, dc)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("agent: %w", err)
		}
	}
	cfg.Driver = drv.Name()
	a := &Agent{
		cfg: cfg, log: log, drv: drv, fence: fence, meta: meta,
		sampler: metrics.New(metrics.Config{Source: drv, Interval: cfg.SampleInterval, Window: cfg.SampleWindow, Logger: log}),
		health:  health.NewRunner(log),
	}
	return a, nil
}

// Driver returns the agent's driver.
func (a *Agent) Driver() driver.Driver { return a.drv }

// Handler is the node API (also usable without Start, e.g. in-process).
func (a *Agent) Handler() http.Handler { return a.routes() }

// Start listens on APIAddr and starts serving, sampling and health checks.
func (a *Agent) Start() error {
	ln, err := net.Listen("tcp", a.cfg.APIAddr)
	if err != nil {
		return fmt.Errorf("agent: listen %s: %w", a.cfg.APIAddr, err)
	}
	if a.cfg.TLS != nil {
		ln = tls.NewListener(ln, a.cfg.TLS)
	}
	a.ln = ln
	a.srv = &http.Server{Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: a.log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})}
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.sync(ctx) // adopt what exists before answering
	a.wg.Add(3)
	go func() {
		defer a.wg.Done()
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("serve", "error", err)
		}
	}()
	go func() { defer a.wg.Done(); a.sampler.Run(ctx) }()
	go func() { defer a.wg.Done(); a.syncLoop(ctx) }()
	a.log.Info("hypervisor agent started", "node", a.cfg.NodeID, "cloud", a.cfg.Cloud, "driver", a.cfg.Driver, "addr", ln.Addr().String(), "tls", a.cfg.TLS != nil)
	return nil
}

// Addr is the address the API listens on (after Start).
func (a *Agent) Addr() string {
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// URL is the API's base URL (after Start).
func (a *Agent) URL() string {
	scheme := "http"
	if a.cfg.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + a.Addr()
}

// Shutdown stops serving and background work; instances keep running.
func (a *Agent) Shutdown(ctx context.Context) error {
	var err error
	if a.srv != nil {
		err = a.srv.Shutdown(ctx)
	}
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
	a.health.Close()
	return errors.Join(err, a.drv.Close())
}

func (a *Agent) syncLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.sync(ctx)
		}
	}
}

// sync lists what really exists: running instances get a health check,
// exited or vanished ones are marked gone.
func (a *Agent) sync(ctx context.Context) {
	list, err := a.drv.List(ctx)
	if err != nil {
		a.log.Warn("list instances", "error", err)
		return
	}
	seen := make(map[string]bool, len(list))
	for _, inst := range list {
		seen[inst.ID] = true
		if inst.State != driver.StateRunning || inst.Addr == "" {
			if inst.State != driver.StateRunning {
				a.health.Vanished(inst.ID)
			}
			continue
		}
		check := a.cfg.DefaultHealth
		if m, ok := a.meta.get(inst.ID); ok && m.Health != nil {
			check = *m.Health
		}
		a.health.Watch(inst.ID, inst.Addr, check, inst.CreatedAt)
	}
	for _, id := range a.health.IDs() {
		if !seen[id] {
			a.health.Vanished(id)
		}
	}
}

func (a *Agent) createInstance(ctx context.Context, req CreateRequest) (InstanceStatus, bool, error) {
	if req.Health != nil {
		if err := req.Health.Validate(); err != nil {
			return InstanceStatus{}, false, err
		}
	}
	if err := req.Spec.Validate(); err != nil {
		return InstanceStatus{}, false, err
	}
	defer a.lock(req.Spec.ID)()
	_, known := a.meta.get(req.Spec.ID)
	before, err := a.drv.List(ctx)
	if err != nil {
		return InstanceStatus{}, false, err
	}
	existed := known
	for _, i := range before {
		if i.ID == req.Spec.ID {
			existed = true
		}
	}
	if !known {
		if err := a.meta.put(req.Spec.ID, instanceMeta{Health: req.Health}); err != nil {
			return InstanceStatus{}, false, err
		}
	}
	inst, err := a.drv.Create(ctx, req.Spec)
	if err != nil {
		if !existed {
			_ = a.meta.remove(req.Spec.ID)
		}
		return InstanceStatus{}, false, err
	}
	check := a.cfg.DefaultHealth
	if m, ok := a.meta.get(inst.ID); ok && m.Health != nil {
		check = *m.Health
	}
	if inst.State == driver.StateRunning && inst.Addr != "" {
		a.health.Watch(inst.ID, inst.Addr, check, inst.CreatedAt)
	}
	rep, _ := a.health.Report(inst.ID)
	return InstanceStatus{Instance: inst, Health: rep}, !existed, nil
}

func (a *Agent) lock(id string) func() {
	m, _ := a.locks.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (a *Agent) deleteInstance(ctx context.Context, id string) error {
	defer a.lock(id)()
	if err := a.drv.Delete(ctx, id); err != nil {
		return err
	}
	a.health.Forget(id)
	return a.meta.remove(id)
}

// List returns every instance with its health.
func (a *Agent) List(ctx context.Context) ([]InstanceStatus, error) {
	list, err := a.drv.List(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]InstanceStatus, len(list))
	for i, inst := range list {
		rep, ok := a.health.Report(inst.ID)
		if !ok {
			rep = health.Report{Status: health.StatusStarting, Since: inst.CreatedAt}
		}
		if inst.State != driver.StateRunning {
			rep.Status = health.StatusGone
		}
		out[i] = InstanceStatus{Instance: inst, Health: rep}
	}
	return out, nil
}

// Stats returns the newest sample of every running instance, with up to
// recent older samples each.
func (a *Agent) Stats(recent int) []InstanceStats {
	latest := a.sampler.Latest()
	out := make([]InstanceStats, 0, len(latest))
	for id, s := range latest {
		is := InstanceStats{Latest: s}
		if recent > 0 {
			is.Recent = a.sampler.Recent(id, recent)
		}
		out = append(out, is)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Latest.ID < out[j].Latest.ID })
	return out
}

// Health reports the agent's identity, capacity and instance counts.
func (a *Agent) Health(ctx context.Context) (AgentHealth, error) {
	c, err := Capacity()
	if err != nil {
		a.log.Warn("capacity", "error", err)
	}
	list, err := a.drv.List(ctx)
	if err != nil {
		return AgentHealth{}, err
	}
	h := AgentHealth{Status: "ok", NodeID: a.cfg.NodeID, Cloud: a.cfg.Cloud, Driver: a.cfg.Driver, Capacity: c, Instances: len(list), Term: a.fence.Highest()}
	for _, i := range list {
		if i.State == driver.StateRunning {
			h.Running++
		}
	}
	return h, nil
}

// instanceMeta is what the agent remembers about an instance beyond the
// driver: its health check.
type instanceMeta struct {
	Health *health.Check `json:"health,omitempty"`
}

// metaStore is a small JSON file of instanceMeta by ID.
type metaStore struct {
	path string
	mu   sync.Mutex
	m    map[string]instanceMeta
}

func openMetaStore(path string) (*metaStore, error) {
	s := &metaStore{path: path, m: map[string]instanceMeta{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if err := json.Unmarshal(b, &s.m); err != nil {
		return nil, fmt.Errorf("agent: %s: %w", path, err)
	}
	return s, nil
}

func (s *metaStore) get(id string) (instanceMeta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.m[id]
	return m, ok
}

func (s *metaStore) put(id string, m instanceMeta) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[id] = m
	return s.saveLocked()
}

func (s *metaStore) remove(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; !ok {
		return nil
	}
	delete(s.m, id)
	return s.saveLocked()
}

func (s *metaStore) saveLocked() error {
	b, err := json.Marshal(s.m)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(s.path, b, 0o600); err != nil {
		return fmt.Errorf("agent: save metadata: %w", err)
	}
	return nil
}
