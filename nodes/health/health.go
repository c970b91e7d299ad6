// Package health checks instances: HTTP (2xx/3xx) or TCP connect, on an
// interval with a timeout, a grace period after start, and N consecutive
// failures before an instance is unhealthy. A vanished instance is gone.
//
// Machine is the pure state machine (time is an input); Runner probes
// instances on their intervals and feeds the machines.
package health

import (
	"errors"
	"fmt"
	"time"
)

// Kind is the probe type.
type Kind string

// Probe kinds.
const (
	KindHTTP Kind = "http"
	KindTCP  Kind = "tcp"
)

// Check configures the health check of an instance.
type Check struct {
	Kind Kind `json:"kind"`
	// Path is the HTTP path (default /healthz).
	Path string `json:"path,omitempty"`
	// Interval between probes (default 2s), Timeout per probe (default 1s).
	Interval time.Duration `json:"interval,omitempty"`
	Timeout  time.Duration `json:"timeout,omitempty"`
	// Grace is the period after start during which failures do not count.
	Grace time.Duration `json:"grace,omitempty"`
	// UnhealthyThreshold consecutive failures make an instance unhealthy
	// (default 3); HealthyThreshold consecutive successes make it healthy
	// (default 1).
	UnhealthyThreshold int `json:"unhealthy_threshold,omitempty"`
	HealthyThreshold   int `json:"healthy_threshold,omitempty"`
}

// ErrInvalidCheck reports a malformed Check.
var ErrInvalidCheck = errors.New("invalid health check")

// WithDefaults fills unset fields.
func (c Check) WithDefaults() Check {
	if c.Kind == "" {
		c.Kind = KindHTTP
	}
	if c.Kind == KindHTTP && c.Path == "" {
		c.Path = "/healthz"
	}
	if c.Interval <= 0 {
		c.Interval = 2 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = time.Second
	}
	if c.UnhealthyThreshold <= 0 {
		c.UnhealthyThreshold = 3
	}
	if c.HealthyThreshold <= 0 {
		c.HealthyThreshold = 1
	}
	return c
}

// Validate checks c (after defaults).
func (c Check) Validate() error {
	switch c.Kind {
	case KindHTTP, KindTCP, "":
	default:
		return fmt.Errorf("%w: field kind: %q (want http or tcp)", ErrInvalidCheck, c.Kind)
	}
	if c.Interval < 0 || c.Timeout < 0 || c.Grace < 0 {
		return fmt.Errorf("%w: durations must not be negative", ErrInvalidCheck)
	}
	if c.Interval > 0 && c.Timeout > c.Interval {
		return fmt.Errorf("%w: field timeout: %s exceeds interval %s", ErrInvalidCheck, c.Timeout, c.Interval)
	}
	return nil
}

// Status is an instance's health.
type Status string

// Health statuses.
const (
	StatusStarting  Status = "starting"  // not yet passed a check, within or after grace
	StatusHealthy   Status = "healthy"   // passing
	StatusUnhealthy Status = "unhealthy" // N consecutive failures after grace
	StatusGone      Status = "gone"      // the instance no longer exists or runs
)

// Report is the observable state of one instance's health.
type Report struct {
	Status              Status    `json:"status"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastError           string    `json:"last_error,omitempty"`
	LastCheck           time.Time `json:"last_check,omitzero"`
	Since               time.Time `json:"since"`
}

// Machine is the health state machine of one instance. It is not safe for
// concurrent use; Runner serialises access.
type Machine struct {
	check   Check
	started time.Time
	r       Report
	oks     int
}

// NewMachine returns a machine for an instance started at started.
func NewMachine(c Check, started time.Time) *Machine {
	return &Machine{check: c.WithDefaults(), started: started, r: Report{Status: StatusStarting, Since: started}}
}

func (m *Machine) set(s Status, now time.Time) {
	if m.r.Status != s {
		m.r.Status, m.r.Since = s, now
	}
}

// Observe records one probe result (err nil = success) taken at now and
// returns the new status. A gone instance stays gone.
func (m *Machine) Observe(err error, now time.Time) Status {
	if m.r.Status == StatusGone {
		return StatusGone
	}
	m.r.LastCheck = now
	if err == nil {
		m.r.ConsecutiveFailures, m.r.LastError = 0, ""
		m.oks++
		if m.oks >= m.check.HealthyThreshold {
			m.set(StatusHealthy, now)
		}
		return m.r.Status
	}
	m.oks = 0
	m.r.LastError = err.Error()
	if now.Before(m.started.Add(m.check.Grace)) {
		return m.r.Status // failures during the grace period do not count
	}
	m.r.ConsecutiveFailures++
	if m.r.ConsecutiveFailures >= m.check.UnhealthyThreshold {
		m.set(StatusUnhealthy, now)
	}
	return m.r.Status
}

// Vanish marks the instance gone (deleted, exited, container removed).
func (m *Machine) Vanish(now time.Time) { m.set(StatusGone, now) }

// Report returns the current state.
func (m *Machine) Report() Report { return m.r }
