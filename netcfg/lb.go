package netcfg

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// Chain names. Everything this package creates in the nat table starts with
// ChainPrefix; Sync and Teardown treat such chains as owned.
const (
	ChainPrefix    = "AAS-"
	DispatchChain  = "AAS-LB"   // jumped to from PREROUTING and OUTPUT
	PostChain      = "AAS-POST" // jumped to from POSTROUTING (masquerade)
	ServicePrefix  = "AAS-S-"   // one chain per service (tenant group)
	maxChainLen    = 28         // iptables' limit (xt_table name length - 1)
	natTable       = "nat"
	commentPrefix  = "aas:"
	DefaultMasqBit = 0x00100000 // fwmark bit asking AAS-POST to masquerade
)

// Backend is one destination of a Service.
type Backend struct {
	Addr netip.AddrPort
	// Weight is the backend's relative share of new connections; 0 counts
	// as 1. The master LB weighs each cloud by its running instances.
	Weight int
	// Draining backends receive no new connections; established ones keep
	// their conntrack entry and finish normally.
	Draining bool
}

// Service is one load-balanced endpoint: a tenant group's VIP:port.
type Service struct {
	Tenant, Group string
	VIP           netip.Addr // IPv4
	Port          uint16
	Protocol      string // "tcp" (default) or "udp"
	Backends      []Backend
	// Masquerade source-NATs balanced connections to the LB's address, for
	// backends whose return path would bypass the LB.
	Masquerade bool
}

// Key is "tenant/group", the service's identity.
func (s Service) Key() string { return s.Tenant + "/" + s.Group }

func (s Service) proto() string {
	if s.Protocol == "" {
		return "tcp"
	}
	return s.Protocol
}

// Validate checks names, addresses and weights; it names the bad field.
func (s Service) Validate() error {
	if err := validName("tenant", s.Tenant, 63); err != nil {
		return err
	}
	if err := validName("group", s.Group, 63); err != nil {
		return err
	}
	if !s.VIP.Is4() {
		return fmt.Errorf("%w: service %s: field VIP %q is not an IPv4 address", ErrInvalid, s.Key(), s.VIP)
	}
	if s.Port == 0 {
		return fmt.Errorf("%w: service %s: field Port is 0", ErrInvalid, s.Key())
	}
	if p := s.proto(); p != "tcp" && p != "udp" {
		return fmt.Errorf("%w: service %s: field Protocol %q, want tcp or udp", ErrInvalid, s.Key(), s.Protocol)
	}
	seen := map[netip.AddrPort]bool{}
	for i, b := range s.Backends {
		if !b.Addr.Addr().Is4() || b.Addr.Port() == 0 {
			return fmt.Errorf("%w: service %s: field Backends[%d].Addr %q is not IPv4:port", ErrInvalid, s.Key(), i, b.Addr)
		}
		if b.Weight < 0 {
			return fmt.Errorf("%w: service %s: field Backends[%d].Weight is %d", ErrInvalid, s.Key(), i, b.Weight)
		}
		if seen[b.Addr] {
			return fmt.Errorf("%w: service %s: field Backends[%d].Addr %s is listed twice", ErrInvalid, s.Key(), i, b.Addr)
		}
		seen[b.Addr] = true
	}
	return nil
}

// active returns the backends that take new connections, in a stable
// order, with weights normalised (0 → 1).
func (s Service) active() []Backend {
	var out []Backend
	for _, b := range s.Backends {
		if b.Draining {
			continue
		}
		if b.Weight == 0 {
			b.Weight = 1
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr.Compare(out[j].Addr) < 0 })
	return out
}

// Probabilities returns, for the i-th of the given weights, the probability
// with which the i-th `statistic` rule must match so that backend i gets
// weight_i/sum of new connections: w_i / (w_i + … + w_n). The last is 1
// (the unconditional rule). Equal weights give 1/n, 1/(n-1), …, 1.
func Probabilities(weights []int) []float64 {
	rest := 0
	for _, w := range weights {
		rest += w
	}
	out := make([]float64, len(weights))
	for i, w := range weights {
		if rest > 0 {
			out[i] = float64(w) / float64(rest)
		}
		rest -= w
	}
	if len(out) > 0 {
		out[len(out)-1] = 1
	}
	return out
}

