package northbound

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"aas/cluster/northbound/wire"
	"aas/cluster/tenant"
	"aas/fsm"
	"aas/scaler"
)

const seedPath = "examples/seed-tenant.yml"

func TestSeedTenantApplies(t *testing.T) {
	n := startNode(t)
	seed := repoFile(t, seedPath)

	var v wire.Validated
	n.must(t, 200, "POST", "/v1/tenants/validate?file=seed-tenant.yml", seed, &v)
	if v.Spec == nil || v.Spec.Name != "demo" || v.Spec.Format != tenant.FormatFlat {
		t.Fatalf("validate: %+v", v.Spec)
	}

	var res wire.Applied
	n.must(t, 200, "PUT", "/v1/tenants/demo?file=seed-tenant.yml", seed, &res)
	if res.Tenant != "demo" || res.Version != 1 || !res.Created || len(res.Changes) == 0 {
		t.Fatalf("apply: %+v", res)
	}

	var list []wire.TenantSummary
	n.must(t, 200, "GET", "/v1/tenants", nil, &list)
	if len(list) != 1 || list[0].Name != "demo" || len(list[0].Networks) != 1 || list[0].Networks[0] != "demo_nw" {
		t.Fatalf("tenants: %+v", list)
	}
	var groups []wire.Group
	n.must(t, 200, "GET", "/v1/groups?tenant=demo", nil, &groups)
	if len(groups) != 1 {
		t.Fatalf("groups: %+v", groups)
	}
	g := groups[0]
	if g.Min != 2 || g.Max != 5 || g.Desired != 2 {
		t.Fatalf("group bounds: min %d max %d desired %d", g.Min, g.Max, g.Desired)
	}
	pol, err := tenant.PolicyOf(g.Policy)
	if err != nil {
		t.Fatal(err)
	}
	if pol.Kind() != scaler.KindReactive || len(pol.Policies) != 1 || pol.Policies[0].Reactive == nil || pol.Policies[0].Reactive.Threshold != 0.3 {
		t.Fatalf("policy: kind %v %+v", pol.Kind(), pol.Policies)
	}

	// GET gives the spec back; re-applying it changes nothing.
	var got wire.Tenant
	n.must(t, 200, "GET", "/v1/tenants/demo", nil, &got)
	if got.Version != 1 || got.Spec == nil || len(got.Spec.Groups) != 1 || got.Spec.Groups[0].Scaling.Max != 5 {
		t.Fatalf("get: %+v", got)
	}
	var d wire.Diff
	n.must(t, 200, "POST", "/v1/tenants/demo/diff", seed, &d)
	if !d.Exists || d.Version != 1 || len(d.Changes) != 0 {
		t.Fatalf("diff of the applied file: %+v", d)
	}
}

func TestBadTenantChangesNothing(t *testing.T) {
	n := startNode(t)
	seed := repoFile(t, seedPath)
	n.must(t, 200, "POST", "/v1/tenants", seed, nil)
	before := n.stateIndex()

	tests := []struct {
		name  string
		file  string
		code  int
		line  int
		field string
	}{
		{"min above max", strings.Replace(string(seed), "min_containers: 2", "min_containers: 9", 1), 400, 8, "min_containers"},
		{"unknown key", string(seed) + "colour: blue\n", 400, 15, "colour"},
		{"bad subnet", strings.Replace(string(seed), "subnet: 19.0.0.0/24", "subnet: 19.0.0.0/33", 1), 400, 5, "subnet"},
		{"conflicting range", strings.NewReplacer("t_name: demo", "t_name: other", "public_ip: 45.45.45.45", "public_ip: 45.45.45.46").Replace(string(seed)), 409, 6, "dhcp_start"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := n.do(t, "POST", "/v1/tenants?file=bad.yml", []byte(tc.file))
			if code != tc.code {
				t.Fatalf("status %d, want %d: %s", code, tc.code, body)
			}
			var ve wire.ValidationErrors
			if err := json.Unmarshal(body, &ve); err != nil || len(ve.Errors) == 0 {
				t.Fatalf("body %s: %v", body, err)
			}
			e := ve.Errors[0]
			if e.File != "bad.yml" || e.Line != tc.line || e.Field != tc.field {
				t.Fatalf("error %+v, want bad.yml:%d: %s", e, tc.line, tc.field)
			}
			if !strings.HasPrefix(e.Text, fmt.Sprintf("bad.yml:%d: %s: ", tc.line, tc.field)) {
				t.Fatalf("text %q", e.Text)
			}
			if got := n.stateIndex(); got != before {
				t.Fatalf("state index moved %d → %d on a rejected file", before, got)
			}
		})
	}
	var got wire.Tenant
	n.must(t, 200, "GET", "/v1/tenants/demo", nil, &got)
	if got.Version != 1 || got.Spec.Groups[0].Scaling.Min != 2 {
		t.Fatalf("tenant changed: %+v", got)
	}
}

