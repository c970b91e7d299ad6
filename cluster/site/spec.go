package site

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"aas/cluster/tenant"
	"aas/fsm"
	"aas/nodes/driver"
	"aas/nodes/health"
)

// BridgeNameFunc names the Linux bridge of a tenant network's subnet on a
// hypervisor (netcfg owns the naming). nil leaves Network.Bridge empty,
// which the process driver's loopback mode and docker without a shared
// bridge accept.
type BridgeNameFunc func(tenant, network string, subnet netip.Prefix) string

// template returns the group's instance template, or def when the group
// has none (an empty template means "the cluster's default instance").
func template(raw json.RawMessage, def tenant.Template) (tenant.Template, error) {
	t, err := tenant.TemplateOf(raw)
	if err != nil {
		return tenant.Template{}, fmt.Errorf("%w: group template: %w", ErrTemplate, err)
	}
	if t.Driver == "" && t.Process == nil && t.Docker == nil && t.Libvirt == nil {
		// No driver block: take the default's blocks, keep the group's
		// port and health check when it sets them.
		d := def
		if t.Port != 0 {
			d.Port = t.Port
		}
		if t.Health != nil {
			d.Health = t.Health
		}
		return d, nil
	}
	return t, nil
}

// supports reports whether a template can run on a driver: the template's
// Driver when it names one, else any driver whose block is present.
func supports(t tenant.Template, drv string) bool {
	if drv == "" {
		drv = tenant.DriverProcess
	}
	if t.Driver != "" && t.Driver != drv {
		return false
	}
	switch drv {
	case tenant.DriverProcess:
		return t.Process != nil
	case tenant.DriverDocker:
		return t.Docker != nil
	case tenant.DriverLibvirt:
		return t.Libvirt != nil
	}
	return false
}

// buildSpec turns an FSM instance and its group's template into the node
// API's create request for a hypervisor running drv.
func buildSpec(inst fsm.Instance, ten fsm.Tenant, t tenant.Template, drv string, bridge BridgeNameFunc) (driver.InstanceSpec, *health.Check, error) {
	if drv == "" {
		drv = tenant.DriverProcess
	}
	spec := driver.InstanceSpec{ID: inst.ID, Tenant: inst.Tenant, Group: inst.Group, Port: t.Port}
	switch drv {
	case tenant.DriverProcess:
		spec.Process = t.Process
	case tenant.DriverDocker:
		spec.Docker = t.Docker
	case tenant.DriverLibvirt:
		spec.Libvirt = t.Libvirt
	}
	if !supports(t, drv) {
		return spec, nil, fmt.Errorf("%w: instance %s: template has no %s block", ErrTemplate, inst.ID, drv)
	}
	if inst.IP != "" {
		ip, err := netip.ParseAddr(inst.IP)
		if err != nil {
			return spec, nil, fmt.Errorf("%w: instance %s: ip %q: %w", ErrTemplate, inst.ID, inst.IP, err)
		}
		for _, nw := range ten.Networks {
			if nw.Name != inst.Network {
				continue
			}
			for _, sn := range nw.Subnets {
				p, err := netip.ParsePrefix(sn.CIDR)
				if err != nil || !p.Contains(ip) {
					continue
				}
				n := &driver.Network{Name: nw.Name, Subnet: p.Masked(), IP: ip}
				if gw, err := netip.ParseAddr(sn.Gateway); err == nil {
					n.Gateway = gw
				}
				if bridge != nil {
					n.Bridge = bridge(inst.Tenant, nw.Name, p.Masked())
				}
				spec.Network = n
			}
		}
	}
	return spec, healthCheck(t.Health), nil
}

// healthCheck converts a tenant health check into the node API's (nil:
// the agent's default check).
func healthCheck(h *tenant.Health) *health.Check {
	if h == nil {
		return nil
	}
	c := &health.Check{
		Kind:               health.KindTCP,
		Path:               h.Path,
		Interval:           h.Interval.D(),
		Timeout:            h.Timeout.D(),
		Grace:              h.Grace.D(),
		UnhealthyThreshold: h.UnhealthyThreshold,
	}
	if h.Type == tenant.HealthHTTP {
		c.Kind = health.KindHTTP
	}
	if c.Interval > 0 && c.Timeout > c.Interval {
		c.Timeout = c.Interval
	}
	return c
}

// vcpus is the CPU allotment an instance's utilisation is measured
// against (the scaler's cpu metric is 0..1 of the allotment).
func vcpus(t tenant.Template, drv string) float64 {
	switch drv {
	case tenant.DriverDocker:
		if t.Docker != nil && t.Docker.CPUs > 0 {
			return t.Docker.CPUs
		}
	case tenant.DriverLibvirt:
		if t.Libvirt != nil && t.Libvirt.VCPUs > 0 {
			return float64(t.Libvirt.VCPUs)
		}
	}
	return 1
}

// DefaultProcessTemplate is the default instance of dev mode: the demo
// workload (`ctl workload`) of the given binary, as a process listening
// on the port the process driver hands it.
func DefaultProcessTemplate(ctlPath string) tenant.Template {
	return tenant.Template{
		Driver: tenant.DriverProcess,
		Process: &driver.ProcessTemplate{
			Command: ctlPath,
			Args:    []string{"workload", "-listen", "$AAS_LISTEN", "-id", "$AAS_INSTANCE_ID"},
		},
		Health: &tenant.Health{Type: tenant.HealthHTTP, Path: "/healthz",
			Interval: durationOf(time.Second), Timeout: durationOf(time.Second)},
	}
}
