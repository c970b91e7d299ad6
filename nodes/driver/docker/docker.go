// Package docker is the container instance driver, through the Docker engine
// API (github.com/moby/moby/client).
//
// An instance is a container named aas-<ID>, labelled aas.tenant, aas.group
// and aas.instance so a restarted agent finds and adopts it. With a tenant
// network in the spec the container is attached to a per-tenant bridge
// network created with the tenant's subnet (IPAM) and gets its IP from the
// tenant range; the network goes with the last container on it. CPU comes from the stats API: cpu_delta / system_delta ×
// online CPUs, in cores.
package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/hashicorp/go-hclog"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"aas/nodes/driver"
)

// Labels beyond the shared driver labels.
const (
	labelManaged = "aas.managed"
	labelPort    = "aas.port"
	// DefaultPort is the application port inside the container.
	DefaultPort = 8080
	namePrefix  = "aas-"
	// bridgeNameOption names the Linux bridge of a docker bridge network.
	bridgeNameOption = "com.docker.network.bridge.name"
)

// Config configures the docker driver.
type Config struct {
	// Host is the engine address (default: $DOCKER_HOST or the local socket).
	Host string
	// StopTimeout is the grace period between SIGTERM and SIGKILL on delete
	// (default 5s).
	StopTimeout time.Duration
	Logger      hclog.Logger
}

var _ driver.Driver = (*Driver)(nil)

// Driver is the docker driver.
type Driver struct {
	cfg Config
	cli *client.Client
	log hclog.Logger

	locks sync.Map // instance ID -> *sync.Mutex
	netMu sync.Mutex
	// netUse is held shared by Create (from finding the tenant network
	// until the container runs on it) and exclusively while an idle
	// network is removed, so a network never goes between the two.
	netUse sync.RWMutex

	mu   sync.Mutex
	last map[string]cpuSample
}

type cpuSample struct{ total, system uint64 }

// New connects to the engine and checks that it answers.
func New(ctx context.Context, cfg Config) (*Driver, error) {
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	opts := []client.Opt{client.FromEnv}
	if cfg.Host != "" {
		opts = append(opts, client.WithHost(cfg.Host))
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker driver: %w", err)
	}
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		cli.Close()
		return nil, fmt.Errorf("docker driver: engine not reachable: %w", err)
	}
	return &Driver{cfg: cfg, cli: cli, log: cfg.Logger.Named("docker"), last: map[string]cpuSample{}}, nil
}

// Name implements driver.Driver.
func (d *Driver) Name() string { return "docker" }

// Close implements driver.Driver; containers keep running.
func (d *Driver) Close() error { return d.cli.Close() }

// Client exposes the engine client (image builds in tests and tools).
func (d *Driver) Client() *client.Client { return d.cli }

func (d *Driver) lock(id string) func() {
	m, _ := d.locks.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

var netNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// NetworkName is the docker network of a tenant network.
func NetworkName(tenant, network string) string {
	if network == "" {
		network = "default"
	}
	return namePrefix + tenant + "-" + network
}

// ensureNetwork creates the tenant's bridge network with its subnet, or
// checks that the existing one has that subnet.
func (d *Driver) ensureNetwork(ctx context.Context, spec driver.InstanceSpec) (string, error) {
	n := spec.Network
	name := NetworkName(spec.Tenant, n.Name)
	if !netNameRE.MatchString(name) {
		return "", fmt.Errorf("%w: field network.name: %q is not a valid network name", driver.ErrInvalidSpec, name)
	}
	d.netMu.Lock()
	defer d.netMu.Unlock()
	res, err := d.cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err == nil {
		for _, c := range res.Network.IPAM.Config {
			if c.Subnet == n.Subnet.Masked() {
				return name, nil
			}
		}
		return "", fmt.Errorf("%w: field network.subnet: docker network %s exists without subnet %s", driver.ErrInvalidSpec, name, n.Subnet)
	}
	if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("docker driver: inspect network %s: %w", name, err)
	}
	ipam := network.IPAMConfig{Subnet: n.Subnet.Masked()}
	if n.Gateway.IsValid() {
		ipam.Gateway = n.Gateway
	}
	opts := client.NetworkCreateOptions{
		Driver: "bridge",
		IPAM:   &network.IPAM{Config: []network.IPAMConfig{ipam}},
		Labels: map[string]string{labelManaged: "1", driver.LabelTenant: spec.Tenant},
	}
	if n.Bridge != "" {
		// Use the tenant's Linux bridge (made by netcfg, joined to the
		// other clouds by tunnels) instead of a bridge of docker's own;
		// docker adopts an existing bridge and leaves it on removal.
		if len(n.Bridge) > 15 || !netNameRE.MatchString(n.Bridge) {
			return "", fmt.Errorf("%w: field network.bridge: %q is not an interface name", driver.ErrInvalidSpec, n.Bridge)
		}
		opts.Options = map[string]string{bridgeNameOption: n.Bridge}
	}
	_, err = d.cli.NetworkCreate(ctx, name, opts)
	if err != nil && !cerrdefs.IsConflict(err) {
		return "", fmt.Errorf("docker driver: create network %s (%s): %w", name, n.Subnet, err)
	}
	d.log.Info("created tenant network", "network", name, "subnet", n.Subnet)
	return name, nil
}

