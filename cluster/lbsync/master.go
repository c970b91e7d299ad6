package lbsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/cluster"
	"aas/internal/atomicfile"
	"aas/netcfg"
)

// MasterConfig configures a MasterLB.
type MasterConfig struct {
	// Leader is the controller: state, and VerifyLeader before any public
	// IP is taken.
	Leader Leader
	// Tables is this controller's IPTablesSync; the master's DNAT services
	// are programmed through it (one nat table, one owner).
	Tables *IPTablesSync
	// Links is a netlink handle on the namespace holding Uplink.
	Links *netcfg.Links
	// Uplink is the interface that carries the tenants' public IPs.
	Uplink string
	// GARP tunes the gratuitous ARP announcements (zero: netcfg defaults).
	GARP netcfg.GARPConfig
	// CloudAddr gives the other clouds' LB addresses (default
	// CloudMetaAddrs(Leader)).
	CloudAddr CloudAddrFunc
	// Resync is the period of a full pass without an FSM change (default
	// DefaultResync).
	Resync time.Duration
	// ProbeClouds turns on the clouds' liveness check (see cloudLiveness):
	// another cloud gets new connections only while a TCP connection from
	// this controller to its LB (lb_addr and a group's port there)
	// succeeds. Off, every cloud with an LB address counts as alive.
	ProbeClouds bool
	// Dial opens the probe connections (default a net.Dialer; tests point
	// it into a namespace).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// ProbeInterval is how often a cloud that failed its probe, or that
	// gossip reports without a live controller, is probed (default
	// DefaultProbeInterval); ProbeTimeout bounds one probe (default
	// DefaultProbeTimeout).
	ProbeInterval, ProbeTimeout time.Duration
	// Members lists the gossip members (default: the Leader's
	// Membership() when it has one). A cloud none of whose servers gossip
	// reports alive is probed every ProbeInterval; one with a live server
	// only at the start of a term and after a failed probe.
	Members func() []cluster.Member
	// HeldFile, when set, remembers the public IPs this controller holds
	// (written atomically before an address is added and after one is
	// removed). NewMasterLB removes every address it lists from the
	// uplink: a controller killed while leading and restarted drops them
	// before anything else, not once its FSM has caught up.
	HeldFile string
	// Standby: while not leading, keep the master services a new term
	// would start with programmed (ReleaseStray does it), so a new leader's
	// public IP meets DNAT rules already in place.
	Standby bool
	Logger  hclog.Logger
}

// Liveness check defaults.
const (
	DefaultProbeInterval = 500 * time.Millisecond
	DefaultProbeTimeout  = 300 * time.Millisecond
)

// MasterLB is the leader-only master load balancer: it holds every
// tenant's public IP on the uplink (netcfg.VIPHolder: address + gratuitous
// ARP) and DNATs each group's public port across the clouds in proportion
// to their running instances. Run is a cluster.LeaderServiceFunc: register
// it with srv.RegisterLeaderService("master-lb", m.Run). The moment its
// context is cancelled (leadership lost) every public IP is released, so
// two controllers never answer for one.
type MasterLB struct {
	cfg  MasterConfig
	log  hclog.Logger
	wake waker

	mu      sync.Mutex
	holders map[netip.Addr]*netcfg.VIPHolder
	live    bool // a Run is active and its ctx not cancelled

	clouds *cloudLiveness // nil without ProbeClouds
	// standby is the master services last programmed while not leading
	// (releaseStray); nil after a Run.
	standby []netcfg.Service
}

