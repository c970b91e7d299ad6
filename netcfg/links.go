package netcfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// MaxLinkName is the kernel's limit on interface names (IFNAMSIZ - 1).
const MaxLinkName = 15

// Links creates and configures links, addresses and routes in one network
// namespace through netlink (no ip(8) commands). Methods are idempotent
// where the kernel state allows it: an existing link or address of the
// requested kind is accepted.
type Links struct {
	h  *netlink.Handle
	ns netns.NsHandle
}

// NewLinks returns a netlink handle on ns; netns.None() means the caller's
// namespace. Close it when done.
func NewLinks(ns netns.NsHandle) (*Links, error) {
	var h *netlink.Handle
	var err error
	if ns == netns.None() {
		h, err = netlink.NewHandle()
	} else {
		h, err = netlink.NewHandleAt(ns)
	}
	if err != nil {
		return nil, fmt.Errorf("netcfg: netlink handle: %w", err)
	}
	return &Links{h: h, ns: ns}, nil
}

// Close releases the netlink sockets.
func (l *Links) Close() { l.h.Close() }

func linkName(name string) error { return validName("link", name, MaxLinkName) }

func (l *Links) link(name string) (netlink.Link, error) {
	if err := linkName(name); err != nil {
		return nil, err
	}
	lk, err := l.h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("netcfg: link %q: %w", name, err)
	}
	return lk, nil
}

// exists reports whether a link called name exists and has the given type.
func (l *Links) exists(name, typ string) (bool, error) {
	lk, err := l.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return false, nil
		}
		return false, fmt.Errorf("netcfg: link %q: %w", name, err)
	}
	if lk.Type() != typ {
		return false, fmt.Errorf("%w: link %q exists with type %s, want %s", ErrInvalid, name, lk.Type(), typ)
	}
	return true, nil
}

func (l *Links) add(lk netlink.Link) error {
	name := lk.Attrs().Name
	ok, err := l.exists(name, lk.Type())
	if err != nil || ok {
		return err
	}
	if err := l.h.LinkAdd(lk); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP) {
			return fmt.Errorf("%w: link type %s (%q): %w", ErrNotSupported, lk.Type(), name, err)
		}
		return fmt.Errorf("netcfg: add %s link %q: %w", lk.Type(), name, err)
	}
	return nil
}

// AddBridge creates a Linux bridge (idempotent) and sets it up.
func (l *Links) AddBridge(name string) error {
	if err := linkName(name); err != nil {
		return err
	}
	if err := l.add(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
		return err
	}
	return l.Up(name)
}

// AddVeth creates a veth pair: name here, peer in peerNS (netns.None():
// here too). Both ends stay down; existing pairs are accepted.
func (l *Links) AddVeth(name, peer string, peerNS netns.NsHandle) error {
	if err := linkName(name); err != nil {
		return err
	}
	if err := linkName(peer); err != nil {
		return err
	}
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer}
	if peerNS != netns.None() {
		v.PeerNamespace = netlink.NsFd(int(peerNS))
	}
	return l.add(v)
}

// VXLAN describes a point-to-point VXLAN tunnel endpoint.
type VXLAN struct {
	Name   string
	VNI    int        // 1..16777215
	Local  netip.Addr // source address (on Dev)
	Remote netip.Addr // the other end (unicast)
	Port   int        // UDP port; 0 → 4789
	Dev    string     // underlay link (optional)
	MTU    int        // 0 → kernel default
}

// AddVXLAN creates (idempotently) a unicast VXLAN link and sets it up.
func (l *Links) AddVXLAN(v VXLAN) error {
	if err := linkName(v.Name); err != nil {
		return err
	}
	if v.VNI < 1 || v.VNI > 1<<24-1 {
		return fmt.Errorf("%w: vxlan %q: field VNI %d out of 1..16777215", ErrInvalid, v.Name, v.VNI)
	}
	if !v.Local.Is4() || !v.Remote.Is4() {
		return fmt.Errorf("%w: vxlan %q: fields Local/Remote must be IPv4 (got %v, %v)", ErrInvalid, v.Name, v.Local, v.Remote)
	}
	port := v.Port
	if port == 0 {
		port = 4789
	}
	vx := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: v.Name, MTU: v.MTU},
		VxlanId:   v.VNI,
		SrcAddr:   net.IP(v.Local.AsSlice()),
		Group:     net.IP(v.Remote.AsSlice()),
		Port:      port,
		Learning:  true,
	}
	if v.Dev != "" {
		dev, err := l.link(v.Dev)
		if err != nil {
			return err
		}
		vx.VtepDevIndex = dev.Attrs().Index
	}
	if err := l.add(vx); err != nil {
		return err
	}
	return l.Up(v.Name)
}

// AddGRE creates a GRE tunnel. On kernels without GRE (as on the machines
// this project is developed on) it returns an error wrapping
// ErrGRENotSupported.
func (l *Links) AddGRE(name string, local, remote netip.Addr) error {
	if err := linkName(name); err != nil {
		return err
	}
	if !local.Is4() || !remote.Is4() {
		return fmt.Errorf("%w: gre %q: local/remote must be IPv4", ErrInvalid, name)
	}
	err := l.add(&netlink.Gretun{LinkAttrs: netlink.LinkAttrs{Name: name},
		Local: net.IP(local.AsSlice()), Remote: net.IP(remote.AsSlice())})
	if err != nil {
		if errors.Is(err, ErrNotSupported) || !GRESupported() {
			return fmt.Errorf("%w: %w", ErrGRENotSupported, err)
		}
		return err
	}
	return l.Up(name)
}

