// Package converge is the leader's group converger: for every scaling
// group it makes the number of live instances match the desired count —
// creating pending instances (IDs assigned here, clouds chosen with
// scaler.Place), moving surplus instances to draining in scaler
// placement's scale-in order, replacing failed instances at once — and
// periodically reaps terminal instances. It runs only on the leader
// (cluster.Server.RegisterLeaderService); the site reconcilers of each
// cloud do the hypervisor work.
package converge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/cluster"
	"aas/fsm"
)

// ErrConfig: the converger's configuration is incomplete.
var ErrConfig = errors.New("converge: invalid config")

// Cluster is what the converger needs from the controller; *cluster.Server
// implements it.
type Cluster interface {
	FSM() *fsm.FSM
	Apply(ctx context.Context, t fsm.MessageType, payload any) (cluster.Applied, error)
	// VerifyLeader confirms leadership with a quorum before writes.
	VerifyLeader() error
}

// Config configures a Converger.
type Config struct {
	Cluster Cluster
	Logger  hclog.Logger
	// Interval is the period of a pass without an FSM change (default 2s).
	Interval time.Duration
	// ReapAfter is how long terminal instances stay visible (default 10m);
	// ReapInterval how often the reaper looks (default 1m).
	ReapAfter    time.Duration
	ReapInterval time.Duration
	// Now is the clock stamped into commands (default time.Now).
	Now func() time.Time
}

// Converger is the leader-only group converger.
type Converger struct {
	cfg  Config
	log  hclog.Logger
	wake chan struct{}
}

// New checks the configuration and subscribes to FSM changes. Register
// Run as a leader service.
func New(cfg Config) (*Converger, error) {
	if cfg.Cluster == nil {
		return nil, fmt.Errorf("%w: cluster is required", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.ReapAfter <= 0 {
		cfg.ReapAfter = 10 * time.Minute
	}
	if cfg.ReapInterval <= 0 {
		cfg.ReapInterval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Converger{cfg: cfg, log: cfg.Logger.Named("converge"), wake: make(chan struct{}, 1)}
	cfg.Cluster.FSM().Observe(func(t fsm.MessageType, _ uint64) {
		switch t {
		case fsm.RecordMetricsType, fsm.AppendActivityType, fsm.RecordEvaluationType:
			return
		}
		select {
		case c.wake <- struct{}{}:
		default:
		}
	})
	return c, nil
}

// Run converges until ctx ends (loss of leadership). It is a
// cluster.LeaderServiceFunc.
func (c *Converger) Run(ctx context.Context) error {
	tick := time.NewTicker(c.cfg.Interval)
	defer tick.Stop()
	reap := time.NewTicker(c.cfg.ReapInterval)
	defer reap.Stop()
	c.log.Info("group converger started")
	for {
		if err := c.Converge(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("converge", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.wake:
		case <-tick.C:
		case <-reap.C:
			if err := c.Reap(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("reap", "error", err)
			}
		}
	}
}

// Converge runs one pass: it plans every group against the current state
// and writes the plan (one create and one update command per group).
func (c *Converger) Converge(ctx context.Context) error {
	var in Inputs
	var index uint64
	c.cfg.Cluster.FSM().Read(func(s *fsm.State) {
		index = s.Index
		in = Gather(s)
	})
	plans := Decide(in) // outside the FSM's lock
	if len(plans) == 0 {
		return nil
	}
	if err := c.verifyLeader(ctx); err != nil {
		return err
	}
	now := c.cfg.Now()
	var errs []error
	seq := uint64(0)
	for _, p := range plans {
		if len(p.Updates) > 0 {
			_, err := c.cfg.Cluster.Apply(ctx, fsm.UpdateInstancesType, fsm.UpdateInstances{Time: now, Updates: p.Updates})
			if err != nil {
				errs = append(errs, fmt.Errorf("group %s: update: %w", p.Group, err))
			} else {
				c.log.Info("group converged down / revived", "group", p.Group, "reason", p.Reason)
			}
		}
		if len(p.Create) > 0 {
			for i := range p.Create {
				seq++
				p.Create[i].ID = instanceID(p.Create[i].Group, index, seq)
			}
			_, err := c.cfg.Cluster.Apply(ctx, fsm.CreateInstancesType, fsm.CreateInstances{Time: now, Instances: p.Create})
			if err != nil {
				errs = append(errs, fmt.Errorf("group %s: create: %w", p.Group, err))
			} else {
				c.log.Info("instances created", "group", p.Group, "count", len(p.Create), "reason", p.Reason)
			}
		}
	}
	return errors.Join(errs...)
}

// Reap forgets terminal instances older than ReapAfter, when there are any.
func (c *Converger) Reap(ctx context.Context) error {
	now := c.cfg.Now()
	before := now.Add(-c.cfg.ReapAfter)
	found := false
	c.cfg.Cluster.FSM().Read(func(s *fsm.State) {
		for _, in := range s.Instances {
			// A failed instance's record stays while its address is
			// quarantined (fsm.IPQuarantine): no reap that removes nothing.
			if in.Reapable(before, now) {
				found = true
				return
			}
		}
	})
	if !found {
		return nil
	}
	if err := c.verifyLeader(ctx); err != nil {
		return err
	}
	_, err := c.cfg.Cluster.Apply(ctx, fsm.ReapInstancesType, fsm.ReapInstances{Before: before, Time: now})
	return err
}

// verifyLeader is Cluster.VerifyLeader bounded by ctx: a raft verify
// request queued just before raft shuts down is never answered, and a
// leader service must return promptly when its context ends (or the
// server's shutdown waits for it forever).
func (c *Converger) verifyLeader(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- c.cfg.Cluster.VerifyLeader() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// instanceID is "<group>-<fsm index, base 36>-<seq>-<6 random hex>": unique
// by construction on one leader (index, seq), and the random part keeps
// two leaders of overlapping terms apart. At most fsm.MaxNameLen bytes.
func instanceID(group string, index, seq uint64) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	suffix := "-" + strconv.FormatUint(index, 36) + "-" + strconv.FormatUint(seq, 36) + "-" + hex.EncodeToString(b[:])
	if max := fsm.MaxNameLen - len(suffix); len(group) > max {
		group = group[:max]
	}
	return group + suffix
}
