package labkit

import (
	"fmt"
	"net/netip"
	"os"

	"go.yaml.in/yaml/v3"

	"aas/netcfg"
)

// InstanceSubnet is one subnet of the lab tenant as the hypervisors carry
// it: a bridge (netcfg.BridgeName) holding the gateway address.
type InstanceSubnet struct {
	Tenant  string       `json:"tenant"`
	Network string       `json:"network"`
	CIDR    netip.Prefix `json:"cidr"`
	Gateway netip.Addr   `json:"gateway"`
	Bridge  string       `json:"bridge"`
}

// tenantSubnets reads the networks of a rich-format tenant file: every
// subnet inside the lab range, with its gateway (default: the first
// address, as the tenant format defines it).
func tenantSubnets(file string) ([]InstanceSubnet, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("labkit: tenant: %w", err)
	}
	var doc struct {
		Name     string `yaml:"name"`
		Networks []struct {
			Name    string `yaml:"name"`
			Subnets []struct {
				CIDR    string `yaml:"cidr"`
				Gateway string `yaml:"gateway"`
			} `yaml:"subnets"`
		} `yaml:"networks"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, file, err)
	}
	var out []InstanceSubnet
	for i, nw := range doc.Networks {
		for j, sn := range nw.Subnets {
			field := fmt.Sprintf("networks[%d].subnets[%d]", i, j)
			p, err := netip.ParsePrefix(sn.CIDR)
			if err != nil || !p.Addr().Is4() {
				return nil, fmt.Errorf("%w: %s: field %s.cidr %q: not an IPv4 prefix", ErrInvalid, file, field, sn.CIDR)
			}
			p = p.Masked()
			if !LabRange.Contains(p.Addr()) || p.Bits() < LabRange.Bits() {
				return nil, fmt.Errorf("%w: %s: field %s.cidr %s is outside the lab range %s", ErrInvalid, file, field, p, LabRange)
			}
			gw := p.Addr().Next()
			if sn.Gateway != "" {
				if gw, err = netip.ParseAddr(sn.Gateway); err != nil || !p.Contains(gw) {
					return nil, fmt.Errorf("%w: %s: field %s.gateway %q: not an address of %s", ErrInvalid, file, field, sn.Gateway, p)
				}
			}
			out = append(out, InstanceSubnet{Tenant: doc.Name, Network: nw.Name, CIDR: p, Gateway: gw,
				Bridge: netcfg.BridgeName(doc.Name, nw.Name, p.String())})
		}
	}
	return out, nil
}

// buildInstanceNetworks gives every hypervisor namespace a bridge per
// tenant subnet (holding the subnet's gateway, as netcfg.BridgeName names
// it, so the process driver in netns mode plugs instances into it) and
// makes it forward; every controller routes the subnets to its own
// hypervisor. A tenant subnet spans the clouds (the same addresses
// everywhere, as if tunnelled); each cloud's router reaches only its own
// cloud's instances, which is what its load balancer needs.
func buildInstanceNetworks(st *State, subnets []InstanceSubnet) error {
	for i := range st.Hypervisors {
		hv, err := openLinks(st.Hypervisors[i].NS)
		if err != nil {
			return err
		}
		err = func() error {
			defer hv.close()
			if err := netcfg.SetSysctl(hv.ns, "net.ipv4.ip_forward", "1"); err != nil {
				return err
			}
			for _, s := range subnets {
				if err := hv.l.EnsureSubnetBridge(netcfg.SubnetBridge{Bridge: s.Bridge,
					Gateway: netip.PrefixFrom(s.Gateway, s.CIDR.Bits())}); err != nil {
					return err
				}
				if err := hv.l.Up(s.Bridge); err != nil {
					return err
				}
			}
			return nil
		}()
		if err != nil {
			return err
		}
		ctl, err := openLinks(st.Controllers[i].NS)
		if err != nil {
			return err
		}
		err = func() error {
			defer ctl.close()
			for _, s := range subnets {
				if err := ctl.l.AddRoute(s.CIDR, hypervisorAddr(i+1), ""); err != nil {
					return err
				}
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// openLinks opens an existing namespace with a netlink handle.
func openLinks(name string) (*nsLinks, error) {
	ns, err := netcfg.NamespaceByName(name)
	if err != nil {
		return nil, err
	}
	l, err := netcfg.NewLinks(ns)
	if err != nil {
		ns.Close()
		return nil, err
	}
	return &nsLinks{name: name, ns: ns, l: l}, nil
}
