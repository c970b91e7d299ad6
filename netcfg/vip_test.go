package netcfg

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// vipLab: a switch namespace with bridge br0 (198.18.0.1/24) and two
// hosts, A and C, plugged into it.
type vipLab struct {
	sw, a, c    netns.NsHandle
	swl, al, cl *Links
}

func newVIPLab(t *testing.T) *vipLab {
	requireNetAdmin(t)
	lab := &vipLab{sw: testNS(t, "sw"), a: testNS(t, "a"), c: testNS(t, "c")}
	lab.swl, lab.al, lab.cl = testLinks(t, lab.sw), testLinks(t, lab.a), testLinks(t, lab.c)
	must(t, SetSysctl(lab.sw, "net.ipv4.conf.all.arp_accept", "1"))
	must(t, lab.swl.AddBridge("br0"))
	_, err := lab.swl.AddAddr("br0", pfx("198.18.0.1/24"))
	must(t, err)
	for _, h := range []struct {
		port, addr string
		ns         netns.NsHandle
	}{{"va", "198.18.0.2/24", lab.a}, {"vc", "198.18.0.3/24", lab.c}} {
		wire(t, lab.sw, h.port, "", h.ns, "eth0", h.addr)
		must(t, lab.swl.SetMaster(h.port, "br0"))
	}
	return lab
}

func macOf(t *testing.T, l *Links, link string) net.HardwareAddr {
	t.Helper()
	lk, err := l.h.LinkByName(link)
	must(t, err)
	return lk.Attrs().HardwareAddr
}

// neighMAC returns the switch's neighbour entry for addr, if any.
func (lab *vipLab) neighMAC(t *testing.T, addr netip.Addr) net.HardwareAddr {
	t.Helper()
	br, err := lab.swl.h.LinkByName("br0")
	must(t, err)
	ns, err := lab.swl.h.NeighList(br.Attrs().Index, netlink.FAMILY_V4)
	must(t, err)
	for _, n := range ns {
		if a, ok := netip.AddrFromSlice(n.IP); ok && a.Unmap() == addr && n.HardwareAddr != nil &&
			n.State&(netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_DELAY|netlink.NUD_PERMANENT) != 0 {
			return n.HardwareAddr
		}
	}
	return nil
}

type garpSeen struct {
	at  time.Time
	mac net.HardwareAddr
}

type garpLog struct {
	mu   sync.Mutex
	seen []garpSeen
}

func (g *garpLog) snapshot() []garpSeen {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.seen)
}

// captureGARP records gratuitous ARPs for vip seen on the switch's br0 until
// the test ends.
func captureGARP(t *testing.T, ns netns.NsHandle, vip netip.Addr) *garpLog {
	t.Helper()
	s, err := openARPSocket(ns, "br0")
	must(t, err)
	must(t, unix.SetsockoptTimeval(s.fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50000}))
	log := &garpLog{}
	stop := make(chan struct{})
	done := make(chan struct{})
	t.Cleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		defer unix.Close(s.fd)
		buf := make([]byte, 128)
		v4 := vip.As4()
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, _, err := unix.Recvfrom(s.fd, buf, 0)
			if err != nil || n < 42 || binary.BigEndian.Uint16(buf[12:14]) != unix.ETH_P_ARP {
				continue
			}
			a := buf[14:n]
			if bytes.Equal(a[14:18], v4[:]) && bytes.Equal(a[24:28], v4[:]) {
				log.mu.Lock()
				log.seen = append(log.seen, garpSeen{time.Now(), net.HardwareAddr(bytes.Clone(a[8:14]))})
				log.mu.Unlock()
			}
		}
	}()
	return log
}

func TestVIPAddRemoveIdempotent(t *testing.T) {
	lab := newVIPLab(t)
	vip := ip("198.18.0.100")
	steps := []struct {
		name string
		do   func() (bool, error)
		want bool // changed
		has  bool
	}{
		{"add", func() (bool, error) { return lab.al.AddVIP("eth0", vip) }, true, true},
		{"add again", func() (bool, error) { return lab.al.AddVIP("eth0", vip) }, false, true},
		{"remove", func() (bool, error) { return lab.al.RemoveVIP("eth0", vip) }, true, false},
		{"remove again", func() (bool, error) { return lab.al.RemoveVIP("eth0", vip) }, false, false},
	}
	for _, s := range steps {
		changed, err := s.do()
		if err != nil || changed != s.want {
			t.Fatalf("%s: changed=%v err=%v, want changed=%v", s.name, changed, err, s.want)
		}
		if has, err := lab.al.HasVIP("eth0", vip); err != nil || has != s.has {
			t.Fatalf("%s: HasVIP=%v err=%v", s.name, has, err)
		}
	}
	if _, err := lab.al.AddVIP("eth0", ip("::1")); err == nil {
		t.Fatal("IPv6 VIP accepted")
	}
	if _, err := lab.al.AddVIP("no-such-link", vip); err == nil {
		t.Fatal("VIP on a missing link accepted")
	}
}