// ServiceChainBase names a service's chains: "AAS-S-" + a readable slug of
// tenant_group (≤11 bytes) + "-" + 8 hex digits of a hash of the key. The
// two generations used for atomic swaps append "-0" and "-1" (≤28 bytes).
func ServiceChainBase(tenant, group string) string {
	sum := sha256.Sum256([]byte(tenant + "/" + group))
	var slug strings.Builder
	for _, r := range tenant + "_" + group {
		if slug.Len() == 11 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			slug.WriteRune(r)
		default:
			slug.WriteByte('_')
		}
	}
	return ServicePrefix + slug.String() + "-" + hex.EncodeToString(sum[:4])
}

// rules renders the service chain's rules.
func (s Service) rules(mark uint32) [][]string {
	var out [][]string
	if s.Masquerade {
		m := fmt.Sprintf("0x%x/0x%x", mark, mark)
		out = append(out, []string{"-j", "MARK", "--set-xmark", m})
	}
	act := s.active()
	ws := make([]int, len(act))
	for i, b := range act {
		ws[i] = b.Weight
	}
	probs := Probabilities(ws)
	for i, b := range act {
		r := []string{"-p", s.proto()}
		if i < len(act)-1 {
			r = append(r, "-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(probs[i], 'f', 10, 64))
		}
		r = append(r, "-j", "DNAT", "--to-destination", b.Addr.String())
		out = append(out, r)
	}
	return out
}

// jumpSpec is the dispatch rule sending the service's new connections to
// chain. Its comment carries the key and a fingerprint of the rendered
// rules, so an unchanged service is recognised (after a restart too) and
// left alone.
func (s Service) jumpSpec(chain, fingerprint string) []string {
	p := s.proto()
	return []string{"-d", s.VIP.String() + "/32", "-p", p, "-m", p, "--dport", strconv.Itoa(int(s.Port)),
		"-m", "comment", "--comment", commentPrefix + s.Key() + " fp=" + fingerprint, "-j", chain}
}

func (s Service) fingerprint(mark uint32) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s %d %s\n", s.Key(), s.VIP, s.Port, s.proto())
	for _, r := range s.rules(mark) {
		fmt.Fprintln(h, strings.Join(r, " "))
	}
	return hex.EncodeToString(h.Sum(nil)[:6])
}

// LB programs per-service DNAT load balancing in the nat table. Safe for
// concurrent use; one LB should own a namespace's AAS- chains.
type LB struct {
	ipt    IPTables
	logger hclog.Logger
	mark   uint32
	mu     sync.Mutex
}

// LBOption configures NewLB.
type LBOption func(*LB)

// WithMasqueradeMark sets the fwmark bit used to request masquerading
// (default DefaultMasqBit; pick another if it clashes with other software).
func WithMasqueradeMark(bit uint32) LBOption { return func(l *LB) { l.mark = bit } }

// NewLB returns a load balancer driving ipt. It changes nothing until the
// first Apply or Sync.
func NewLB(ipt IPTables, logger hclog.Logger, opts ...LBOption) *LB {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	lb := &LB{ipt: ipt, logger: logger.Named("lb"), mark: DefaultMasqBit}
	for _, o := range opts {
		o(lb)
	}
	return lb
}

// hook rules: built-in chain → our chain.
func (lb *LB) hooks() [][3]string {
	return [][3]string{{"PREROUTING", DispatchChain}, {"OUTPUT", DispatchChain}, {"POSTROUTING", PostChain}}
}

func hookSpec(target string) []string {
	return []string{"-m", "comment", "--comment", commentPrefix + "hook", "-j", target}
}

func (lb *LB) masqSpec() []string {
	m := fmt.Sprintf("0x%x/0x%x", lb.mark, lb.mark)
	return []string{"-m", "mark", "--mark", m, "-m", "comment", "--comment", commentPrefix + "masquerade", "-j", "MASQUERADE"}
}

