package netcfg

import (
	"fmt"

	"github.com/coreos/go-iptables/iptables"
	"github.com/vishvananda/netns"
)

// IPTables is the subset of github.com/coreos/go-iptables that the load
// balancer uses. *iptables.IPTables implements it for the caller's network
// namespace; NewIPTablesIn returns one bound to another namespace.
type IPTables interface {
	NewChain(table, chain string) error
	ClearChain(table, chain string) error
	ClearAndDeleteChain(table, chain string) error
	ListChains(table string) ([]string, error)
	ChainExists(table, chain string) (bool, error)
	List(table, chain string) ([]string, error)
	Exists(table, chain string, rulespec ...string) (bool, error)
	Insert(table, chain string, pos int, rulespec ...string) error
	Append(table, chain string, rulespec ...string) error
	Delete(table, chain string, rulespec ...string) error
	DeleteIfExists(table, chain string, rulespec ...string) error
}

var (
	_ IPTables = (*iptables.IPTables)(nil)
	_ IPTables = (*nsIPTables)(nil)
)

// NewIPTables runs the iptables (IPv4) binary in the caller's namespace.
func NewIPTables() (*iptables.IPTables, error) {
	ipt, err := iptables.New(iptables.IPFamily(iptables.ProtocolIPv4), iptables.Timeout(5))
	if err != nil {
		return nil, fmt.Errorf("netcfg: iptables: %w", err)
	}
	return ipt, nil
}

// NewIPTablesIn runs the iptables binary inside the network namespace ns:
// every call forks iptables from a thread switched into ns (see Do). The
// handle must stay open while it is used.
func NewIPTablesIn(ns netns.NsHandle) (IPTables, error) {
	ipt, err := NewIPTables()
	if err != nil {
		return nil, err
	}
	return &nsIPTables{ns: ns, ipt: ipt}, nil
}

type nsIPTables struct {
	ns  netns.NsHandle
	ipt *iptables.IPTables
}

func (n *nsIPTables) do(fn func() error) error { return Do(n.ns, fn) }

func (n *nsIPTables) NewChain(table, chain string) error {
	return n.do(func() error { return n.ipt.NewChain(table, chain) })
}
func (n *nsIPTables) ClearChain(table, chain string) error {
	return n.do(func() error { return n.ipt.ClearChain(table, chain) })
}
func (n *nsIPTables) ClearAndDeleteChain(table, chain string) error {
	return n.do(func() error { return n.ipt.ClearAndDeleteChain(table, chain) })
}
func (n *nsIPTables) ListChains(table string) (out []string, err error) {
	err = n.do(func() error { out, err = n.ipt.ListChains(table); return err })
	return out, err
}
func (n *nsIPTables) ChainExists(table, chain string) (ok bool, err error) {
	err = n.do(func() error { ok, err = n.ipt.ChainExists(table, chain); return err })
	return ok, err
}
func (n *nsIPTables) List(table, chain string) (out []string, err error) {
	err = n.do(func() error { out, err = n.ipt.List(table, chain); return err })
	return out, err
}
func (n *nsIPTables) Exists(table, chain string, rulespec ...string) (ok bool, err error) {
	err = n.do(func() error { ok, err = n.ipt.Exists(table, chain, rulespec...); return err })
	return ok, err
}
func (n *nsIPTables) Insert(table, chain string, pos int, rulespec ...string) error {
	return n.do(func() error { return n.ipt.Insert(table, chain, pos, rulespec...) })
}
func (n *nsIPTables) Append(table, chain string, rulespec ...string) error {
	return n.do(func() error { return n.ipt.Append(table, chain, rulespec...) })
}
func (n *nsIPTables) Delete(table, chain string, rulespec ...string) error {
	return n.do(func() error { return n.ipt.Delete(table, chain, rulespec...) })
}
func (n *nsIPTables) DeleteIfExists(table, chain string, rulespec ...string) error {
	return n.do(func() error { return n.ipt.DeleteIfExists(table, chain, rulespec...) })
}
