package labkit

import (
	"fmt"
	"net/netip"
)

// Address plan (all inside 198.18.0.0/15, nothing routed out of the lab):
//
//	WAN               198.18.0.0/24   bridge "br0" in the WAN namespace
//	controller i      198.18.0.(10+i) on "wan0", router of its cloud
//	client            198.18.0.100    on "eth0"
//	cloud i LAN       198.18.(100+i).0/24, bridge "lan0" in controller i
//	                  198.18.(100+i).1 on lan0 (gateway of the hypervisor)
//	hypervisor i      198.18.(100+i).10 on "eth0"
//	VIP               198.18.250.1 (the demo tenant's public IP; the leader
//	                  puts it on its wan0, the client reaches it on-link)
const (
	// MaxClouds bounds Options.Clouds (one /24 per cloud LAN).
	MaxClouds = 9

	// Fixed agent ports (each namespace has its own stack, so the
	// defaults of the design's contract are used everywhere).
	PortHTTP    = 7070
	PortRaft    = 7071
	PortGossip  = 7072
	PortNodeAPI = 7073
)

var (
	wanPrefix = netip.MustParsePrefix("198.18.0.0/24")
	// DefaultVIP is the demo tenant's public IP.
	DefaultVIP = netip.MustParseAddr("198.18.250.1")
	// LabRange is the only range the lab uses; it is routed only inside
	// the lab.
	LabRange = netip.MustParsePrefix("198.18.0.0/15")
)

// Link names inside the lab's namespaces. They live in namespaces the lab
// owns, so they never clash with the host's links.
const (
	wanBridge  = "br0"
	lanBridge  = "lan0"
	ctlUplink  = "wan0"
	nsEth      = "eth0"
	clientVeth = "client"
)

// DefaultCloudNames are the clouds' names, in order: the first three match
// examples/multicloud-tenant.yml; more clouds are called cloudN.
var DefaultCloudNames = []string{"onprem", "aws", "gcp"}

func cloudName(i int) string { // i is 1-based
	if i <= len(DefaultCloudNames) {
		return DefaultCloudNames[i-1]
	}
	return fmt.Sprintf("cloud%d", i)
}

func controllerWANAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + i)}) }
func clientAddr() netip.Addr             { return netip.AddrFrom4([4]byte{198, 18, 0, 100}) }
func lanPrefix(i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(100 + i), 0}), 24)
}
func lanGateway(i int) netip.Addr     { return netip.AddrFrom4([4]byte{198, 18, byte(100 + i), 1}) }
func hypervisorAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, byte(100 + i), 10}) }

func hostPort(a netip.Addr, port int) string { return netip.AddrPortFrom(a, uint16(port)).String() }

func withBits(a netip.Addr, bits int) netip.Prefix { return netip.PrefixFrom(a, bits) }