// NewMasterLB validates cfg and registers for FSM change notifications.
func NewMasterLB(cfg MasterConfig) (*MasterLB, error) {
	switch {
	case cfg.Leader == nil || cfg.Leader.FSM() == nil:
		return nil, fmt.Errorf("%w: MasterConfig.Leader is nil", ErrConfig)
	case cfg.Tables == nil:
		return nil, fmt.Errorf("%w: MasterConfig.Tables is nil", ErrConfig)
	case cfg.Links == nil:
		return nil, fmt.Errorf("%w: MasterConfig.Links is nil", ErrConfig)
	case cfg.Uplink == "":
		return nil, fmt.Errorf("%w: MasterConfig.Uplink is empty", ErrConfig)
	}
	if cfg.CloudAddr == nil {
		cfg.CloudAddr = CloudMetaAddrs(cfg.Leader)
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = DefaultProbeInterval
	}
	if cfg.ProbeTimeout <= 0 {
		cfg.ProbeTimeout = DefaultProbeTimeout
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{}).DialContext
	}
	if cfg.Members == nil {
		if mp, ok := cfg.Leader.(interface{ Membership() cluster.Membership }); ok {
			if ms := mp.Membership(); ms != nil {
				cfg.Members = ms.Members
			}
		}
	}
	m := &MasterLB{
		cfg:     cfg,
		log:     cfg.Logger.Named("lb-master"),
		wake:    newWaker(cfg.Leader.FSM()),
		holders: map[netip.Addr]*netcfg.VIPHolder{},
	}
	if cfg.ProbeClouds {
		m.clouds = newCloudLiveness(cfg, m.log, m.wake.poke)
	}
	m.releaseRemembered()
	return m, nil
}

// Run is the leader service. It verifies leadership, then keeps the public
// IPs and the master services in step with the FSM until ctx is cancelled;
// it then releases every public IP at once (a watcher does it, so a pass
// blocked in iptables does not delay it) and withdraws the services.
func (m *MasterLB) Run(ctx context.Context) error {
	if err := m.cfg.Leader.VerifyLeader(); err != nil {
		return fmt.Errorf("lbsync: master LB: %w", err)
	}
	m.mu.Lock()
	m.live = true
	m.standby = nil
	m.mu.Unlock()
	released := make(chan struct{})
	go func() {
		defer close(released)
		<-ctx.Done()
		m.releaseAll()
	}()
	probed := make(chan struct{})
	if m.clouds != nil {
		// A new term knows nothing of the other clouds: probe them all.
		m.clouds.reset()
		go func() {
			defer close(probed)
			m.clouds.run(ctx)
		}()
	} else {
		close(probed)
	}
	loop(ctx, m.wake, m.cfg.Resync, func() { m.pass(ctx) })
	<-released
	<-probed
	// Under the mutex: a standby set by releaseStray meanwhile (live is
	// false since releaseAll) is wiped with the rest and set again.
	m.mu.Lock()
	m.standby = nil
	m.cfg.Tables.SetMaster(nil)
	m.mu.Unlock()
	return nil
}

// Held returns the public IPs this controller holds, sorted.
func (m *MasterLB) Held() []netip.Addr {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]netip.Addr, 0, len(m.holders))
	for a := range m.holders {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

func (m *MasterLB) releaseAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.live = false
	for a, h := range m.holders {
		if err := h.Release(); err != nil {
			m.log.Error("releasing public IP failed", "vip", a, "error", err)
		}
		delete(m.holders, a)
	}
	m.rememberLocked(nil)
}

