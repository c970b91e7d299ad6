// Package gossip is the cluster's membership layer: a thin wrapper around
// hashicorp/memberlist that controllers and hypervisor agents use to announce
// themselves (Meta) and to learn who is alive, suspect, dead or gone.
//
// See DESIGN.md for the choices (suspect detection, left vs dead, metadata
// encoding).
package gossip

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/memberlist"
)

// State is a member's liveness as seen by the local node.
type State string

// Member states.
const (
	// StateAlive: memberlist considers the member alive and it answers pings.
	StateAlive State = "alive"
	// StateSuspect: memberlist still lists the member, but this node's
	// last two direct pings to it went unanswered.
	StateSuspect State = "suspect"
	// StateDead: the member failed (memberlist declared it dead).
	StateDead State = "dead"
	// StateLeft: the member left gracefully (Leave).
	StateLeft State = "left"
)

// Member is one node of the gossip pool as seen locally.
type Member struct {
	NodeID string
	Addr   string // gossip address host:port
	Meta   Meta
	State  State
}

// Config configures Start.
type Config struct {
	// NodeID names the node; unique in the pool. Required.
	NodeID string
	// BindAddr is the gossip address, IP:port (TCP and UDP). Port 0 picks a
	// free port; Addr reports it. Empty host binds all interfaces.
	BindAddr string
	// AdvertiseAddr is the address peers use, "IP" or "IP:port". Empty:
	// the bind address (or a private IP of the host when bound to all).
	AdvertiseAddr string
	// Meta is announced to the pool; Meta.NodeID defaults to NodeID.
	Meta Meta
	// Key enables gossip encryption (AES-GCM) when set: 16, 24 or 32 bytes.
	Key []byte
	// Logger receives this package's and memberlist's logs. Nil: discard.
	Logger hclog.Logger
	// Timing tunes the protocol; the zero value is memberlist's LAN profile.
	Timing Timing
}

// Node is a running member of the gossip pool. Its methods are safe for
// concurrent use.
type Node struct {
	ml      *memberlist.Memberlist
	logger  hclog.Logger
	name    string
	addr    string
	changes chan struct{}

	probeInterval time.Duration
	probeTimeout  time.Duration
	deadTime      time.Duration
	updateTimeout time.Duration

	mu       sync.Mutex
	meta     Meta
	leaving  bool
	members  map[string]*member
	closed   bool
	stopCh   chan struct{}
	wg       sync.WaitGroup
	leaveMu  sync.Mutex // serialises Leave and Shutdown against each other
	shutOnce sync.Once
}

// member is the local record of one peer (or ourselves).
type member struct {
	addr    net.IP
	port    uint16
	meta    Meta
	leaving bool
	state   State // alive, dead or left; suspect is the overlay below
	suspect bool
	misses  int    // consecutive unanswered suspect-check pings
	gen     uint64 // bumped on every (re)join, guards late ping results
	since   time.Time
}

