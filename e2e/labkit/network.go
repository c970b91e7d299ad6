package labkit

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netns"

	"aas/netcfg"
)

// nsNames returns the namespace names of an n-cloud lab with prefix p.
func nsNames(p string, n int) map[string][]string {
	m := map[string][]string{
		RoleWAN:    {p + "-wan"},
		RoleClient: {p + "-client"},
	}
	for i := 1; i <= n; i++ {
		m[RoleController] = append(m[RoleController], fmt.Sprintf("%s-c%d", p, i))
		m[RoleHypervisor] = append(m[RoleHypervisor], fmt.Sprintf("%s-c%d-hv1", p, i))
	}
	return m
}

// nsLinks is an open namespace with a netlink handle on it.
type nsLinks struct {
	name string
	ns   netns.NsHandle
	l    *netcfg.Links
}

func (n *nsLinks) close() {
	if n.l != nil {
		n.l.Close()
	}
	n.ns.Close()
}

func createNS(name string) (*nsLinks, error) {
	if _, err := os.Stat(netcfg.NetnsDir + "/" + name); err == nil {
		return nil, fmt.Errorf("%w: namespace %q already exists (a lab with this prefix is up?)", ErrInvalid, name)
	}
	ns, err := netcfg.NewNamespace(name)
	if err != nil {
		return nil, err
	}
	l, err := netcfg.NewLinks(ns)
	if err != nil {
		ns.Close()
		return nil, err
	}
	if err := l.Up("lo"); err != nil {
		l.Close()
		ns.Close()
		return nil, err
	}
	return &nsLinks{name: name, ns: ns, l: l}, nil
}

// buildNetwork creates the namespaces and links of st (whose Namespaces
// are already named). On error the caller runs teardown.
func buildNetwork(st *State) (err error) {
	var opened []*nsLinks
	defer func() {
		for _, o := range opened {
			o.close()
		}
	}()
	open := func(name string) (*nsLinks, error) {
		n, err := createNS(name)
		if err == nil {
			opened = append(opened, n)
		}
		return n, err
	}
	wan, err := open(st.Namespaces[RoleWAN][0])
	if err != nil {
		return err
	}
	if err := wan.l.AddBridge(wanBridge); err != nil {
		return err
	}
	// attach puts a veth between the WAN bridge (end "port") and ns
	// (end ifName, address addr/24).
	attach := func(port string, n *nsLinks, ifName string, addr netip.Addr) error {
		if err := wan.l.AddVeth(port, ifName, n.ns); err != nil {
			return err
		}
		if err := wan.l.SetMaster(port, wanBridge); err != nil {
			return err
		}
		if err := wan.l.Up(port); err != nil {
			return err
		}
		if _, err := n.l.AddAddr(ifName, withBits(addr, wanPrefix.Bits())); err != nil {
			return err
		}
		return n.l.Up(ifName)
	}
	clouds := len(st.Namespaces[RoleController])
	for i := 1; i <= clouds; i++ {
		ctl, err := open(st.Namespaces[RoleController][i-1])
		if err != nil {
			return err
		}
		if err := attach(fmt.Sprintf("c%d", i), ctl, ctlUplink, controllerWANAddr(i)); err != nil {
			return err
		}
		// The controller routes for its cloud: LAN bridge + forwarding.
		if err := ctl.l.AddBridge(lanBridge); err != nil {
			return err
		}
		if _, err := ctl.l.AddAddr(lanBridge, withBits(lanGateway(i), 24)); err != nil {
			return err
		}
		if err := netcfg.SetSysctl(ctl.ns, "net.ipv4.ip_forward", "1"); err != nil {
			return err
		}
		for j := 1; j <= clouds; j++ {
			if j != i {
				if err := ctl.l.AddRoute(lanPrefix(j), controllerWANAddr(j), ""); err != nil {
					return err
				}
			}
		}
		hv, err := open(st.Namespaces[RoleHypervisor][i-1])
		if err != nil {
			return err
		}
		if err := ctl.l.AddVeth("hv1", nsEth, hv.ns); err != nil {
			return err
		}
		if err := ctl.l.SetMaster("hv1", lanBridge); err != nil {
			return err
		}
		if err := ctl.l.Up("hv1"); err != nil {
			return err
		}
		if _, err := hv.l.AddAddr(nsEth, withBits(hypervisorAddr(i), 24)); err != nil {
			return err
		}
		if err := hv.l.Up(nsEth); err != nil {
			return err
		}
		// The rest of the lab through the cloud's router; no default route.
		if err := hv.l.AddRoute(LabRange, lanGateway(i), ""); err != nil {
			return err
		}
	}
	cl, err := open(st.Namespaces[RoleClient][0])
	if err != nil {
		return err
	}
	if err := attach(clientVeth, cl, nsEth, clientAddr()); err != nil {
		return err
	}
	for j := 1; j <= clouds; j++ {
		if err := cl.l.AddRoute(lanPrefix(j), controllerWANAddr(j), ""); err != nil {
			return err
		}
	}
	// The VIP is on the WAN segment: whichever controller holds it answers
	// ARP for it.
	if vip, err := netip.ParseAddr(st.VIP); err == nil {
		if err := cl.l.AddRoute(netip.PrefixFrom(vip, 32), netip.Addr{}, nsEth); err != nil {
			return err
		}
	}
	return nil
}

// deleteNamespaces removes the state's namespaces and any other namespace
// named with its prefix (left over by a crash between create and record).
func deleteNamespaces(st *State) error {
	names := map[string]bool{}
	for _, n := range st.AllNamespaces() {
		names[n] = true
	}
	for _, n := range ListNamespaces(st.Prefix + "-") {
		names[n] = true
	}
	var errs []error
	for n := range names {
		if !strings.HasPrefix(n, st.Prefix+"-") {
			errs = append(errs, fmt.Errorf("%w: namespace %q does not carry the lab prefix %q; left alone", ErrInvalid, n, st.Prefix))
			continue
		}
		if err := netcfg.DeleteNamespace(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ListNamespaces returns the named network namespaces starting with prefix.
func ListNamespaces(prefix string) []string {
	ents, err := os.ReadDir(netcfg.NetnsDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out
}
