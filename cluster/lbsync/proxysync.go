package lbsync

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/netcfg/proxy"
)

// ProxyConfig configures a ProxySync.
type ProxyConfig struct {
	Source Source
	// Cloud limits the backends to this cloud's instances ("": every cloud,
	// the dev agent's single-node case).
	Cloud string
	// ListenHost is the host the proxies listen on (default 127.0.0.1).
	ListenHost string
	// BasePort > 0 gives every group the port AssignPorts(base, PortSpan)
	// computes from the FSM, so a group's endpoint survives an agent
	// restart. 0: the OS picks a port when the group's proxy starts; it is
	// kept while the process lives.
	BasePort int
	PortSpan int // default DefaultPortSpan
	// Listen pins "tenant/group" keys to explicit listen addresses; it
	// wins over BasePort.
	Listen map[string]string
	// Resync is the period of a full pass without an FSM change (default
	// DefaultResync).
	Resync time.Duration
	// RateInterval is the window RequestRates averages over (default 10s).
	RateInterval time.Duration
	// Strategy and DialTimeout are handed to every proxy.
	Strategy    proxy.Strategy
	DialTimeout time.Duration
	Logger      hclog.Logger
}

// ProxySync keeps one userspace TCP proxy (netcfg/proxy) per group in step
// with the FSM: backends are the group's running instances, draining (or
// unhealthy) ones stay listed as draining so established connections
// finish, terminated ones disappear; a deleted group's proxy is shut down
// gracefully. It needs no privileges (dev mode).
type ProxySync struct {
	cfg  ProxyConfig
	log  hclog.Logger
	wake waker

	mu      sync.Mutex
	groups  map[string]*groupProxy
	rates   map[string]float64
	counted map[string]instCount // instance ID → counted backend (counters.go)
	stopped bool                 // Run has returned: Sync starts nothing any more

	closing sync.WaitGroup // graceful shutdowns of deleted groups' proxies
}

type groupProxy struct {
	tenant, group string
	p             *proxy.Proxy
	addr          string
	backends      []proxy.Backend
	drain         time.Duration
	lastTotal     uint64
	lastAt        time.Time
}

// Endpoint is one group's proxy as reported by Endpoints and the HTTP API.
type Endpoint struct {
	Tenant   string            `json:"tenant"`
	Group    string            `json:"group"`
	Address  string            `json:"address"`
	Backends []EndpointBackend `json:"backends"`
	// RequestRate is new connections per second over the last
	// RateInterval (one per request for clients without keep-alive).
	RequestRate float64 `json:"request_rate"`
}

// EndpointBackend is one backend of an Endpoint with its counters.
type EndpointBackend struct {
	Address  string `json:"address"`
	Draining bool   `json:"draining"`
	Active   int    `json:"active"` // open connections
	Total    uint64 `json:"total"`  // connections ever proxied to it
}

// NewProxySync validates cfg and registers for FSM change notifications.
// Nothing listens before Run.
func NewProxySync(cfg ProxyConfig) (*ProxySync, error) {
	if cfg.Source == nil || cfg.Source.FSM() == nil {
		return nil, fmt.Errorf("%w: ProxyConfig.Source is nil", ErrConfig)
	}
	if cfg.BasePort < 0 || cfg.BasePort > 65535 {
		return nil, fmt.Errorf("%w: ProxyConfig.BasePort %d out of range", ErrConfig, cfg.BasePort)
	}
	if cfg.PortSpan <= 0 {
		cfg.PortSpan = DefaultPortSpan
	}
	if cfg.BasePort > 0 && cfg.BasePort+cfg.PortSpan > 65536 {
		return nil, fmt.Errorf("%w: ProxyConfig.BasePort %d + PortSpan %d exceeds 65535", ErrConfig, cfg.BasePort, cfg.PortSpan)
	}
	for k, a := range cfg.Listen {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("%w: ProxyConfig.Listen[%q] = %q: %w", ErrConfig, k, a, err)
		}
	}
	if cfg.ListenHost == "" {
		cfg.ListenHost = "127.0.0.1"
	}
	if cfg.Resync <= 0 {
		cfg.Resync = DefaultResync
	}
	if cfg.RateInterval <= 0 {
		cfg.RateInterval = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &ProxySync{
		cfg:    cfg,
		log:    cfg.Logger.Named("lb-proxy"),
		wake:   newWaker(cfg.Source.FSM()),
		groups: map[string]*groupProxy{},
		rates:  map[string]float64{},
	}, nil
}