func (m *MasterLB) pass(ctx context.Context) {
	gs := readGroups(m.cfg.Leader.FSM())
	want := map[netip.Addr]bool{}
	for _, g := range gs {
		if a, err := netip.ParseAddr(g.PublicIP); err == nil && a.Is4() {
			want[a] = true
		}
	}
	ports := AssignPorts(portRequests(gs), m.cfg.Tables.cfg.BasePort, m.cfg.Tables.cfg.PortSpan)
	if m.clouds != nil {
		// Before the addresses: the probes run while they are taken.
		m.clouds.setTargets(probeTargets(gs, m.cfg.Tables.cfg.Cloud, m.cfg.CloudAddr, ports))
	}
	// The services go to the nat table first, so the iptables pass runs
	// while the public IPs are verified and taken (rules for an address
	// this host does not hold match nothing).
	sgs := gs
	if m.clouds != nil {
		sgs = liveClouds(sgs, m.cfg.Tables.cfg.Cloud, m.clouds.state)
	}
	sgs = provenClouds(sgs)
	m.cfg.Tables.SetMaster(masterServices(sgs, m.cfg.Tables.cfg.Cloud, m.cfg.CloudAddr, ports, !m.cfg.Tables.cfg.NoMasquerade, m.log))

	m.mu.Lock()
	var missing []netip.Addr
	for a := range want {
		if m.holders[a] == nil {
			missing = append(missing, a)
		}
	}
	released := false
	for a, h := range m.holders {
		if !want[a] {
			if err := h.Release(); err != nil {
				m.log.Error("releasing public IP failed", "vip", a, "error", err)
				continue
			}
			delete(m.holders, a)
			released = true
		}
	}
	if released {
		m.rememberLocked(nil)
	}
	m.mu.Unlock()
	if len(missing) > 0 {
		// A quorum round right before taking addresses outside the
		// replicated state: a deposed leader must not answer for them.
		if err := m.cfg.Leader.VerifyLeader(); err != nil {
			m.log.Warn("not acquiring public IPs: leadership not verified", "error", err)
			return
		}
		sort.Slice(missing, func(i, j int) bool { return missing[i].Less(missing[j]) })
		for _, a := range missing {
			m.acquire(ctx, a)
		}
	}
}

func (m *MasterLB) acquire(ctx context.Context, a netip.Addr) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Under the lock releaseAll takes: once ctx is cancelled and the
	// release has run, nothing is acquired any more.
	if ctx.Err() != nil || !m.live {
		return
	}
	h, err := netcfg.NewVIPHolder(m.cfg.Links, m.cfg.Uplink, a, m.cfg.GARP, m.log)
	if err != nil {
		m.log.Error("public IP unusable", "vip", a, "error", err)
		return
	}
	// Remembered before it is on the uplink: a crash right after the
	// acquire must not leave an address the restart does not know of.
	m.rememberLocked(&a)
	if err := h.Acquire(); err != nil {
		m.log.Error("acquiring public IP failed; retrying", "vip", a, "uplink", m.cfg.Uplink, "error", err)
		return
	}
	m.holders[a] = h
}

// ReleaseStray runs on every controller, leader or not, until ctx ends:
// whenever this controller is not running the master LB it removes any
// tenant public IP from the uplink. A controller killed while leading
// (kill -9, OOM) cannot release its addresses; when it comes back as a
// follower this drops them within one resync, so a restarted ex-leader
// never keeps answering for a public IP the new leader holds.
func (m *MasterLB) ReleaseStray(ctx context.Context) error {
	// Its own waker: m.wake belongs to Run.
	loop(ctx, newWaker(m.cfg.Leader.FSM()), m.cfg.Resync, func() { m.releaseStray() })
	return nil
}

func (m *MasterLB) releaseStray() {
	m.mu.Lock()
	live := m.live
	m.mu.Unlock()
	if live {
		return
	}
	gs := readGroups(m.cfg.Leader.FSM())
	m.programStandby(gs)
	for _, g := range gs {
		a, err := netip.ParseAddr(g.PublicIP)
		if err != nil || !a.Is4() {
			continue
		}
		m.mu.Lock()
		if m.live { // leadership won meanwhile: the holder owns the address now
			m.mu.Unlock()
			return
		}
		removed, err := m.cfg.Links.RemoveVIP(m.cfg.Uplink, a)
		m.mu.Unlock()
		switch {
		case err != nil:
			m.log.Error("releasing a stray public IP failed", "vip", a, "error", err)
		case removed:
			m.log.Warn("released a stray public IP held while not leader (left by a crash?)", "vip", a, "uplink", m.cfg.Uplink)
		}
	}
}

// --- Remembered public IPs (HeldFile) ---

// heldState is the HeldFile's content.
type heldState struct {
	Uplink string   `json:"uplink"`
	VIPs   []string `json:"vips"`
}