func TestApplyVersionsAndDiff(t *testing.T) {
	n := startNode(t)
	seed := repoFile(t, seedPath)
	n.must(t, 200, "POST", "/v1/tenants?version=0", seed, nil)
	// Creating again "from nothing" is stale: the tenant is at version 1.
	code, body := n.do(t, "POST", "/v1/tenants?version=0", seed)
	if code != http.StatusConflict || !strings.Contains(string(body), "version") {
		t.Fatalf("stale create: %d %s", code, body)
	}

	next := []byte(strings.Replace(string(seed), "max_containers: 5", "max_containers: 7", 1))
	var d wire.Diff
	n.must(t, 200, "POST", "/v1/tenants/demo/diff", next, &d)
	if !d.Exists || d.Version != 1 || len(d.Changes) != 1 {
		t.Fatalf("diff: %+v", d)
	}
	if c := d.Changes[0]; !strings.HasSuffix(c.Path, "scaling.max") || c.Old != "5" || c.New != "7" {
		t.Fatalf("change %+v", c)
	}
	// A diff for another name than the file's is refused.
	if code, body := n.do(t, "POST", "/v1/tenants/other/diff", next); code != 400 || !strings.Contains(string(body), "t_name") {
		t.Fatalf("name mismatch: %d %s", code, body)
	}

	var res wire.Applied
	n.must(t, 200, "PUT", "/v1/tenants/demo?version=1", next, &res)
	if res.Version != 2 || res.Created || len(res.Changes) != 1 {
		t.Fatalf("update: %+v", res)
	}
	// Applying with the version read before the update loses: 409.
	before := n.stateIndex()
	if code, body := n.do(t, "PUT", "/v1/tenants/demo?version=1", seed); code != http.StatusConflict {
		t.Fatalf("stale update: %d %s", code, body)
	}
	if n.stateIndex() != before {
		t.Fatal("a stale apply changed the state")
	}
	if code, _ := n.do(t, "PUT", "/v1/tenants/demo?version=x", seed); code != 400 {
		t.Fatalf("bad version: %d", code)
	}

	n.must(t, 200, "DELETE", "/v1/tenants/demo", nil, nil)
	if code, _ := n.do(t, "GET", "/v1/tenants/demo", nil); code != 404 {
		t.Fatalf("deleted tenant: %d", code)
	}
	if code, _ := n.do(t, "DELETE", "/v1/tenants/demo", nil); code != 404 {
		t.Fatalf("delete again: %d", code)
	}
}

// setupInstance applies the seed tenant and adds a cloud and one instance.
func setupInstance(t *testing.T, n *testNode) {
	t.Helper()
	n.must(t, 200, "POST", "/v1/tenants", repoFile(t, seedPath), nil)
	n.apply(t, &fsm.UpsertCloud{Cloud: fsm.Cloud{Name: "c1", Priority: 1}})
	n.apply(t, &fsm.CreateInstances{Time: n.now, Instances: []fsm.NewInstance{{ID: "i-1", Tenant: "demo", Group: tenant.DefaultGroupName, Cloud: "c1"}}})
}