// Run synchronises until ctx ends, then shuts every proxy down (waiting up
// to each group's drain period for established connections) and returns.
// A ProxySync runs once.
func (s *ProxySync) Run(ctx context.Context) error {
	loop(ctx, s.wake, s.cfg.Resync, func() { s.syncOnce(time.Now()) })
	s.mu.Lock()
	s.stopped = true
	left := s.groups
	s.groups = map[string]*groupProxy{}
	s.rates = map[string]float64{}
	s.counted = nil
	s.mu.Unlock()
	for _, g := range left {
		s.shutdown(g)
	}
	s.closing.Wait()
	return nil
}

// Sync runs one pass now (Run does this on every change); exposed for
// callers that need the proxies in place before serving.
func (s *ProxySync) Sync() { s.syncOnce(time.Now()) }

func (s *ProxySync) syncOnce(now time.Time) {
	gs := readGroups(s.cfg.Source.FSM())
	var ports map[string]int
	if s.cfg.BasePort > 0 {
		ports = AssignPorts(portRequests(gs), s.cfg.BasePort, s.cfg.PortSpan)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	seen := make(map[string]bool, len(gs))
	counted := map[string]bool{}
	for _, g := range gs {
		seen[g.Key] = true
		bs := s.proxyBackends(g)
		gp, ok := s.groups[g.Key]
		var before map[string]uint64 // the proxy's totals before this pass's change
		if !ok {
			addr := s.listenAddr(g.Key, ports)
			if addr == "" {
				s.log.Warn("no port left for group", "group", g.Key, "base", s.cfg.BasePort, "span", s.cfg.PortSpan)
				continue
			}
			p, err := proxy.New(proxy.Config{Listen: addr, Backends: bs, Strategy: s.cfg.Strategy,
				DialTimeout: s.cfg.DialTimeout, Logger: s.log.With("group", g.Key)})
			if err != nil {
				s.log.Warn("cannot start group proxy; retrying on the next pass", "group", g.Key, "listen", addr, "error", err)
				continue
			}
			gp = &groupProxy{tenant: g.Tenant, group: g.Name, p: p, addr: p.Addr().String(), lastAt: now}
			s.groups[g.Key] = gp
			s.log.Info("group proxy started", "group", g.Key, "listen", gp.addr, "backends", len(bs))
		} else if before = gp.p.Stats().Total; !sameBackends(gp.backends, bs) {
			if err := gp.p.SetBackends(bs); err != nil { // cannot happen: proxyBackends filters
				s.log.Error("set backends", "group", g.Key, "error", err)
				continue
			}
			s.log.Debug("group backends updated", "group", g.Key, "backends", len(bs))
		}
		gp.backends = bs
		gp.drain = g.DrainPeriod
		s.updateRate(g.Key, gp, now)
		s.countInstances(g, bs, before, counted)
	}
	s.dropUncounted(counted)
	for key, gp := range s.groups {
		if !seen[key] {
			delete(s.groups, key)
			delete(s.rates, key)
			s.log.Info("group deleted; shutting its proxy down", "group", key, "listen", gp.addr)
			s.shutdown(gp)
		}
	}
}

// proxyBackends turns a group's instances into proxy backends, skipping
// other clouds' instances, unusable addresses and duplicates (so that
// SetBackends never rejects the list because of one bad instance).
func (s *ProxySync) proxyBackends(g groupView) []proxy.Backend {
	bs := make([]proxy.Backend, 0, len(g.Backends))
	dup := map[string]bool{}
	for _, b := range g.Backends {
		if s.cfg.Cloud != "" && b.Cloud != s.cfg.Cloud {
			continue
		}
		if _, _, err := net.SplitHostPort(b.Addr); err != nil || dup[b.Addr] {
			s.log.Warn("instance address unusable as a backend", "group", g.Key, "instance", b.ID, "address", b.Addr)
			continue
		}
		dup[b.Addr] = true
		bs = append(bs, proxy.Backend{Addr: b.Addr, Weight: 1, Draining: b.Draining})
	}
	return bs
}

func (s *ProxySync) listenAddr(key string, ports map[string]int) string {
	if a, ok := s.cfg.Listen[key]; ok {
		return a
	}
	if ports == nil {
		return net.JoinHostPort(s.cfg.ListenHost, "0")
	}
	p, ok := ports[key]
	if !ok {
		return ""
	}
	return net.JoinHostPort(s.cfg.ListenHost, strconv.Itoa(p))
}

func sameBackends(a, b []proxy.Backend) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// updateRate recomputes the group's connection rate once per RateInterval.
func (s *ProxySync) updateRate(key string, gp *groupProxy, now time.Time) {
	el := now.Sub(gp.lastAt)
	if el < s.cfg.RateInterval {
		return
	}
	total := sumTotal(gp.p.Stats())
	s.rates[key] = float64(total-gp.lastTotal) / el.Seconds()
	gp.lastTotal, gp.lastAt = total, now
}

func sumTotal(st proxy.Stats) uint64 {
	var n uint64
	for _, v := range st.Total {
		n += v
	}
	return n
}

func (s *ProxySync) shutdown(gp *groupProxy) {
	d := gp.drain
	if d <= 0 {
		d = DefaultDrainTimeout
	}
	s.closing.Add(1)
	go func() {
		defer s.closing.Done()
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		if err := gp.p.Shutdown(ctx); err != nil {
			s.log.Debug("proxy shutdown cut connections short", "listen", gp.addr, "error", err)
		}
	}()
}

// Endpoints maps "tenant/group" to the proxy's listen address (host:port).
func (s *ProxySync) Endpoints() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.groups))
	for k, g := range s.groups {
		out[k] = g.addr
	}
	return out
}

