// Package proxy is a userspace TCP load balancer with the semantics of the
// iptables one in netcfg (weighted shares, draining, atomic backend
// replacement) for hosts without CAP_NET_ADMIN and for dev mode. See
// ../DESIGN.md.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Sentinel errors.
var (
	// ErrInvalid: a Config or backend list is malformed.
	ErrInvalid = errors.New("proxy: invalid argument")
	// ErrClosed: the proxy has been closed.
	ErrClosed = errors.New("proxy: closed")
	// ErrNoBackend: no backend could take the connection.
	ErrNoBackend = errors.New("proxy: no backend available")
)

// Backend is one destination.
type Backend struct {
	Addr string // host:port
	// Weight is the relative share of new connections; 0 counts as 1.
	Weight int
	// Draining: no new connections; established ones finish.
	Draining bool
}

// Strategy picks a backend for each new connection.
type Strategy int

const (
	// Random picks with probability proportional to weight (like the
	// iptables `statistic --mode random` rules).
	Random Strategy = iota
	// RoundRobin cycles through the backends, each weight times per round.
	RoundRobin
)

// Config configures New.
type Config struct {
	// Listen is the TCP address to listen on (port 0: pick one; see Addr).
	Listen   string
	Backends []Backend
	Strategy Strategy
	// DialTimeout bounds each backend dial (default 2s). A refused or
	// timed-out backend is skipped for the next one.
	DialTimeout time.Duration
	Logger      hclog.Logger
}

// backendSet is an immutable snapshot; the proxy swaps it atomically.
type backendSet struct {
	active []Backend // non-draining, weight normalised
	cum    []int     // cumulative weights
	total  int
}

func newSet(bs []Backend) (*backendSet, error) {
	s := &backendSet{}
	seen := map[string]bool{}
	for i, b := range bs {
		if _, _, err := net.SplitHostPort(b.Addr); err != nil {
			return nil, fmt.Errorf("%w: backends[%d].Addr %q: %w", ErrInvalid, i, b.Addr, err)
		}
		if b.Weight < 0 {
			return nil, fmt.Errorf("%w: backends[%d].Weight is %d", ErrInvalid, i, b.Weight)
		}
		if seen[b.Addr] {
			return nil, fmt.Errorf("%w: backends[%d].Addr %q listed twice", ErrInvalid, i, b.Addr)
		}
		seen[b.Addr] = true
		if b.Draining {
			continue
		}
		if b.Weight == 0 {
			b.Weight = 1
		}
		s.active = append(s.active, b)
		s.total += b.Weight
		s.cum = append(s.cum, s.total)
	}
	return s, nil
}

// index maps a point in [0,total) to a backend.
func (s *backendSet) index(x int) int {
	for i, c := range s.cum {
		if x < c {
			return i
		}
	}
	return len(s.cum) - 1
}

// Proxy accepts TCP connections and splices each to a backend.
type Proxy struct {
	ln       net.Listener
	strategy Strategy
	dialTO   time.Duration
	logger   hclog.Logger
	set      atomic.Pointer[backendSet]
	rr       atomic.Uint64

	mu     sync.Mutex
	conns  map[*pair]struct{}
	active map[string]int // backend addr → open connections
	total  map[string]uint64
	closed bool
	wg     sync.WaitGroup
}

type pair struct{ client, backend net.Conn }

// New listens on cfg.Listen and starts serving in the background.
func New(cfg Config) (*Proxy, error) {
	set, err := newSet(cfg.Backends)
	if err != nil {
		return nil, err
	}
	if cfg.Strategy != Random && cfg.Strategy != RoundRobin {
		return nil, fmt.Errorf("%w: Strategy %d", ErrInvalid, cfg.Strategy)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("proxy: listen %s: %w", cfg.Listen, err)
	}
	return serve(ln, cfg, set), nil
}

// ServeListener is New on an existing listener (e.g. one opened inside
// another network namespace with netcfg.ListenIn); cfg.Listen is ignored.
// The proxy owns ln from then on.
func ServeListener(ln net.Listener, cfg Config) (*Proxy, error) {
	set, err := newSet(cfg.Backends)
	if err != nil {
		return nil, err
	}
	if cfg.Strategy != Random && cfg.Strategy != RoundRobin {
		return nil, fmt.Errorf("%w: Strategy %d", ErrInvalid, cfg.Strategy)
	}
	return serve(ln, cfg, set), nil
}

