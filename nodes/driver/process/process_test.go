package process_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/nodes/driver"
	"aas/nodes/driver/conformance"
	"aas/nodes/driver/process"
	"aas/nodes/internal/testworkload"
)

func TestMain(m *testing.M) {
	testworkload.MaybeRun()
	os.Exit(m.Run())
}

func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Warn})
}

func TestConformanceLoopback(t *testing.T) {
	dir := t.TempDir()
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) driver.Driver {
			d, err := process.New(process.Config{DataDir: dir, Logger: testLogger(t), StopTimeout: 3 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			return d
		},
		Spec: func(t *testing.T, id string, cpu time.Duration) driver.InstanceSpec {
			return driver.InstanceSpec{ID: id, Tenant: "acme", Group: "web", Process: testworkload.Template(cpu)}
		},
		Busy: true,
		PID: func(t *testing.T, d driver.Driver, inst driver.Instance) int {
			return d.(*process.Driver).PID(inst.ID)
		},
	})
}

// A killed instance is reported exited, and a restarted driver does not
// adopt a process whose PID no longer matches.
func TestKilledInstanceReportedExited(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := process.New(process.Config{DataDir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := d.Create(ctx, driver.InstanceSpec{ID: "k1", Tenant: "t", Group: "g", Process: testworkload.Template(0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Delete(ctx, "k1") })
	p, err := os.FindProcess(d.PID("k1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		list, err := d.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 && list[0].State == driver.StateExited {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("killed instance %s still listed as %+v", inst.ID, list)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	d2, err := process.New(process.Config{DataDir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	list, _ := d2.List(ctx)
	if len(list) != 1 || list[0].State != driver.StateExited {
		t.Fatalf("restarted driver lists %+v, want k1 exited", list)
	}
	if _, err := d2.Stats(ctx, "k1"); err == nil {
		t.Fatal("Stats of a dead instance succeeded")
	}
}

func TestBadStateFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(dir+"/process", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/process/instances.json", []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := process.New(process.Config{DataDir: dir}); err == nil {
		t.Fatal("New accepted a corrupt state file")
	}
}
