//go:build libvirt

package libvirt

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	lv "libvirt.org/go/libvirt"

	"aas/nodes/driver"
)

// Built reports whether the real driver is compiled in.
const Built = true

var _ driver.Driver = (*Driver)(nil)

// Driver is the libvirt driver.
type Driver struct {
	cfg     Config
	log     hclog.Logger
	conn    *lv.Connect
	ownConn bool
	domType string

	mu   sync.Mutex
	last map[string]cpuSample
}

type cpuSample struct {
	at  time.Time
	cpu uint64 // ns
}

// New connects to cfg.URI (default qemu:///system).
func New(cfg Config) (driver.Driver, error) {
	if cfg.URI == "" {
		cfg.URI = DefaultURI
	}
	conn, err := lv.NewConnect(cfg.URI)
	if err != nil {
		return nil, fmt.Errorf("libvirt driver: connect %s: %w", cfg.URI, err)
	}
	return newDriver(cfg, conn, true), nil
}

// NewWithConn uses an open connection (closed by the caller, not Close).
// The test:///default driver keeps its state per connection, so tests model
// an agent restart as a new Driver on the same connection.
func NewWithConn(cfg Config, conn *lv.Connect) *Driver { return newDriver(cfg, conn, false) }

func newDriver(cfg Config, conn *lv.Connect, own bool) *Driver {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	t := "kvm"
	if strings.HasPrefix(cfg.URI, "test:") {
		t = "test"
	}
	return &Driver{cfg: cfg, log: cfg.Logger.Named("libvirt"), conn: conn, ownConn: own, domType: t, last: map[string]cpuSample{}}
}

// Name implements driver.Driver.
func (d *Driver) Name() string { return "libvirt" }

// Close implements driver.Driver; domains keep running.
func (d *Driver) Close() error {
	if d.ownConn {
		_, err := d.conn.Close()
		return err
	}
	return nil
}

func isNoDomain(err error) bool {
	var e lv.Error
	return errors.As(err, &e) && e.Code == lv.ERR_NO_DOMAIN
}

// describe turns a domain into an Instance; ok=false for domains that are
// not aas instances.
func (d *Driver) describe(dom *lv.Domain) (driver.Instance, bool) {
	raw, err := dom.GetMetadata(lv.DOMAIN_METADATA_ELEMENT, MetadataNS, lv.DOMAIN_AFFECT_CURRENT)
	if err != nil {
		return driver.Instance{}, false
	}
	md, err := parseMetadata(raw)
	if err != nil || md.ID == "" {
		return driver.Instance{}, false
	}
	inst := driver.Instance{ID: md.ID, Tenant: md.Tenant, Group: md.Group, Driver: "libvirt", State: driver.StateExited, IP: md.IP, Addr: md.Addr}
	if st, _, err := dom.GetState(); err == nil && st == lv.DOMAIN_RUNNING {
		inst.State = driver.StateRunning
	}
	if u, err := dom.GetUUIDString(); err == nil {
		inst.NativeID = u
	}
	return inst, true
}

// Create implements driver.Driver: define from the template and start.
func (d *Driver) Create(ctx context.Context, spec driver.InstanceSpec) (driver.Instance, error) {
	if err := spec.Validate(); err != nil {
		return driver.Instance{}, err
	}
	x, err := renderDomain(d.domType, spec)
	if err != nil {
		return driver.Instance{}, err
	}
	d.mu.Lock() // one define at a time: lookup-then-define must not race
	defer d.mu.Unlock()
	if dom, err := d.conn.LookupDomainByName(domainName(spec.ID)); err == nil {
		defer dom.Free()
		if inst, ok := d.describe(dom); ok {
			return inst, nil
		}
		return driver.Instance{}, fmt.Errorf("libvirt driver: domain %s exists but is not an aas instance", domainName(spec.ID))
	} else if !isNoDomain(err) {
		return driver.Instance{}, fmt.Errorf("libvirt driver: lookup %s: %w", spec.ID, err)
	}
	dom, err := d.conn.DomainDefineXML(x)
	if err != nil {
		return driver.Instance{}, fmt.Errorf("libvirt driver: define %s: %w", spec.ID, err)
	}
	defer dom.Free()
	if err := dom.Create(); err != nil {
		_ = dom.Undefine()
		return driver.Instance{}, fmt.Errorf("libvirt driver: start %s: %w", spec.ID, err)
	}
	inst, _ := d.describe(dom)
	inst.CreatedAt = time.Now().UTC()
	d.log.Info("created instance", "id", spec.ID, "uuid", inst.NativeID)
	return inst, nil
}

// Delete implements driver.Driver: destroy (power off) and undefine.
func (d *Driver) Delete(ctx context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	dom, err := d.conn.LookupDomainByName(domainName(id))
	if isNoDomain(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("libvirt driver: lookup %s: %w", id, err)
	}
	defer dom.Free()
	if active, err := dom.IsActive(); err == nil && active {
		if err := dom.Destroy(); err != nil && !isNoDomain(err) {
			return fmt.Errorf("libvirt driver: destroy %s: %w", id, err)
		}
	}
	if err := dom.Undefine(); err != nil && !isNoDomain(err) {
		return fmt.Errorf("libvirt driver: undefine %s: %w", id, err)
	}
	delete(d.last, id)
	d.log.Info("deleted instance", "id", id)
	return nil
}

// List implements driver.Driver: every domain carrying aas metadata.
func (d *Driver) List(ctx context.Context) ([]driver.Instance, error) {
	doms, err := d.conn.ListAllDomains(0)
	if err != nil {
		return nil, fmt.Errorf("libvirt driver: list: %w", err)
	}
	var out []driver.Instance
	for i := range doms {
		if inst, ok := d.describe(&doms[i]); ok {
			out = append(out, inst)
		}
		doms[i].Free()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Stats implements driver.Driver: domain CPU time (virDomainGetInfo) as a
// delta over wall time since the previous sample, in cores; memory is the
// domain's current balloon size.
func (d *Driver) Stats(ctx context.Context, id string) (driver.Stats, error) {
	dom, err := d.conn.LookupDomainByName(domainName(id))
	if isNoDomain(err) {
		return driver.Stats{}, fmt.Errorf("%w: %s", driver.ErrNotFound, id)
	}
	if err != nil {
		return driver.Stats{}, fmt.Errorf("libvirt driver: lookup %s: %w", id, err)
	}
	defer dom.Free()
	info, err := dom.GetInfo()
	if err != nil {
		return driver.Stats{}, fmt.Errorf("libvirt driver: info %s: %w", id, err)
	}
	if info.State != lv.DOMAIN_RUNNING {
		return driver.Stats{}, fmt.Errorf("%w: %s is not running", driver.ErrNotFound, id)
	}
	now := time.Now()
	s := driver.Stats{ID: id, At: now, CPUSeconds: float64(info.CpuTime) / 1e9, MemoryBytes: info.Memory * 1024}
	d.mu.Lock()
	prev, ok := d.last[id]
	d.last[id] = cpuSample{at: now, cpu: info.CpuTime}
	d.mu.Unlock()
	if ok && info.CpuTime >= prev.cpu {
		if dt := now.Sub(prev.at).Seconds(); dt > 0 {
			s.CPU = float64(info.CpuTime-prev.cpu) / 1e9 / dt
		}
	}
	return s, nil
}
