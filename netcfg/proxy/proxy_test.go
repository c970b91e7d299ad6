package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type backendSrv struct {
	name string
	addr string
	hits atomic.Int64
}

// startBackends runs n HTTP servers on 127.0.0.1 answering with their name.
func startBackends(t testing.TB, n int) []*backendSrv {
	t.Helper()
	var out []*backendSrv
	for i := range n {
		b := &backendSrv{name: fmt.Sprintf("be%d", i)}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		b.addr = l.Addr().String()
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.hits.Add(1)
			io.WriteString(w, b.name)
		}), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		out = append(out, b)
	}
	return out
}

func backends(bs []*backendSrv, mod func(i int, b *Backend)) []Backend {
	var out []Backend
	for i, s := range bs {
		b := Backend{Addr: s.addr}
		if mod != nil {
			mod(i, &b)
		}
		out = append(out, b)
	}
	return out
}

func startProxy(t testing.TB, cfg Config) *Proxy {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

var noKeepAlive = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

func get(c *http.Client, addr string) (string, error) {
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func count(t *testing.T, addr string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		body, err := get(noKeepAlive, addr)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got[body]++
	}
	return got
}

func chiSquare(obs map[string]int, want map[string]float64, n int) float64 {
	x := 0.0
	for k, share := range want {
		e := share * float64(n)
		d := float64(obs[k]) - e
		x += d * d / e
	}
	return x
}

func TestDistribution(t *testing.T) {
	bes := startBackends(t, 3)
	cases := []struct {
		name     string
		strategy Strategy
		weights  []int
		n        int
		want     map[string]float64
		exact    bool
	}{
		{"random equal", Random, []int{0, 0, 0}, 300, map[string]float64{"be0": 1. / 3, "be1": 1. / 3, "be2": 1. / 3}, false},
		{"random 1:1:2", Random, []int{1, 1, 2}, 400, map[string]float64{"be0": .25, "be1": .25, "be2": .5}, false},
		{"round robin equal", RoundRobin, []int{1, 1, 1}, 300, map[string]float64{"be0": 1. / 3, "be1": 1. / 3, "be2": 1. / 3}, true},
		{"round robin 1:2:1", RoundRobin, []int{1, 2, 1}, 400, map[string]float64{"be0": .25, "be1": .5, "be2": .25}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startProxy(t, Config{Strategy: tc.strategy, Backends: backends(bes, func(i int, b *Backend) { b.Weight = tc.weights[i] })})
			got := count(t, p.Addr().String(), tc.n)
			if tc.exact {
				for k, share := range tc.want {
					if got[k] != int(share*float64(tc.n)) {
						t.Fatalf("round robin counts %v, want shares %v", got, tc.want)
					}
				}
				return
			}
			if x := chiSquare(got, tc.want, tc.n); x > 13.82 { // χ², 2 df, p=0.001
				t.Fatalf("counts %v, χ²=%.2f", got, x)
			}
			st := p.Stats()
			for _, b := range bes {
				if int(st.Total[b.addr]) != got[b.name] {
					t.Errorf("Stats().Total[%s]=%d, saw %d responses", b.addr, st.Total[b.addr], got[b.name])
				}
			}
		})
	}
}

// keepAliveTo opens connections through the proxy until one lands on want.
func keepAliveTo(t *testing.T, addr, want string) (net.Conn, *bufio.Reader) {
	t.Helper()
	for range 200 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		if body, err := roundTrip(c, r); err == nil && body == want {
			return c, r
		}
		c.Close()
	}
	t.Fatalf("no connection reached %s", want)
	return nil, nil
}

