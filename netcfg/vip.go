package netcfg

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// AddVIP assigns addr/32 to link; it reports whether it was added (false:
// already there). Idempotent.
func (l *Links) AddVIP(link string, addr netip.Addr) (bool, error) {
	if !addr.Is4() {
		return false, fmt.Errorf("%w: VIP %v is not IPv4", ErrInvalid, addr)
	}
	return l.AddAddr(link, netip.PrefixFrom(addr, 32))
}

// RemoveVIP removes addr/32 from link; it reports whether it was there.
func (l *Links) RemoveVIP(link string, addr netip.Addr) (bool, error) {
	if !addr.Is4() {
		return false, fmt.Errorf("%w: VIP %v is not IPv4", ErrInvalid, addr)
	}
	return l.DelAddr(link, netip.PrefixFrom(addr, 32))
}

// HasVIP reports whether addr is assigned to link.
func (l *Links) HasVIP(link string, addr netip.Addr) (bool, error) { return l.HasAddr(link, addr) }

// GARPConfig says how a VIP is announced.
type GARPConfig struct {
	Count       int           // packets per burst (default 3)
	Interval    time.Duration // between packets of a burst (default 100ms)
	RepeatAfter time.Duration // a second burst after this (default 2s; <0: none)
}

func (c GARPConfig) withDefaults() GARPConfig {
	if c.Count <= 0 {
		c.Count = 3
	}
	if c.Interval <= 0 {
		c.Interval = 100 * time.Millisecond
	}
	if c.RepeatAfter == 0 {
		c.RepeatAfter = 2 * time.Second
	}
	return c
}

// AnnounceVIP sends gratuitous ARP for addr out of link (in the Links'
// namespace): a burst of cfg.Count packets now and another burst after
// cfg.RepeatAfter, so that neighbours and switches that missed the first
// one (or were still learning) move to this host. It blocks until done or
// ctx ends; run it in a goroutine on takeover.
func (l *Links) AnnounceVIP(ctx context.Context, link string, addr netip.Addr, cfg GARPConfig) error {
	cfg = cfg.withDefaults()
	s, err := openARPSocket(l.ns, link)
	if err != nil {
		return err
	}
	defer unix.Close(s.fd)
	frame := garpFrame(s.mac, addr)
	burst := func() error {
		for i := 0; i < cfg.Count; i++ {
			if i > 0 {
				if err := sleepCtx(ctx, cfg.Interval); err != nil {
					return err
				}
			}
			if err := unix.Sendto(s.fd, frame, 0, s.to); err != nil {
				return fmt.Errorf("netcfg: gratuitous ARP for %s on %s: %w", addr, link, err)
			}
		}
		return nil
	}
	if err := burst(); err != nil {
		return err
	}
	if cfg.RepeatAfter < 0 {
		return nil
	}
	if err := sleepCtx(ctx, cfg.RepeatAfter); err != nil {
		return err
	}
	return burst()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type arpSocket struct {
	fd  int
	mac net.HardwareAddr
	to  *unix.SockaddrLinklayer
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openARPSocket opens an AF_PACKET socket for link inside ns (netns.None():
// the caller's namespace). The socket stays usable from any thread.
func openARPSocket(ns netns.NsHandle, link string) (*arpSocket, error) {
	if err := linkName(link); err != nil {
		return nil, err
	}
	var s arpSocket
	open := func() error {
		ifi, err := net.InterfaceByName(link)
		if err != nil {
			return fmt.Errorf("netcfg: link %q: %w", link, err)
		}
		if len(ifi.HardwareAddr) != 6 {
			return fmt.Errorf("%w: link %q has no Ethernet address", ErrInvalid, link)
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
		if err != nil {
			return fmt.Errorf("netcfg: packet socket: %w", err)
		}
		s.fd, s.mac = fd, ifi.HardwareAddr
		s.to = &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifi.Index, Halen: 6,
			Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
		return nil
	}
	var err error
	if ns == netns.None() {
		err = open()
	} else {
		err = Do(ns, open)
	}
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// garpFrame builds a broadcast gratuitous ARP request: sender and target
// protocol address are both the VIP (what `arping -U` sends).
func garpFrame(mac net.HardwareAddr, ip netip.Addr) []byte {
	f := make([]byte, 42)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], mac)
	binary.BigEndian.PutUint16(f[12:14], unix.ETH_P_ARP)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:2], 1)      // Ethernet
	binary.BigEndian.PutUint16(a[2:4], 0x0800) // IPv4
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:8], 1) // request
	copy(a[8:14], mac)
	v4 := ip.As4()
	copy(a[14:18], v4[:])
	copy(a[18:24], []byte{0, 0, 0, 0, 0, 0})
	copy(a[24:28], v4[:])
	return f
}

// VIPHolder holds a VIP for the master load-balancer role: Acquire on
// taking leadership, Release the moment it is lost (before any lease runs
// out), so two holders never answer at once. Safe for concurrent use.
type VIPHolder struct {
	links  *Links
	link   string
	addr   netip.Addr
	cfg    GARPConfig
	logger hclog.Logger

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// NewVIPHolder prepares to hold addr on link of the Links' namespace.
func NewVIPHolder(l *Links, link string, addr netip.Addr, cfg GARPConfig, logger hclog.Logger) (*VIPHolder, error) {
	if err := linkName(link); err != nil {
		return nil, err
	}
	if !addr.Is4() {
		return nil, fmt.Errorf("%w: VIP %v is not IPv4", ErrInvalid, addr)
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &VIPHolder{links: l, link: link, addr: addr, cfg: cfg, logger: logger.Named("vip")}, nil
}

// Acquire adds the VIP (idempotent) and (re)starts announcing it with
// gratuitous ARP in the background.
func (v *VIPHolder) Acquire() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	added, err := v.links.AddVIP(v.link, v.addr)
	if err != nil {
		return err
	}
	v.stopLocked()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	v.cancel, v.done = cancel, done
	go func() {
		defer close(done)
		if err := v.links.AnnounceVIP(ctx, v.link, v.addr, v.cfg); err != nil && ctx.Err() == nil {
			v.logger.Warn("announcing VIP failed", "vip", v.addr, "link", v.link, "error", err)
		}
	}()
	v.logger.Info("VIP acquired", "vip", v.addr, "link", v.link, "added", added)
	return nil
}

// Release stops announcing and removes the VIP at once (idempotent).
func (v *VIPHolder) Release() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.stopLocked()
	removed, err := v.links.RemoveVIP(v.link, v.addr)
	if err != nil {
		return err
	}
	if removed {
		v.logger.Info("VIP released", "vip", v.addr, "link", v.link)
	}
	return nil
}

// Held reports whether the VIP is on the link.
func (v *VIPHolder) Held() (bool, error) { return v.links.HasVIP(v.link, v.addr) }

func (v *VIPHolder) stopLocked() {
	if v.cancel != nil {
		v.cancel()
		<-v.done
		v.cancel, v.done = nil, nil
	}
}
