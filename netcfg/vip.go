package netcfg

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"time"

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
