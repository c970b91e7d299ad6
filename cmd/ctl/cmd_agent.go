package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/cluster"
	"aas/cluster/northbound"
	"aas/nodes"
	"aas/nodes/gossip"
)

func init() {
	register("agent", "run an agent: -server (controller), -hypervisor, or -dev (single node)", runAgent)
}

type agentFlags struct {
	server, hypervisor, dev bool

	nodeID, cloud, dataDir         string
	httpAddr, raftAddr, gossipAddr string
	bootstrapExpect                int
	join                           string
	encrypt                        string
	logLevel                       string

	raftProfile                               string
	heartbeat, election, leaderLease, commitT time.Duration
	snapshotThreshold                         uint64
	snapshotInterval                          time.Duration

	driver, apiAddr string
	capacity        int
	processMode     string
	dockerHost      string

	ctrl controllerFlags
	sec  agentSecurity
}

func runAgent(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("agent", stderr)
	var f agentFlags
	fs.BoolVar(&f.server, "server", false, "run a controller (raft voter, HTTP API, gossip)")
	fs.BoolVar(&f.hypervisor, "hypervisor", false, "run a hypervisor agent (gossip member)")
	fs.BoolVar(&f.dev, "dev", false, "run a single-node controller that bootstraps itself (no root; temp data dir unless -data-dir)")
	fs.StringVar(&f.nodeID, "node-id", "", "node ID (unique in the cluster; default: host name)")
	fs.StringVar(&f.cloud, "cloud", "", "cloud this node belongs to")
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory (raft log, snapshots, peers); survives restarts")
	fs.StringVar(&f.httpAddr, "http-addr", "127.0.0.1:7070", "HTTP API address (bind and advertise)")
	fs.StringVar(&f.raftAddr, "raft-addr", "127.0.0.1:7071", "raft TCP address (bind and advertise)")
	fs.StringVar(&f.gossipAddr, "gossip-addr", "127.0.0.1:7072", "gossip address, TCP and UDP (empty disables gossip on a server)")
	fs.IntVar(&f.bootstrapExpect, "bootstrap-expect", 0, "servers: bootstrap once this many servers joined each other")
	fs.StringVar(&f.join, "join", "", "servers: controller HTTP addresses to join (comma-separated); hypervisors: gossip addresses")
	fs.StringVar(&f.encrypt, "encrypt", "", "gossip encryption key, base64 of 16, 24 or 32 bytes")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: trace, debug, info, warn, error")
	fs.StringVar(&f.raftProfile, "raft-profile", cluster.ProfileDefault, "raft timing profile: default (raft's 1s), tuned (300ms, LAN), fast (100ms, loopback tests)")
	fs.DurationVar(&f.heartbeat, "raft-heartbeat-timeout", 0, "override the profile's raft heartbeat timeout")
	fs.DurationVar(&f.election, "raft-election-timeout", 0, "override the profile's raft election timeout")
	fs.DurationVar(&f.leaderLease, "raft-leader-lease-timeout", 0, "override the profile's raft leader lease timeout")
	fs.DurationVar(&f.commitT, "raft-commit-timeout", 0, "override the profile's raft commit timeout")
	fs.StringVar(&f.driver, "driver", "process", "hypervisors: instance driver: process, docker or libvirt")
	fs.StringVar(&f.apiAddr, "api-addr", "127.0.0.1:7073", "hypervisors: node API address")
	fs.IntVar(&f.capacity, "capacity", 16, "hypervisors: instances this host can hold")
	fs.StringVar(&f.processMode, "process-mode", "loopback", "hypervisors, process driver: loopback (a free 127.0.0.1 port, no root) or netns (own network namespace on the tenant bridge, root)")
	fs.StringVar(&f.dockerHost, "docker-host", "", "hypervisors, docker driver: engine address (default: DOCKER_HOST or the local socket)")
	f.ctrl.register(fs)
	addAgentSecurityFlags(fs, &f.sec)
	fs.Uint64Var(&f.snapshotThreshold, "raft-snapshot-threshold", 0, "raft log entries between snapshots (default raft's 8192)")
	fs.DurationVar(&f.snapshotInterval, "raft-snapshot-interval", 0, "how often raft checks whether to snapshot (default raft's 120s)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErr(fs, "unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	modes := 0
	for _, b := range []bool{f.server, f.hypervisor, f.dev} {
		if b {
			modes++
		}
	}
	if modes != 1 {
		return usageErr(fs, "give exactly one of -server, -hypervisor, -dev")
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "ctl", Level: hclog.LevelFromString(f.logLevel), Output: stderr})
	key, err := decodeKey(f.encrypt)
	if err != nil {
		return usageErr(fs, "%v", err)
	}
	if f.nodeID == "" {
		if f.dev {
			f.nodeID = "dev"
		} else if f.nodeID, err = os.Hostname(); err != nil {
			return usageErr(fs, "-node-id is required: %v", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.hypervisor {
		return runHypervisorAgent(ctx, f, key, logger, stdout)
	}
	return runServerAgent(ctx, fs, f, key, logger, stdout)
}

func usageErr(fs *flag.FlagSet, format string, a ...any) error {
	fmt.Fprintf(fs.Output(), "ctl %s: %s\n", strings.TrimPrefix(fs.Name(), "ctl "), fmt.Sprintf(format, a...))
	return errUsage
}

func decodeKey(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("-encrypt: not base64: %v", err)
	}
	switch len(k) {
	case 16, 24, 32:
		return k, nil
	}
	return nil, fmt.Errorf("-encrypt: key is %d bytes, want 16, 24 or 32", len(k))
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func runServerAgent(ctx context.Context, fs *flag.FlagSet, f agentFlags, key []byte, logger hclog.Logger, stdout io.Writer) error {
	profile := f.raftProfile
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if f.dev && !set["raft-profile"] {
		profile = cluster.ProfileFast // loopback only: ready well under 2 s
	}
	timing, err := cluster.RaftProfile(profile)
	if err != nil {
		return usageErr(fs, "%v", err)
	}
	for _, o := range []struct {
		v   time.Duration
		dst *time.Duration
	}{{f.heartbeat, &timing.HeartbeatTimeout}, {f.election, &timing.ElectionTimeout}, {f.leaderLease, &timing.LeaderLeaseTimeout}, {f.commitT, &timing.CommitTimeout}} {
		if o.v > 0 {
			*o.dst = o.v
		}
	}
	if err := f.sec.resolve(); err != nil {
		return usageErr(fs, "%v", err)
	}
	cfg := cluster.Config{
		NodeID: f.nodeID, Cloud: f.cloud, DataDir: f.dataDir,
		HTTPAddr: f.httpAddr, RaftAddr: f.raftAddr, GossipAddr: f.gossipAddr, GossipKey: key,
		BootstrapExpect: f.bootstrapExpect, Join: splitList(f.join), Raft: timing, Logger: logger,
		TLS: f.sec.files(), ACLEnabled: f.sec.aclEnabled, ACLBootstrapToken: f.sec.aclBootstrapToken,
		OnBootstrapToken: printBootstrapToken(stdout), JoinToken: f.sec.joinToken, SecretsKeyFile: f.sec.secretsKeyFile,
		SnapshotThreshold: f.snapshotThreshold, SnapshotInterval: f.snapshotInterval,
	}
	tempDir := false // dev agent with a temporary data dir: remove its instances on exit
	if f.dev {
		cfg.Bootstrap = true
		if cfg.Cloud == "" {
			cfg.Cloud = "local"
		}
		// Raft and gossip on free loopback ports; only HTTP is fixed.
		if !set["raft-addr"] {
			cfg.RaftAddr = "127.0.0.1:0"
		}
		if !set["gossip-addr"] {
			cfg.GossipAddr = "127.0.0.1:0"
		}
		if cfg.DataDir == "" {
			dir, err := os.MkdirTemp("", "aas-dev-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			cfg.DataDir = dir
			tempDir = true
		}
	} else if cfg.DataDir == "" {
		return usageErr(fs, "-data-dir is required with -server")
	}
	srv, err := cluster.New(cfg)
	if err != nil {
		return err
	}
	if err := northbound.Register(srv, logger); err != nil {
		_ = srv.Shutdown()
		return err
	}
	ctrl, err := startController(srv, cfg, f, logger, stdout)
	if err != nil {
		_ = srv.Shutdown()
		return err
	}
	defer ctrl.Stop()
	fmt.Fprintf(stdout, "agent started: id=%s http=%s raft=%s gossip=%s data-dir=%s\n",
		srv.ID(), srv.HTTPAddr(), srv.RaftAddr(), srv.GossipAddr(), cfg.DataDir)
	if f.dev {
		// The dev agent is also a hypervisor: node API with the process
		// driver on a free loopback port, announced in gossip.
		nodeTLS, err := f.sec.nodeAPITLS()
		if err != nil {
			_ = srv.Shutdown()
			return err
		}
		hv, err := startHypervisor(hypervisorSpec{
			NodeID: f.nodeID + "-hv", Cloud: cfg.Cloud, Driver: "process", APIAddr: "127.0.0.1:0",
			GossipAddr: "127.0.0.1:0", DataDir: filepath.Join(cfg.DataDir, "hypervisor"),
			Capacity: f.capacity, TLS: nodeTLS, Logger: logger,
		})
		if err != nil {
			_ = srv.Shutdown()
			return err
		}
		defer hv.stop(logger)
		if tempDir {
			defer removeDevInstances(hv, logger)
		}
		if err := cluster.JoinWithRetry(ctx, hv.gossip, []string{srv.GossipAddr()}, time.Second); err != nil && ctx.Err() == nil {
			_ = srv.Shutdown()
			return err
		}
		fmt.Fprintf(stdout, "dev hypervisor started: id=%s api=%s\n", f.nodeID+"-hv", hv.agent.Addr())
	}
	select {
	case <-ctx.Done():
		logger.Info("signal received; shutting down (without leaving; use 'ctl leave' to leave)")
	case <-srv.Done():
	}
	return srv.Shutdown()
}

// hypervisorSpec is what a hypervisor agent needs.
type hypervisorSpec struct {
	NodeID, Cloud, Driver, APIAddr, GossipAddr, DataDir string
	Capacity                                            int
	Key                                                 []byte
	Fast                                                bool
	// TLS serves the node API over mutual TLS (tlsutil.MutualConfig):
	// only callers with a certificate signed by the cluster CA (the
	// controllers) can use it. The API address in gossip is then https://.
	TLS *tls.Config
	// Driver settings: process mode (loopback | netns) and the docker host.
	Options nodes.DriverConfig
	Logger  hclog.Logger
}

// hypervisor is a running node API plus its gossip member.
type hypervisor struct {
	agent  *nodes.Agent
	gossip *gossip.Node
}

// startHypervisor starts the node API (aas/nodes) and announces it in
// gossip with role hypervisor.
func startHypervisor(h hypervisorSpec) (*hypervisor, error) {
	agent, err := nodes.NewAgent(nodes.AgentConfig{NodeID: h.NodeID, Cloud: h.Cloud, Driver: h.Driver,
		APIAddr: h.APIAddr, DataDir: h.DataDir, TLS: h.TLS, DriverOptions: h.Options, Logger: h.Logger})
	if err != nil {
		return nil, err
	}
	if err := agent.Start(); err != nil {
		return nil, err
	}
	var timing gossip.Timing
	if h.Fast {
		timing = gossip.FastTiming()
	}
	apiAddr := agent.Addr()
	if h.TLS != nil {
		apiAddr = agent.URL() // https://host:port: controllers dial with mutual TLS
	}
	g, err := gossip.Start(gossip.Config{
		NodeID: h.NodeID, BindAddr: h.GossipAddr, Key: h.Key, Logger: h.Logger, Timing: timing,
		Meta: gossip.Meta{NodeID: h.NodeID, Role: gossip.RoleHypervisor, Cloud: h.Cloud, Driver: h.Driver,
			Capacity: h.Capacity, APIAddr: apiAddr},
	})
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = agent.Shutdown(ctx)
		return nil, err
	}
	return &hypervisor{agent: agent, gossip: g}, nil
}

// stop leaves gossip (the leader records "left") and stops the node API;
// instances keep running and are adopted on the next start.
func (h *hypervisor) stop(logger hclog.Logger) {
	if err := h.gossip.Leave(5 * time.Second); err != nil {
		logger.Warn("gossip leave failed", "error", err)
	}
	_ = h.gossip.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.agent.Shutdown(ctx); err != nil {
		logger.Warn("node API shutdown", "error", err)
	}
}

// runHypervisorAgent runs a hypervisor host: the node API (aas/nodes)
// and its gossip member, joined to a controller's gossip address.
func runHypervisorAgent(ctx context.Context, f agentFlags, key []byte, logger hclog.Logger, stdout io.Writer) error {
	joins := splitList(f.join)
	if len(joins) == 0 {
		return errors.New("-hypervisor needs -join GOSSIP_ADDR of a controller")
	}
	if f.dataDir == "" {
		return errors.New("-hypervisor needs -data-dir (term fence, instance state)")
	}
	if err := f.sec.resolve(); err != nil {
		return err
	}
	nodeTLS, err := f.sec.nodeAPITLS()
	if err != nil {
		return err
	}
	hv, err := startHypervisor(hypervisorSpec{NodeID: f.nodeID, Cloud: f.cloud, Driver: f.driver, APIAddr: f.apiAddr,
		GossipAddr: f.gossipAddr, DataDir: f.dataDir, Capacity: f.capacity, Key: key, TLS: nodeTLS,
		Options: nodes.DriverConfig{ProcessMode: f.processMode, DockerHost: f.dockerHost}, Logger: logger})
	if err != nil {
		return err
	}
	defer hv.stop(logger)
	if err := cluster.JoinWithRetry(ctx, hv.gossip, joins, 5*time.Second); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	fmt.Fprintf(stdout, "hypervisor agent started: id=%s api=%s gossip=%s joined=%s\n", f.nodeID, hv.agent.Addr(), hv.gossip.Addr(), strings.Join(joins, ","))
	<-ctx.Done()
	logger.Info("signal received; leaving gossip")
	return nil
}
