package netcfg

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"aas/internal/testenv"

	"github.com/vishvananda/netns"
)

// requireNetAdmin skips (fails in CI) without root, iptables and netns.
func requireNetAdmin(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.RequireBinary(t, "iptables")
}

var nsSeq atomic.Int32

// testNS creates a uniquely named namespace with lo up, removed at cleanup.
func testNS(t testing.TB, role string) netns.NsHandle {
	t.Helper()
	name := fmt.Sprintf("aast%d-%d-%s", os.Getpid()%100000, nsSeq.Add(1), role)
	ns, err := NewNamespace(name)
	if err != nil {
		t.Fatalf("namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		ns.Close()
		if err := DeleteNamespace(name); err != nil {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	l := testLinks(t, ns)
	if err := l.Up("lo"); err != nil {
		t.Fatal(err)
	}
	return ns
}

func testLinks(t testing.TB, ns netns.NsHandle) *Links {
	t.Helper()
	l, err := NewLinks(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

// wire connects a (name aName, address aAddr) to b (bName, bAddr) with a
// veth pair and brings both ends up.
func wire(t testing.TB, a netns.NsHandle, aName, aAddr string, b netns.NsHandle, bName, bAddr string) {
	t.Helper()
	la, lb := testLinks(t, a), testLinks(t, b)
	must(t, la.AddVeth(aName, bName, b))
	if aAddr != "" {
		_, err := la.AddAddr(aName, pfx(aAddr))
		must(t, err)
	}
	if bAddr != "" {
		_, err := lb.AddAddr(bName, pfx(bAddr))
		must(t, err)
	}
	must(t, la.Up(aName))
	must(t, lb.Up(bName))
}

// serveName runs an HTTP server in ns on addr answering with name.
func serveName(t testing.TB, ns netns.NsHandle, addr, name string) {
	t.Helper()
	l, err := ListenIn(ns, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
}

// nsClient returns an HTTP client whose connections start in ns; every
// request is a new connection (a new load-balancing decision).
func nsClient(ns netns.NsHandle) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext:       DialContextIn(ns),
		DisableKeepAlives: true,
	}}
}

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling period
	}
	t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
}

// dialIn opens one raw TCP connection from ns.
func dialIn(t *testing.T, ns netns.NsHandle, addr string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialContextIn(ns)(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
