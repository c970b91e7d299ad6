package tenant

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	"aas/scaler"
	"aas/scaler/forecast"
)

// Bounds of the numbers in a tenant file.
const (
	MaxInstances = 10000 // per group (max) and per cloud (max_instances)
	MaxPriority  = 1000
	MaxDrain     = time.Hour
	MaxRetention = 10 * 365 * 24 * time.Hour
)

// ValidName reports whether s may name a tenant, network, cloud, group or
// secret: a DNS-label-like word of 1–63 lower-case letters, digits, '-' and
// '_' (the seed's demo_nw), starting with a letter or digit and not ending
// with '-' or '_'. Every such name is also a valid FSM name.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case (c == '-' || c == '_') && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

// Validate applies the defaults and checks a spec built in code (Parse
// already did both). Errors name fields by path; lines are known only for
// parsed specs.
func (s *Spec) Validate() error {
	return s.validate(&errList{file: s.Source})
}

// checker reports errors at the line of a field path.
type checker struct {
	s  *Spec
	el *errList
}

func (c *checker) errf(path, format string, args ...any) {
	line, name := c.s.lines.at(path)
	c.el.add(line, name, format, args...)
}

func (c *checker) name(path, v string) {
	switch {
	case v == "":
		c.errf(path, "required")
	case !ValidName(v):
		c.errf(path, "%q is not a valid name: want 1-%d lower-case letters, digits, '-' or '_', starting with a letter or digit", clip(v), MaxNameLen)
	}
}

func (s *Spec) validate(el *errList) error {
	c := &checker{s: s, el: el}
	if s.Format == "" {
		s.Format = FormatRich
	}
	c.name("name", s.Name)
	if s.PublicIP != "" {
		a, err := netip.ParseAddr(s.PublicIP)
		switch {
		case err != nil || a.Zone() != "":
			c.errf("public_ip", "%q is not an IP address", clip(s.PublicIP))
		case a.IsUnspecified() || a.IsMulticast() || a.IsLoopback():
			c.errf("public_ip", "%s is not a unicast host address", a)
		default:
			s.PublicIP = a.String()
		}
	}
	if !s.lines.has("settings.logging") && s.Format == FormatRich {
		s.Settings.Logging = true
	}
	if r := s.Settings.Retention.D(); r < 0 || r > MaxRetention {
		c.errf("settings.retention", "must be between 0 and %s, got %s", MaxRetention, r)
	}
	s.validateNetworks(c)
	c.clouds("clouds", s.Clouds)
	seen := map[string]bool{}
	for i := range s.Groups {
		p := index("groups", i)
		g := &s.Groups[i]
		c.name(p+".name", g.Name)
		if g.Name != "" && seen[g.Name] {
			c.errf(p+".name", "group %q is listed twice", g.Name)
		}
		seen[g.Name] = true
		s.validateGroup(c, p, g)
	}
	return el.err()
}

func (s *Spec) validateNetworks(c *checker) {
	if len(s.Networks) == 0 {
		c.errf("networks", "at least one network is required")
		return
	}
	type placed struct {
		path   string
		prefix netip.Prefix
		lo, hi netip.Addr
	}
	var all []placed
	names := map[string]bool{}
	for i := range s.Networks {
		np := index("networks", i)
		nw := &s.Networks[i]
		c.name(np+".name", nw.Name)
		if nw.Name != "" && names[nw.Name] {
			c.errf(np+".name", "network %q is listed twice", nw.Name)
		}
		names[nw.Name] = true
		if len(nw.Subnets) == 0 {
			c.errf(np+".subnets", "at least one subnet is required")
		}
		for j := range nw.Subnets {
			sp := index(np+".subnets", j)
			sn := &nw.Subnets[j]
			pfx, lo, hi, ok := c.subnet(sp, sn)
			if !ok {
				continue
			}
			for _, o := range all {
				if o.prefix.Overlaps(pfx) {
					c.errf(sp+".cidr", "%s overlaps %s (%s)", pfx, o.prefix, o.path)
				} else if lo.Compare(o.hi) <= 0 && o.lo.Compare(hi) <= 0 {
					c.errf(sp+".dhcp_start", "range %s-%s overlaps %s-%s (%s)", lo, hi, o.lo, o.hi, o.path)
				}
			}
			all = append(all, placed{sp, pfx, lo, hi})
		}
	}
}

