package process

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"runtime"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// nsNames derives the namespace and host-side veth names from the instance
// ID (interface names are limited to 15 bytes).
func nsNames(id string) (ns, hostVeth string) {
	h := sha256.Sum256([]byte(id))
	x := hex.EncodeToString(h[:5])
	return "aas-" + x, "aasv" + x
}

func peerTmpName(hostVeth string) string { return "aasp" + hostVeth[4:] }

// hostHandle opens a netlink handle in the namespace holding the bridges.
func (d *Driver) hostHandle() (*netlink.Handle, error) {
	if d.cfg.HostNetNS == "" {
		return netlink.NewHandle()
	}
	h, err := netns.GetFromPath(d.cfg.HostNetNS)
	if err != nil {
		return nil, fmt.Errorf("host netns %s: %w", d.cfg.HostNetNS, err)
	}
	defer h.Close()
	return netlink.NewHandleAt(h)
}

// newNamedNS creates /var/run/netns/NAME without leaving the calling thread
// in it.
func newNamedNS(name string) (ns netns.NsHandle, err error) {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return 0, err
	}
	defer orig.Close()
	ns, err = netns.NewNamed(name)
	if serr := netns.Set(orig); serr != nil {
		// The thread is stuck in the wrong namespace: keep it locked so
		// the runtime discards it when this goroutine exits.
		return ns, errors.Join(err, serr)
	}
	runtime.UnlockOSThread()
	return ns, err
}

// setupNetNS creates the instance's namespace and a veth pair: the host end
// on the tenant bridge, the other end eth0 inside with the instance's IP and
// a default route via the gateway.
func (d *Driver) setupNetNS(r *record) error {
	n := r.Spec.Network
	host, err := d.hostHandle()
	if err != nil {
		return err
	}
	defer host.Close()
	br, err := host.LinkByName(n.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", n.Bridge, err)
	}
	ns, err := newNamedNS(r.NetNS)
	if err != nil {
		return fmt.Errorf("create netns %s: %w", r.NetNS, err)
	}
	defer ns.Close()
	peer := peerTmpName(r.HostVeth)
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: r.HostVeth, MasterIndex: br.Attrs().Index},
		PeerName:      peer,
		PeerNamespace: netlink.NsFd(int(ns)),
	}
	if err := host.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s: %w", r.HostVeth, err)
	}
	hv, err := host.LinkByName(r.HostVeth)
	if err != nil {
		return fmt.Errorf("veth %s: %w", r.HostVeth, err)
	}
	if err := host.LinkSetUp(hv); err != nil {
		return fmt.Errorf("veth %s up: %w", r.HostVeth, err)
	}
	in, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", r.NetNS, err)
	}
	defer in.Close()
	p, err := in.LinkByName(peer)
	if err != nil {
		return fmt.Errorf("peer %s: %w", peer, err)
	}
	if err := in.LinkSetName(p, "eth0"); err != nil {
		return fmt.Errorf("rename %s: %w", peer, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: n.IP.AsSlice(), Mask: net.CIDRMask(n.Subnet.Bits(), n.IP.BitLen())}}
	if err := in.AddrAdd(p, addr); err != nil {
		return fmt.Errorf("address %s: %w", addr, err)
	}
	if err := in.LinkSetUp(p); err != nil {
		return fmt.Errorf("eth0 up: %w", err)
	}
	if lo, err := in.LinkByName("lo"); err == nil {
		_ = in.LinkSetUp(lo)
	}
	if n.Gateway.IsValid() {
		rt := &netlink.Route{LinkIndex: p.Attrs().Index, Gw: n.Gateway.AsSlice()}
		if err := in.RouteAdd(rt); err != nil {
			return fmt.Errorf("default route via %s: %w", n.Gateway, err)
		}
	}
	// The address may have been an instance's that was deleted moments
	// ago: its MAC stays in the bridge's neighbour cache here and traffic
	// routed to the new instance would go to the old MAC until the entry
	// expires (seconds of timeouts after a quick scale-in/scale-out).
	if err := host.NeighDel(&netlink.Neigh{LinkIndex: br.Attrs().Index, IP: n.IP.AsSlice()}); err != nil && !errors.Is(err, syscall.ENOENT) {
		d.log.Debug("flush neighbour entry", "ip", n.IP, "bridge", n.Bridge, "error", err)
	}
	return nil
}

// teardownNetNS removes the veth (both ends) and the namespace; missing
// pieces are not an error.
func (d *Driver) teardownNetNS(r *record) {
	if host, err := d.hostHandle(); err == nil {
		if l, err := host.LinkByName(r.HostVeth); err == nil {
			if err := host.LinkDel(l); err != nil {
				d.log.Warn("delete veth", "veth", r.HostVeth, "error", err)
			}
		}
		host.Close()
	}
	if err := netns.DeleteNamed(r.NetNS); err != nil && !errors.Is(err, errNotExist) {
		d.log.Debug("delete netns", "netns", r.NetNS, "error", err)
	}
}
