// Package workload is the demo instance application run by `ctl workload`:
// an HTTP server that burns a configurable amount of CPU per request, answers
// /healthz, and reports its hostname, instance ID and served count.
package workload

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// Config configures the workload server.
type Config struct {
	// Listen is the host:port to listen on.
	Listen string
	// CPUPerRequest is the CPU time burnt per request to "/".
	CPUPerRequest time.Duration
	// InstanceID is reported in responses.
	InstanceID string
	// ShutdownTimeout bounds graceful shutdown (default 5s).
	ShutdownTimeout time.Duration
	Logger          hclog.Logger
}

// Response is the JSON body returned by "/".
type Response struct {
	Hostname   string  `json:"hostname"`
	InstanceID string  `json:"instance_id"`
	Served     uint64  `json:"served"`
	CPUMillis  float64 `json:"cpu_ms"`
}

// Server is the workload HTTP handler.
type Server struct {
	cfg      Config
	hostname string
	served   atomic.Uint64
}

// New returns a workload server for cfg.
func New(cfg Config) *Server {
	h, _ := os.Hostname()
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Server{cfg: cfg, hostname: h}
}

// Handler serves "/" and "/healthz".
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", s.serve)
	return mux
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	work := s.cfg.CPUPerRequest
	if v := r.URL.Query().Get("cpu_ms"); v != "" {
		ms, err := strconv.ParseFloat(v, 64)
		if err != nil || ms < 0 || ms > 60000 {
			http.Error(w, "cpu_ms: want a number of milliseconds in [0,60000]", http.StatusBadRequest)
			return
		}
		work = time.Duration(ms * float64(time.Millisecond))
	}
	used := BurnCPU(work)
	n := s.served.Add(1)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(Response{
		Hostname:   s.hostname,
		InstanceID: s.cfg.InstanceID,
		Served:     n,
		CPUMillis:  float64(used) / float64(time.Millisecond),
	})
}

// Served is the number of requests to "/" served so far.
func (s *Server) Served() uint64 { return s.served.Load() }

// BurnCPU hashes until the calling thread has consumed d of CPU time
// (CLOCK_THREAD_CPUTIME_ID, so a contended machine does not shorten the
// work) and returns the CPU time actually used.
func BurnCPU(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, ok := threadCPU()
	if !ok {
		return burnWall(d)
	}
	var buf [4096]byte
	sum := sha256.Sum256(buf[:])
	for {
		for i := 0; i < 16; i++ {
			copy(buf[:], sum[:])
			sum = sha256.Sum256(buf[:])
		}
		now, _ := threadCPU()
		if used := now - start; used >= d {
			return used
		}
	}
}

func burnWall(d time.Duration) time.Duration {
	var buf [4096]byte
	sum := sha256.Sum256(buf[:])
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		copy(buf[:], sum[:])
		sum = sha256.Sum256(buf[:])
	}
	return d
}

func threadCPU() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

// Run listens on cfg.Listen and serves until ctx is cancelled, then shuts
// down gracefully. ready, if not nil, receives the bound address.
func Run(ctx context.Context, cfg Config, ready func(addr net.Addr)) error {
	if cfg.Listen == "" {
		return errors.New("workload: listen address is empty")
	}
	s := New(cfg)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("workload: listen: %w", err)
	}
	if ready != nil {
		ready(ln.Addr())
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.cfg.Logger.Info("workload listening", "addr", ln.Addr().String(), "instance", cfg.InstanceID, "cpu_per_request", cfg.CPUPerRequest)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("workload: serve: %w", err)
	case <-ctx.Done():
	}
	to := cfg.ShutdownTimeout
	if to <= 0 {
		to = 5 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.Background(), to)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("workload: shutdown: %w", err)
	}
	s.cfg.Logger.Info("workload stopped", "served", s.Served())
	return nil
}