func TestVIPFailoverWithGratuitousARP(t *testing.T) {
	lab := newVIPLab(t)
	vip := ip("198.18.0.100")
	macA, macC := macOf(t, lab.al, "eth0"), macOf(t, lab.cl, "eth0")

	// A takes the VIP and announces it: two bursts of 3.
	_, err := lab.al.AddVIP("eth0", vip)
	must(t, err)
	capture := captureGARP(t, lab.sw, vip)
	cfg := GARPConfig{Count: 3, Interval: 20 * time.Millisecond, RepeatAfter: 400 * time.Millisecond}
	must(t, lab.al.AnnounceVIP(context.Background(), "eth0", vip, cfg))
	waitFor(t, 5*time.Second, "switch learns the VIP at A", func() error {
		if m := lab.neighMAC(t, vip); m.String() != macA.String() {
			return fmt.Errorf("neighbour %v, want %v", m, macA)
		}
		return nil
	})
	var seen []garpSeen
	waitFor(t, 5*time.Second, "6 gratuitous ARPs captured (2 bursts of 3)", func() error {
		if seen = capture.snapshot(); len(seen) < 6 {
			return fmt.Errorf("captured %d", len(seen))
		}
		return nil
	})
	for _, s := range seen {
		if s.mac.String() != macA.String() {
			t.Fatalf("GARP from %v, want %v", s.mac, macA)
		}
	}
	if gap := seen[3].at.Sub(seen[2].at); gap < 300*time.Millisecond {
		t.Fatalf("second burst came %s after the first, want ≈400ms", gap)
	}

	// Failover: A drops it, C takes it and announces; the switch follows
	// and a TCP connection to the VIP reaches C.
	l, err := ListenIn(lab.c, "tcp", "198.18.0.100:9000")
	if err == nil {
		l.Close()
		t.Fatal("C could listen on the VIP before holding it")
	}
	_, err = lab.al.RemoveVIP("eth0", vip)
	must(t, err)
	_, err = lab.cl.AddVIP("eth0", vip)
	must(t, err)
	l, err = ListenIn(lab.c, "tcp", "198.18.0.100:9000")
	must(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("C"))
			c.Close()
		}
	}()
	must(t, lab.cl.AnnounceVIP(context.Background(), "eth0", vip, GARPConfig{Count: 3, Interval: 20 * time.Millisecond, RepeatAfter: -1}))
	waitFor(t, 5*time.Second, "switch moves the VIP to C", func() error {
		if m := lab.neighMAC(t, vip); m.String() != macC.String() {
			return fmt.Errorf("neighbour %v, want %v", m, macC)
		}
		return nil
	})
	c := dialIn(t, lab.sw, "198.18.0.100:9000")
	defer c.Close()
	b := make([]byte, 1)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(b); err != nil || b[0] != 'C' {
		t.Fatalf("VIP answered %q, %v", b, err)
	}
}

func TestVIPHolder(t *testing.T) {
	lab := newVIPLab(t)
	vip := ip("198.18.0.100")
	capture := captureGARP(t, lab.sw, vip)
	if _, err := NewVIPHolder(lab.al, "eth0", ip("::1"), GARPConfig{}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("IPv6 VIP: %v", err)
	}
	a, err := NewVIPHolder(lab.al, "eth0", vip, GARPConfig{Interval: 10 * time.Millisecond, RepeatAfter: time.Hour}, nil)
	must(t, err)
	c, err := NewVIPHolder(lab.cl, "eth0", vip, GARPConfig{Interval: 10 * time.Millisecond, RepeatAfter: time.Hour}, nil)
	must(t, err)
	held := func(h *VIPHolder) bool {
		ok, err := h.Held()
		must(t, err)
		return ok
	}
	must(t, a.Acquire())
	must(t, a.Acquire()) // idempotent, restarts the announcement
	if !held(a) || held(c) {
		t.Fatal("after A.Acquire: want A holding, C not")
	}
	waitFor(t, 5*time.Second, "A's first burst", func() error {
		if n := len(capture.snapshot()); n < 3 {
			return fmt.Errorf("%d GARPs", n)
		}
		return nil
	})
	// Release returns promptly although the second burst is an hour away.
	start := time.Now()
	must(t, a.Release())
	must(t, a.Release())
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Release took %s", d)
	}
	if held(a) {
		t.Fatal("A still holds the VIP after Release")
	}
	must(t, c.Acquire())
	defer c.Release()
	macC := macOf(t, lab.cl, "eth0")
	waitFor(t, 5*time.Second, "switch follows the VIP to C", func() error {
		if m := lab.neighMAC(t, vip); m.String() != macC.String() {
			return fmt.Errorf("neighbour %v", m)
		}
		return nil
	})
}
