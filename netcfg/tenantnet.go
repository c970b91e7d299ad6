package netcfg

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netns"
)

// Link names derived from a tenant subnet's key ("tenant/network/subnet"):
// a fixed prefix and 8 hex digits of its hash, within the kernel's 15
// bytes whatever the names' length.
const (
	BridgePrefix = "aasbr-"
	VXLANPrefix  = "aasvx-"
)

func shortHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:4])
}

// BridgeName is the bridge of one tenant subnet on a hypervisor.
func BridgeName(tenant, network, subnet string) string {
	return BridgePrefix + shortHash(tenant+"/"+network+"/"+subnet)
}

// VXLANName is the tunnel extending a tenant subnet's bridge to one remote
// site (one link per remote: unicast point-to-point).
func VXLANName(tenant, network, subnet string, remote netip.Addr) string {
	return VXLANPrefix + shortHash(tenant+"/"+network+"/"+subnet+"@"+remote.String())
}

// SubnetBridge is the desired plumbing of one tenant subnet on a host: a
// bridge (optionally holding the subnet's gateway address) and a VXLAN
// tunnel per remote site enslaved to it.
type SubnetBridge struct {
	Bridge  string
	Gateway netip.Prefix // address of the host on the subnet (optional)
	Tunnels []VXLAN
}

// EnsureSubnetBridge creates (idempotently) the bridge, its address and its
// tunnels.
func (l *Links) EnsureSubnetBridge(s SubnetBridge) error {
	if err := l.AddBridge(s.Bridge); err != nil {
		return err
	}
	if s.Gateway.IsValid() {
		if _, err := l.AddAddr(s.Bridge, s.Gateway); err != nil {
			return err
		}
	}
	for _, v := range s.Tunnels {
		if err := l.AddVXLAN(v); err != nil {
			return err
		}
		if err := l.SetMaster(v.Name, s.Bridge); err != nil {
			return err
		}
	}
	return nil
}

// AttachNamespace plugs namespace ns into bridge with a veth pair: hostIf
// on the bridge here, nsIf inside ns with address addr and, if gw is valid,
// a default route via gw. This is how a process-driver or container
// instance joins its tenant subnet.
func (l *Links) AttachNamespace(bridge, hostIf string, ns netns.NsHandle, nsIf string, addr netip.Prefix, gw netip.Addr) error {
	if err := l.AddVeth(hostIf, nsIf, ns); err != nil {
		return err
	}
	if err := l.SetMaster(hostIf, bridge); err != nil {
		return err
	}
	if err := l.Up(hostIf); err != nil {
		return err
	}
	in, err := NewLinks(ns)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := in.Up("lo"); err != nil {
		return err
	}
	if addr.IsValid() {
		if _, err := in.AddAddr(nsIf, addr); err != nil {
			return err
		}
	}
	if err := in.Up(nsIf); err != nil {
		return err
	}
	if gw.IsValid() {
		if err := in.AddRoute(netip.MustParsePrefix("0.0.0.0/0"), gw, nsIf); err != nil {
			return fmt.Errorf("netcfg: default route in namespace: %w", err)
		}
	}
	return nil
}