// Start creates the memberlist, binds its sockets and returns a node that is
// a pool of one until Join.
func Start(cfg Config) (*Node, error) {
	if cfg.NodeID == "" {
		return nil, fmt.Errorf("%w: NodeID is empty", ErrInvalidConfig)
	}
	meta := cfg.Meta
	if meta.NodeID == "" {
		meta.NodeID = cfg.NodeID
	}
	if meta.NodeID != cfg.NodeID {
		return nil, fmt.Errorf("%w: Meta.NodeID %q differs from NodeID %q", ErrInvalidConfig, meta.NodeID, cfg.NodeID)
	}
	if err := meta.Validate(); err != nil {
		return nil, err
	}
	switch len(cfg.Key) {
	case 0, 16, 24, 32:
	default:
		return nil, fmt.Errorf("%w: Key is %d bytes, want 16, 24 or 32", ErrInvalidConfig, len(cfg.Key))
	}
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	logger = logger.Named("gossip")

	mc := memberlist.DefaultLANConfig()
	cfg.Timing.apply(mc)
	if mc.ProbeTimeout >= mc.ProbeInterval {
		return nil, fmt.Errorf("%w: ProbeTimeout %s must be shorter than ProbeInterval %s", ErrInvalidConfig, mc.ProbeTimeout, mc.ProbeInterval)
	}
	mc.Name = cfg.NodeID
	host, port, err := splitHostPort(cfg.BindAddr, true)
	if err != nil {
		return nil, fmt.Errorf("%w: BindAddr: %w", ErrInvalidConfig, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertisePort = port
	if cfg.AdvertiseAddr != "" {
		ahost, aport, err := splitHostPort(cfg.AdvertiseAddr, false)
		if err != nil {
			return nil, fmt.Errorf("%w: AdvertiseAddr: %w", ErrInvalidConfig, err)
		}
		mc.AdvertiseAddr = ahost
		if aport != 0 {
			mc.AdvertisePort = aport
		}
	}
	if len(cfg.Key) > 0 {
		mc.SecretKey = append([]byte(nil), cfg.Key...)
	}
	mc.Logger = logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})

	n := &Node{
		logger:        logger,
		name:          cfg.NodeID,
		changes:       make(chan struct{}, 1),
		probeInterval: mc.ProbeInterval,
		probeTimeout:  mc.ProbeTimeout,
		deadTime:      mc.GossipToTheDeadTime,
		updateTimeout: max(mc.TCPTimeout, 20*mc.GossipInterval),
		meta:          meta,
		members:       make(map[string]*member),
		stopCh:        make(chan struct{}),
	}
	d := &delegate{n: n}
	mc.Delegate = d
	mc.Events = d
	mc.Alive = d

	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("gossip: start %s on %s: %w", cfg.NodeID, cfg.BindAddr, err)
	}
	n.ml = ml
	n.addr = ml.LocalNode().Address()
	n.wg.Add(1)
	go n.watch()
	logger.Info("gossip started", "node", cfg.NodeID, "addr", n.addr, "encrypted", len(cfg.Key) > 0)
	return n, nil
}

// splitHostPort parses "IP:port" (or "IP" when portOptional is false and no
// port is given). Host names are rejected: memberlist binds IPs.
func splitHostPort(s string, needPort bool) (string, int, error) {
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		if needPort {
			return "", 0, fmt.Errorf("%q: %w", s, err)
		}
		host, ps = s, ""
	}
	if host != "" && net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("%q: host %q is not an IP address", s, host)
	}
	port := 0
	if ps != "" {
		p, err := strconv.ParseUint(ps, 10, 16)
		if err != nil {
			return "", 0, fmt.Errorf("%q: port %q: %w", s, ps, err)
		}
		port = int(p)
	}
	return host, port, nil
}

// Join contacts the given gossip addresses (host:port) and merges their
// state. It returns how many were reached; the error (wrapping ErrJoin) is
// only non-nil when none was. Retrying is the caller's business.
func (n *Node) Join(addrs []string) (int, error) {
	if len(addrs) == 0 {
		return 0, fmt.Errorf("%w: no addresses given", ErrJoin)
	}
	if n.isClosed() {
		return 0, ErrShutdown
	}
	k, err := n.ml.Join(addrs)
	if err != nil {
		return k, fmt.Errorf("%w: %d address(es) %v: %w", ErrJoin, len(addrs), addrs, err)
	}
	n.logger.Debug("joined", "contacted", k, "addrs", addrs)
	return k, nil
}

