package gossip

import (
	"time"

	"github.com/hashicorp/memberlist"
)

// Timing tunes failure detection and dissemination. A zero field keeps
// memberlist's LAN default (DefaultLANConfig), so the zero Timing is the LAN
// profile.
type Timing struct {
	// ProbeInterval is how often a member is probed (LAN default 1s). It is
	// also the period of the suspect check (see DESIGN.md).
	ProbeInterval time.Duration
	// ProbeTimeout is how long to wait for a probe's ack (LAN 500ms); must be
	// shorter than ProbeInterval.
	ProbeTimeout time.Duration
	// GossipInterval is how often queued broadcasts are gossiped (LAN 200ms).
	GossipInterval time.Duration
	// SuspicionMult scales the suspicion timeout before a suspect is
	// declared dead: SuspicionMult * log10(N) * ProbeInterval (LAN 4).
	SuspicionMult int
	// SuspicionMaxTimeoutMult bounds the suspicion timeout when few peers
	// confirm it (LAN 6).
	SuspicionMaxTimeoutMult int
	// RetransmitMult: a broadcast is retransmitted RetransmitMult*log(N+1)
	// times (LAN 4).
	RetransmitMult int
	// PushPullInterval is the period of the full state sync (LAN 30s).
	PushPullInterval time.Duration
	// GossipToTheDeadTime is how long dead and left members are remembered
	// and still listed by Members (LAN 30s).
	GossipToTheDeadTime time.Duration
	// DeadNodeReclaimTime lets a dead node's name be reused from another
	// address after this long (LAN 0: never; left nodes always can).
	DeadNodeReclaimTime time.Duration
	// TCPTimeout bounds TCP push/pull and join connections (LAN 10s).
	TCPTimeout time.Duration
}

// FastTiming is a profile for tests and single-host labs on loopback: a dead
// member is detected in about a second and a half, and dead members are
// remembered for 10s. Too aggressive for real networks.
func FastTiming() Timing {
	return Timing{
		ProbeInterval:           200 * time.Millisecond,
		ProbeTimeout:            150 * time.Millisecond,
		GossipInterval:          50 * time.Millisecond,
		SuspicionMult:           3,
		SuspicionMaxTimeoutMult: 3,
		RetransmitMult:          4,
		PushPullInterval:        2 * time.Second,
		GossipToTheDeadTime:     10 * time.Second,
		DeadNodeReclaimTime:     time.Second,
		TCPTimeout:              2 * time.Second,
	}
}

// apply copies the non-zero fields of t onto c.
func (t Timing) apply(c *memberlist.Config) {
	setD := func(dst *time.Duration, v time.Duration) {
		if v > 0 {
			*dst = v
		}
	}
	setI := func(dst *int, v int) {
		if v > 0 {
			*dst = v
		}
	}
	setD(&c.ProbeInterval, t.ProbeInterval)
	setD(&c.ProbeTimeout, t.ProbeTimeout)
	setD(&c.GossipInterval, t.GossipInterval)
	setI(&c.SuspicionMult, t.SuspicionMult)
	setI(&c.SuspicionMaxTimeoutMult, t.SuspicionMaxTimeoutMult)
	setI(&c.RetransmitMult, t.RetransmitMult)
	setD(&c.PushPullInterval, t.PushPullInterval)
	setD(&c.GossipToTheDeadTime, t.GossipToTheDeadTime)
	setD(&c.DeadNodeReclaimTime, t.DeadNodeReclaimTime)
	setD(&c.TCPTimeout, t.TCPTimeout)
}