// Create implements driver.Driver.
func (d *Driver) Create(ctx context.Context, spec driver.InstanceSpec) (driver.Instance, error) {
	if err := spec.Validate(); err != nil {
		return driver.Instance{}, err
	}
	if spec.Docker == nil || spec.Docker.Image == "" {
		return driver.Instance{}, fmt.Errorf("%w: field docker.image is required by the docker driver", driver.ErrInvalidSpec)
	}
	defer d.lock(spec.ID)()
	d.netUse.RLock()
	defer d.netUse.RUnlock()
	name := namePrefix + spec.ID
	if inst, err := d.inspect(ctx, name); err == nil {
		if inst.State != driver.StateRunning {
			return inst, nil // exists but stopped: the caller decides (replace = delete + new ID)
		}
		return inst, nil
	} else if !errors.Is(err, driver.ErrNotFound) {
		return driver.Instance{}, err
	}
	port := spec.Port
	if port == 0 {
		port = DefaultPort
	}
	env := []string{
		driver.EnvInstanceID + "=" + spec.ID,
		driver.EnvListen + "=" + net.JoinHostPort("0.0.0.0", strconv.Itoa(port)),
		"AAS_PORT=" + strconv.Itoa(port),
	}
	keys := make([]string, 0, len(spec.Docker.Env))
	for k := range spec.Docker.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, "AAS_") {
			continue
		}
		env = append(env, k+"="+spec.Docker.Env[k])
	}
	cfg := &container.Config{
		Image:    spec.Docker.Image,
		Cmd:      spec.Docker.Cmd,
		Env:      env,
		Hostname: spec.ID,
		Labels: map[string]string{
			labelManaged: "1", labelPort: strconv.Itoa(port),
			driver.LabelTenant: spec.Tenant, driver.LabelGroup: spec.Group, driver.LabelInstance: spec.ID,
		},
	}
	host := &container.HostConfig{}
	host.NanoCPUs = int64(spec.Docker.CPUs * 1e9)
	host.Memory = spec.Docker.MemoryBytes
	var netCfg *network.NetworkingConfig
	if spec.Network != nil && spec.Network.Subnet.IsValid() {
		netName, err := d.ensureNetwork(ctx, spec)
		if err != nil {
			return driver.Instance{}, err
		}
		host.NetworkMode = container.NetworkMode(netName)
		ep := &network.EndpointSettings{}
		if spec.Network.IP.IsValid() {
			ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: spec.Network.IP}
		}
		netCfg = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netName: ep}}
	}
	res, err := d.cli.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: host, NetworkingConfig: netCfg, Name: name})
	if err != nil {
		if cerrdefs.IsConflict(err) { // created meanwhile by someone else: adopt it
			return d.inspect(ctx, name)
		}
		return driver.Instance{}, fmt.Errorf("docker driver: create %s: %w", spec.ID, err)
	}
	if _, err := d.cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		_, _ = d.cli.ContainerRemove(context.WithoutCancel(ctx), res.ID, client.ContainerRemoveOptions{Force: true})
		return driver.Instance{}, fmt.Errorf("docker driver: start %s: %w", spec.ID, err)
	}
	d.log.Info("created instance", "id", spec.ID, "container", res.ID[:12], "image", spec.Docker.Image)
	return d.inspect(ctx, name)
}

