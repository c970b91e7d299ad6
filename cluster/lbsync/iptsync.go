package lbsync

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/cluster"
	"aas/fsm"
	"aas/netcfg"
)

// DefaultCloudBasePort is the first port of the cloud load balancer's
// per-group services on its LBAddr.
const DefaultCloudBasePort = 20000

// IPTablesConfig configures an IPTablesSync.
type IPTablesConfig struct {
	Source Source
	// IPT runs iptables in the controller's namespace (netcfg.NewIPTables,
	// or netcfg.NewIPTablesIn in tests).
	IPT netcfg.IPTables
	// Cloud is this controller's cloud: only its instances are backends.
	Cloud string
	// LBAddr is the cloud-local service address (the VIP of every group's
	// service on this cloud): the controller's address that the master LB
	// (and the cloud's own clients) reach. Each group gets its own port on
	// it, AssignPorts(BasePort, PortSpan).
	LBAddr   netip.Addr
	BasePort int // default DefaultCloudBasePort
	PortSpan int // default DefaultPortSpan
	// NoMasquerade disables source NAT of balanced connections (only when
	// every backend routes its replies back through this controller).
	NoMasquerade bool
	// Resync is the period of a full pass without an FSM change (default
	// DefaultResync).
	Resync time.Duration
	// Publish, when set, writes LBAddr into this cloud's replicated
	// metadata (fsm.Cloud.Meta["lb_addr"], see CloudMetaAddrs) whenever it
	// differs, so the master LB on whichever controller leads finds this
	// cloud's load balancer. *cluster.Server implements it.
	Publish Applier
	// CaughtUp, when set, gates the first pass: until it reports true the
	// rules are left as they are. A restarted controller's FSM holds its
	// last snapshot until the leader tells it the commit index; a pass
	// from that stale view would withdraw services created since (seen
	// in the lab: refused connections for the master's share of a cloud
	// whose controller was restarting), while the rules the previous
	// process left keep forwarding correctly. *cluster.Server's CaughtUp.
	CaughtUp  func() bool
	LBOptions []netcfg.LBOption
	Logger    hclog.Logger
}

// IPTablesSync programs this controller's cloud load balancer (netcfg.LB:
// iptables DNAT in the nat table) from the FSM: one service per group at
// LBAddr:port whose backends are the group's running instances in this
// cloud, draining ones marked draining. On the leader it also carries the
// master LB's services (SetMaster), since both live in one nat table that
// netcfg.LB.Sync owns as a whole. Sync is idempotent, so a restarted
// controller rebuilds the same rules from the FSM without touching the
// unchanged ones.
type IPTablesSync struct {
	cfg  IPTablesConfig
	log  hclog.Logger
	lb   *netcfg.LB
	wake waker

	syncMu sync.Mutex // one Sync at a time
	// publishing is set while a publish of the LB address is in flight: it
	// is a Raft write that can wait for a leader, so it never holds up
	// programming the rules.
	publishing atomic.Bool
	mu         sync.Mutex
	master     []netcfg.Service
	last       []netcfg.Service
	tenants    map[string]bool // tenants programmed by the last successful Sync
	counters   iptCounters     // per-instance request totals (counters.go)
}