// subnet fills the defaults of one subnet and checks it; it returns the
// prefix and the address range.
func (c *checker) subnet(sp string, sn *Subnet) (netip.Prefix, netip.Addr, netip.Addr, bool) {
	var none netip.Addr
	if sn.CIDR == "" {
		c.errf(sp+".cidr", "required")
		return netip.Prefix{}, none, none, false
	}
	pfx, err := netip.ParsePrefix(sn.CIDR)
	if err != nil {
		c.errf(sp+".cidr", "%q is not a CIDR prefix such as 10.0.0.0/24", clip(sn.CIDR))
		return netip.Prefix{}, none, none, false
	}
	if pfx.Masked() != pfx {
		c.errf(sp+".cidr", "%s has host bits set (want %s)", pfx, pfx.Masked())
		return netip.Prefix{}, none, none, false
	}
	minBits, maxBits := 8, 30
	if pfx.Addr().Is6() {
		minBits, maxBits = 64, 126
	}
	if pfx.Bits() > maxBits || pfx.Bits() < minBits {
		c.errf(sp+".cidr", "a /%d is not usable: want /%d to /%d", pfx.Bits(), minBits, maxBits)
		return netip.Prefix{}, none, none, false
	}
	if pfx.Addr().IsLoopback() || pfx.Addr().IsMulticast() || pfx.Addr().IsUnspecified() {
		c.errf(sp+".cidr", "%s is not a unicast range", pfx)
		return netip.Prefix{}, none, none, false
	}
	sn.CIDR = pfx.String()
	network := pfx.Addr()
	last := lastAddr(pfx)
	firstHost, lastHost := network.Next(), last
	if pfx.Addr().Is4() {
		lastHost = last.Prev() // the broadcast address
	}
	addr := func(field, v string) (netip.Addr, bool) {
		a, err := netip.ParseAddr(v)
		switch {
		case err != nil || a.Zone() != "":
			c.errf(sp+"."+field, "%q is not an IP address", clip(v))
		case a.Is4() != pfx.Addr().Is4() || !pfx.Contains(a):
			c.errf(sp+"."+field, "%s is outside subnet %s", a, pfx)
		case a == network || (pfx.Addr().Is4() && a == last):
			c.errf(sp+"."+field, "%s is the network or broadcast address of %s", a, pfx)
		default:
			return a, true
		}
		return a, false
	}
	ok := true
	var gw netip.Addr
	if sn.Gateway == "" {
		gw = firstHost
		sn.Gateway = gw.String()
	} else if gw, ok = addr("gateway", sn.Gateway); ok {
		sn.Gateway = gw.String()
	}
	var lo, hi netip.Addr
	if sn.DHCPStart == "" {
		lo = firstHost
		if lo == gw {
			lo = lo.Next()
		}
		sn.DHCPStart = lo.String()
	} else if a, good := addr("dhcp_start", sn.DHCPStart); good {
		lo = a
		sn.DHCPStart = a.String()
	} else {
		ok = false
	}
	if sn.DHCPEnd == "" {
		hi = lastHost
		if hi == gw {
			hi = hi.Prev()
		}
		sn.DHCPEnd = hi.String()
	} else if a, good := addr("dhcp_end", sn.DHCPEnd); good {
		hi = a
		sn.DHCPEnd = a.String()
	} else {
		ok = false
	}
	if !ok {
		return pfx, lo, hi, false
	}
	if lo.Compare(hi) > 0 {
		c.errf(sp+".dhcp_end", "%s is before dhcp_start %s", hi, lo)
		return pfx, lo, hi, false
	}
	if gw.Compare(lo) >= 0 && gw.Compare(hi) <= 0 {
		c.errf(sp+".gateway", "%s lies inside the DHCP range %s-%s", gw, lo, hi)
		return pfx, lo, hi, false
	}
	return pfx, lo, hi, true
}