func (d *Driver) inspect(ctx context.Context, nameOrID string) (driver.Instance, error) {
	res, err := d.cli.ContainerInspect(ctx, nameOrID, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return driver.Instance{}, fmt.Errorf("%w: %s", driver.ErrNotFound, nameOrID)
	}
	if err != nil {
		return driver.Instance{}, fmt.Errorf("docker driver: inspect %s: %w", nameOrID, err)
	}
	c := res.Container
	if c.Config == nil || c.Config.Labels[driver.LabelInstance] == "" {
		return driver.Instance{}, fmt.Errorf("%w: %s is not an aas container", driver.ErrNotFound, nameOrID)
	}
	var nets map[string]*network.EndpointSettings
	if c.NetworkSettings != nil {
		nets = c.NetworkSettings.Networks
	}
	running := c.State != nil && c.State.Running
	inst := toInstance(c.ID, c.Config.Labels, running, nets)
	if t, err := time.Parse(time.RFC3339Nano, c.Created); err == nil {
		inst.CreatedAt = t
	}
	return inst, nil
}

func toInstance(id string, labels map[string]string, running bool, nets map[string]*network.EndpointSettings) driver.Instance {
	inst := driver.Instance{
		ID: labels[driver.LabelInstance], Tenant: labels[driver.LabelTenant], Group: labels[driver.LabelGroup],
		Driver: "docker", State: driver.StateExited, NativeID: id,
	}
	if running {
		inst.State = driver.StateRunning
	}
	var ip netip.Addr
	names := make([]string, 0, len(nets))
	for n := range nets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if ep := nets[n]; ep != nil && ep.IPAddress.IsValid() {
			ip = ep.IPAddress
			break
		}
	}
	if ip.IsValid() {
		inst.IP = ip.String()
		inst.Addr = net.JoinHostPort(inst.IP, labels[labelPort])
	}
	return inst
}

// Delete implements driver.Driver: stop (SIGTERM, then SIGKILL after
// StopTimeout) and remove; a tenant network left without containers is
// removed too.
func (d *Driver) Delete(ctx context.Context, id string) error {
	defer d.lock(id)()
	name := namePrefix + id
	var nets []string
	if res, err := d.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{}); err == nil && res.Container.NetworkSettings != nil {
		for n := range res.Container.NetworkSettings.Networks {
			nets = append(nets, n)
		}
	}
	timeout := int(d.cfg.StopTimeout / time.Second)
	if _, err := d.cli.ContainerStop(ctx, name, client.ContainerStopOptions{Timeout: &timeout}); err != nil && !cerrdefs.IsNotFound(err) {
		d.log.Warn("stop container", "id", id, "error", err)
	}
	if _, err := d.cli.ContainerRemove(ctx, name, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker driver: remove %s: %w", id, err)
	}
	d.mu.Lock()
	delete(d.last, id)
	d.mu.Unlock()
	d.log.Info("deleted instance", "id", id)
	for _, n := range nets {
		d.removeIfIdle(ctx, n)
	}
	return nil
}

// removeIfIdle removes a tenant network this driver created (label
// aas.managed) once no container is attached to it: the last instance of
// a tenant network on this host takes the network with it.
func (d *Driver) removeIfIdle(ctx context.Context, name string) {
	idle := func() bool {
		res, err := d.cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
		return err == nil && res.Network.Labels[labelManaged] == "1" && len(res.Network.Containers) == 0
	}
	if !idle() {
		return
	}
	d.netUse.Lock() // no Create between the check and the removal
	defer d.netUse.Unlock()
	if !idle() {
		return
	}
	if _, err := d.cli.NetworkRemove(ctx, name, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		d.log.Warn("remove idle tenant network", "network", name, "error", err)
		return
	}
	d.log.Info("removed idle tenant network", "network", name)
}