// NewIPTablesSync validates cfg and registers for FSM change notifications.
func NewIPTablesSync(cfg IPTablesConfig) (*IPTablesSync, error) {
	switch {
	case cfg.Source == nil || cfg.Source.FSM() == nil:
		return nil, fmt.Errorf("%w: IPTablesConfig.Source is nil", ErrConfig)
	case cfg.IPT == nil:
		return nil, fmt.Errorf("%w: IPTablesConfig.IPT is nil", ErrConfig)
	case cfg.Cloud == "":
		return nil, fmt.Errorf("%w: IPTablesConfig.Cloud is empty", ErrConfig)
	case !cfg.LBAddr.Is4():
		return nil, fmt.Errorf("%w: IPTablesConfig.LBAddr %q is not an IPv4 address", ErrConfig, cfg.LBAddr)
	}
	if cfg.BasePort == 0 {
		cfg.BasePort = DefaultCloudBasePort
	}
	if cfg.PortSpan <= 0 {
		cfg.PortSpan = DefaultPortSpan
	}
	if cfg.BasePort < 1 || cfg.BasePort+cfg.PortSpan > 65536 {
		return nil, fmt.Errorf("%w: IPTablesConfig.BasePort %d + PortSpan %d outside 1–65535", ErrConfig, cfg.BasePort, cfg.PortSpan)
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	log := cfg.Logger.Named("lb-iptables")
	return &IPTablesSync{
		cfg:     cfg,
		log:     log,
		lb:      netcfg.NewLB(cfg.IPT, log, cfg.LBOptions...),
		wake:    newWaker(cfg.Source.FSM()),
		tenants: map[string]bool{},
	}, nil
}

// Run synchronises until ctx ends. The rules stay in place when it returns
// (a restarting controller keeps serving; Teardown removes them).
func (s *IPTablesSync) Run(ctx context.Context) error {
	caughtUp := s.cfg.CaughtUp == nil
	loop(ctx, s.wake, s.cfg.Resync, func() {
		if !caughtUp {
			if caughtUp = s.cfg.CaughtUp(); !caughtUp {
				return // the waker and the resync ticker bring the next try
			}
			s.log.Info("state caught up with the cluster; programming the load balancer")
		}
		if err := s.Sync(); err != nil {
			s.log.Warn("load balancer sync failed; retrying", "error", err)
		}
	})
	return nil
}

// Sync programs the desired services now: the cloud's (from the FSM) plus
// the master LB's (SetMaster). Tenants that disappeared since the last
// Sync are removed with DeleteTenant first.
func (s *IPTablesSync) Sync() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.cfg.Publish != nil && s.publishing.CompareAndSwap(false, true) {
		go func() {
			defer s.publishing.Store(false)
			if err := s.publish(); err != nil {
				s.log.Warn("cannot publish the cloud's LB address", "error", err)
			}
		}()
	}
	gs := readGroups(s.cfg.Source.FSM())
	ports := AssignPorts(portRequests(gs), s.cfg.BasePort, s.cfg.PortSpan)
	desired := cloudServices(gs, s.cfg.Cloud, s.cfg.LBAddr, ports, !s.cfg.NoMasquerade)
	s.mu.Lock()
	desired = append(desired, s.master...)
	last := s.last
	s.mu.Unlock()
	desired = validServices(desired, s.log)
	if last == nil || !sameServices(desired, last) {
		s.sampleCounters() // before a swap resets a chain's counters
	}

	live := map[string]bool{}
	for _, g := range gs {
		live[g.Tenant] = true
	}
	for t := range s.tenants {
		if !live[t] {
			if err := s.lb.DeleteTenant(t); err != nil {
				return fmt.Errorf("lbsync: delete tenant %s: %w", t, err)
			}
			s.log.Info("tenant removed from the load balancer", "tenant", t)
			delete(s.tenants, t)
		}
	}
	if err := s.lb.Sync(desired); err != nil {
		return fmt.Errorf("lbsync: %w", err)
	}
	s.tenants = map[string]bool{}
	for _, sv := range desired {
		s.tenants[sv.Tenant] = true
	}
	s.mu.Lock()
	s.last = desired
	s.mu.Unlock()
	return nil
}

// Applier commits FSM commands; *cluster.Server implements it.
type Applier interface {
	Apply(ctx context.Context, t fsm.MessageType, payload any) (cluster.Applied, error)
}

// publish upserts the cloud with Meta["lb_addr"] = LBAddr when it differs.
// The cloud must have been registered (by the operator or tenant apply);
// every other field is written back as read.
func (s *IPTablesSync) publish() error {
	var c fsm.Cloud
	var found bool
	s.cfg.Source.FSM().Read(func(st *fsm.State) {
		if p, ok := st.Clouds[s.cfg.Cloud]; ok && p != nil {
			c, found = *p, true
			c.Meta = maps.Clone(p.Meta)
		}
	})
	if !found {
		return fmt.Errorf("%w: cloud %q is not registered", ErrUnknownCloud, s.cfg.Cloud)
	}
	want := s.cfg.LBAddr.String()
	if c.Meta[CloudMetaLBAddr] == want {
		return nil
	}
	if c.Meta == nil {
		c.Meta = map[string]string{}
	}
	c.Meta[CloudMetaLBAddr] = want
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.cfg.Publish.Apply(ctx, fsm.UpsertCloudType, fsm.UpsertCloud{Cloud: c}); err != nil {
		return fmt.Errorf("lbsync: publish LB address of cloud %s: %w", s.cfg.Cloud, err)
	}
	s.log.Info("cloud LB address published", "cloud", s.cfg.Cloud, "lb_addr", want)
	return nil
}

