package docker_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/moby/moby/client"
	"github.com/vishvananda/netlink"

	"aas/internal/testenv"
	"aas/nodes/driver"
	"aas/nodes/driver/conformance"
	"aas/nodes/driver/docker"
	"aas/nodes/health"
)

const testImage = "aas-workload:test"

var (
	imageOnce sync.Once
	imageErr  error
)

// repoRoot walks up from the package directory to the module root.
func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the package directory")
		}
		dir = parent
	}
}

// ensureImage builds a static ctl (CGO_ENABLED=0) and an image FROM
// scratch holding it, once per test binary.
func ensureImage(t testing.TB, d *docker.Driver) {
	t.Helper()
	imageOnce.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		dir, err := os.MkdirTemp("", "aas-docker-test")
		if err != nil {
			imageErr = err
			return
		}
		defer os.RemoveAll(dir)
		bin, err := buildStaticCtl(goBin, repoRoot(t), dir)
		if err != nil {
			imageErr = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		imageErr = d.BuildScratchImage(ctx, testImage, bin)
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
}

// buildStaticCtl builds ./cmd/ctl with CGO_ENABLED=0. If cmd/ctl does not
// compile right now (someone else's package is mid-edit), it builds the
// stand-in nodes/internal/ctlworkload, which takes the same arguments.
func buildStaticCtl(goBin, root, dir string) (string, error) {
	bin := filepath.Join(dir, "ctl")
	build := func(pkg string) ([]byte, error) {
		cmd := exec.Command(goBin, "build", "-o", bin, pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		return cmd.CombinedOutput()
	}
	out, err := build("./cmd/ctl")
	if err == nil {
		return bin, nil
	}
	fmt.Fprintf(os.Stderr, "docker test: ./cmd/ctl does not build (%v), using ./nodes/internal/ctlworkload:\n%s", err, out)
	if out, err := build("./nodes/internal/ctlworkload"); err != nil {
		return "", fmt.Errorf("go build ./nodes/internal/ctlworkload: %v\n%s", err, out)
	}
	return bin, nil
}

func newDriver(t testing.TB) *docker.Driver {
	t.Helper()
	if testing.Short() {
		t.Skip("docker tests build an image and run containers: not short")
	}
	testenv.RequireDocker(t)
	d, err := docker.New(context.Background(), docker.Config{StopTimeout: 2 * time.Second, Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn})})
	if err != nil {
		t.Fatal(err)
	}
	ensureImage(t, d)
	return d
}

var testSubnet = netip.MustParsePrefix("198.19.77.0/24")

func spec(id string, cpu time.Duration, ipLast int) driver.InstanceSpec {
	s := driver.InstanceSpec{
		ID: id, Tenant: "acme", Group: "web",
		Docker: &driver.DockerTemplate{Image: testImage, Cmd: []string{"workload", "-cpu-ms", strconv.FormatFloat(float64(cpu)/1e6, 'f', -1, 64)}},
	}
	if ipLast > 0 {
		s.Network = &driver.Network{Name: "net1", Subnet: testSubnet, IP: hostAddr(ipLast), Gateway: hostAddr(1)}
	}
	return s
}

func hostAddr(n int) netip.Addr {
	a := testSubnet.Addr().As4()
	a[3] = byte(n)
	return netip.AddrFrom4(a)
}

var nextIP = struct {
	sync.Mutex
	n int
}{n: 10}

func TestConformance(t *testing.T) {
	d0 := newDriver(t)
	d0.Close()
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) driver.Driver {
			d := newDriver(t)
			t.Cleanup(func() { d.Close() })
			return d
		},
		Spec: func(t *testing.T, id string, cpu time.Duration) driver.InstanceSpec {
			nextIP.Lock()
			defer nextIP.Unlock()
			nextIP.n++
			return spec(id, cpu, nextIP.n)
		},
		Busy: true,
		PID: func(t *testing.T, d driver.Driver, inst driver.Instance) int {
			pid, err := d.(*docker.Driver).PID(context.Background(), inst.ID)
			if err != nil {
				t.Fatal(err)
			}
			return pid
		},
	})
	t.Cleanup(func() {
		d := newDriver(t)
		defer d.Close()
		_ = d.RemoveNetwork(context.Background(), "acme", "net1")
	})
}