// List implements driver.Driver: every container labelled aas.instance,
// running or not.
func (d *Driver) List(ctx context.Context) ([]driver.Instance, error) {
	res, err := d.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", driver.LabelInstance)})
	if err != nil {
		return nil, fmt.Errorf("docker driver: list: %w", err)
	}
	out := make([]driver.Instance, 0, len(res.Items))
	for _, c := range res.Items {
		var nets map[string]*network.EndpointSettings
		if c.NetworkSettings != nil {
			nets = c.NetworkSettings.Networks
		}
		inst := toInstance(c.ID, c.Labels, c.State == container.StateRunning, nets)
		inst.CreatedAt = time.Unix(c.Created, 0).UTC()
		out = append(out, inst)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Stats implements driver.Driver. CPU = cpu_delta / system_delta × online
// CPUs against the previous sample of this driver; the first sample is the
// average since the container started. Memory is usage minus inactive file
// cache, as `docker stats` shows it.
func (d *Driver) Stats(ctx context.Context, id string) (driver.Stats, error) {
	name := namePrefix + id
	res, err := d.cli.ContainerStats(ctx, name, client.ContainerStatsOptions{})
	if cerrdefs.IsNotFound(err) {
		return driver.Stats{}, fmt.Errorf("%w: %s", driver.ErrNotFound, id)
	}
	if err != nil {
		return driver.Stats{}, fmt.Errorf("docker driver: stats %s: %w", id, err)
	}
	defer res.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		return driver.Stats{}, fmt.Errorf("docker driver: decode stats %s: %w", id, err)
	}
	if s.PidsStats.Current == 0 && s.CPUStats.SystemUsage == 0 {
		return driver.Stats{}, fmt.Errorf("%w: %s is not running", driver.ErrNotFound, id)
	}
	total := s.CPUStats.CPUUsage.TotalUsage
	out := driver.Stats{ID: id, At: s.Read, CPUSeconds: float64(total) / 1e9}
	if out.At.IsZero() {
		out.At = time.Now()
	}
	mem := s.MemoryStats.Usage
	for _, k := range []string{"inactive_file", "total_inactive_file"} {
		if v, ok := s.MemoryStats.Stats[k]; ok && v < mem {
			mem -= v
			break
		}
	}
	out.MemoryBytes = mem
	online := float64(s.CPUStats.OnlineCPUs)
	if online == 0 {
		online = float64(len(s.CPUStats.CPUUsage.PercpuUsage))
	}
	d.mu.Lock()
	prev, ok := d.last[id]
	d.last[id] = cpuSample{total: total, system: s.CPUStats.SystemUsage}
	d.mu.Unlock()
	if ok && s.CPUStats.SystemUsage > prev.system && total >= prev.total {
		out.CPU = float64(total-prev.total) / float64(s.CPUStats.SystemUsage-prev.system) * online
	} else if inst, err := d.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{}); err == nil && inst.Container.State != nil {
		if started, err := time.Parse(time.RFC3339Nano, inst.Container.State.StartedAt); err == nil {
			if dt := out.At.Sub(started).Seconds(); dt > 0 {
				out.CPU = out.CPUSeconds / dt
			}
		}
	}
	return out, nil
}

// PID returns the host PID of the container's main process.
func (d *Driver) PID(ctx context.Context, id string) (int, error) {
	res, err := d.cli.ContainerInspect(ctx, namePrefix+id, client.ContainerInspectOptions{})
	if err != nil {
		return 0, fmt.Errorf("docker driver: inspect %s: %w", id, err)
	}
	if res.Container.State == nil || res.Container.State.Pid == 0 {
		return 0, fmt.Errorf("%w: %s is not running", driver.ErrNotFound, id)
	}
	return res.Container.State.Pid, nil
}

// RemoveNetwork deletes a tenant network created by this driver (when the
// tenant is deleted); a missing network is not an error.
func (d *Driver) RemoveNetwork(ctx context.Context, tenant, networkName string) error {
	name := NetworkName(tenant, networkName)
	if _, err := d.cli.NetworkRemove(ctx, name, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker driver: remove network %s: %w", name, err)
	}
	return nil
}