// SetMaster replaces the master LB's services (nil: none) and wakes the
// sync loop.
func (s *IPTablesSync) SetMaster(svcs []netcfg.Service) {
	s.mu.Lock()
	s.master = append([]netcfg.Service(nil), svcs...)
	s.mu.Unlock()
	s.wake.poke()
}

// Services returns the services the last successful Sync programmed.
func (s *IPTablesSync) Services() []netcfg.Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netcfg.Service(nil), s.last...)
}

// ServiceAddr returns the cloud-local service address of a group
// ("tenant/group") as every controller computes it.
func (s *IPTablesSync) ServiceAddr(key string) (netip.AddrPort, bool) {
	gs := readGroups(s.cfg.Source.FSM())
	p, ok := AssignPorts(portRequests(gs), s.cfg.BasePort, s.cfg.PortSpan)[key]
	if !ok {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(s.cfg.LBAddr, uint16(p)), true
}

// Teardown removes every rule and chain the load balancer owns.
func (s *IPTablesSync) Teardown() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	return s.lb.Teardown()
}

// cloudServices is the cloud LB's desired state: for each group with at
// least one backend in cloud, a service at lbAddr:ports[key] over the
// cloud's running (active) and draining instances, weight 1 each.
func cloudServices(gs []groupView, cloud string, lbAddr netip.Addr, ports map[string]int, masq bool) []netcfg.Service {
	var out []netcfg.Service
	for _, g := range gs {
		port, ok := ports[g.Key]
		if !ok {
			continue
		}
		bs := instanceBackends(g, cloud)
		if len(bs) == 0 {
			continue
		}
		// Every backend draining (the cloud's last instances are being
		// scaled in): the master LB, on another controller, sends this
		// cloud new connections until its own pass drops the cloud, and a
		// service without a target for them would refuse them. Draining
		// instances serve until their drain period ends, so they take them.
		if !slices.ContainsFunc(bs, func(b netcfg.Backend) bool { return !b.Draining }) {
			for i := range bs {
				bs[i].Draining = false
			}
		}
		out = append(out, netcfg.Service{Tenant: g.Tenant, Group: g.Name, VIP: lbAddr, Port: uint16(port),
			Backends: bs, Masquerade: masq})
	}
	return out
}

// instanceBackends lists a group's instances in cloud as netcfg backends
// (addresses that are not IPv4 ip:port are skipped).
func instanceBackends(g groupView, cloud string) []netcfg.Backend {
	var bs []netcfg.Backend
	seen := map[netip.AddrPort]bool{}
	for _, b := range g.Backends {
		if b.Cloud != cloud {
			continue
		}
		ap, err := netip.ParseAddrPort(b.Addr)
		if err != nil || !ap.Addr().Is4() || seen[ap] {
			continue
		}
		seen[ap] = true
		bs = append(bs, netcfg.Backend{Addr: ap, Weight: 1, Draining: b.Draining})
	}
	return bs
}

// validServices drops services netcfg would reject (so one bad group does
// not block the others: LB.Sync validates the whole set) and later
// duplicates of a VIP:port, logging each.
func validServices(svcs []netcfg.Service, log hclog.Logger) []netcfg.Service {
	out := make([]netcfg.Service, 0, len(svcs))
	taken := map[string]string{}
	keys := map[string]bool{}
	for _, sv := range svcs {
		if err := sv.Validate(); err != nil {
			log.Warn("service left out", "service", sv.Key(), "error", err)
			continue
		}
		ep := fmt.Sprintf("%s/%s:%d", sv.Protocol, sv.VIP, sv.Port)
		if other, ok := taken[ep]; ok || keys[sv.Key()] {
			log.Warn("service left out: its address or key is taken", "service", sv.Key(), "vip", sv.VIP, "port", sv.Port, "by", other)
			continue
		}
		taken[ep], keys[sv.Key()] = sv.Key(), true
		out = append(out, sv)
	}
	return out
}

