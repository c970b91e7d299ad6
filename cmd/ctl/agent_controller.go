package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/cluster"
	"aas/cluster/controller"
	"aas/cluster/site"
	"aas/netcfg"
)

// controllerFlags are the agent flags of the controller services
// (cluster/controller): load balancing and the master LB.
type controllerFlags struct {
	lb         string
	lbBasePort int
	lbAddr     string
	uplink     string
	priority   int
	stats      time.Duration

	tenantBridges bool
}

func (c *controllerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.lb, "lb", "", "load balancer: proxy (userspace, no root; default with -dev), iptables (DNAT; default with -server), none")
	fs.IntVar(&c.lbBasePort, "lb-base-port", 0, "first port of group endpoints; the same on every controller (default: proxy 30000, iptables 20000)")
	fs.StringVar(&c.lbAddr, "lb-addr", "", "iptables: this cloud's service address (default: the host of -raft-addr)")
	fs.StringVar(&c.uplink, "uplink", "", "iptables: interface that holds tenants' public IPs while this controller leads (empty: no master LB)")
	fs.IntVar(&c.priority, "cloud-priority", 0, "priority this cloud is registered with if new (lower is preferred)")
	fs.BoolVar(&c.tenantBridges, "tenant-bridges", false, "attach instances to per-subnet tenant bridges named by netcfg (hypervisors in -process-mode netns, docker on shared bridges)")
	fs.DurationVar(&c.stats, "stats-interval", 0, "how often instance load is collected from the hypervisors into the metric history (default 15s)")
}

// startController starts the controller services beside srv.
func startController(srv *cluster.Server, cfg cluster.Config, f agentFlags, logger hclog.Logger, stdout io.Writer) (*controller.Controller, error) {
	o := controller.Options{
		Cloud: cfg.Cloud, CloudPriority: f.ctrl.priority, LB: f.ctrl.lb, LBBasePort: f.ctrl.lbBasePort,
		LBAddr: f.ctrl.lbAddr, Uplink: f.ctrl.uplink, DataDir: cfg.DataDir, Logger: logger,
		NodeHTTPClient: srv.NodeHTTPClient(), // mutual TLS to the hypervisors when -tls-* is set
	}
	o.Site.StatsInterval = f.ctrl.stats
	if f.ctrl.tenantBridges {
		// Tenant bridges carry netcfg's names, so netns-mode process
		// instances and docker networks attach to the per-subnet bridges
		// the hosts' network setup made.
		o.Site.BridgeName = func(tenant, network string, subnet netip.Prefix) string {
			return netcfg.BridgeName(tenant, network, subnet.String())
		}
	}
	// Groups without a template run the demo workload of this very binary.
	if exe, err := os.Executable(); err == nil {
		o.Site.DefaultTemplate = site.DefaultProcessTemplate(exe)
	}
	if o.LB == "" {
		o.LB = controller.LBIPTables
		if f.dev {
			o.LB = controller.LBProxy
		}
	}
	if o.LB == controller.LBIPTables && o.LBAddr == "" {
		host, _, err := net.SplitHostPort(srv.RaftAddr())
		if err != nil {
			return nil, fmt.Errorf("-lb-addr: %w", err)
		}
		o.LBAddr = host
	}
	c, err := controller.Start(srv, o)
	if err != nil {
		return nil, err
	}
	eps := c.Endpoints()
	keys := make([]string, 0, len(eps))
	for k := range eps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(stdout, "endpoint %s http://%s\n", k, eps[k])
	}
	return c, nil
}

// removeDevInstances deletes every instance of the dev agent's hypervisor:
// a dev agent with a temporary data dir forgets its state on exit, so its
// instances would otherwise outlive it as orphans.
func removeDevInstances(h *hypervisor, logger hclog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	drv := h.agent.Driver()
	list, err := drv.List(ctx)
	if err != nil {
		logger.Warn("dev cleanup: list instances", "error", err)
		return
	}
	for _, in := range list {
		if err := drv.Delete(ctx, in.ID); err != nil {
			logger.Warn("dev cleanup: delete instance", "id", in.ID, "error", err)
		}
	}
	if len(list) > 0 {
		logger.Info("dev cleanup: instances removed", "count", len(list))
	}
}