// GRESupported reports whether the kernel has GRE (the ip_gre module loaded
// or loadable, or built in).
func GRESupported() bool {
	if _, err := os.Stat("/sys/module/ip_gre"); err == nil {
		return true
	}
	rel, err := kernelRelease()
	if err != nil {
		return false
	}
	for _, p := range []string{"kernel/net/ipv4/ip_gre.ko", "kernel/net/ipv4/ip_gre.ko.xz", "kernel/net/ipv4/ip_gre.ko.zst"} {
		if _, err := os.Stat(filepath.Join("/lib/modules", rel, p)); err == nil {
			return true
		}
	}
	return false
}

func kernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// SetMaster enslaves link to bridge.
func (l *Links) SetMaster(link, bridge string) error {
	lk, err := l.link(link)
	if err != nil {
		return err
	}
	br, err := l.link(bridge)
	if err != nil {
		return err
	}
	if lk.Attrs().MasterIndex == br.Attrs().Index {
		return nil
	}
	if err := l.h.LinkSetMasterByIndex(lk, br.Attrs().Index); err != nil {
		return fmt.Errorf("netcfg: %s master %s: %w", link, bridge, err)
	}
	return nil
}

// Up sets a link up.
func (l *Links) Up(name string) error {
	lk, err := l.link(name)
	if err != nil {
		return err
	}
	if err := l.h.LinkSetUp(lk); err != nil {
		return fmt.Errorf("netcfg: set %s up: %w", name, err)
	}
	return nil
}

// DeleteLink removes a link; a missing one is not an error.
func (l *Links) DeleteLink(name string) error {
	if err := linkName(name); err != nil {
		return err
	}
	lk, err := l.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("netcfg: link %q: %w", name, err)
	}
	if err := l.h.LinkDel(lk); err != nil {
		return fmt.Errorf("netcfg: delete link %q: %w", name, err)
	}
	return nil
}

func toIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// AddAddr assigns p (address/prefix) to link; it reports whether it was
// added (false: it was already there).
func (l *Links) AddAddr(link string, p netip.Prefix) (bool, error) {
	if !p.IsValid() {
		return false, fmt.Errorf("%w: address %v on %s", ErrInvalid, p, link)
	}
	lk, err := l.link(link)
	if err != nil {
		return false, err
	}
	if has, err := l.hasAddr(lk, p.Addr()); err != nil || has {
		return false, err
	}
	if err := l.h.AddrAdd(lk, &netlink.Addr{IPNet: toIPNet(p)}); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return false, nil
		}
		return false, fmt.Errorf("netcfg: add %s to %s: %w", p, link, err)
	}
	return true, nil
}

// DelAddr removes p from link; it reports whether it was there.
func (l *Links) DelAddr(link string, p netip.Prefix) (bool, error) {
	lk, err := l.link(link)
	if err != nil {
		return false, err
	}
	if has, err := l.hasAddr(lk, p.Addr()); err != nil || !has {
		return false, err
	}
	if err := l.h.AddrDel(lk, &netlink.Addr{IPNet: toIPNet(p)}); err != nil {
		if errors.Is(err, unix.EADDRNOTAVAIL) {
			return false, nil
		}
		return false, fmt.Errorf("netcfg: remove %s from %s: %w", p, link, err)
	}
	return true, nil
}

// HasAddr reports whether addr is assigned to link.
func (l *Links) HasAddr(link string, addr netip.Addr) (bool, error) {
	lk, err := l.link(link)
	if err != nil {
		return false, err
	}
	return l.hasAddr(lk, addr)
}

func (l *Links) hasAddr(lk netlink.Link, addr netip.Addr) (bool, error) {
	fam := netlink.FAMILY_V4
	if addr.Is6() {
		fam = netlink.FAMILY_V6
	}
	addrs, err := l.h.AddrList(lk, fam)
	if err != nil {
		return false, fmt.Errorf("netcfg: list addresses of %s: %w", lk.Attrs().Name, err)
	}
	for _, a := range addrs {
		if got, ok := netip.AddrFromSlice(a.IP); ok && got.Unmap() == addr.Unmap() {
			return true, nil
		}
	}
	return false, nil
}

// AddRoute adds (or replaces) a route to dst via gw; an invalid gw means a
// directly connected route on dev (dev may be empty when gw is given).
func (l *Links) AddRoute(dst netip.Prefix, gw netip.Addr, dev string) error {
	r := &netlink.Route{Dst: toIPNet(dst)}
	if gw.IsValid() {
		r.Gw = net.IP(gw.AsSlice())
	}
	if dev != "" {
		lk, err := l.link(dev)
		if err != nil {
			return err
		}
		r.LinkIndex = lk.Attrs().Index
	}
	if err := l.h.RouteReplace(r); err != nil {
		return fmt.Errorf("netcfg: route %s via %v dev %q: %w", dst, gw, dev, err)
	}
	return nil
}

// SetSysctl writes a sysctl (dotted key, e.g. "net.ipv4.ip_forward") in
// namespace ns (netns.None(): the caller's). Only net.* keys are allowed.
func SetSysctl(ns netns.NsHandle, key, value string) error {
	if !strings.HasPrefix(key, "net.") || strings.Contains(key, "..") || strings.ContainsAny(key, "/ ") {
		return fmt.Errorf("%w: sysctl key %q (only net.* keys)", ErrInvalid, key)
	}
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	write := func() error { return os.WriteFile(path, []byte(value), 0o644) }
	var err error
	if ns == netns.None() {
		err = write()
	} else {
		err = Do(ns, write)
	}
	if err != nil {
		return fmt.Errorf("netcfg: sysctl %s=%s: %w", key, value, err)
	}
	return nil
}
