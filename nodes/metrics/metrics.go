// Package metrics samples per-instance CPU and memory through a driver on an
// interval and keeps a ring buffer of recent samples per instance.
package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/nodes/driver"
)

// Source is the part of a driver the sampler uses.
type Source interface {
	List(ctx context.Context) ([]driver.Instance, error)
	Stats(ctx context.Context, id string) (driver.Stats, error)
}

// Ring is a fixed-size ring buffer of samples, oldest overwritten first.
type Ring struct {
	buf  []driver.Stats
	next int
	full bool
}

// NewRing returns a ring holding up to n samples.
func NewRing(n int) *Ring { return &Ring{buf: make([]driver.Stats, max(n, 1))} }

// Push appends s.
func (r *Ring) Push(s driver.Stats) {
	r.buf[r.next] = s
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

// Len is the number of samples held.
func (r *Ring) Len() int {
	if r.full {
		return len(r.buf)
	}
	return r.next
}

// Last returns the newest sample.
func (r *Ring) Last() (driver.Stats, bool) {
	if r.Len() == 0 {
		return driver.Stats{}, false
	}
	return r.buf[(r.next-1+len(r.buf))%len(r.buf)], true
}

// Recent returns up to n newest samples, oldest first.
func (r *Ring) Recent(n int) []driver.Stats {
	n = min(n, r.Len())
	out := make([]driver.Stats, n)
	for i := range n {
		out[i] = r.buf[(r.next-n+i+len(r.buf))%len(r.buf)]
	}
	return out
}

// Config configures a Sampler.
type Config struct {
	Source Source
	// Interval between samples (default 5s); Window is the ring size per
	// instance (default 60).
	Interval time.Duration
	Window   int
	Logger   hclog.Logger
}

// Sampler samples every running instance of its source on an interval.
type Sampler struct {
	cfg   Config
	log   hclog.Logger
	mu    sync.Mutex
	rings map[string]*Ring
}

// New returns a sampler; call Run to start it.
func New(cfg Config) *Sampler {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Window <= 0 {
		cfg.Window = 60
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Sampler{cfg: cfg, log: cfg.Logger.Named("metrics"), rings: map[string]*Ring{}}
}

// Run samples until ctx is done.
func (s *Sampler) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		s.SampleOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SampleOnce takes one sample of every running instance and drops the
// rings of instances that no longer run.
func (s *Sampler) SampleOnce(ctx context.Context) {
	list, err := s.cfg.Source.List(ctx)
	if err != nil {
		s.log.Warn("list instances", "error", err)
		return
	}
	seen := make(map[string]bool, len(list))
	for _, inst := range list {
		if inst.State != driver.StateRunning {
			continue
		}
		st, err := s.cfg.Source.Stats(ctx, inst.ID)
		if err != nil {
			s.log.Debug("stats", "id", inst.ID, "error", err)
			continue
		}
		seen[inst.ID] = true
		s.mu.Lock()
		r, ok := s.rings[inst.ID]
		if !ok {
			r = NewRing(s.cfg.Window)
			s.rings[inst.ID] = r
		}
		r.Push(st)
		s.mu.Unlock()
	}
	s.mu.Lock()
	for id := range s.rings {
		if !seen[id] {
			delete(s.rings, id)
		}
	}
	s.mu.Unlock()
}

// Latest returns the newest sample of every sampled instance.
func (s *Sampler) Latest() map[string]driver.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]driver.Stats, len(s.rings))
	for id, r := range s.rings {
		if st, ok := r.Last(); ok {
			out[id] = st
		}
	}
	return out
}

// Recent returns up to n newest samples of id, oldest first.
func (s *Sampler) Recent(id string, n int) []driver.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.rings[id]; ok {
		return r.Recent(n)
	}
	return nil
}