// rememberLocked writes the held addresses (plus extra, about to be
// acquired) to HeldFile; m.mu is held. A failure is logged: the stray
// release (ReleaseStray) remains the backstop.
func (m *MasterLB) rememberLocked(extra *netip.Addr) {
	if m.cfg.HeldFile == "" {
		return
	}
	st := heldState{Uplink: m.cfg.Uplink, VIPs: []string{}}
	for a := range m.holders {
		st.VIPs = append(st.VIPs, a.String())
	}
	if extra != nil && m.holders[*extra] == nil {
		st.VIPs = append(st.VIPs, extra.String())
	}
	sort.Strings(st.VIPs)
	b, err := json.Marshal(st)
	if err == nil {
		err = atomicfile.Write(m.cfg.HeldFile, b, 0o600)
	}
	if err != nil {
		m.log.Error("remembering the held public IPs failed", "file", m.cfg.HeldFile, "error", err)
	}
}

// releaseRemembered removes every address HeldFile lists from the uplink
// it names (this process holds none yet: a leftover of a crash while
// leading), then empties the file.
func (m *MasterLB) releaseRemembered() {
	if m.cfg.HeldFile == "" {
		return
	}
	var st heldState
	if err := readJSON(m.cfg.HeldFile, &st); err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			m.log.Warn("remembered public IPs unreadable; the stray release will catch them", "file", m.cfg.HeldFile, "error", err)
		}
		return
	}
	link := st.Uplink
	if link == "" {
		link = m.cfg.Uplink
	}
	for _, s := range st.VIPs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		removed, err := m.cfg.Links.RemoveVIP(link, a)
		switch {
		case err != nil:
			m.log.Error("releasing a remembered public IP failed", "vip", a, "uplink", link, "error", err)
		case removed:
			m.log.Warn("released a public IP held before a restart", "vip", a, "uplink", link)
		}
	}
	m.mu.Lock()
	m.rememberLocked(nil)
	m.mu.Unlock()
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("lbsync: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("lbsync: %s: %w", path, err)
	}
	return nil
}

// --- Clouds' liveness (ProbeClouds) ---

// cloudState is what the master LB knows of another cloud's LB this term.
type cloudState int

const (
	cloudUnknown cloudState = iota // not probed yet this term
	cloudAlive                     // its last probe connected
	cloudDead                      // its last probe failed
)

func (c cloudState) String() string {
	switch c {
	case cloudAlive:
		return "alive"
	case cloudDead:
		return "dead"
	}
	return "unknown"
}

// liveClouds is the master's view of gs with the backends of clouds it
// must not send to removed (the group views are copies; gs is unchanged):
//
//   - ownCloud is always kept (its instances are DNATed to directly);
//   - a dead cloud (its last probe failed) is removed;
//   - an unknown cloud (not probed yet: the first moments of a term) is
//     removed while the group has an active backend in ownCloud or an
//     alive cloud, so a new leader never sends the share of a cloud that
//     went down with the old one before the probe answered;
//   - if nothing active would be left, the group is kept as it is: a probe
//     verdict never takes the whole group off the public IP.
func liveClouds(gs []groupView, ownCloud string, state func(cloud string) cloudState) []groupView {
	out := make([]groupView, len(gs))
	for i, g := range gs {
		out[i] = g
		keep := func(b backend, unknownOK bool) bool {
			if b.Cloud == ownCloud {
				return true
			}
			switch state(b.Cloud) {
			case cloudAlive:
				return true
			case cloudUnknown:
				return unknownOK
			}
			return false
		}
		pick := func(unknownOK bool) ([]backend, bool) {
			var bs []backend
			active := false
			for _, b := range g.Backends {
				if keep(b, unknownOK) {
					bs = append(bs, b)
					active = active || !b.Draining
				}
			}
			return bs, active
		}
		if bs, ok := pick(false); ok {
			out[i].Backends = bs
		} else if bs, ok := pick(true); ok {
			out[i].Backends = bs
		}
	}
	return out
}

