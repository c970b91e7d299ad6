package process_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"aas/internal/testenv"
	"aas/nodes/driver"
	"aas/nodes/driver/conformance"
	"aas/nodes/driver/process"
	"aas/nodes/internal/testworkload"
)

// inNS runs fn on a thread switched into ns.
func inNS(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return err // leave the thread locked: the runtime discards it
	}
	runtime.UnlockOSThread()
	return ferr
}

// hostNS creates a named namespace standing in for the hypervisor's network
// with a tenant bridge holding the gateway address.
func hostNS(t *testing.T, bridge string, gw netip.Prefix) (string, netns.NsHandle) {
	name := fmt.Sprintf("aas-t-host-%d", os.Getpid())
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := netns.NewNamed(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
	runtime.UnlockOSThread()
	orig.Close()
	t.Cleanup(func() {
		ns.Close()
		_ = netns.DeleteNamed(name)
	})
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridge}}
	if err := h.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	addr, _ := netlink.ParseAddr(gw.String())
	if err := h.AddrAdd(br, addr); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{bridge, "lo"} {
		link, err := h.LinkByName(l)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
	}
	return "/var/run/netns/" + name, ns
}

func TestConformanceNetNS(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "ip")
	subnet := netip.MustParsePrefix("198.18.5.0/24")
	gw := netip.MustParseAddr("198.18.5.1")
	nsPath, ns := hostNS(t, "aasbr0", netip.PrefixFrom(gw, 24))
	// HTTP from inside the host namespace, where the tenant bridge lives.
	hc := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := inNS(ns, func() error {
				var d net.Dialer
				var err error
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
	get := func(ctx context.Context, inst driver.Instance, path string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+inst.Addr+path, nil)
		if err != nil {
			return 0, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	dir := t.TempDir()
	var mu sync.Mutex
	next := 10
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) driver.Driver {
			d, err := process.New(process.Config{DataDir: dir, Mode: process.ModeNetNS, HostNetNS: nsPath, Logger: testLogger(t), StopTimeout: 3 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		Spec: func(t *testing.T, id string, cpu time.Duration) driver.InstanceSpec {
			mu.Lock()
			defer mu.Unlock()
			next++
			a := subnet.Addr().As4()
			a[3] = byte(next)
			return driver.InstanceSpec{
				ID: id, Tenant: "acme", Group: "web", Port: 8080,
				Network: &driver.Network{Bridge: "aasbr0", Subnet: subnet, IP: netip.AddrFrom4(a), Gateway: gw},
				Process: testworkload.Template(cpu),
			}
		},
		Get:  get,
		Busy: true,
		PID: func(t *testing.T, d driver.Driver, inst driver.Instance) int {
			return d.(*process.Driver).PID(inst.ID)
		},
	})
	// Every instance's namespace and veth are gone after delete.
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	t.Cleanup(func() {
		links, _ := h.LinkList()
		for _, l := range links {
			if l.Type() == "veth" && strings.HasPrefix(l.Attrs().Name, "aasv") {
				t.Errorf("veth %s left behind", l.Attrs().Name)
			}
		}
	})
}