// lastAddr returns the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (c *checker) clouds(path string, cl []Cloud) {
	names := map[string]bool{}
	for i, cd := range cl {
		p := index(path, i)
		c.name(p+".name", cd.Name)
		if cd.Name != "" && names[cd.Name] {
			c.errf(p+".name", "cloud %q is listed twice", cd.Name)
		}
		names[cd.Name] = true
		if cd.Priority < 0 || cd.Priority > MaxPriority {
			c.errf(p+".priority", "must be between 0 and %d, got %d", MaxPriority, cd.Priority)
		}
		if cd.MaxInstances < 0 || cd.MaxInstances > MaxInstances {
			c.errf(p+".max_instances", "must be between 0 (no cap) and %d, got %d", MaxInstances, cd.MaxInstances)
		}
	}
}

func (s *Spec) validateGroup(c *checker, p string, g *Group) {
	switch {
	case g.Network == "" && len(s.Networks) == 1:
		g.Network = s.Networks[0].Name
	case g.Network == "":
		c.errf(p+".network", "required when the tenant has %d networks", len(s.Networks))
	case !slices.ContainsFunc(s.Networks, func(n Network) bool { return n.Name == g.Network }):
		c.errf(p+".network", "no network named %q in this file", clip(g.Network))
	}
	c.clouds(p+".clouds", g.Clouds)
	if !s.lines.has(p+".drain") && g.Drain == 0 {
		g.Drain = scaler.Duration(DefaultDrain * time.Second)
	}
	if d := g.Drain.D(); d < 0 || d > MaxDrain {
		c.errf(p+".drain", "must be between 0 and %s, got %s", MaxDrain, d)
	}
	c.template(p+".template", &g.Template)
	s.validateScaling(c, p+".scaling", g)
}

