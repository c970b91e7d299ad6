package health

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Probe performs one check against addr (host:port).
func Probe(ctx context.Context, c Check, addr string) error {
	c = c.WithDefaults()
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	switch c.Kind {
	case KindTCP:
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	default:
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+c.Path, nil)
		if err != nil {
			return err
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("http status %d", resp.StatusCode)
		}
		return nil
	}
}

var probeClient = &http.Client{
	// A redirect (3xx) counts as healthy; do not follow it.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
}

// Runner probes watched instances on their intervals.
type Runner struct {
	log   hclog.Logger
	probe func(ctx context.Context, c Check, addr string) error
	now   func() time.Time

	mu      sync.Mutex
	targets map[string]*target
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

type target struct {
	addr   string
	check  Check
	m      *Machine
	cancel context.CancelFunc
}

// NewRunner returns a runner; Close stops it.
func NewRunner(logger hclog.Logger) *Runner {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{log: logger.Named("health"), probe: Probe, now: time.Now, targets: map[string]*target{}, ctx: ctx, cancel: cancel}
}

// Watch starts probing instance id at addr. Watching an ID again with the
// same address is a no-op; a new address restarts the machine.
func (r *Runner) Watch(id, addr string, c Check, started time.Time) {
	c = c.WithDefaults()
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.targets[id]; ok {
		if t.addr == addr && t.m.Report().Status != StatusGone {
			return
		}
		t.cancel()
	}
	ctx, cancel := context.WithCancel(r.ctx)
	t := &target{addr: addr, check: c, m: NewMachine(c, started), cancel: cancel}
	r.targets[id] = t
	r.wg.Add(1)
	go r.loop(ctx, id, t)
}

func (r *Runner) loop(ctx context.Context, id string, t *target) {
	defer r.wg.Done()
	tick := time.NewTicker(t.check.Interval)
	defer tick.Stop()
	for {
		err := r.probe(ctx, t.check, t.addr)
		if ctx.Err() != nil {
			return
		}
		r.mu.Lock()
		before := t.m.Report().Status
		after := t.m.Observe(err, r.now())
		r.mu.Unlock()
		if before != after {
			r.log.Info("health changed", "id", id, "from", before, "to", after, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Vanished marks id gone and stops probing it; the report stays until
// Forget.
func (r *Runner) Vanished(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.targets[id]; ok && t.m.Report().Status != StatusGone {
		t.cancel()
		t.m.Vanish(r.now())
		r.log.Info("health changed", "id", id, "to", StatusGone)
	}
}

// Forget stops probing id and drops its report.
func (r *Runner) Forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.targets[id]; ok {
		t.cancel()
		delete(r.targets, id)
	}
}

// Report returns id's health.
func (r *Runner) Report(id string) (Report, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.targets[id]
	if !ok {
		return Report{}, false
	}
	return t.m.Report(), true
}

// IDs lists the watched instance IDs.
func (r *Runner) IDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.targets))
	for id := range r.targets {
		out = append(out, id)
	}
	return out
}

// Close stops all probes and waits for them.
func (r *Runner) Close() {
	r.cancel()
	r.wg.Wait()
}
