package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/cluster"
	"aas/cluster/clustertest"
	"aas/cluster/northbound"
	"aas/cluster/northbound/wire"
	"aas/cluster/tenant"
	"aas/fsm"
)

// startNorthbound runs a single-node controller with the northbound API
// on 127.0.0.1 and returns it with its HTTP address.
func startNorthbound(t *testing.T) (*cluster.Server, string) {
	t.Helper()
	cfg := clustertest.Config(t, "cli1")
	cfg.Bootstrap = true
	srv := clustertest.Start(t, cfg)
	if err := northbound.Register(srv, hclog.NewNullLogger()); err != nil {
		t.Fatal(err)
	}
	clustertest.WaitLeader(t, srv)
	return srv, srv.HTTPAddr()
}

// seedFile copies the repository's seed tenant file (optionally edited)
// into a temp dir and returns its path.
func seedFile(t *testing.T, name string, edit func(string) string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", "seed-tenant.yml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if edit != nil {
		s = edit(s)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustCtl(t *testing.T, args ...string) string {
	t.Helper()
	rc, out, errs := runCtl(args...)
	if rc != 0 {
		t.Fatalf("ctl %s: rc=%d stdout=%q stderr=%q", strings.Join(args, " "), rc, out, errs)
	}
	return out
}

func TestTenantValidateOffline(t *testing.T) {
	good := seedFile(t, "seed.yml", nil)
	out := mustCtl(t, "tenant", "validate", good)
	if !strings.Contains(out, "valid") || !strings.Contains(out, "tenant demo") {
		t.Fatalf("stdout %q", out)
	}
	bad := seedFile(t, "bad.yml", func(s string) string {
		return strings.Replace(s, "max_containers: 5", "max_containers: 1", 1)
	})
	rc, _, errs := runCtl("tenant", "validate", bad)
	if rc != 1 || !strings.Contains(errs, "bad.yml:8: min_containers: ") || !strings.Contains(errs, errTenantRejected.Error()) {
		t.Fatalf("rc=%d stderr=%q", rc, errs)
	}
	for _, args := range [][]string{{"tenant"}, {"tenant", "bogus"}, {"tenant", "validate"}, {"tenant", "validate", "a", "b"}} {
		if rc, _, _ := runCtl(args...); rc != 2 {
			t.Errorf("ctl %v: rc=%d, want 2", args, rc)
		}
	}
}

func TestNorthboundCommands(t *testing.T) {
	srv, addr := startNorthbound(t)
	seed := seedFile(t, "seed.yml", nil)

	out := mustCtl(t, "tenant", "apply", "-address", addr, seed)
	if !strings.Contains(out, "tenant demo created: version 1") {
		t.Fatalf("apply: %q", out)
	}
	// Flags after the argument work too; CTL_ADDR is the fallback.
	t.Setenv("CTL_ADDR", addr)
	if out := mustCtl(t, "tenant", "list"); !strings.Contains(out, "demo") || !strings.Contains(out, "45.45.45.45") {
		t.Fatalf("list: %q", out)
	}
	var got wire.Tenant
	if err := json.Unmarshal([]byte(mustCtl(t, "tenant", "get", "demo", "-format", "json")), &got); err != nil || got.Version != 1 {
		t.Fatalf("get json: %+v %v", got, err)
	}
	if out := mustCtl(t, "tenant", "get", "demo"); !strings.Contains(out, "name: demo") || !strings.Contains(out, "max: 5") {
		t.Fatalf("get yaml: %q", out)
	}

	next := seedFile(t, "next.yml", func(s string) string { return strings.Replace(s, "max_containers: 5", "max_containers: 6", 1) })
	if out := mustCtl(t, "tenant", "diff", next); !strings.Contains(out, "1 change(s)") || !strings.Contains(out, "5 → 6") {
		t.Fatalf("diff: %q", out)
	}
	// Stale version → the agent refuses (409).
	if rc, _, errs := runCtl("tenant", "apply", "-version", "0", next); rc != 1 || !strings.Contains(errs, "409") {
		t.Fatalf("stale apply: rc=%d %q", rc, errs)
	}
	if out := mustCtl(t, "tenant", "apply", "-version", "1", next); !strings.Contains(out, "updated: version 2 (1 change(s))") || !strings.Contains(out, "5 → 6") {
		t.Fatalf("update: %q", out)
	}
	// A file conflicting with another tenant: file:line: field from the agent.
	other := seedFile(t, "other.yml", func(s string) string {
		return strings.NewReplacer("t_name: demo", "t_name: other", "public_ip: 45.45.45.45", "public_ip: 45.45.45.46").Replace(s)
	})
	if rc, _, errs := runCtl("tenant", "apply", other); rc != 1 || !strings.Contains(errs, "other.yml:6: dhcp_start:") {
		t.Fatalf("conflicting apply: rc=%d %q", rc, errs)
	}

	group := "demo/" + tenant.DefaultGroupName
	if out := mustCtl(t, "group", "scale", "-reason", "test, \"quoted\"", group, "4"); !strings.Contains(out, "desired 4") {
		t.Fatalf("scale: %q", out)
	}
	if out := mustCtl(t, "group", "scale", group, "9"); !strings.Contains(out, "desired 6 (requested 9") {
		t.Fatalf("clamped scale: %q", out)
	}
	if rc, _, _ := runCtl("group", "scale", "demo", "3"); rc != 2 {
		t.Fatalf("scale without group: rc=%d", rc)
	}
	if out := mustCtl(t, "group", "suspend", group); !strings.Contains(out, "suspended") {
		t.Fatalf("suspend: %q", out)
	}
	if out := mustCtl(t, "group", "list", "-tenant", "demo"); !strings.Contains(out, "suspended") || !strings.Contains(out, group) {
		t.Fatalf("group list: %q", out)
	}
	if out := mustCtl(t, "group", "resume", group); !strings.Contains(out, "active") {
		t.Fatalf("resume: %q", out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := srv.Apply(ctx, fsm.UpsertCloudType, fsm.UpsertCloud{Cloud: fsm.Cloud{Name: "c1", Priority: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Apply(ctx, fsm.CreateInstancesType, fsm.CreateInstances{Time: time.Now(),
		Instances: []fsm.NewInstance{{ID: "i-7", Tenant: "demo", Group: tenant.DefaultGroupName, Cloud: "c1"}}}); err != nil {
		t.Fatal(err)
	}
	if out := mustCtl(t, "instance", "protect", "i-7"); !strings.Contains(out, "protected from scale-in") {
		t.Fatalf("protect: %q", out)
	}
	if out := mustCtl(t, "instance", "list", "-tenant", "demo"); !strings.Contains(out, "i-7") || !strings.Contains(out, "yes") {
		t.Fatalf("instance list: %q", out)
	}
	if out := mustCtl(t, "instance", "unprotect", "i-7"); !strings.Contains(out, "not protected") {
		t.Fatalf("unprotect: %q", out)
	}

	// Activity as CSV parses back, with the quoted reason intact.
	rows, err := csv.NewReader(strings.NewReader(mustCtl(t, "activity", "-tenant", "demo", "-format", "csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rows[1:] {
		if r[2] == "scale" && r[7] == "4" && r[11] == "test, \"quoted\"" && r[9] == "manual" {
			found = true
		}
	}
	if !found {
		t.Fatalf("activity rows %q", rows)
	}
	if out := mustCtl(t, "activity", "-since", "1h"); !strings.Contains(out, "2→4") {
		t.Fatalf("activity table: %q", out)
	}
	var entries []fsm.ActivityEntry
	if err := json.Unmarshal([]byte(mustCtl(t, "activity", "-format", "json")), &entries); err != nil || len(entries) < 3 {
		t.Fatalf("activity json: %d %v", len(entries), err)
	}
	if rc, _, _ := runCtl("activity", "-format", "xml"); rc != 2 {
		t.Fatalf("bad format: rc=%d", rc)
	}
	out = mustCtl(t, "metrics", "export", "-tenant", "demo", "-format", "csv")
	if !strings.HasPrefix(out, strings.Join(northbound.MetricsCSVHeader, ",")+"\n") {
		t.Fatalf("metrics csv: %q", out)
	}

	if out := mustCtl(t, "tenant", "delete", "demo"); !strings.Contains(out, "deletion requested") {
		t.Fatalf("delete: %q", out)
	}
	if rc, _, errs := runCtl("tenant", "get", "nope"); rc != 1 || !strings.Contains(errs, "404") {
		t.Fatalf("get unknown: rc=%d %q", rc, errs)
	}
}
