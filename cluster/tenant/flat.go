package tenant

import (
	"net/netip"
	"reflect"
	"slices"

	"go.yaml.in/yaml/v3"

	"aas/scaler"
)

// flatSpec is the seed's tenant.yml, key for key.
type flatSpec struct {
	TName            string  `yaml:"t_name"`
	NwName           string  `yaml:"nw_name"`
	SubnetAddr       string  `yaml:"subnet_addr"`
	SubnetMask       string  `yaml:"subnet_mask"`
	Subnet           string  `yaml:"subnet"`
	DHCPStart        string  `yaml:"dhcp_start"`
	DHCPEnd          string  `yaml:"dhcp_end"`
	MinContainers    int     `yaml:"min_containers"`
	MaxContainers    int     `yaml:"max_containers"`
	Threshold        float64 `yaml:"threshold"`
	PublicIP         string  `yaml:"public_ip"`
	ShouldLog        bool    `yaml:"should_log"`
	ShouldEncryptPwd bool    `yaml:"should_encrypt_pwd"`
	Policy           string  `yaml:"policy"`
}

var flatKeys = func() map[string]fieldInfo {
	m, _ := structFields(reflect.TypeFor[flatSpec]())
	return m
}()

// isFlat reports whether the document is in the seed's flat format: it has
// a t_name key.
func isFlat(doc *yaml.Node) bool {
	for i := 0; i+1 < len(doc.Content); i += 2 {
		if doc.Content[i].Kind == yaml.ScalarNode && doc.Content[i].Value == "t_name" {
			return true
		}
	}
	return false
}

// Flat policy names beyond the scaling engine's presets.
const (
	flatDynamic = "dynamic" // the seed's reactive formula on threshold
	flatStatic  = "static"  // fixed size: min_containers
)

// toSpec maps the flat keys onto the rich format and registers aliases so
// that errors found later name the flat key and its line.
func (f *flatSpec) toSpec(lm *lineMap, el *errList) *Spec {
	al := func(rich, flat string) {
		if p, ok := lm.m[flat]; ok {
			lm.alias(rich, pos{line: p.line, name: flat})
		} else {
			lm.alias(rich, pos{line: 0, name: flat})
		}
	}
	line := func(flat string) int { l, _ := lm.at(flat); return l }

	if f.TName == "" {
		el.add(line("t_name"), "t_name", "required")
	}
	nw := f.NwName
	if nw == "" {
		nw = f.TName + "_nw"
	}
	sn := Subnet{CIDR: f.Subnet, Gateway: f.SubnetAddr, DHCPStart: f.DHCPStart, DHCPEnd: f.DHCPEnd}
	al("networks[0].name", "nw_name")
	al("networks[0].subnets[0].cidr", "subnet")
	al("networks[0].subnets[0].gateway", "subnet_addr")
	al("networks[0].subnets[0].dhcp_start", "dhcp_start")
	al("networks[0].subnets[0].dhcp_end", "dhcp_end")
	// subnet_addr + subnet_mask describe the subnet too; they must agree
	// with subnet, or stand in for it.
	if f.SubnetMask != "" {
		mask, err := netip.ParseAddr(f.SubnetMask)
		bits := maskBits(mask)
		switch {
		case err != nil || !mask.Is4():
			el.add(line("subnet_mask"), "subnet_mask", "want a dotted IPv4 mask such as 255.255.255.0, got %q", clip(f.SubnetMask))
		case bits < 0:
			el.add(line("subnet_mask"), "subnet_mask", "%s is not a contiguous netmask", mask)
		case f.Subnet != "":
			if p, err := netip.ParsePrefix(f.Subnet); err == nil && p.Bits() != bits {
				el.add(line("subnet_mask"), "subnet_mask", "%s is a /%d, but subnet %s is a /%d", mask, bits, p, p.Bits())
			}
		case f.SubnetAddr != "":
			if a, err := netip.ParseAddr(f.SubnetAddr); err == nil && a.Is4() {
				p, _ := a.Prefix(bits)
				sn.CIDR = p.String()
				al("networks[0].subnets[0].cidr", "subnet_mask")
			}
		}
	}
	if sn.CIDR == "" {
		el.add(line("subnet"), "subnet", "required (or subnet_addr and subnet_mask)")
	}
	al("name", "t_name")
	al("public_ip", "public_ip")
	al("settings.logging", "should_log")
	al("settings.encrypt_passwords", "should_encrypt_pwd")

	g := Group{Name: DefaultGroupName}
	g.Scaling.Min, g.Scaling.Max = f.MinContainers, f.MaxContainers
	if !lm.has("max_containers") {
		g.Scaling.Max = max(f.MinContainers, 1)
	}
	g.Scaling.Target = f.Threshold
	al("groups[0].scaling.min", "min_containers")
	al("groups[0].scaling.max", "max_containers")
	al("groups[0].scaling.target", "threshold")
	al("groups[0].scaling.preset", "policy")
	al("groups[0].scaling.policies", "policy")
	al("groups[0].scaling.policies[0]", "policy")
	al("groups[0].scaling.policies[0].reactive.threshold", "threshold")
	al("groups[0].scaling.policies[0].reactive.scale_in_threshold", "threshold")
	al("groups[0]", "policy")
	al("groups[0].network", "nw_name")
	switch pol := f.Policy; {
	case pol == "" || pol == flatDynamic || pol == string(scaler.KindReactive):
		g.Scaling.Policies = []scaler.Policy{{Name: flatDynamic, Reactive: &scaler.Reactive{Threshold: f.Threshold}}}
	case pol == flatStatic || pol == string(scaler.KindNone):
		// A fixed group at min_containers.
	case pol == string(scaler.KindCustom):
		el.add(line("policy"), "policy", "custom combines schedules with a dynamic policy; schedules need the rich format (see FORMAT.md)")
	case slices.Contains(scaler.NamedPolicies(), pol):
		g.Scaling.Preset = pol
	default:
		el.add(line("policy"), "policy", "unknown policy %q (want dynamic, static or one of %v)", clip(pol), scaler.NamedPolicies())
	}
	return &Spec{
		Name:     f.TName,
		PublicIP: f.PublicIP,
		Settings: Settings{Logging: f.ShouldLog || !lm.has("should_log"), EncryptPasswords: f.ShouldEncryptPwd},
		Networks: []Network{{Name: nw, Subnets: []Subnet{sn}}},
		Groups:   []Group{g},
		Format:   FormatFlat,
	}
}

// maskBits returns the prefix length of a contiguous IPv4 netmask, or -1.
func maskBits(m netip.Addr) int {
	if !m.Is4() {
		return -1
	}
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for v&0x80000000 != 0 {
		n++
		v <<= 1
	}
	if v != 0 {
		return -1
	}
	return n
}