// CloudAddrFunc returns a cloud's LB address (the LBAddr of its
// controller's IPTablesSync).
type CloudAddrFunc func(cloud string) (netip.Addr, bool)

// CloudMetaLBAddr is the fsm.Cloud.Meta key holding the cloud's LB address.
const CloudMetaLBAddr = "lb_addr"

// CloudMetaAddrs reads each cloud's LB address from the replicated cloud
// metadata (Meta["lb_addr"]).
func CloudMetaAddrs(src Source) CloudAddrFunc {
	return func(cloud string) (netip.Addr, bool) {
		var a netip.Addr
		src.FSM().Read(func(s *fsm.State) {
			if c, ok := s.Clouds[cloud]; ok && c != nil {
				a, _ = netip.ParseAddr(c.Meta[CloudMetaLBAddr])
			}
		})
		return a, a.Is4()
	}
}

// StaticCloudAddrs serves the clouds' LB addresses from a fixed map (an
// agent flag).
func StaticCloudAddrs(m map[string]netip.Addr) CloudAddrFunc {
	return func(cloud string) (netip.Addr, bool) {
		a, ok := m[cloud]
		return a, ok && a.Is4()
	}
}

// MasterGroupSuffix marks the master LB's services in the nat table: the
// service of group G is named "G.pub" ('.' cannot occur in tenant or group
// names, so it never collides with a cloud service).
const MasterGroupSuffix = ".pub"

// masterServices is the master LB's desired state: for each group of a
// tenant with a public IP, a service at publicIP:port (the template's port,
// DefaultServicePort without one) whose backends are the clouds, each
// weighted by its active targets there (exactly what its LB uses): the cloud LB's
// address and the group's port for other clouds; the instances themselves
// for ownCloud (a second DNAT on the same host would not happen: the nat
// table sees a connection's first packet once). Clouds without running
// instances or without a known LB address are left out.
func masterServices(gs []groupView, ownCloud string, cloudAddr CloudAddrFunc, ports map[string]int, masq bool, log hclog.Logger) []netcfg.Service {
	var out []netcfg.Service
	for _, g := range gs {
		vip, err := netip.ParseAddr(g.PublicIP)
		if err != nil || !vip.Is4() {
			continue
		}
		// A cloud's weight is exactly its LB's active targets
		// (instanceBackends not draining), so weights and per-cloud sets agree.
		running := map[string]int{}
		for _, b := range g.Backends {
			if _, done := running[b.Cloud]; !done {
				running[b.Cloud] = 0
				for _, ib := range instanceBackends(g, b.Cloud) {
					if !ib.Draining {
						running[b.Cloud]++
					}
				}
			}
		}
		clouds := make([]string, 0, len(running))
		for c, n := range running {
			if n > 0 {
				clouds = append(clouds, c)
			}
		}
		sort.Strings(clouds)
		var bs []netcfg.Backend
		for _, c := range clouds {
			if c == ownCloud {
				for _, b := range instanceBackends(g, c) {
					if !b.Draining {
						bs = append(bs, b)
					}
				}
				continue
			}
			addr, ok := cloudAddr(c)
			port, pok := ports[g.Key]
			if !ok || !pok {
				log.Warn("cloud left out of the master LB: no LB address", "group", g.Key, "cloud", c)
				continue
			}
			bs = append(bs, netcfg.Backend{Addr: netip.AddrPortFrom(addr, uint16(port)), Weight: running[c]})
		}
		if len(bs) == 0 {
			continue
		}
		port := g.Port
		if port == 0 {
			port = DefaultServicePort
		}
		out = append(out, netcfg.Service{Tenant: g.Tenant, Group: g.Name + MasterGroupSuffix, VIP: vip,
			Port: uint16(port), Backends: bs, Masquerade: masq})
	}
	return out
}

// The controller provides everything the synchronisers need.
var (
	_ Source  = (*cluster.Server)(nil)
	_ Leader  = (*cluster.Server)(nil)
	_ Applier = (*cluster.Server)(nil)
)