func roundTrip(c net.Conn, r *bufio.Reader) (string, error) {
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestDrainKeepsEstablishedConnections(t *testing.T) {
	bes := startBackends(t, 3)
	p := startProxy(t, Config{Backends: backends(bes, nil)})
	c, r := keepAliveTo(t, p.Addr().String(), "be0")
	defer c.Close()

	if err := p.SetBackends(backends(bes, func(i int, b *Backend) { b.Draining = i == 0 })); err != nil {
		t.Fatal(err)
	}
	got := count(t, p.Addr().String(), 200)
	if got["be0"] != 0 || got["be1"]+got["be2"] != 200 {
		t.Fatalf("after draining be0: %v", got)
	}
	if st := p.Stats(); st.Active[bes[0].addr] != 1 {
		t.Fatalf("Stats().Active for the draining backend = %d, want 1 (the kept connection)", st.Active[bes[0].addr])
	}
	if body, err := roundTrip(c, r); err != nil || body != "be0" {
		t.Fatalf("established connection after drain: %q, %v", body, err)
	}
	// Removing the backend altogether behaves the same.
	if err := p.SetBackends(backends(bes[1:], nil)); err != nil {
		t.Fatal(err)
	}
	if body, err := roundTrip(c, r); err != nil || body != "be0" {
		t.Fatalf("established connection after removal: %q, %v", body, err)
	}
}

func TestRefusedBackendIsSkipped(t *testing.T) {
	bes := startBackends(t, 2)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	for _, strat := range []Strategy{Random, RoundRobin} {
		p := startProxy(t, Config{Strategy: strat, Backends: append(backends(bes, nil), Backend{Addr: dead, Weight: 5})})
		got := count(t, p.Addr().String(), 100)
		if got["be0"]+got["be1"] != 100 {
			t.Fatalf("strategy %d: %v", strat, got)
		}
	}
	// With nothing alive the client's connection is closed.
	p := startProxy(t, Config{Backends: []Backend{{Addr: dead}}})
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("read with no backend: n=%d err=%v, want EOF/reset", n, err)
	}
}

func TestSetBackendsValidation(t *testing.T) {
	bes := startBackends(t, 1)
	p := startProxy(t, Config{Backends: backends(bes, nil)})
	for name, bad := range map[string][]Backend{
		"no port":         {{Addr: "127.0.0.1"}},
		"negative weight": {{Addr: "127.0.0.1:1", Weight: -1}},
		"duplicate":       {{Addr: "127.0.0.1:1"}, {Addr: "127.0.0.1:1"}},
	} {
		if err := p.SetBackends(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: SetBackends = %v, want ErrInvalid", name, err)
		}
	}
	if got := count(t, p.Addr().String(), 10); got["be0"] != 10 {
		t.Fatalf("a rejected update changed the set: %v", got)
	}
	if _, err := New(Config{Listen: "127.0.0.1:0", Strategy: 7}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad strategy: %v", err)
	}
}

// Swapping backend sets while requests flow never fails a request.
func TestSwapUnderLoad(t *testing.T) {
	bes := startBackends(t, 4)
	p := startProxy(t, Config{Backends: backends(bes[:2], nil)})
	var failures, done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := get(noKeepAlive, p.Addr().String()); err != nil {
					failures.Add(1)
				}
				done.Add(1)
			}
		}()
	}
	for i := range 200 {
		set := backends(bes[i%2*2:i%2*2+2], nil)
		if err := p.SetBackends(set); err != nil {
			t.Fatal(err)
		}
	}
	for done.Load() < 200 {
		time.Sleep(5 * time.Millisecond) // polling for progress
	}
	close(stop)
	wg.Wait()
	if f := failures.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed during swaps", f, done.Load())
	}
}

func TestShutdownWaitsForConnections(t *testing.T) {
	bes := startBackends(t, 1)
	p := startProxy(t, Config{Backends: backends(bes, nil)})
	c, r := keepAliveTo(t, p.Addr().String(), "be0")
	res := make(chan error, 1)
	go func() { res <- p.Shutdown(context.Background()) }()
	// New connections are refused once the listener is closed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		nc, err := net.Dial("tcp", p.Addr().String())
		if err != nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("listener still accepting after Shutdown")
		}
		time.Sleep(10 * time.Millisecond) // polling
	}
	select {
	case err := <-res:
		t.Fatalf("Shutdown returned %v with a connection open", err)
	default:
	}
	if body, err := roundTrip(c, r); err != nil || body != "be0" {
		t.Fatalf("established connection during shutdown: %q %v", body, err)
	}
	c.Close()
	select {
	case err := <-res:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return after the last connection closed")
	}
}
