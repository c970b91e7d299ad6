// Package site is the site reconciler: it runs on every controller, for
// that controller's own cloud, and turns the committed FSM state into
// instances on the cloud's hypervisors (through the node API, nodes.Client),
// reporting what happened back as FSM commands. See DESIGN.md beside this
// file for the loop, the state transitions, fencing and adoption.
package site

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/cluster"
	"aas/cluster/tenant"
	"aas/fsm"
	"aas/nodes"
	"aas/scaler"
)

// Sentinel errors.
var (
	// ErrConfig: the reconciler's configuration is incomplete.
	ErrConfig = errors.New("site: invalid config")
	// ErrTemplate: a group's instance template cannot be turned into a
	// create request for the chosen hypervisor.
	ErrTemplate = errors.New("site: bad instance template")
)

// Cluster is what the reconciler needs from the controller; *cluster.Server
// implements it.
type Cluster interface {
	FSM() *fsm.FSM
	Apply(ctx context.Context, t fsm.MessageType, payload any) (cluster.Applied, error)
	// Term is the Raft term sent with every node API call (fencing).
	Term() uint64
}

// Config configures a Reconciler.
type Config struct {
	Cluster Cluster
	// Cloud is the cloud this controller runs; only its instances and
	// hypervisors are touched.
	Cloud string
	// CloudPriority is the priority the cloud is registered with when the
	// FSM does not know it yet (lower is preferred; groups' own cloud
	// preferences override it). An existing record is never changed.
	CloudPriority int
	Logger        hclog.Logger
	// HTTPClient talks to the hypervisor agents (mutual TLS: a client with
	// the controller's certificate). nil: a client with a 30 s timeout.
	HTTPClient *http.Client
	// Resync is the period of a full pass without an FSM change (default 2s).
	Resync time.Duration
	// StatsInterval is how often the hypervisors' stats are aggregated
	// into RecordMetrics (default 15s; negative disables).
	StatsInterval time.Duration
	// CallTimeout bounds a create or delete call (default 30s);
	// ListTimeout a list or stats call, which every pass makes (default 5s).
	CallTimeout time.Duration
	ListTimeout time.Duration
	// Parallel bounds concurrent creates and deletes (default 8).
	Parallel int
	// LeftGrace is how long the instances of a hypervisor that left
	// gossip gracefully (liveness left: its agent stopped, its instances
	// keep running) are kept before they are declared failed, so an agent
	// restarted on the same host adopts them (default 1m; negative: at
	// once). A failed hypervisor's instances are failed at once.
	LeftGrace time.Duration
	// DefaultTemplate is used for groups without a template (dev mode: the
	// demo workload, see DefaultProcessTemplate).
	DefaultTemplate tenant.Template
	// BridgeName names tenant bridges (optional; see BridgeNameFunc).
	BridgeName BridgeNameFunc
	// Now is the clock stamped into commands (default time.Now).
	Now func() time.Time
	// Requests, when set, is this controller's load balancer: its
	// per-instance connection counters become the request rate (RPS) of
	// the metric points (none: points carry no request rate).
	Requests RequestCounter
}

// Reconciler is the site reconciler of one cloud. Create it with New and
// run it with Run; it is safe to Run again after a previous Run returned.
type Reconciler struct {
	cfg    Config
	log    hclog.Logger
	wake   chan struct{}
	sem    chan struct{}
	mu     sync.Mutex
	busy   map[string]bool // instance IDs with a create or delete in flight
	orphan map[string]int  // agent instance ID -> consecutive listings as an orphan
	cli    map[string]*nodes.Client
	wg     sync.WaitGroup
	// The previous reading of Config.Requests and when it was taken
	// (under mu).
	reqPrev map[string]uint64
	reqAt   time.Time
}