// ensureBase creates AAS-LB and AAS-POST and hooks them in first position.
func (lb *LB) ensureBase() error {
	for _, c := range []string{DispatchChain, PostChain} {
		ok, err := lb.ipt.ChainExists(natTable, c)
		if err != nil {
			return fmt.Errorf("netcfg: lb: chain %s: %w", c, err)
		}
		if !ok {
			if err := lb.ipt.NewChain(natTable, c); err != nil {
				return fmt.Errorf("netcfg: lb: create chain %s: %w", c, err)
			}
		}
	}
	if ok, err := lb.ipt.Exists(natTable, PostChain, lb.masqSpec()...); err != nil {
		return fmt.Errorf("netcfg: lb: %w", err)
	} else if !ok {
		if err := lb.ipt.Append(natTable, PostChain, lb.masqSpec()...); err != nil {
			return fmt.Errorf("netcfg: lb: masquerade rule: %w", err)
		}
	}
	for _, h := range lb.hooks() {
		ok, err := lb.ipt.Exists(natTable, h[0], hookSpec(h[1])...)
		if err != nil {
			return fmt.Errorf("netcfg: lb: hook %s: %w", h[0], err)
		}
		if !ok {
			if err := lb.ipt.Insert(natTable, h[0], 1, hookSpec(h[1])...); err != nil {
				return fmt.Errorf("netcfg: lb: hook %s → %s: %w", h[0], h[1], err)
			}
		}
	}
	return nil
}

// jump is a parsed dispatch rule.
type jump struct {
	spec  []string // rule spec as listed (without "-A AAS-LB")
	key   string   // tenant/group
	fp    string
	chain string
}

// base returns the chain's name without the generation suffix.
func chainBase(chain string) string {
	if i := strings.LastIndexByte(chain, '-'); i > 0 {
		return chain[:i]
	}
	return chain
}

// scan lists the dispatch rules that jump to service chains, by chain base.
func (lb *LB) scan() (map[string][]jump, error) {
	lines, err := lb.ipt.List(natTable, DispatchChain)
	if err != nil {
		return nil, fmt.Errorf("netcfg: lb: list %s: %w", DispatchChain, err)
	}
	out := map[string][]jump{}
	for _, line := range lines {
		f := splitRule(line)
		if len(f) < 2 || f[0] != "-A" {
			continue
		}
		j := jump{spec: f[2:]}
		for i := 2; i+1 < len(f); i++ {
			switch f[i] {
			case "-j":
				j.chain = f[i+1]
			case "--comment":
				c := strings.TrimPrefix(f[i+1], commentPrefix)
				j.key, j.fp, _ = strings.Cut(c, " fp=")
			}
		}
		if strings.HasPrefix(j.chain, ServicePrefix) {
			b := chainBase(j.chain)
			out[b] = append(out[b], j)
		}
	}
	return out, nil
}

