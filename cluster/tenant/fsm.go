package tenant

import (
	"encoding/json"
	"fmt"

	"aas/fsm"
	"aas/scaler"
)

// Clone returns a deep copy of s (sharing only the read-only line table).
func (s *Spec) Clone() *Spec {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("tenant: clone: %v", err)) // plain data: cannot fail
	}
	var c Spec
	if err := json.Unmarshal(b, &c); err != nil {
		panic(fmt.Sprintf("tenant: clone: %v", err))
	}
	c.lines = s.lines
	return &c
}

// GroupTemplate is the instance template as the FSM stores it (Group.Template,
// JSON): the driver's block, the port, the health check and the secrets.
// It is Template itself; the alias names the contract.
type GroupTemplate = Template

// ToFSM converts a validated spec into the payload of the fsm's
// apply-tenant command. The caller (the cluster leader) stamps Time and,
// for optimistic concurrency, ExpectedVersion, and encrypts Secrets first
// when Settings.EncryptPasswords is set.
func ToFSM(s *Spec) (*fsm.ApplyTenant, error) {
	cmd := &fsm.ApplyTenant{
		Tenant: fsm.TenantSpec{
			Name:     s.Name,
			PublicIP: s.PublicIP,
			Settings: fsm.TenantSettings{
				LogSamples:     s.Settings.Logging,
				EncryptSecrets: s.Settings.EncryptPasswords,
				Retention:      s.Settings.Retention.D(),
			},
		},
	}
	for _, nw := range s.Networks {
		fn := fsm.Network{Name: nw.Name}
		for _, sn := range nw.Subnets {
			fn.Subnets = append(fn.Subnets, fsm.Subnet{
				CIDR: sn.CIDR, Gateway: sn.Gateway, RangeStart: sn.DHCPStart, RangeEnd: sn.DHCPEnd,
			})
		}
		cmd.Tenant.Networks = append(cmd.Tenant.Networks, fn)
	}
	for _, g := range s.Groups {
		policy, err := json.Marshal(g.Scaling.GroupSpec)
		if err != nil {
			return nil, fmt.Errorf("tenant %s group %s: policy: %w", s.Name, g.Name, err)
		}
		fg := fsm.GroupSpec{
			Name:        g.Name,
			Network:     g.Network,
			Min:         g.Scaling.Min,
			Max:         g.Scaling.Max,
			Policy:      policy,
			DrainPeriod: g.Drain.D(),
		}
		if !g.Template.empty() {
			tmpl, err := json.Marshal(g.Template)
			if err != nil {
				return nil, fmt.Errorf("tenant %s group %s: template: %w", s.Name, g.Name, err)
			}
			fg.Template = tmpl
		}
		clouds := g.Clouds
		if len(clouds) == 0 {
			clouds = s.Clouds
		}
		for _, c := range clouds {
			fg.Clouds = append(fg.Clouds, fsm.CloudPreference{Cloud: c.Name, Priority: c.Priority, Max: c.MaxInstances})
		}
		cmd.Groups = append(cmd.Groups, fg)
	}
	return cmd, nil
}

func (t *Template) empty() bool {
	return t.Driver == "" && t.Port == 0 && t.Process == nil && t.Docker == nil && t.Libvirt == nil &&
		t.Password == "" && len(t.Secrets) == 0 && t.Health == nil
}

// PolicyOf decodes a group's policy as ToFSM stored it.
func PolicyOf(raw json.RawMessage) (scaler.GroupSpec, error) {
	var g scaler.GroupSpec
	err := json.Unmarshal(raw, &g)
	return g, err
}

// TemplateOf decodes a group's template as ToFSM stored it.
func TemplateOf(raw json.RawMessage) (Template, error) {
	var t Template
	if len(raw) == 0 {
		return t, nil
	}
	err := json.Unmarshal(raw, &t)
	return t, err
}