// New checks the configuration and subscribes to FSM changes.
func New(cfg Config) (*Reconciler, error) {
	if cfg.Cluster == nil || cfg.Cloud == "" {
		return nil, fmt.Errorf("%w: cluster and cloud are required", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Resync <= 0 {
		cfg.Resync = 2 * time.Second
	}
	if cfg.StatsInterval == 0 {
		cfg.StatsInterval = 15 * time.Second
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 30 * time.Second
	}
	if cfg.ListTimeout <= 0 {
		cfg.ListTimeout = 5 * time.Second
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	if cfg.LeftGrace == 0 {
		cfg.LeftGrace = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Reconciler{
		cfg:    cfg,
		log:    cfg.Logger.Named("site").With("cloud", cfg.Cloud),
		wake:   make(chan struct{}, 1),
		sem:    make(chan struct{}, cfg.Parallel),
		busy:   map[string]bool{},
		orphan: map[string]int{},
		cli:    map[string]*nodes.Client{},
	}
	cfg.Cluster.FSM().Observe(func(t fsm.MessageType, _ uint64) {
		switch t {
		case fsm.RecordMetricsType, fsm.AppendActivityType, fsm.RecordEvaluationType:
			return // our own metric writes must not spin the loop
		}
		r.Wake()
	})
	return r, nil
}

// Wake asks for a pass soon (coalesced, never blocks).
func (r *Reconciler) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run reconciles until ctx ends, then waits for calls in flight.
func (r *Reconciler) Run(ctx context.Context) error {
	defer r.wg.Wait()
	resync := time.NewTicker(r.cfg.Resync)
	defer resync.Stop()
	var statsC <-chan time.Time
	if r.cfg.StatsInterval > 0 {
		st := time.NewTicker(r.cfg.StatsInterval)
		defer st.Stop()
		statsC = st.C
	}
	r.log.Info("site reconciler started")
	for {
		r.Reconcile(ctx)
		select {
		case <-ctx.Done():
			r.log.Info("site reconciler stopped")
			return nil
		case <-r.wake:
		case <-resync.C:
		case <-statsC:
			r.RecordStats(ctx)
		}
	}
}

// view is what one pass reads from the FSM, copied.
type view struct {
	instances []fsm.Instance
	byID      map[string]fsm.Instance
	hyps      []fsm.Hypervisor
	hypByID   map[string]fsm.Hypervisor
	groups    map[string]fsm.Group // by group key
	tenants   map[string]fsm.Tenant
	logs      map[string]bool // tenant -> LogSamples
	cloud     bool            // the cloud is registered
}

func (r *Reconciler) read() *view {
	v := &view{byID: map[string]fsm.Instance{}, hypByID: map[string]fsm.Hypervisor{},
		groups: map[string]fsm.Group{}, tenants: map[string]fsm.Tenant{}, logs: map[string]bool{}}
	r.cfg.Cluster.FSM().Read(func(s *fsm.State) {
		_, v.cloud = s.Clouds[r.cfg.Cloud]
		v.instances = s.CloudInstances(r.cfg.Cloud)
		v.hyps = s.HypervisorList(r.cfg.Cloud)
		for _, in := range v.instances {
			v.byID[in.ID] = in
			k := fsm.GroupKey(in.Tenant, in.Group)
			if _, ok := v.groups[k]; !ok {
				if g, ok := s.Group(in.Tenant, in.Group); ok {
					v.groups[k] = g
				}
			}
			if _, ok := v.tenants[in.Tenant]; !ok {
				if t, ok := s.Tenant(in.Tenant); ok {
					v.tenants[in.Tenant] = t
					v.logs[in.Tenant] = t.Settings.LogSamples
				}
			}
		}
		// Instances this cloud placed elsewhere are not ours, but an agent
		// of ours may hold one (a cloud mix-up): know them for adoption.
		for _, h := range v.hyps {
			for _, in := range s.HypervisorInstances(h.ID) {
				if _, ok := v.byID[in.ID]; !ok {
					v.byID[in.ID] = in
				}
			}
		}
	})
	for _, h := range v.hyps {
		v.hypByID[h.ID] = h
	}
	return v
}

// usable reports whether a hypervisor may be called.
func usable(h fsm.Hypervisor) bool {
	return h.Liveness == fsm.LivenessAlive || h.Liveness == fsm.LivenessSuspect
}

func (r *Reconciler) client(h fsm.Hypervisor) *nodes.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.cli[h.APIAddr]
	if c == nil {
		c = nodes.NewClient(h.APIAddr, r.cfg.HTTPClient)
		r.cli[h.APIAddr] = c
	}
	return c
}

func (r *Reconciler) isBusy(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.busy[id]
}

// Reconcile runs one pass: lost hypervisors, adoption and health, drains,
// deletes, placements and creates. Creates and deletes run in the
// background (bounded by Parallel); their results wake the loop.
func (r *Reconciler) Reconcile(ctx context.Context) {
	v := r.read()
	if !v.cloud {
		r.registerCloud(ctx)
	}
	var ups []fsm.InstanceUpdate

	// 1. Instances on hypervisors gossip declared failed (or gone, or left
	// longer than LeftGrace ago) are lost.
	for _, in := range v.instances {
		if !in.Live() || in.Hypervisor == "" || r.isBusy(in.ID) {
			continue
		}
		h, ok := v.hypByID[in.Hypervisor]
		left := ok && h.Liveness == fsm.LivenessLeft && !r.cfg.Now().Before(h.Since.Add(r.cfg.LeftGrace))
		if !ok || h.Liveness == fsm.LivenessFailed || left {
			ups = append(ups, fsm.InstanceUpdate{ID: in.ID, State: fsm.StateFailed,
				Reason: fmt.Sprintf("hypervisor %s is %s", in.Hypervisor, livenessOf(h, ok))})
		}
	}
	ups = append(ups, r.adopt(ctx, v)...)
	r.update(ctx, ups)
	if len(ups) > 0 {
		v = r.read()
	}

	// 2. Drains that served their period move on to terminating.
	now := r.cfg.Now()
	ups = ups[:0]
	for _, in := range v.instances {
		if in.State != fsm.StateDraining {
			continue
		}
		if g, ok := v.groups[fsm.GroupKey(in.Tenant, in.Group)]; !ok || !now.Before(in.Since.Add(g.DrainPeriod)) {
			ups = append(ups, fsm.InstanceUpdate{ID: in.ID, State: fsm.StateTerminating, Reason: "drain period over"})
		}
	}
	r.update(ctx, ups)
	if len(ups) > 0 {
		v = r.read()
	}

	// 3. Terminating: delete on the hypervisor, then terminated.
	ups = ups[:0]
	for _, in := range v.instances {
		if in.State != fsm.StateTerminating || r.isBusy(in.ID) {
			continue
		}
		h, ok := v.hypByID[in.Hypervisor]
		if in.Hypervisor == "" || !ok {
			ups = append(ups, fsm.InstanceUpdate{ID: in.ID, State: fsm.StateTerminated, Reason: "never placed"})
			continue
		}
		if usable(h) {
			r.spawn(ctx, in.ID, func(ctx context.Context) { r.deleteOne(ctx, in, h) })
		}
	}
	r.update(ctx, ups)

	// 4. Pending: pick a hypervisor, record provisioning, then create.
	// Provisioning instances not being created right now (a restart, a
	// failed report) are created again: Create is idempotent by ID.
	r.place(ctx, v)
}

// registerCloud records this cloud in the FSM (the converger places
// instances only in known clouds).
func (r *Reconciler) registerCloud(ctx context.Context) {
	actx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	_, err := r.cfg.Cluster.Apply(actx, fsm.UpsertCloudType, fsm.UpsertCloud{Cloud: fsm.Cloud{Name: r.cfg.Cloud, Priority: r.cfg.CloudPriority}, IfAbsent: true})
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("register cloud", "error", err)
		}
		return
	}
	r.log.Info("cloud registered", "priority", r.cfg.CloudPriority)
}

func livenessOf(h fsm.Hypervisor, ok bool) string {
	if !ok {
		return "not registered"
	}
	return string(h.Liveness)
}

// place assigns pending instances to hypervisors and starts creates.
func (r *Reconciler) place(ctx context.Context, v *view) {
	load := map[string]int{} // hypervisor -> live instances
	for _, in := range v.byID {
		if in.Live() && in.Hypervisor != "" {
			load[in.Hypervisor]++
		}
	}
	var ups []fsm.InstanceUpdate
	for _, in := range v.instances {
		if in.State != fsm.StatePending || r.isBusy(in.ID) {
			continue
		}
		g, ok := v.groups[fsm.GroupKey(in.Tenant, in.Group)]
		if !ok {
			continue
		}
		t, err := template(g.Template, r.cfg.DefaultTemplate)
		if err != nil {
			r.log.Warn("cannot place instance", "instance", in.ID, "error", err)
			continue
		}
		h, ok := pickHypervisor(v.hyps, load, func(h fsm.Hypervisor) bool { return supports(t, h.Driver) })
		if !ok {
			r.log.Debug("no hypervisor can take instance now", "instance", in.ID)
			continue
		}
		load[h.ID]++
		ups = append(ups, fsm.InstanceUpdate{ID: in.ID, State: fsm.StateProvisioning, Hypervisor: h.ID})
	}
	if len(ups) > 0 {
		r.update(ctx, ups)
		v = r.read()
	}
	for _, in := range v.instances {
		if in.State != fsm.StateProvisioning || r.isBusy(in.ID) {
			continue
		}
		h, ok := v.hypByID[in.Hypervisor]
		if !ok || !usable(h) {
			continue // step 1 fails it when the hypervisor is lost
		}
		g := v.groups[fsm.GroupKey(in.Tenant, in.Group)]
		r.spawn(ctx, in.ID, func(ctx context.Context) { r.createOne(ctx, in, g, v.tenants[in.Tenant], h) })
	}
}

// pickHypervisor is the capacity-aware spread: among usable hypervisors
// that fit, the one with the fewest instances relative to its capacity
// (capacity 0 counts as unlimited: ranked by count against a large
// capacity), ties by ID. hyps is sorted by ID.
func pickHypervisor(hyps []fsm.Hypervisor, load map[string]int, fits func(fsm.Hypervisor) bool) (fsm.Hypervisor, bool) {
	const unlimited = 1 << 20
	var best fsm.Hypervisor
	bestRatio, found := 0.0, false
	for _, h := range hyps {
		if h.Liveness != fsm.LivenessAlive || !fits(h) {
			continue
		}
		c := h.Capacity
		if c <= 0 {
			c = unlimited
		}
		if load[h.ID] >= c {
			continue
		}
		ratio := float64(load[h.ID]) / float64(c)
		if !found || ratio < bestRatio {
			best, bestRatio, found = h, ratio, true
		}
	}
	return best, found
}

// spawn runs fn for one instance in the background unless a call for it
// is already in flight.
func (r *Reconciler) spawn(ctx context.Context, id string, fn func(context.Context)) {
	r.mu.Lock()
	if r.busy[id] {
		r.mu.Unlock()
		return
	}
	r.busy[id] = true
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			delete(r.busy, id)
			r.mu.Unlock()
			r.Wake()
		}()
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-r.sem }()
		fn(ctx)
	}()
}