// Killing a container makes List report it not running and its health
// gone; a restarted driver adopts the survivors and creates none twice.
func TestKillAndAdopt(t *testing.T) {
	ctx := context.Background()
	d := newDriver(t)
	t.Cleanup(func() { d.Close() })
	t.Cleanup(func() { _ = d.RemoveNetwork(ctx, "acme", "net1") }) // runs after the deletes below
	ids := []string{"kill-a", "kill-b"}
	for i, id := range ids {
		if _, err := d.Create(ctx, spec(id, 0, 200+i)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Delete(ctx, id) })
	}
	list, err := d.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	runner := health.NewRunner(nil)
	defer runner.Close()
	for _, inst := range list {
		if inst.ID == "kill-a" {
			if inst.IP != "198.19.77.200" {
				t.Fatalf("kill-a has IP %q, want 198.19.77.200 from the tenant range", inst.IP)
			}
			if err := conformance.WaitHealthy(ctx, conformance.HTTPGet, inst, 30*time.Second); err != nil {
				t.Fatal(err)
			}
			runner.Watch(inst.ID, inst.Addr, health.Check{Interval: 20 * time.Millisecond, Timeout: 10 * time.Millisecond}, time.Now())
		}
	}
	if _, err := d.Client().ContainerKill(ctx, "aas-kill-a", client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		list, err = d.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st := stateOf(list, "kill-a"); st == driver.StateExited {
			runner.Vanished("kill-a")
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("killed container still listed running: %+v", list)
		}
		time.Sleep(20 * time.Millisecond) // polling with a deadline
	}
	if rep, _ := runner.Report("kill-a"); rep.Status != health.StatusGone {
		t.Fatalf("health of killed instance %s, want gone", rep.Status)
	}
	if _, err := d.Stats(ctx, "kill-a"); !errors.Is(err, driver.ErrNotFound) {
		t.Fatalf("Stats of killed container: %v, want ErrNotFound", err)
	}
	// Restart: a new driver adopts kill-b and re-creating it makes none.
	d2 := newDriver(t)
	defer d2.Close()
	before, _ := d2.List(ctx)
	inst, err := d2.Create(ctx, spec("kill-b", 0, 201))
	if err != nil {
		t.Fatal(err)
	}
	after, _ := d2.List(ctx)
	if len(after) != len(before) || stateOf(after, "kill-b") != driver.StateRunning {
		t.Fatalf("re-create after restart changed the container set: %d -> %d", len(before), len(after))
	}
	if inst.NativeID != nativeOf(before, "kill-b") {
		t.Fatalf("re-create gave container %s, want adopted %s", inst.NativeID, nativeOf(before, "kill-b"))
	}
}

func stateOf(list []driver.Instance, id string) driver.State {
	for _, i := range list {
		if i.ID == id {
			return i.State
		}
	}
	return ""
}

func nativeOf(list []driver.Instance, id string) string {
	for _, i := range list {
		if i.ID == id {
			return i.NativeID
		}
	}
	return ""
}

// With network.bridge set, the tenant network uses that existing Linux
// bridge (as netcfg makes it) and the container answers on its tenant IP.
func TestTenantBridge(t *testing.T) {
	testenv.RequireRoot(t)
	ctx := context.Background()
	d := newDriver(t)
	defer d.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "aastbr1"}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netlink.LinkDel(br) })
	gw, _ := netlink.ParseAddr("198.19.78.1/24")
	if err := netlink.AddrAdd(br, gw); err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		t.Fatal(err)
	}
	s := spec("bridged", 0, 0)
	s.Network = &driver.Network{Name: "br", Bridge: "aastbr1", Subnet: netip.MustParsePrefix("198.19.78.0/24"), IP: netip.MustParseAddr("198.19.78.9"), Gateway: netip.MustParseAddr("198.19.78.1")}
	inst, err := d.Create(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.Delete(ctx, "bridged")
		_ = d.RemoveNetwork(ctx, "acme", "br")
	})
	if inst.Addr != "198.19.78.9:8080" {
		t.Fatalf("addr %q, want 198.19.78.9:8080", inst.Addr)
	}
	if err := conformance.WaitHealthy(ctx, conformance.HTTPGet, inst, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	// The container's veth is enslaved to the tenant bridge.
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	enslaved := 0
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			enslaved++
		}
	}
	if enslaved != 1 {
		t.Fatalf("%d interfaces on aastbr1, want the container's veth", enslaved)
	}
	bad := spec("badbridge", 0, 0)
	bad.Network = &driver.Network{Name: "bad", Bridge: "this-name-is-too-long", Subnet: netip.MustParsePrefix("198.19.79.0/24"), IP: netip.MustParseAddr("198.19.79.9")}
	if _, err := d.Create(ctx, bad); !errors.Is(err, driver.ErrInvalidSpec) {
		t.Fatalf("bad bridge name: %v, want ErrInvalidSpec", err)
	}
}
