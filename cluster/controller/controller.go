// Package controller assembles what runs beside the Raft server on a
// controller: the site reconciler of its own cloud, the leader-only group
// converger and autoscaler, the load balancer for its cloud (a userspace
// proxy in dev mode, iptables DNAT with the master LB on the leader
// otherwise) and the dashboard. cmd/ctl only parses flags and calls Start.
package controller

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/vishvananda/netns"

	"aas/cluster"
	"aas/cluster/autoscale"
	"aas/cluster/converge"
	"aas/cluster/lbsync"
	"aas/cluster/site"
	"aas/cluster/ui"
	"aas/netcfg"
)

// ErrConfig reports bad options.
var ErrConfig = errors.New("controller: bad configuration")

// LB modes.
const (
	LBProxy    = "proxy"    // userspace TCP proxy per group (no root)
	LBIPTables = "iptables" // iptables DNAT per group, master LB on the leader
	LBNone     = "none"
)

// Options configure the controller services. Zero values take defaults.
type Options struct {
	// Cloud is this controller's cloud (required).
	Cloud string
	// CloudPriority registers the cloud when the FSM does not know it yet.
	CloudPriority int
	// LB is one of LBProxy, LBIPTables, LBNone (default LBProxy).
	LB string
	// LBBasePort is the first port of group endpoints (proxy default 30000,
	// iptables default 20000); it must be the same on every controller.
	LBBasePort int
	// LBAddr is the cloud-local service address (iptables mode).
	LBAddr string
	// Uplink is the interface that holds tenants' public IPs on the leader
	// (iptables mode; empty: no master LB).
	Uplink string
	// DataDir is the agent's data directory: the master LB remembers the
	// public IPs it holds there (released first thing after a crash).
	DataDir string
	// NodeHTTPClient talks to hypervisor agents (mutual TLS when set up).
	NodeHTTPClient *http.Client
	// Site tunes the site reconciler (Cluster, Cloud, Logger are filled in).
	Site site.Config
	// Autoscale tunes the autoscaling loop.
	Autoscale autoscale.Options
	// Converge tunes the converger (Cluster and Logger are filled in).
	Converge converge.Config
	// NoUI disables the dashboard.
	NoUI   bool
	Logger hclog.Logger
}

// Controller is the set of running services.
type Controller struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	proxy  *lbsync.ProxySync
	ipt    *lbsync.IPTablesSync
	links  *netcfg.Links
	log    hclog.Logger
}

// Start starts the services on srv; they run until Stop.
func Start(srv *cluster.Server, o Options) (*Controller, error) {
	if o.Cloud == "" {
		return nil, fmt.Errorf("%w: cloud is required", ErrConfig)
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.LB == "" {
		o.LB = LBProxy
	}
	log := o.Logger.Named("controller")
	ctx, cancel := context.WithCancel(context.Background())
	c := &Controller{cancel: cancel, log: log}
	fail := func(err error) (*Controller, error) {
		c.Stop()
		return nil, err
	}

	// The site reconciler runs on every controller, for its own cloud.
	sc := o.Site
	sc.Cluster, sc.Cloud, sc.Logger = srv, o.Cloud, o.Logger
	if sc.CloudPriority == 0 {
		sc.CloudPriority = o.CloudPriority
	}
	if o.NodeHTTPClient != nil {
		sc.HTTPClient = o.NodeHTTPClient
	}
	// (started below, once the load balancer that counts its requests is)

	// Leader-only: converge desired counts into instances, and autoscale.
	cc := o.Converge
	cc.Cluster, cc.Logger = srv, o.Logger
	conv, err := converge.New(cc)
	if err != nil {
		return fail(err)
	}
	srv.RegisterLeaderService("converge", conv.Run)
	srv.RegisterLeaderService("autoscale", autoscale.New(srv, o.Logger, o.Autoscale).Run)

	// Load balancing for this cloud.
	switch o.LB {
	case LBProxy:
		ps, err := lbsync.NewProxySync(lbsync.ProxyConfig{Source: srv, Cloud: o.Cloud, BasePort: o.LBBasePort, Logger: o.Logger})
		if err != nil {
			return fail(err)
		}
		c.proxy = ps
		srv.Handle(http.MethodGet, "/v1/endpoints", ps.HandleEndpoints)
		c.goRun("lb-proxy", func() error { return ps.Run(ctx) })
	case LBIPTables:
		addr, err := netip.ParseAddr(o.LBAddr)
		if err != nil {
			return fail(fmt.Errorf("%w: lb address %q: %v", ErrConfig, o.LBAddr, err))
		}
		ipt, err := netcfg.NewIPTables()
		if err != nil {
			return fail(err)
		}
		ts, err := lbsync.NewIPTablesSync(lbsync.IPTablesConfig{Source: srv, IPT: ipt, Cloud: o.Cloud,
			LBAddr: addr, BasePort: o.LBBasePort, Publish: srv, CaughtUp: srv.CaughtUp, Logger: o.Logger})
		if err != nil {
			return fail(err)
		}
		c.ipt = ts
		c.goRun("lb-iptables", func() error { return ts.Run(ctx) })
		if o.Uplink != "" {
			links, err := netcfg.NewLinks(netns.None())
			if err != nil {
				return fail(err)
			}
			c.links = links
			m, err := lbsync.NewMasterLB(lbsync.MasterConfig{Leader: srv, Tables: ts, Links: links, Uplink: o.Uplink, Logger: o.Logger,
				ProbeClouds: true, Standby: true, HeldFile: heldFile(o.DataDir)})
			if err != nil {
				return fail(err)
			}
			srv.RegisterLeaderService("master-lb", m.Run)
			c.goRun("lb-stray-vips", func() error { return m.ReleaseStray(ctx) })
		}
	case LBNone:
	default:
		return fail(fmt.Errorf("%w: lb mode %q (want proxy, iptables or none)", ErrConfig, o.LB))
	}

	// The site's metric points carry the request rate this cloud's load
	// balancer sends each instance.
	if sc.Requests == nil {
		switch {
		case c.proxy != nil:
			sc.Requests = c.proxy
		case c.ipt != nil:
			sc.Requests = c.ipt
		}
	}
	rec, err := site.New(sc)
	if err != nil {
		return fail(err)
	}
	c.goRun("site", func() error { return rec.Run(ctx) })

	if !o.NoUI {
		if err := ui.Register(srv); err != nil {
			return fail(err)
		}
	}
	return c, nil
}

// Endpoints returns the dev-mode proxy endpoints ("tenant/group" → address).
func (c *Controller) Endpoints() map[string]string {
	if c.proxy == nil {
		return nil
	}
	return c.proxy.Endpoints()
}

func (c *Controller) goRun(name string, fn func() error) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		if err := fn(); err != nil && !errors.Is(err, context.Canceled) {
			c.log.Error("service stopped", "service", name, "error", err)
		}
	}()
}

// Stop stops the services started by Start (leader services stop with the
// server's leadership or shutdown).
func (c *Controller) Stop() {
	c.cancel()
	c.wg.Wait()
	if c.links != nil {
		c.links.Close()
	}
}

// heldFile is where the master LB remembers its public IPs ("" without a
// data dir).
func heldFile(dataDir string) string {
	if dataDir == "" {
		return ""
	}
	return filepath.Join(dataDir, "master-vips.json")
}