// Members lists every member the local node knows, itself included: alive,
// suspect, and dead or left ones until memberlist forgets them
// (Timing.GossipToTheDeadTime). Sorted by NodeID.
func (n *Node) Members() []Member {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]Member, 0, len(n.members))
	for name, m := range n.members {
		st := m.state
		if st == StateAlive && m.suspect {
			st = StateSuspect
		}
		out = append(out, Member{
			NodeID: name,
			Addr:   net.JoinHostPort(m.addr.String(), strconv.Itoa(int(m.port))),
			Meta:   m.meta,
			State:  st,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out
}

// Changes is signalled (coalesced, never blocking the sender) whenever the
// member list may have changed: join, leave, failure, metadata update,
// suspect flag set or cleared, forgotten member. Read Members after a
// signal.
func (n *Node) Changes() <-chan struct{} { return n.changes }

// Addr is the advertised gossip address host:port (the real port when the
// node was started with port 0).
func (n *Node) Addr() string { return n.addr }

// NodeID is the node's name in the pool.
func (n *Node) NodeID() string { return n.name }

// LocalMeta returns the metadata this node announces.
func (n *Node) LocalMeta() Meta {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.meta
}

// UpdateMeta replaces the announced metadata and broadcasts it. It is
// applied locally at once; the call waits (bounded) for the first broadcast
// round, after which the update keeps spreading by gossip and push/pull.
func (n *Node) UpdateMeta(m Meta) error {
	if m.NodeID == "" {
		m.NodeID = n.name
	}
	if m.NodeID != n.name {
		return fmt.Errorf("%w: field NodeID %q differs from the node's %q", ErrInvalidMeta, m.NodeID, n.name)
	}
	if err := m.Validate(); err != nil {
		return err
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrShutdown
	}
	n.meta = m
	n.mu.Unlock()
	if err := n.ml.UpdateNode(n.updateTimeout); err != nil {
		n.logger.Warn("metadata update not yet broadcast; it will spread by gossip", "error", err)
	}
	return nil
}

// Leave announces a graceful departure so that peers record this node as
// left rather than dead, and waits up to timeout for the broadcast. The
// node keeps answering gossip until Shutdown.
func (n *Node) Leave(timeout time.Duration) error {
	n.leaveMu.Lock()
	defer n.leaveMu.Unlock()
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrShutdown
	}
	n.leaving = true
	n.mu.Unlock()
	start := time.Now()
	// First the leave intent rides a metadata update (see DESIGN.md), then
	// memberlist's own leave (a dead message about ourselves).
	if err := n.ml.UpdateNode(timeout / 2); err != nil {
		n.logger.Warn("leave intent not fully broadcast", "error", err)
	}
	rest := timeout - time.Since(start)
	if rest <= 0 {
		rest = time.Millisecond
	}
	if err := n.ml.Leave(rest); err != nil {
		return fmt.Errorf("gossip: leave %s: %w", n.name, err)
	}
	n.logger.Info("left the pool")
	return nil
}

// Shutdown stops gossiping and closes the sockets without announcing a
// leave (peers will see this node fail unless Leave was called first). It is
// idempotent.
func (n *Node) Shutdown() error {
	n.leaveMu.Lock()
	defer n.leaveMu.Unlock()
	var err error
	n.shutOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		n.mu.Unlock()
		close(n.stopCh)
		n.wg.Wait()
		if e := n.ml.Shutdown(); e != nil {
			err = fmt.Errorf("gossip: shutdown %s: %w", n.name, e)
		}
		n.logger.Info("gossip stopped")
	})
	return err
}

func (n *Node) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closed
}

// notify signals Changes without blocking; a pending signal absorbs it.
func (n *Node) notify() {
	select {
	case n.changes <- struct{}{}:
	default:
	}
}

// watch runs the suspect check and forgets long-dead members, once per
// probe interval.
func (n *Node) watch() {
	defer n.wg.Done()
	t := time.NewTicker(n.probeInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stopCh:
			return
		case <-t.C:
		}
		changed := n.checkSuspects()
		if n.reap(time.Now()) {
			changed = true
		}
		if changed {
			n.notify()
		}
	}
}

type pingTarget struct {
	name string
	addr *net.UDPAddr
	gen  uint64
}

// suspectAfterMisses consecutive unanswered pings make a member suspect: one
// lost UDP packet or a scheduling hiccup is not enough.
const suspectAfterMisses = 2

// maxPingsInFlight bounds the suspect check's concurrency.
const maxPingsInFlight = 16

// checkSuspects pings every alive peer once (memberlist's UDP ping, waiting
// ProbeTimeout) and sets or clears its suspect flag. It reports whether a
// flag changed.
func (n *Node) checkSuspects() bool {
	n.mu.Lock()
	var targets []pingTarget
	for name, m := range n.members {
		if name == n.name || m.state != StateAlive {
			continue
		}
		targets = append(targets, pingTarget{name, &net.UDPAddr{IP: m.addr, Port: int(m.port)}, m.gen})
	}
	n.mu.Unlock()
	if len(targets) == 0 {
		return false
	}
	ok := make([]bool, len(targets))
	sem := make(chan struct{}, maxPingsInFlight)
	var wg sync.WaitGroup
	for i, tg := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := n.ml.Ping(tg.name, tg.addr)
			ok[i] = err == nil
		}()
	}
	wg.Wait()

	changed := false
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, tg := range targets {
		m, found := n.members[tg.name]
		if !found || m.gen != tg.gen || m.state != StateAlive {
			continue
		}
		if ok[i] {
			m.misses = 0
		} else {
			m.misses++
		}
		if suspect := m.misses >= suspectAfterMisses; suspect != m.suspect {
			m.suspect = suspect
			changed = true
			if suspect {
				n.logger.Debug("member suspect: pings unanswered", "node", tg.name, "misses", m.misses)
			}
		}
	}
	return changed
}