func TestGroupAndInstanceControl(t *testing.T) {
	n := startNode(t)
	setupInstance(t, n)
	var groups []wire.Group
	n.must(t, 200, "GET", "/v1/groups", nil, &groups)
	if len(groups) != 1 || groups[0].Live != 1 {
		t.Fatalf("groups: %+v", groups)
	}
	gp := "/v1/tenants/demo/groups/" + groups[0].Name

	tests := []struct {
		name      string
		body      string
		code      int
		desired   int
		requested int
	}{
		{"scale out", `{"desired":4,"reason":"load test"}`, 200, 4, 4},
		{"clamped to max", `{"desired":50}`, 200, 5, 50},
		{"clamped to min", `{"desired":0}`, 200, 2, 0},
		{"negative", `{"desired":-1}`, 400, 0, 0},
		{"missing desired", `{}`, 400, 0, 0},
		{"unknown field", `{"desired":3,"extra":1}`, 400, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := n.do(t, "POST", gp+"/scale", []byte(tc.body))
			if code != tc.code {
				t.Fatalf("status %d, want %d: %s", code, tc.code, body)
			}
			if code != 200 {
				return
			}
			var sr wire.ScaleResponse
			if err := json.Unmarshal(body, &sr); err != nil {
				t.Fatal(err)
			}
			var g wire.Group
			n.must(t, 200, "GET", gp, nil, &g)
			if sr.Desired != tc.desired || sr.Requested != tc.requested || g.Desired != tc.desired {
				t.Fatalf("scale: %+v, group desired %d", sr, g.Desired)
			}
			if d := g.Cooldown.LastDecision; d == nil || d.Source != fsm.SourceManual || d.Policy != PolicyManual {
				t.Fatalf("last decision %+v", d)
			}
		})
	}
	if code, _ := n.do(t, "POST", "/v1/tenants/demo/groups/nope/scale", []byte(`{"desired":3}`)); code != 404 {
		t.Fatalf("unknown group: %d", code)
	}

	var g wire.Group
	n.must(t, 200, "POST", gp+"/suspend", []byte(`{"reason":"maintenance"}`), &g)
	if !g.Suspended {
		t.Fatal("not suspended")
	}
	n.must(t, 200, "POST", gp+"/resume", nil, &g)
	if g.Suspended {
		t.Fatal("not resumed")
	}

	var inst fsm.Instance
	n.must(t, 200, "POST", "/v1/instances/i-1/protect", []byte(`{"protected":true}`), &inst)
	if !inst.Protected {
		t.Fatal("not protected")
	}
	var list []fsm.Instance
	n.must(t, 200, "GET", "/v1/instances?tenant=demo&state=pending&cloud=c1", nil, &list)
	if len(list) != 1 || !list[0].Protected {
		t.Fatalf("instances: %+v", list)
	}
	n.must(t, 200, "GET", "/v1/instances?state=running", nil, &list)
	if len(list) != 0 {
		t.Fatalf("running instances: %+v", list)
	}
	var unprot fsm.Instance // protected is omitempty: decode into a fresh value
	n.must(t, 200, "POST", "/v1/instances/i-1/protect", []byte(`{"protected":false}`), &unprot)
	if unprot.ID != "i-1" || unprot.Protected {
		t.Fatal("still protected")
	}
	if code, _ := n.do(t, "POST", "/v1/instances/i-404/protect", []byte(`{"protected":true}`)); code != 404 {
		t.Fatalf("unknown instance: %d", code)
	}
}