func (c *checker) template(p string, t *Template) {
	blocks := map[string]bool{DriverProcess: t.Process != nil, DriverDocker: t.Docker != nil, DriverLibvirt: t.Libvirt != nil}
	switch t.Driver {
	case "":
		for _, d := range []string{DriverProcess, DriverDocker, DriverLibvirt} {
			if blocks[d] {
				c.errf(p+".driver", "required with a %s block", d)
			}
		}
	case DriverProcess, DriverDocker, DriverLibvirt:
		if !blocks[t.Driver] {
			c.errf(p+".driver", "driver %s needs a %s block", t.Driver, t.Driver)
		}
		for _, d := range []string{DriverProcess, DriverDocker, DriverLibvirt} {
			if d != t.Driver && blocks[d] {
				c.errf(p+"."+d, "a %s block with driver %s", d, t.Driver)
			}
		}
	default:
		c.errf(p+".driver", "unknown driver %q (want process, docker or libvirt)", clip(t.Driver))
	}
	if t.Process != nil && strings.TrimSpace(t.Process.Command) == "" {
		c.errf(p+".process.command", "required")
	}
	if t.Docker != nil {
		if strings.TrimSpace(t.Docker.Image) == "" {
			c.errf(p+".docker.image", "required")
		}
		if t.Docker.CPUs < 0 {
			c.errf(p+".docker.cpus", "must be ≥ 0")
		}
		if t.Docker.MemoryBytes < 0 {
			c.errf(p+".docker.memory_bytes", "must be ≥ 0")
		}
	}
	if t.Libvirt != nil {
		if strings.TrimSpace(t.Libvirt.DomainXML) == "" {
			c.errf(p+".libvirt.domain_xml", "required")
		}
		if t.Libvirt.VCPUs < 0 {
			c.errf(p+".libvirt.vcpus", "must be ≥ 0")
		}
		if t.Libvirt.MemoryMiB < 0 {
			c.errf(p+".libvirt.memory_mib", "must be ≥ 0")
		}
	}
	if t.Port < 0 || t.Port > 65535 {
		c.errf(p+".port", "must be between 1 and 65535, got %d", t.Port)
	}
	names := map[string]bool{}
	for i, sec := range t.Secrets {
		sp := index(p+".secrets", i)
		c.name(sp+".name", sec.Name)
		if sec.Name != "" && names[sec.Name] {
			c.errf(sp+".name", "secret %q is listed twice", sec.Name)
		}
		names[sec.Name] = true
		if sec.Value == "" {
			c.errf(sp+".value", "required")
		}
	}
	if h := t.Health; h != nil {
		hp := p + ".health"
		switch h.Type {
		case "":
			h.Type = HealthTCP
		case HealthTCP, HealthHTTP:
		default:
			c.errf(hp+".type", "unknown health check %q (want tcp or http)", clip(h.Type))
		}
		if h.Type == HealthHTTP && h.Path == "" {
			h.Path = "/"
		}
		if h.Path != "" && (h.Type != HealthHTTP || !strings.HasPrefix(h.Path, "/") || strings.ContainsAny(h.Path, " \t\r\n")) {
			c.errf(hp+".path", "want an absolute URL path such as /healthz on an http check, got %q", clip(h.Path))
		}
		if h.Port == 0 {
			h.Port = t.Port
		}
		if h.Port <= 0 || h.Port > 65535 {
			c.errf(hp+".port", "required (or template port) and between 1 and 65535, got %d", h.Port)
		}
		def := func(d *scaler.Duration, sec int) {
			if *d == 0 {
				*d = scaler.Duration(time.Duration(sec) * time.Second)
			}
		}
		def(&h.Interval, DefaultHealthInterval)
		def(&h.Timeout, DefaultHealthTimeout)
		if !c.s.lines.has(hp+".grace") && h.Grace == 0 {
			def(&h.Grace, DefaultHealthGrace)
		}
		if h.UnhealthyThreshold == 0 {
			h.UnhealthyThreshold = DefaultUnhealthyThreshold
		}
		switch {
		case h.Interval < 0:
			c.errf(hp+".interval", "must be > 0")
		case h.Timeout < 0 || h.Timeout > h.Interval:
			c.errf(hp+".timeout", "must be > 0 and at most the interval %s, got %s", h.Interval, h.Timeout)
		}
		if h.Grace < 0 {
			c.errf(hp+".grace", "must be ≥ 0")
		}
		if h.UnhealthyThreshold < 0 || h.UnhealthyThreshold > 100 {
			c.errf(hp+".unhealthy_threshold", "must be between 1 and 100, got %d", h.UnhealthyThreshold)
		}
	}
}

func (s *Spec) validateScaling(c *checker, p string, g *Group) {
	sc := &g.Scaling
	if sc.Preset != "" {
		if !slices.Contains(scaler.NamedPolicies(), sc.Preset) {
			c.errf(p+".preset", "unknown policy %q (known: %v)", clip(sc.Preset), scaler.NamedPolicies())
			return
		}
		// Policies from the file conflict with the preset; policies already
		// merged from it (re-validating a parsed spec) do not.
		if s.lines.has(p+".policies") || (s.lines == nil && len(sc.Policies) > 0) {
			c.errf(p+".policies", "a preset brings its own policies; set either preset or policies")
			return
		}
		base, err := scaler.Named(sc.Preset, scaler.NamedOptions{
			Target: sc.Target, LeadTime: sc.LeadTime.D(), Interval: sc.MetricPeriod.D(),
			Min: sc.Min, Max: sc.Max,
		})
		if err != nil {
			c.errf(p+".preset", "%v", err)
			return
		}
		// Fields set in the file override the preset's.
		mine := reflect.ValueOf(&sc.GroupSpec).Elem()
		theirs := reflect.ValueOf(&base).Elem()
		fields, _ := structFields(mine.Type())
		for name, f := range fields {
			if !s.lines.has(p+"."+name) && name != "min" && name != "max" {
				mine.FieldByIndex(f.index).Set(theirs.FieldByIndex(f.index))
			}
		}
	}
	if sc.Max > MaxInstances {
		c.errf(p+".max", "at most %d instances per group", MaxInstances)
		return
	}
	if sc.Min > MaxInstances {
		c.errf(p+".min", "at most %d instances per group", MaxInstances)
		return
	}
	if !s.lines.has(p+".max") && sc.Max == 0 && s.Format == FormatRich {
		c.errf(p+".max", "required")
		return
	}
	sc.Normalize()
	if err := sc.GroupSpec.Validate(); err != nil {
		field, reason := splitScalerErr(err)
		c.errf(p+"."+field, "%s", reason)
		return
	}
	if (sc.Metric == scaler.MetricCPU || sc.Metric == scaler.MetricMemory) && sc.Target > 1 {
		c.errf(p+".target", "%g: %s utilisation is a fraction (0.3 = 30%%)", sc.Target, sc.Metric)
	}
	for i, pol := range sc.Policies {
		pp := index(p+".policies", i)
		switch {
		case pol.Predictive != nil:
			if !slices.Contains(forecast.Names(), pol.Predictive.Model) {
				c.errf(pp+".predictive.model", "unknown forecaster %q (known: %v)", clip(pol.Predictive.Model), forecast.Names())
			}
		case pol.Scheduled != nil:
			c.schedule(pp+".scheduled", pol.Scheduled, sc.Max)
		}
	}
	// The clouds must be able to hold min instances.
	clouds := g.Clouds
	if len(clouds) == 0 {
		clouds = s.Clouds
	}
	total, capped := 0, len(clouds) > 0
	for _, cd := range clouds {
		if cd.MaxInstances == 0 {
			capped = false
		}
		total += cd.MaxInstances
	}
	if capped && sc.Min > total {
		c.errf(p+".min", "%d instances do not fit the clouds' max_instances (%d in all)", sc.Min, total)
	}
}

