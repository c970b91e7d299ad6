package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestMachine(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fail := errors.New("refused")
	type step struct {
		at   time.Duration
		err  error
		gone bool
		want Status
	}
	tests := []struct {
		name  string
		check Check
		steps []step
	}{
		{"healthy on first success", Check{}, []step{{1 * time.Second, nil, false, StatusHealthy}}},
		{"grace hides failures", Check{Grace: 10 * time.Second, UnhealthyThreshold: 2}, []step{
			{1 * time.Second, fail, false, StatusStarting},
			{2 * time.Second, fail, false, StatusStarting},
			{3 * time.Second, fail, false, StatusStarting},
			{11 * time.Second, fail, false, StatusStarting},
			{12 * time.Second, fail, false, StatusUnhealthy},
		}},
		{"N consecutive failures", Check{UnhealthyThreshold: 3}, []step{
			{1 * time.Second, nil, false, StatusHealthy},
			{2 * time.Second, fail, false, StatusHealthy},
			{3 * time.Second, fail, false, StatusHealthy},
			{4 * time.Second, nil, false, StatusHealthy}, // resets the count
			{5 * time.Second, fail, false, StatusHealthy},
			{6 * time.Second, fail, false, StatusHealthy},
			{7 * time.Second, fail, false, StatusUnhealthy},
			{8 * time.Second, nil, false, StatusHealthy},
		}},
		{"healthy threshold", Check{HealthyThreshold: 2}, []step{
			{1 * time.Second, nil, false, StatusStarting},
			{2 * time.Second, nil, false, StatusHealthy},
		}},
		{"gone is final", Check{}, []step{
			{1 * time.Second, nil, false, StatusHealthy},
			{2 * time.Second, nil, true, StatusGone},
			{3 * time.Second, nil, false, StatusGone},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(tt.check, t0)
			for i, s := range tt.steps {
				var got Status
				if s.gone {
					m.Vanish(t0.Add(s.at))
					got = m.Report().Status
				} else {
					got = m.Observe(s.err, t0.Add(s.at))
				}
				if got != s.want {
					t.Fatalf("step %d (%v at %s): status %s, want %s", i, s.err, s.at, got, s.want)
				}
			}
		})
	}
}

func TestCheckValidate(t *testing.T) {
	tests := []struct {
		c  Check
		ok bool
	}{
		{Check{}, true},
		{Check{Kind: "tcp"}, true},
		{Check{Kind: "icmp"}, false},
		{Check{Interval: time.Second, Timeout: 2 * time.Second}, false},
		{Check{Grace: -1}, false},
	}
	for _, tt := range tests {
		if err := tt.c.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%+v) = %v, want ok=%v", tt.c, err, tt.ok)
		}
	}
}

func TestProbe(t *testing.T) {
	var code atomic.Int32
	code.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
			return
		}
		w.WriteHeader(int(code.Load()))
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	ctx := context.Background()
	tests := []struct {
		name string
		c    Check
		addr string
		code int32
		ok   bool
	}{
		{"http 200", Check{}, addr, 200, true},
		{"http 503", Check{}, addr, 503, false},
		{"http redirect", Check{Path: "/moved"}, addr, 200, true},
		{"tcp open", Check{Kind: KindTCP}, addr, 200, true},
		{"tcp closed", Check{Kind: KindTCP}, closed, 200, false},
		{"http closed", Check{}, closed, 200, false},
	}
	for _, tt := range tests {
		code.Store(tt.code)
		if err := Probe(ctx, tt.c, tt.addr); (err == nil) != tt.ok {
			t.Errorf("%s: Probe = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func waitStatus(t *testing.T, r *Runner, id string, want Status) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rep, _ := r.Report(id)
		if rep.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %s, want %s", id, rep.Status, want)
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}

func TestRunner(t *testing.T) {
	var code atomic.Int32
	code.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(int(code.Load())) }))
	defer srv.Close()
	r := NewRunner(nil)
	defer r.Close()
	c := Check{Interval: 10 * time.Millisecond, Timeout: 5 * time.Millisecond, UnhealthyThreshold: 2}
	r.Watch("a", srv.Listener.Addr().String(), c, time.Now())
	waitStatus(t, r, "a", StatusHealthy)
	code.Store(500)
	waitStatus(t, r, "a", StatusUnhealthy)
	code.Store(200)
	waitStatus(t, r, "a", StatusHealthy)
	r.Vanished("a")
	waitStatus(t, r, "a", StatusGone)
	r.Forget("a")
	if _, ok := r.Report("a"); ok {
		t.Fatal("report kept after Forget")
	}
}