// reap forgets dead and left members after GossipToTheDeadTime, as
// memberlist does.
func (n *Node) reap(now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	changed := false
	for name, m := range n.members {
		if (m.state == StateDead || m.state == StateLeft) && now.Sub(m.since) > n.deadTime {
			delete(n.members, name)
			changed = true
		}
	}
	return changed
}

// delegate receives memberlist's callbacks; kept separate so that Node does
// not export them. memberlist calls the Notify* methods with its node lock
// held: they only copy data and never call back into memberlist.
type delegate struct{ n *Node }

var (
	_ memberlist.Delegate      = (*delegate)(nil)
	_ memberlist.EventDelegate = (*delegate)(nil)
	_ memberlist.AliveDelegate = (*delegate)(nil)
)

// NodeMeta returns our encoded metadata (with the leave flag while leaving).
func (d *delegate) NodeMeta(limit int) []byte {
	d.n.mu.Lock()
	m, leaving := d.n.meta, d.n.leaving
	d.n.mu.Unlock()
	b, err := encodeMeta(m, leaving)
	if err != nil || len(b) > limit {
		// Validate keeps this from happening; announce nothing rather
		// than something memberlist would reject.
		d.n.logger.Error("cannot encode local metadata", "error", err, "size", len(b), "limit", limit)
		return nil
	}
	return b
}

// NotifyMsg ignores user messages: this package sends none.
func (d *delegate) NotifyMsg([]byte) {}

// GetBroadcasts has nothing to add to memberlist's own broadcasts.
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState carries no extra state in push/pull.
func (d *delegate) LocalState(join bool) []byte { return nil }

// MergeRemoteState: nothing to merge.
func (d *delegate) MergeRemoteState(buf []byte, join bool) {}

// NotifyAlive rejects peers whose metadata does not decode or names another
// node, so every listed member has usable Meta.
func (d *delegate) NotifyAlive(peer *memberlist.Node) error {
	w, err := decodeWire(peer.Meta)
	if err != nil {
		return fmt.Errorf("node %q: %w", peer.Name, err)
	}
	if w.NodeID != peer.Name {
		return fmt.Errorf("%w: node %q announces NodeID %q", ErrInvalidMeta, peer.Name, w.NodeID)
	}
	return nil
}

func (d *delegate) upsert(node *memberlist.Node, join bool) {
	w, err := decodeWire(node.Meta)
	if err != nil {
		d.n.logger.Warn("bad metadata from member", "node", node.Name, "error", err)
		w.NodeID = node.Name
	}
	n := d.n
	n.mu.Lock()
	m, ok := n.members[node.Name]
	if !ok {
		m = &member{}
		n.members[node.Name] = m
	}
	if join || !ok {
		m.gen++
		m.state = StateAlive
		m.since = time.Now()
	}
	m.addr = append(net.IP(nil), node.Addr...)
	m.port = node.Port
	m.meta = w.Meta
	m.leaving = w.Leaving
	m.suspect, m.misses = false, 0 // an alive message refutes any suspicion
	n.mu.Unlock()
	n.notify()
}

// NotifyJoin records a new (or returning) member.
func (d *delegate) NotifyJoin(node *memberlist.Node) {
	d.n.logger.Debug("member joined", "node", node.Name, "addr", node.Address())
	d.upsert(node, true)
}

// NotifyUpdate records new metadata.
func (d *delegate) NotifyUpdate(node *memberlist.Node) { d.upsert(node, false) }

// NotifyLeave records a departure: left if the member announced its leave
// intent, dead otherwise.
func (d *delegate) NotifyLeave(node *memberlist.Node) {
	n := d.n
	n.mu.Lock()
	m, ok := n.members[node.Name]
	if !ok {
		m = &member{addr: append(net.IP(nil), node.Addr...), port: node.Port}
		if w, err := decodeWire(node.Meta); err == nil {
			m.meta, m.leaving = w.Meta, w.Leaving
		} else {
			m.meta.NodeID = node.Name
		}
		n.members[node.Name] = m
	}
	m.state = StateDead
	if m.leaving {
		m.state = StateLeft
	}
	m.suspect = false
	m.since = time.Now()
	st := m.state
	n.mu.Unlock()
	n.logger.Info("member gone", "node", node.Name, "state", st)
	n.notify()
}
