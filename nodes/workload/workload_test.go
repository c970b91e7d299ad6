package workload

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(New(Config{InstanceID: "i-7", CPUPerRequest: 2 * time.Millisecond}).Handler())
	defer srv.Close()
	tests := []struct {
		path       string
		wantStatus int
		minCPUms   float64
		served     uint64
	}{
		{"/healthz", 200, 0, 0},
		{"/", 200, 2, 1},
		{"/?cpu_ms=15", 200, 15, 2},
		{"/?cpu_ms=-1", 400, 0, 0},
		{"/?cpu_ms=abc", 400, 0, 0},
		{"/anything", 200, 2, 3},
	}
	for _, tt := range tests {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tt.wantStatus {
			t.Fatalf("%s: status %d, want %d", tt.path, resp.StatusCode, tt.wantStatus)
		}
		if tt.served > 0 {
			var r Response
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
				t.Fatal(err)
			}
			if r.InstanceID != "i-7" || r.Served != tt.served || r.CPUMillis < tt.minCPUms || r.Hostname == "" {
				t.Fatalf("%s: response %+v, want instance i-7, served %d, cpu >= %v ms", tt.path, r, tt.served, tt.minCPUms)
			}
		}
		resp.Body.Close()
	}
}

func TestBurnCPU(t *testing.T) {
	for _, d := range []time.Duration{0, 5 * time.Millisecond, 30 * time.Millisecond} {
		got := BurnCPU(d)
		if got < d || got > d+50*time.Millisecond {
			t.Errorf("BurnCPU(%s) used %s of thread CPU", d, got)
		}
	}
}

func TestRunServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Listen: "127.0.0.1:0", InstanceID: "x"}, func(a net.Addr) { addrc <- a })
	}()
	addr := (<-addrc).String()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("still listening after shutdown")
	}
	if err := Run(context.Background(), Config{}, nil); err == nil {
		t.Fatal("Run with empty listen address succeeded")
	}
}