func TestActivityCSVRoundTrip(t *testing.T) {
	n := startNode(t)
	setupInstance(t, n)
	reason := "spike, \"flash crowd\"\nsecond line"
	n.apply(t, &fsm.SetDesired{Tenant: "demo", Group: tenant.DefaultGroupName, Desired: 4, Time: n.now.Add(time.Minute), Source: fsm.SourceScaler,
		Policy: "reactive", Reason: reason, Inputs: map[string]float64{"avg_cpu": 0.45, "threshold": 0.3}})
	n.apply(t, &fsm.SetDesired{Tenant: "demo", Group: tenant.DefaultGroupName, Desired: 3, Time: n.now.Add(2 * time.Minute), Source: fsm.SourceScaler, Policy: "reactive"})

	code, body := n.do(t, "GET", "/v1/activity?tenant=demo&format=csv", nil)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse: %v\n%s", err, body)
	}
	if strings.Join(rows[0], ",") != strings.Join(ActivityCSVHeader, ",") {
		t.Fatalf("header %v", rows[0])
	}
	var scale [][]string
	for _, r := range rows[1:] {
		if len(r) != len(ActivityCSVHeader) {
			t.Fatalf("row %v has %d fields", r, len(r))
		}
		if _, err := time.Parse(time.RFC3339, r[0]); err != nil || !strings.HasSuffix(r[0], "Z") {
			t.Fatalf("time %q is not RFC 3339 UTC: %v", r[0], err)
		}
		if r[2] == "scale" {
			scale = append(scale, r)
		}
	}
	if len(scale) != 2 {
		t.Fatalf("scale rows: %v", scale)
	}
	want := []string{"demo", tenant.DefaultGroupName, "", "2", "4", "out", "reactive", "avg_cpu=0.45;threshold=0.3", reason}
	if got := scale[0][3:]; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("row %q, want %q", got, want)
	}
	if scale[1][8] != "in" {
		t.Fatalf("second direction %q", scale[1][8])
	}

	// Time range and JSON via Accept negotiation falls back to JSON.
	var entries []fsm.ActivityEntry
	n.must(t, 200, "GET", "/v1/activity?tenant=demo&since="+n.now.Add(90*time.Second).Format(time.RFC3339), nil, &entries)
	if len(entries) != 1 || entries[0].To != 3 {
		t.Fatalf("since: %+v", entries)
	}
	code, body = n.do(t, "GET", "/v1/activity?until=1h", nil, "Accept", "text/csv")
	if code != 200 || !strings.HasPrefix(string(body), "time,seq,kind") {
		t.Fatalf("Accept: text/csv: %d %s", code, body)
	}
	if code, _ := n.do(t, "GET", "/v1/activity?since=yesterday", nil); code != 400 {
		t.Fatalf("bad since: %d", code)
	}
	if code, _ := n.do(t, "GET", "/v1/activity?format=xml", nil); code != 400 {
		t.Fatalf("bad format: %d", code)
	}
}