// serve starts a proxy on ln with a validated set.
func serve(ln net.Listener, cfg Config, set *backendSet) *Proxy {
	logger := cfg.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	p := &Proxy{
		ln:       ln,
		strategy: cfg.Strategy,
		dialTO:   cfg.DialTimeout,
		logger:   logger.Named("proxy"),
		conns:    map[*pair]struct{}{},
		active:   map[string]int{},
		total:    map[string]uint64{},
	}
	if p.dialTO <= 0 {
		p.dialTO = 2 * time.Second
	}
	p.set.Store(set)
	p.wg.Add(1)
	go p.acceptLoop()
	return p
}

// Addr is the listening address.
func (p *Proxy) Addr() net.Addr { return p.ln.Addr() }

// SetBackends atomically replaces the backend set: new connections use the
// new set at once; established connections (to any backend, removed or
// draining ones included) are left alone. An invalid list changes nothing.
func (p *Proxy) SetBackends(bs []Backend) error {
	set, err := newSet(bs)
	if err != nil {
		return err
	}
	p.set.Store(set)
	p.logger.Debug("backends replaced", "active", len(set.active), "listed", len(bs))
	return nil
}

// Stats is a snapshot of connection counts per backend address.
type Stats struct {
	Active map[string]int    // open connections
	Total  map[string]uint64 // connections ever established
}

// Stats returns current counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{Active: map[string]int{}, Total: map[string]uint64{}}
	for k, v := range p.active {
		s.Active[k] = v
	}
	for k, v := range p.total {
		s.Total[k] = v
	}
	return s
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	var delay time.Duration
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if p.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary trouble (EMFILE…): back off like net/http.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			p.logger.Warn("accept failed; retrying", "error", err, "delay", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		p.wg.Add(1)
		go p.handle(c)
	}
}

func (p *Proxy) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// order returns the candidate backends for one connection: the chosen one
// first, then the others in ring order (the retry order).
func (p *Proxy) order(set *backendSet) []Backend {
	n := len(set.active)
	if n == 0 {
		return nil
	}
	var first int
	switch p.strategy {
	case RoundRobin:
		first = set.index(int((p.rr.Add(1) - 1) % uint64(set.total)))
	default:
		first = set.index(rand.IntN(set.total))
	}
	out := make([]Backend, 0, n)
	for i := range n {
		out = append(out, set.active[(first+i)%n])
	}
	return out
}

func (p *Proxy) dial() (net.Conn, string, error) {
	var errs []error
	for _, b := range p.order(p.set.Load()) {
		c, err := net.DialTimeout("tcp", b.Addr, p.dialTO)
		if err == nil {
			return c, b.Addr, nil
		}
		errs = append(errs, err)
		p.logger.Debug("backend dial failed; trying the next", "backend", b.Addr, "error", err)
	}
	return nil, "", fmt.Errorf("%w: %w", ErrNoBackend, errors.Join(errs...))
}

func (p *Proxy) handle(client net.Conn) {
	defer p.wg.Done()
	backend, addr, err := p.dial()
	if err != nil {
		p.logger.Warn("connection refused", "client", client.RemoteAddr(), "error", err)
		client.Close()
		return
	}
	pr := &pair{client: client, backend: backend}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		client.Close()
		backend.Close()
		return
	}
	p.conns[pr] = struct{}{}
	p.active[addr]++
	p.total[addr]++
	p.mu.Unlock()

	done := make(chan struct{}, 2)
	go func() { pipe(backend, client); done <- struct{}{} }()
	go func() { pipe(client, backend); done <- struct{}{} }()
	<-done
	<-done
	client.Close()
	backend.Close()

	p.mu.Lock()
	delete(p.conns, pr)
	if p.active[addr]--; p.active[addr] == 0 {
		delete(p.active, addr)
	}
	p.mu.Unlock()
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// pipe copies src to dst through a pooled 32 KiB buffer (plain
// read/write: splice(2) measured no better for small request/response
// traffic in BenchmarkProxyVsDirect) and
// half-closes dst when src ends, so request/response protocols that
// shut down their write side still work.
func pipe(dst, src net.Conn) {
	bp := bufPool.Get().(*[]byte)
	_, _ = io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *bp)
	bufPool.Put(bp)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	} else {
		_ = dst.Close()
	}
}

// Shutdown stops accepting and waits for established connections to
// finish, up to ctx; then it closes what is left.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		p.closeConns()
		<-done
		return errors.Join(err, ctx.Err())
	}
}

// Close stops accepting and closes every connection at once.
func (p *Proxy) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := p.Shutdown(ctx)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

func (p *Proxy) closeConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pr := range p.conns {
		pr.client.Close()
		pr.backend.Close()
	}
}