func (r *Reconciler) createOne(ctx context.Context, in fsm.Instance, g fsm.Group, ten fsm.Tenant, h fsm.Hypervisor) {
	// The pass's view may be stale by now: act only on what is still true.
	if cur, ok := r.current(in.ID); !ok || cur.State != fsm.StateProvisioning || cur.Hypervisor != h.ID {
		return
	}
	fail := func(reason string) {
		r.update(ctx, []fsm.InstanceUpdate{{ID: in.ID, State: fsm.StateFailed, Reason: reason}})
	}
	t, err := template(g.Template, r.cfg.DefaultTemplate)
	if err != nil {
		fail(err.Error())
		return
	}
	spec, check, err := buildSpec(in, ten, t, h.Driver, r.cfg.BridgeName)
	if err != nil {
		fail(err.Error())
		return
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	st, created, err := r.client(h).Create(cctx, r.cfg.Cluster.Term(), spec, check)
	switch {
	case ctx.Err() != nil:
		return // shutting down: the next reconciler retries (idempotent)
	case nodes.IsStaleTerm(err):
		r.log.Warn("create refused: stale term (retrying on a later pass)", "instance", in.ID, "hypervisor", h.ID, "error", err)
		return
	case err != nil:
		r.log.Warn("create failed", "instance", in.ID, "hypervisor", h.ID, "error", err)
		fail(fmt.Sprintf("create on %s: %v", h.ID, err))
		return
	}
	if st.State != "running" {
		fail(fmt.Sprintf("create on %s: instance is %s", h.ID, st.State))
		return
	}
	r.log.Info("instance running", "instance", in.ID, "hypervisor", h.ID, "addr", st.Addr, "created", created)
	r.update(ctx, []fsm.InstanceUpdate{{ID: in.ID, State: fsm.StateRunning, Address: st.Addr,
		Health: healthOf(st.Health.Status)}})
}

func (r *Reconciler) deleteOne(ctx context.Context, in fsm.Instance, h fsm.Hypervisor) {
	if cur, ok := r.current(in.ID); !ok || cur.State != fsm.StateTerminating {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	if err := r.client(h).Delete(cctx, r.cfg.Cluster.Term(), in.ID); err != nil {
		if ctx.Err() == nil {
			r.log.Warn("delete failed (retrying)", "instance", in.ID, "hypervisor", h.ID, "error", err)
		}
		return
	}
	r.log.Info("instance deleted", "instance", in.ID, "hypervisor", h.ID)
	r.update(ctx, []fsm.InstanceUpdate{{ID: in.ID, State: fsm.StateTerminated, Reason: "deleted"}})
}

// current reads one instance from the FSM now.
func (r *Reconciler) current(id string) (in fsm.Instance, ok bool) {
	r.cfg.Cluster.FSM().Read(func(s *fsm.State) { in, ok = s.Instance(id) })
	return in, ok
}

// update writes a batch of instance updates. The FSM applies a batch all
// or nothing, so when it is rejected (an instance moved meanwhile) each
// update is retried alone and the stale ones are dropped.
func (r *Reconciler) update(ctx context.Context, ups []fsm.InstanceUpdate) {
	if len(ups) == 0 || ctx.Err() != nil {
		return
	}
	err := r.apply(ctx, ups)
	if err == nil || len(ups) == 1 || !rejected(err) {
		if err != nil && ctx.Err() == nil {
			r.log.Warn("update instances", "count", len(ups), "error", err)
		}
		return
	}
	for _, u := range ups {
		if err := r.apply(ctx, []fsm.InstanceUpdate{u}); err != nil && ctx.Err() == nil {
			r.log.Debug("update instance", "instance", u.ID, "state", u.State, "error", err)
		}
	}
}

func (r *Reconciler) apply(ctx context.Context, ups []fsm.InstanceUpdate) error {
	actx, cancel := context.WithTimeout(ctx, r.cfg.CallTimeout)
	defer cancel()
	_, err := r.cfg.Cluster.Apply(actx, fsm.UpdateInstancesType, fsm.UpdateInstances{Time: r.cfg.Now(), Updates: ups})
	return err
}

// rejected reports whether the FSM refused a command (as opposed to a
// transport or leadership error).
func rejected(err error) bool {
	return errors.Is(err, cluster.ErrCommandRejected) || errors.Is(err, fsm.ErrBadCommand)
}

// durationOf converts for tenant.Health fields.
func durationOf(d time.Duration) scaler.Duration { return scaler.Duration(d) }