// splitScalerErr turns "scaler: invalid spec: policies[0].x: reason" into
// its field and reason.
func splitScalerErr(err error) (string, string) {
	msg := err.Error()
	if errors.Is(err, scaler.ErrInvalidSpec) {
		msg = strings.TrimPrefix(msg, scaler.ErrInvalidSpec.Error()+": ")
	}
	field, reason, ok := strings.Cut(msg, ": ")
	if !ok || strings.ContainsAny(field, " ") {
		return "", msg
	}
	return field, reason
}

// schedule rejects slots that can never fire or ask for the impossible.
func (c *checker) schedule(p string, s *scaler.Scheduled, maxN int) {
	if s.Count > maxN {
		c.errf(p+".count", "%d is above the group's max %d", s.Count, maxN)
	}
	if s.Duration.D() > 366*24*time.Hour {
		c.errf(p+".duration", "longer than a year")
	}
	cr, err := scaler.ParseCron(s.Cron)
	if err != nil {
		return // reported by scaler's Validate
	}
	if !firesWithin4Years(s.Cron, cr) {
		c.errf(p+".cron", "%q never fires (no such date)", s.Cron)
	}
}

// firesWithin4Years reports whether the cron matches any minute of a
// four-year cycle (which covers 29 February). It finds a matching time of
// day first, so it costs ~3000 matches instead of two million.
func firesWithin4Years(expr string, cr scaler.Cron) bool {
	f := strings.Fields(expr)
	timeOnly, err := scaler.ParseCron(f[0] + " " + f[1] + " * * *")
	if err != nil {
		return true
	}
	day := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var hm time.Duration = -1
	for m := 0; m < 24*60; m++ {
		if timeOnly.Match(day.Add(time.Duration(m) * time.Minute)) {
			hm = time.Duration(m) * time.Minute
			break
		}
	}
	if hm < 0 {
		return false
	}
	for d := 0; d < 4*366; d++ {
		if cr.Match(day.AddDate(0, 0, d).Add(hm)) {
			return true
		}
	}
	return false
}

// Errorf is a helper for callers that find a problem in a parsed spec
// (e.g. the cluster); it reports at the field's line: "file:line: field:
// reason", wrapping ErrInvalid.
func (s *Spec) Errorf(path, format string, args ...any) error {
	line, name := s.lines.at(path)
	return &FieldError{File: s.Source, Line: line, Field: name, Reason: fmt.Sprintf(format, args...)}
}