// splitRule splits an iptables -S line into arguments, honouring double
// quotes (comments).
func splitRule(line string) []string {
	var out []string
	var cur strings.Builder
	inQ, have := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && inQ && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '"':
			inQ, have = !inQ, true
		case c == ' ' && !inQ:
			if have {
				out = append(out, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if have {
		out = append(out, cur.String())
	}
	return out
}

// Apply creates or updates one service atomically: the new backend set is
// written into a fresh chain, the dispatch rule for it is inserted above the
// old one, then the old rule and chain are removed. A packet therefore meets
// either the complete old set or the complete new set. Established
// connections keep their conntrack mapping. An unchanged service is a no-op.
// A service with no active backends has no dispatch rule.
func (lb *LB) Apply(s Service) error {
	if err := s.Validate(); err != nil {
		return err
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if err := lb.ensureBase(); err != nil {
		return err
	}
	jumps, err := lb.scan()
	if err != nil {
		return err
	}
	return lb.apply(s, jumps)
}

func (lb *LB) apply(s Service, jumps map[string][]jump) error {
	base := ServiceChainBase(s.Tenant, s.Group)
	cur := jumps[base]
	if len(cur) > 1 {
		// A crash between "insert new rule" and "delete old rule" left two
		// dispatch rules. Only the first one sees traffic: keep it, drop
		// the others (their rules first, then chains it does not use).
		if err := lb.repair(cur); err != nil {
			return err
		}
		cur = cur[:1]
	}
	if len(s.active()) == 0 {
		return lb.remove(base, cur)
	}
	fp := s.fingerprint(lb.mark)
	if len(cur) == 1 && cur[0].fp == fp && cur[0].key == s.Key() {
		if ok, err := lb.ipt.ChainExists(natTable, cur[0].chain); err == nil && ok {
			return nil // already in place
		}
	}
	next := base + "-0"
	for _, j := range cur {
		if j.chain == next {
			next = base + "-1"
		}
	}
	// ClearChain creates the chain, or empties a leftover of a crash.
	if err := lb.ipt.ClearChain(natTable, next); err != nil {
		return fmt.Errorf("netcfg: lb: %s: chain %s: %w", s.Key(), next, err)
	}
	for _, r := range s.rules(lb.mark) {
		if err := lb.ipt.Append(natTable, next, r...); err != nil {
			_ = lb.ipt.ClearAndDeleteChain(natTable, next)
			return fmt.Errorf("netcfg: lb: %s: rule %q: %w", s.Key(), strings.Join(r, " "), err)
		}
	}
	if err := lb.ipt.Insert(natTable, DispatchChain, 1, s.jumpSpec(next, fp)...); err != nil {
		_ = lb.ipt.ClearAndDeleteChain(natTable, next)
		return fmt.Errorf("netcfg: lb: %s: dispatch rule: %w", s.Key(), err)
	}
	if err := lb.remove(base, cur); err != nil {
		return err
	}
	lb.logger.Info("service programmed", "service", s.Key(), "vip", s.VIP, "port", s.Port,
		"backends", len(s.active()), "draining", len(s.Backends)-len(s.active()), "chain", next)
	return nil
}

// repair keeps cur[0] and removes the other dispatch rules of the same
// service, and their chains unless cur[0] uses them.
func (lb *LB) repair(cur []jump) error {
	var errs []error
	for _, j := range cur[1:] {
		if err := lb.ipt.Delete(natTable, DispatchChain, j.spec...); err != nil {
			errs = append(errs, fmt.Errorf("netcfg: lb: delete stale dispatch rule for %s: %w", j.chain, err))
		}
	}
	for _, j := range cur[1:] {
		if j.chain != cur[0].chain {
			errs = append(errs, lb.deleteChain(j.chain))
		}
	}
	return errors.Join(errs...)
}

// remove deletes the given dispatch rules, then their chains.
func (lb *LB) remove(base string, old []jump) error {
	var errs []error
	for _, j := range old {
		if err := lb.ipt.DeleteIfExists(natTable, DispatchChain, j.spec...); err != nil {
			errs = append(errs, fmt.Errorf("netcfg: lb: delete dispatch rule for %s: %w", j.chain, err))
		}
	}
	for _, j := range old {
		if err := lb.deleteChain(j.chain); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (lb *LB) deleteChain(chain string) error {
	ok, err := lb.ipt.ChainExists(natTable, chain)
	if err != nil {
		return fmt.Errorf("netcfg: lb: chain %s: %w", chain, err)
	}
	if !ok {
		return nil
	}
	if err := lb.ipt.ClearAndDeleteChain(natTable, chain); err != nil {
		return fmt.Errorf("netcfg: lb: delete chain %s: %w", chain, err)
	}
	return nil
}

// Delete removes one service (its dispatch rule and chains). Deleting an
// absent service is not an error.
func (lb *LB) Delete(tenant, group string) error {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	jumps, err := lb.scanIfPresent()
	if err != nil {
		return err
	}
	base := ServiceChainBase(tenant, group)
	if err := lb.remove(base, jumps[base]); err != nil {
		return err
	}
	return lb.removeOrphans()
}

// DeleteTenant removes every service of tenant (found through the rules'
// comments, so it works after a restart).
func (lb *LB) DeleteTenant(tenant string) error {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	jumps, err := lb.scanIfPresent()
	if err != nil {
		return err
	}
	var errs []error
	for base, js := range jumps {
		for _, j := range js {
			if t, _, _ := strings.Cut(j.key, "/"); t == tenant {
				errs = append(errs, lb.remove(base, js))
				delete(jumps, base)
				break
			}
		}
	}
	return errors.Join(errs...)
}

func (lb *LB) scanIfPresent() (map[string][]jump, error) {
	ok, err := lb.ipt.ChainExists(natTable, DispatchChain)
	if err != nil {
		return nil, fmt.Errorf("netcfg: lb: %w", err)
	}
	if !ok {
		return map[string][]jump{}, nil
	}
	return lb.scan()
}

// Sync makes the nat table match desired: every service applied (unchanged
// ones untouched), owned service chains and rules not in desired removed.
// Call it at start-up to rebuild from replicated state, and after any
// change. desired is validated as a whole first; a bad entry changes
// nothing.
func (lb *LB) Sync(desired []Service) error {
	keys := map[string]bool{}
	endpoints := map[string]string{}
	for i, s := range desired {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("desired[%d]: %w", i, err)
		}
		if keys[s.Key()] {
			return fmt.Errorf("%w: desired[%d]: service %s listed twice", ErrInvalid, i, s.Key())
		}
		keys[s.Key()] = true
		ep := fmt.Sprintf("%s:%d/%s", s.VIP, s.Port, s.proto())
		if other, dup := endpoints[ep]; dup {
			return fmt.Errorf("%w: desired[%d]: service %s uses %s, already used by %s", ErrInvalid, i, s.Key(), ep, other)
		}
		endpoints[ep] = s.Key()
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if err := lb.ensureBase(); err != nil {
		return err
	}
	jumps, err := lb.scan()
	if err != nil {
		return err
	}
	want := map[string]bool{}
	var errs []error
	for _, s := range desired {
		base := ServiceChainBase(s.Tenant, s.Group)
		want[base] = true
		if err := lb.apply(s, jumps); err != nil {
			errs = append(errs, err)
		}
	}
	for base, js := range jumps {
		if !want[base] {
			errs = append(errs, lb.remove(base, js))
		}
	}
	if err := lb.removeOrphans(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// removeOrphans deletes service chains no dispatch rule references (left
// over by a crash between steps).
func (lb *LB) removeOrphans() error {
	jumps, err := lb.scanIfPresent()
	if err != nil {
		return err
	}
	used := map[string]bool{}
	for _, js := range jumps {
		for _, j := range js {
			used[j.chain] = true
		}
	}
	chains, err := lb.ipt.ListChains(natTable)
	if err != nil {
		return fmt.Errorf("netcfg: lb: list chains: %w", err)
	}
	var errs []error
	for _, c := range chains {
		if strings.HasPrefix(c, ServicePrefix) && !used[c] {
			errs = append(errs, lb.deleteChain(c))
		}
	}
	return errors.Join(errs...)
}

// Teardown removes everything the LB owns: hooks, AAS-LB, AAS-POST and all
// service chains.
func (lb *LB) Teardown() error {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	var errs []error
	for _, h := range lb.hooks() {
		if err := lb.ipt.DeleteIfExists(natTable, h[0], hookSpec(h[1])...); err != nil {
			errs = append(errs, fmt.Errorf("netcfg: lb: unhook %s: %w", h[0], err))
		}
	}
	chains, err := lb.ipt.ListChains(natTable)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("netcfg: lb: list chains: %w", err))...)
	}
	var owned []string
	for _, c := range chains {
		if strings.HasPrefix(c, ChainPrefix) {
			owned = append(owned, c)
		}
	}
	// Flush all first: the dispatch chain references service chains.
	for _, c := range owned {
		if err := lb.ipt.ClearChain(natTable, c); err != nil {
			errs = append(errs, fmt.Errorf("netcfg: lb: flush %s: %w", c, err))
		}
	}
	for _, c := range owned {
		if err := lb.ipt.ClearAndDeleteChain(natTable, c); err != nil {
			errs = append(errs, fmt.Errorf("netcfg: lb: delete %s: %w", c, err))
		}
	}
	return errors.Join(errs...)
}

// OwnedChains lists the nat chains whose name starts with ChainPrefix.
func (lb *LB) OwnedChains() ([]string, error) {
	chains, err := lb.ipt.ListChains(natTable)
	if err != nil {
		return nil, fmt.Errorf("netcfg: lb: list chains: %w", err)
	}
	var out []string
	for _, c := range chains {
		if strings.HasPrefix(c, ChainPrefix) {
			out = append(out, c)
		}
	}
	sort.Strings(out)
	return out, nil
}
