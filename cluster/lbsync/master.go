package lbsync

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

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
	Logger hclog.Logger
}

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
	return &MasterLB{
		cfg:     cfg,
		log:     cfg.Logger.Named("lb-master"),
		wake:    newWaker(cfg.Leader.FSM()),
		holders: map[netip.Addr]*netcfg.VIPHolder{},
	}, nil
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
	m.mu.Unlock()
	released := make(chan struct{})
	go func() {
		defer close(released)
		<-ctx.Done()
		m.releaseAll()
	}()
	loop(ctx, m.wake, m.cfg.Resync, func() { m.pass(ctx) })
	<-released
	m.cfg.Tables.SetMaster(nil)
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
}

func (m *MasterLB) pass(ctx context.Context) {
	gs := readGroups(m.cfg.Leader.FSM())
	want := map[netip.Addr]bool{}
	for _, g := range gs {
		if a, err := netip.ParseAddr(g.PublicIP); err == nil && a.Is4() {
			want[a] = true
		}
	}
	m.mu.Lock()
	var missing []netip.Addr
	for a := range want {
		if m.holders[a] == nil {
			missing = append(missing, a)
		}
	}
	for a, h := range m.holders {
		if !want[a] {
			if err := h.Release(); err != nil {
				m.log.Error("releasing public IP failed", "vip", a, "error", err)
				continue
			}
			delete(m.holders, a)
		}
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
	ports := AssignPorts(portRequests(gs), m.cfg.Tables.cfg.BasePort, m.cfg.Tables.cfg.PortSpan)
	m.cfg.Tables.SetMaster(masterServices(gs, m.cfg.Tables.cfg.Cloud, m.cfg.CloudAddr, ports, !m.cfg.Tables.cfg.NoMasquerade, m.log))
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
	for _, g := range readGroups(m.cfg.Leader.FSM()) {
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