// provenClouds is the master's view of gs without the clouds whose active
// targets are all unproven (running, first health check not passed yet)
// while another cloud of the group has a healthy active one: a scale-out
// into a cloud that had no instance of the group then sends it nothing
// until its instance has passed a check, instead of connections refused
// by a process still starting. The cloud's own LB still serves them (for
// whatever reaches it), and a group with no healthy target anywhere (just
// started, or no health checks) is left as it is. Copies; gs is unchanged.
func provenClouds(gs []groupView) []groupView {
	out := make([]groupView, len(gs))
	for i, g := range gs {
		out[i] = g
		proven := map[string]bool{}
		for _, b := range g.Backends {
			if !b.Draining && !b.Unproven {
				proven[b.Cloud] = true
			}
		}
		if len(proven) == 0 {
			continue
		}
		var bs []backend
		for _, b := range g.Backends {
			if proven[b.Cloud] {
				bs = append(bs, b)
			}
		}
		out[i].Backends = bs
	}
	return out
}

// probeTargets is where each other cloud is probed: its LB address and the
// port of the first group (by key) that has a public IP and active
// backends in it. Clouds without an LB address are not sent to, so not
// probed.
func probeTargets(gs []groupView, ownCloud string, cloudAddr CloudAddrFunc, ports map[string]int) map[string]netip.AddrPort {
	out := map[string]netip.AddrPort{}
	sorted := append([]groupView(nil), gs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Key < sorted[j].Key })
	for _, g := range sorted {
		if a, err := netip.ParseAddr(g.PublicIP); err != nil || !a.Is4() {
			continue
		}
		port, ok := ports[g.Key]
		if !ok {
			continue
		}
		for _, b := range g.Backends {
			if b.Draining || b.Cloud == ownCloud {
				continue
			}
			if _, done := out[b.Cloud]; done {
				continue
			}
			if addr, ok := cloudAddr(b.Cloud); ok {
				out[b.Cloud] = netip.AddrPortFrom(addr, uint16(port))
			}
		}
	}
	return out
}

// gossipClouds reads the gossip members: the clouds it reports controllers
// (servers) for, and those of them without a live one (suspect, dead or
// left).
func gossipClouds(members []cluster.Member) (known, down map[string]bool) {
	known, alive := map[string]bool{}, map[string]bool{}
	for _, m := range members {
		if m.Role != cluster.RoleServer || m.Cloud == "" {
			continue
		}
		known[m.Cloud] = true
		if m.State == cluster.MemberAlive {
			alive[m.Cloud] = true
		}
	}
	down = map[string]bool{}
	for c := range known {
		if !alive[c] {
			down[c] = true
		}
	}
	return known, down
}

// needsProbe: a cloud is probed unless its last probe connected and gossip
// reports a live controller in it.
func needsProbe(st cloudState, known, down bool) bool {
	return st != cloudAlive || !known || down
}

// cloudLiveness probes the other clouds' LBs from the leader: a TCP
// connection to lb_addr:port. All of them at the start of a term, then a
// cloud whose last probe failed, or that gossip reports without a live
// controller, or that gossip says nothing about, every ProbeInterval; a
// cloud that answered and has a live controller in gossip is not probed
// again (no probe traffic in the steady state). A change of verdict wakes
// the master's pass.
type cloudLiveness struct {
	cfg  MasterConfig
	log  hclog.Logger
	wake func()
	kick waker

	mu      sync.Mutex
	targets map[string]netip.AddrPort
	states  map[string]cloudState
}

func newCloudLiveness(cfg MasterConfig, log hclog.Logger, wake func()) *cloudLiveness {
	return &cloudLiveness{cfg: cfg, log: log, wake: wake, kick: make(waker, 1),
		targets: map[string]netip.AddrPort{}, states: map[string]cloudState{}}
}