func TestMetricsExportAndPrometheus(t *testing.T) {
	n := startNode(t)
	setupInstance(t, n)
	fc := 1.25
	n.apply(t, &fsm.RecordMetrics{Tenant: "demo", Group: tenant.DefaultGroupName,
		Point:     fsm.MetricPoint{Time: n.now, AvgCPU: 0.5, RPS: 12.5, Instances: 2, Forecast: &fc, Cloud: "c1", RPSMeasured: true},
		Instances: []fsm.InstanceLoad{{ID: "i-1", CPU: 0.4, RPS: 12.5}}})
	n.must(t, 200, "POST", "/v1/tenants/demo/groups/default/scale", []byte(`{"desired":3}`), nil)

	code, body := n.do(t, "GET", "/v1/metrics/export?tenant=demo&format=csv", nil)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || strings.Join(rows[0], ",") != strings.Join(MetricsCSVHeader, ",") {
		t.Fatalf("rows %q", rows)
	}
	ts := n.now.Format(time.RFC3339)
	if g := rows[1]; g[0] != ts || g[1] != "group" || g[4] != "c1" || g[6] != "2" || g[7] != "0.5" || g[8] != "12.5" || g[9] != "1.25" || g[10] != "true" {
		t.Fatalf("group row %q", g)
	}
	if s := rows[2]; s[1] != "instance" || s[4] != "c1" || s[5] != "i-1" || s[7] != "0.4" || s[10] != "" {
		t.Fatalf("sample row %q", s)
	}
	var ex wire.MetricsExport
	n.must(t, 200, "GET", "/v1/metrics/export?tenant=demo", nil, &ex)
	if len(ex.Points) != 1 || ex.Points[0].Cloud != "c1" || ex.Points[0].RPS != 12.5 || !ex.Points[0].RPSMeasured {
		t.Fatalf("json export points %+v, want cloud c1 with a measured rps of 12.5", ex.Points)
	}
	ex = wire.MetricsExport{}
	n.must(t, 200, "GET", "/v1/metrics/export?tenant=demo&since="+n.now.Add(time.Second).Format(time.RFC3339), nil, &ex)
	if len(ex.Points) != 0 || len(ex.Samples) != 0 {
		t.Fatalf("since filter: %+v", ex)
	}

	code, body = n.do(t, "GET", "/metrics", nil)
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	text := string(body)
	for _, want := range []string{
		`aas_raft_state{state="Leader"} 1`,
		`aas_tenants 1`,
		`aas_group_desired{group="default",tenant="demo"} 3`,
		`aas_instances{cloud="c1",state="pending"} 1`,
		`aas_scaling_decisions_total{direction="out",policy="manual"} 1`,
		`aas_scaling_actions_total{direction="out",policy="manual"} 1`,
		// forecast 1.25 against 0.5 × 2 = 1: |1.25-1|/1 = 0.25
		`aas_forecast_error_ratio{group="default",tenant="demo"} 0.25`,
		`aas_fsm_applied_commands_total{command="apply-tenant"} 1`,
		`aas_fsm_apply_duration_seconds_count{command="apply-tenant"} 1`,
		`aas_api_write_duration_seconds_count{command="set-desired"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}

func TestSettingsAndLimits(t *testing.T) {
	n := startNode(t)
	var s fsm.Settings
	n.must(t, 200, "PUT", "/v1/settings", []byte(`{"activity_cap":3}`), &s)
	if s.ActivityCap != 3 || s.MetricHistoryCap != fsm.DefaultMetricHistoryCap {
		t.Fatalf("settings %+v", s)
	}
	n.must(t, 200, "PUT", "/v1/settings", []byte(`{"instance_sample_cap":10}`), &s)
	if s.ActivityCap != 3 || s.InstanceSampleCap != 10 {
		t.Fatalf("settings after a partial update %+v", s)
	}
	tests := []struct {
		name, method, path string
		body               []byte
		code               int
	}{
		{"cap zero", "PUT", "/v1/settings", []byte(`{"activity_cap":0}`), 400},
		{"cap too big", "PUT", "/v1/settings", []byte(`{"activity_cap":99999999}`), 400},
		{"unknown setting", "PUT", "/v1/settings", []byte(`{"colour":1}`), 400},
		{"huge tenant file", "POST", "/v1/tenants/validate", bytes.Repeat([]byte("#"), wire.MaxTenantFileSize+10), 413},
		{"unknown tenant", "GET", "/v1/tenants/nope", nil, 404},
		{"unknown group", "GET", "/v1/tenants/nope/groups/g", nil, 404},
		{"groups of unknown tenant", "GET", "/v1/groups?tenant=nope", nil, 404},
		{"unknown instance", "GET", "/v1/instances/nope", nil, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, body := n.do(t, tc.method, tc.path, tc.body); code != tc.code {
				t.Fatalf("status %d, want %d: %s", code, tc.code, body)
			}
		})
	}
}

func TestRegisterTwiceFails(t *testing.T) {
	n := startNode(t)
	if _, err := New(n.srv, Options{}); err == nil {
		t.Fatal("second registration succeeded")
	}
}