// RequestRates maps "tenant/group" to new connections per second over the
// last RateInterval (for the autoscaler's rps metric). A group appears
// after its first full interval.
func (s *ProxySync) RequestRates() map[string]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]float64, len(s.rates))
	for k, v := range s.rates {
		out[k] = v
	}
	return out
}

// EndpointList returns every group's endpoint with backend counters,
// sorted by tenant and group.
func (s *ProxySync) EndpointList() []Endpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Endpoint, 0, len(s.groups))
	for k, g := range s.groups {
		st := g.p.Stats()
		ep := Endpoint{Tenant: g.tenant, Group: g.group, Address: g.addr, RequestRate: s.rates[k],
			Backends: make([]EndpointBackend, 0, len(g.backends))}
		for _, b := range g.backends {
			ep.Backends = append(ep.Backends, EndpointBackend{Address: b.Addr, Draining: b.Draining,
				Active: st.Active[b.Addr], Total: st.Total[b.Addr]})
		}
		out = append(out, ep)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tenant != out[j].Tenant {
			return out[i].Tenant < out[j].Tenant
		}
		return out[i].Group < out[j].Group
	})
	return out
}

// HandleEndpoints serves GET /v1/endpoints (optional ?tenant=T): the
// EndpointList as JSON. Its signature is cluster/api.HandlerFunc, so
// srv.Handle("GET", "/v1/endpoints", ps.HandleEndpoints) registers it.
func (s *ProxySync) HandleEndpoints(_ http.ResponseWriter, r *http.Request) (any, error) {
	eps := s.EndpointList()
	if t := r.URL.Query().Get("tenant"); t != "" {
		kept := eps[:0]
		for _, e := range eps {
			if e.Tenant == t {
				kept = append(kept, e)
			}
		}
		eps = kept
	}
	return eps, nil
}
