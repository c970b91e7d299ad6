package lbsync_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"aas/cluster/lbsync"
	"aas/fsm"
)

func TestProxySyncFollowsFSM(t *testing.T) {
	srv := startServer(t)
	setupTenant(t, srv, "t1", "", "c1")
	be := startBackends(t, "a", "b", "c", "d")
	addRunning(t, srv, "t1", "web", "c1", map[string]string{"i-a": be.addrs["a"], "i-b": be.addrs["b"], "i-c": be.addrs["c"]})

	const resync = 300 * time.Millisecond
	ps, err := lbsync.NewProxySync(lbsync.ProxyConfig{Source: srv, Resync: resync, RateInterval: 200 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv.Handle("GET", "/v1/endpoints", ps.HandleEndpoints)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ps.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	var addr string
	waitFor(t, 5*time.Second, "endpoint of t1/web", func() (bool, string) {
		addr = ps.Endpoints()["t1/web"]
		return addr != "", ""
	})
	client := noKeepAlive()

	t.Run("spreads over all backends", func(t *testing.T) {
		hits, err := get(t, client, addr, 60)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"a", "b", "c"} {
			if hits[n] == 0 {
				t.Errorf("backend %s got no request: %v", n, hits)
			}
		}
		if hits["d"] != 0 {
			t.Errorf("backend d is not an instance yet but got %d requests", hits["d"])
		}
	})

	t.Run("endpoints API", func(t *testing.T) {
		resp, err := http.Get("http://" + srv.HTTPAddr() + "/v1/endpoints?tenant=t1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var eps []lbsync.Endpoint
		if err := json.NewDecoder(resp.Body).Decode(&eps); err != nil {
			t.Fatal(err)
		}
		if len(eps) != 1 || eps[0].Address != addr || len(eps[0].Backends) != 3 {
			t.Fatalf("GET /v1/endpoints = %+v, want t1/web at %s with 3 backends", eps, addr)
		}
	})

	t.Run("request rate", func(t *testing.T) {
		waitFor(t, 5*time.Second, "a request rate for t1/web", func() (bool, string) {
			if _, err := get(t, client, addr, 5); err != nil {
				return false, err.Error()
			}
			r := ps.RequestRates()["t1/web"]
			return r > 0, fmt.Sprint(r)
		})
	})

	t.Run("draining gets no new requests", func(t *testing.T) {
		setState(t, srv, fsm.StateDraining, "i-b")
		waitFor(t, 5*time.Second, "b listed as draining", func() (bool, string) {
			for _, e := range ps.EndpointList() {
				for _, b := range e.Backends {
					if b.Address == be.addrs["b"] {
						return b.Draining, ""
					}
				}
			}
			return false, "b not listed"
		})
		hits, err := get(t, client, addr, 40)
		if err != nil {
			t.Fatal(err)
		}
		if hits["b"] != 0 || hits["a"] == 0 || hits["c"] == 0 {
			t.Fatalf("after draining b: %v, want a and c only", hits)
		}
	})

	t.Run("added instance gets traffic within one resync", func(t *testing.T) {
		start := time.Now()
		addRunning(t, srv, "t1", "web", "c1", map[string]string{"i-d": be.addrs["d"]})
		waitFor(t, 5*time.Second, "d to get a request", func() (bool, string) {
			hits, err := get(t, client, addr, 4)
			if err != nil {
				return false, err.Error()
			}
			return hits["d"] > 0, fmt.Sprint(hits)
		})
		// The FSM observer wakes the loop at once; the periodic resync is the
		// upper bound.
		if el := time.Since(start); el > resync+2*time.Second {
			t.Errorf("d got its first request %v after it was committed, want within one resync (%v) plus slack", el, resync)
		}
	})

	t.Run("deleted group's proxy closes", func(t *testing.T) {
		// Dropping the group drains its instances; it disappears when the
		// last one is terminated.
		apply(t, srv, fsm.ApplyTenantType, fsm.ApplyTenant{Tenant: fsm.TenantSpec{Name: "t1", Networks: []fsm.Network{{Name: "net",
			Subnets: []fsm.Subnet{{CIDR: "10.9.0.0/24", Gateway: "10.9.0.1", RangeStart: "10.9.0.10", RangeEnd: "10.9.0.200"}}}}},
			Groups: []fsm.GroupSpec{{Name: "api", Max: 1}}, Time: t0})
		ids := []string{"i-a", "i-b", "i-c", "i-d"}
		setState(t, srv, fsm.StateTerminating, ids...)
		setState(t, srv, fsm.StateTerminated, ids...)
		waitFor(t, 5*time.Second, "t1/web to leave the endpoints", func() (bool, string) {
			_, ok := ps.Endpoints()["t1/web"]
			return !ok, ""
		})
		waitFor(t, 5*time.Second, "the old listener to close", func() (bool, string) {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return true, ""
			}
			c.Close()
			return false, "still accepting"
		})
		if _, ok := ps.Endpoints()["t1/api"]; !ok {
			t.Errorf("new group t1/api has no endpoint: %v", ps.Endpoints())
		}
	})
}

func TestProxySyncBasePortIsStable(t *testing.T) {
	srv := startServer(t)
	setupTenant(t, srv, "t1", "", "c1")
	// Find a free range: a listener on port 0 tells us a port that was free.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := l.Addr().(*net.TCPAddr).Port
	l.Close()
	want := lbsync.AssignPorts([]lbsync.PortRequest{{Key: "t1/web", Created: t0}}, base, 1)["t1/web"]

	run := func() string {
		ps, err := lbsync.NewProxySync(lbsync.ProxyConfig{Source: srv, BasePort: base, PortSpan: 1})
		if err != nil {
			t.Fatal(err)
		}
		ps.Sync()
		addr := ps.Endpoints()["t1/web"]
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = ps.Run(ctx) // closes the proxies
		return addr
	}
	first, second := run(), run()
	if first != fmt.Sprintf("127.0.0.1:%d", want) || second != first {
		t.Fatalf("endpoints %q then %q, want 127.0.0.1:%d both times", first, second, want)
	}
}

func TestNewProxySyncRejectsBadConfig(t *testing.T) {
	srv := startServer(t)
	for _, tc := range []struct {
		name string
		cfg  lbsync.ProxyConfig
	}{
		{"no source", lbsync.ProxyConfig{}},
		{"base port", lbsync.ProxyConfig{Source: srv, BasePort: 70000}},
		{"span past 65535", lbsync.ProxyConfig{Source: srv, BasePort: 65000, PortSpan: 1000}},
		{"listen", lbsync.ProxyConfig{Source: srv, Listen: map[string]string{"t/g": "nonsense"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := lbsync.NewProxySync(tc.cfg); !errors.Is(err, lbsync.ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
}

func TestAssignPorts(t *testing.T) {
	// Every key hashes somewhere in a span of 3; with 3 groups all slots
	// fill, so collisions are certain to be resolved by probing.
	reqs := []lbsync.PortRequest{{Key: "t/a", Created: t0}, {Key: "t/b", Created: t0.Add(time.Second)}, {Key: "u/a", Created: t0.Add(2 * time.Second)}}
	for _, tc := range []struct {
		name string
		span int
		n    int
	}{{"span 3", 3, 3}, {"span 1000", 1000, 3}, {"span 2 leaves one out", 2, 2}} {
		t.Run(tc.name, func(t *testing.T) {
			got := lbsync.AssignPorts(reqs, 5000, tc.span)
			if len(got) != tc.n {
				t.Fatalf("%d ports assigned, want %d: %v", len(got), tc.n, got)
			}
			seen := map[int]bool{}
			for k, p := range got {
				if p < 5000 || p >= 5000+tc.span || seen[p] {
					t.Fatalf("port %d of %s out of range or shared: %v", p, k, got)
				}
				seen[p] = true
			}
			// Adding a newer group moves none of the existing ones; the
			// input order does not matter.
			more := append([]lbsync.PortRequest{{Key: "z/z", Created: t0.Add(time.Hour)}}, reqs...)
			again := lbsync.AssignPorts(more, 5000, tc.span)
			for k, p := range got {
				if again[k] != p {
					t.Fatalf("adding a group moved %s from %d to %d", k, p, again[k])
				}
			}
		})
	}
}
