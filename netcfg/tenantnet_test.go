package netcfg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

func TestLinkNames(t *testing.T) {
	names := map[string]bool{}
	for _, k := range [][3]string{{"acme", "net1", "198.18.50.0/24"}, {"acme", "net1", "198.18.51.0/24"},
		{"a-tenant-with-a-very-long-name", "a-network-with-a-long-name", "198.18.52.0/24"}} {
		for _, n := range []string{BridgeName(k[0], k[1], k[2]), VXLANName(k[0], k[1], k[2], ip("198.18.1.2"))} {
			if err := linkName(n); err != nil {
				t.Errorf("%v: %q: %v", k, n, err)
			}
			if names[n] {
				t.Errorf("duplicate link name %q", n)
			}
			names[n] = true
		}
	}
}

func TestLinkValidation(t *testing.T) {
	requireNetAdmin(t)
	l := testLinks(t, testNS(t, "val"))
	cases := []struct {
		name string
		err  error
	}{
		{"bridge name too long", l.AddBridge("a-name-longer-than-15")},
		{"bridge name with slash", l.AddBridge("br/0")},
		{"vxlan vni 0", l.AddVXLAN(VXLAN{Name: "vx0", VNI: 0, Local: ip("198.18.1.1"), Remote: ip("198.18.1.2")})},
		{"vxlan ipv6", l.AddVXLAN(VXLAN{Name: "vx0", VNI: 5, Local: ip("::1"), Remote: ip("198.18.1.2")})},
	}
	for _, c := range cases {
		if !errors.Is(c.err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", c.name, c.err)
		}
	}
	// A name taken by another link type is reported, not reused.
	must(t, l.AddBridge("br0"))
	must(t, l.AddBridge("br0")) // idempotent
	if err := l.AddVeth("br0", "peer0", netns.None()); !errors.Is(err, ErrInvalid) {
		t.Errorf("veth over an existing bridge name: %v", err)
	}
}

// Two hypervisors joined by an underlay link; a tenant subnet bridged on
// each and spanned by VXLAN; one instance namespace per hypervisor. A TCP
// connection crosses the tunnel.
func TestVXLANSpansTenantSubnet(t *testing.T) {
	requireNetAdmin(t)
	h1, h2 := testNS(t, "h1"), testNS(t, "h2")
	wire(t, h1, "wan0", "198.18.1.1/24", h2, "wan0", "198.18.1.2/24")
	i1, i2 := testNS(t, "i1"), testNS(t, "i2")
	hosts := []struct {
		links       *Links
		local, peer string
		inst        netns.NsHandle
		instAddr    string
	}{
		{testLinks(t, h1), "198.18.1.1", "198.18.1.2", i1, "198.18.50.11/24"},
		{testLinks(t, h2), "198.18.1.2", "198.18.1.1", i2, "198.18.50.12/24"},
	}
	for _, h := range hosts {
		br := BridgeName("acme", "net1", "198.18.50.0/24")
		sb := SubnetBridge{Bridge: br, Tunnels: []VXLAN{{
			Name: VXLANName("acme", "net1", "198.18.50.0/24", ip(h.peer)), VNI: 4242,
			Local: ip(h.local), Remote: ip(h.peer), Dev: "wan0", MTU: 1450,
		}}}
		must(t, h.links.EnsureSubnetBridge(sb))
		must(t, h.links.EnsureSubnetBridge(sb)) // idempotent
		must(t, h.links.AttachNamespace(br, "vi0", h.inst, "eth0", pfx(h.instAddr), ip("198.18.50.1")))
	}
	l, err := ListenIn(i2, "tcp", "198.18.50.12:8080")
	must(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "hello from %s", c.LocalAddr())
			c.Close()
		}
	}()
	waitFor(t, 10*time.Second, "TCP across the VXLAN", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c, err := DialContextIn(i1)(ctx, "tcp", "198.18.50.12:8080")
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), "198.18.50.12:8080") {
			return fmt.Errorf("got %q", b)
		}
		if ra := c.LocalAddr().(*net.TCPAddr); ra.IP.String() != "198.18.50.11" {
			return fmt.Errorf("connection from %s", ra)
		}
		return nil
	})
}

func TestGREDetection(t *testing.T) {
	requireNetAdmin(t)
	l := testLinks(t, testNS(t, "gre"))
	err := l.AddGRE("gre0", ip("198.18.1.1"), ip("198.18.1.2"))
	switch {
	case err == nil:
		if !GRESupported() {
			t.Error("GRE link created but GRESupported() = false")
		}
		t.Log("this kernel supports GRE")
	case errors.Is(err, ErrGRENotSupported):
		if GRESupported() {
			t.Errorf("ErrGRENotSupported but GRESupported() = true: %v", err)
		}
		t.Logf("GRE not supported here, reported as: %v", err)
	default:
		t.Fatalf("AddGRE: %v (want success or ErrGRENotSupported)", err)
	}
}