func (l *cloudLiveness) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.states = map[string]cloudState{}
}

func (l *cloudLiveness) state(cloud string) cloudState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.states[cloud]
}

// setTargets records where the clouds are probed; a cloud not probed yet
// this term, or whose address changed, is probed at once.
func (l *cloudLiveness) setTargets(t map[string]netip.AddrPort) {
	l.mu.Lock()
	now := false
	for c, ap := range t {
		if old, ok := l.targets[c]; !ok || old != ap || l.states[c] == cloudUnknown {
			if ok && old != ap {
				delete(l.states, c)
			}
			now = true
		}
	}
	l.targets = t
	l.mu.Unlock()
	if now {
		l.kick.poke()
	}
}

func (l *cloudLiveness) run(ctx context.Context) {
	t := time.NewTicker(l.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
		case <-t.C:
		}
		l.round(ctx)
	}
}

// round probes the clouds that need it, in parallel, and waits for them;
// each verdict is applied (and the pass woken) as soon as it is in.
func (l *cloudLiveness) round(ctx context.Context) {
	var known, down map[string]bool
	if l.cfg.Members != nil {
		known, down = gossipClouds(l.cfg.Members())
	}
	l.mu.Lock()
	todo := map[string]netip.AddrPort{}
	for c, ap := range l.targets {
		if needsProbe(l.states[c], known[c], down[c]) {
			todo[c] = ap
		}
	}
	l.mu.Unlock()
	var wg sync.WaitGroup
	for c, ap := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.probe(ctx, c, ap)
		}()
	}
	wg.Wait()
}

func (l *cloudLiveness) probe(ctx context.Context, cloud string, ap netip.AddrPort) {
	pctx, cancel := context.WithTimeout(ctx, l.cfg.ProbeTimeout)
	defer cancel()
	start := time.Now()
	c, err := l.cfg.Dial(pctx, "tcp", ap.String())
	verdict := cloudAlive
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		verdict = cloudDead
	} else {
		c.Close()
	}
	l.mu.Lock()
	old := l.states[cloud]
	if cur, ok := l.targets[cloud]; !ok || cur != ap {
		l.mu.Unlock()
		return // the target moved meanwhile
	}
	l.states[cloud] = verdict
	l.mu.Unlock()
	if old == verdict {
		return
	}
	if verdict == cloudDead {
		l.log.Warn("cloud left out of the master LB: its LB does not answer", "cloud", cloud, "lb", ap, "error", err)
	} else {
		l.log.Info("cloud's LB answers", "cloud", cloud, "lb", ap, "was", old, "rtt", time.Since(start))
	}
	l.wake()
}

// programStandby keeps, while this controller does not lead, the master
// services a new term's first pass would program (every other cloud not
// probed yet: this cloud's own instances only, when it has active ones) in
// the nat table. They match nothing while the public IP is elsewhere; on
// winning leadership the address meets rules already in place, instead of
// waiting for the first pass's iptables run (~100–200 ms). The master's
// own passes replace them (Run sets live first, and this runs only while
// not live, under the same mutex).
func (m *MasterLB) programStandby(gs []groupView) {
	if !m.cfg.Standby {
		return
	}
	ports := AssignPorts(portRequests(gs), m.cfg.Tables.cfg.BasePort, m.cfg.Tables.cfg.PortSpan)
	own := m.cfg.Tables.cfg.Cloud
	sgs := gs
	if m.clouds != nil {
		sgs = liveClouds(sgs, own, func(string) cloudState { return cloudUnknown })
	}
	svcs := masterServices(provenClouds(sgs), own, m.cfg.CloudAddr, ports, !m.cfg.Tables.cfg.NoMasquerade, hclog.NewNullLogger())
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.live || (m.standby != nil && reflect.DeepEqual(svcs, m.standby)) {
		return
	}
	if svcs == nil {
		svcs = []netcfg.Service{}
	}
	m.standby = svcs
	m.cfg.Tables.SetMaster(svcs)
}
