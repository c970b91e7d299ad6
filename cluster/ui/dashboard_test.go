package ui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"aas/cluster"
	"aas/cluster/clustertest"
	"aas/cluster/northbound"
	"aas/cluster/ui"
	"aas/fsm"
	"aas/internal/testenv"
	"aas/scaler/trace/tracetest"
)

// startServer runs a single-node controller on 127.0.0.1 with the
// northbound API and the dashboard, and waits until it leads.
func startServer(t *testing.T) *cluster.Server {
	t.Helper()
	cfg := clustertest.Config(t, "ctl-1")
	cfg.Cloud, cfg.Bootstrap = "eu-west", true
	srv := clustertest.Start(t, cfg)
	if err := northbound.Register(srv, cfg.Logger); err != nil {
		t.Fatalf("northbound: %v", err)
	}
	if err := ui.Register(srv); err != nil {
		t.Fatalf("ui: %v", err)
	}
	clustertest.WaitLeader(t, srv)
	return srv
}

// apply commits an FSM command through srv.
var apply = clustertest.Apply

func httpDo(t *testing.T, method, url, ctype string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	c := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b, res.Header
}

// fixture is the data the dashboard test puts into the state.
type fixture struct {
	seedGroup    string // the seed tenant's group name
	reasons      []string
	points       int
	instanceIDs  []string
	predictGroup string
}

// populate applies the seed tenant through the API and injects clouds,
// hypervisors, a second tenant with a predictive group, instances, metric
// points from a real trace, evaluations with a forecast band, scaling
// decisions and an activity entry through fsm commands.
func populate(t *testing.T, srv *cluster.Server, now time.Time) fixture {
	t.Helper()
	base := "http://" + srv.HTTPAddr()
	seed, err := os.ReadFile(clustertest.RepoFile(t, "examples/seed-tenant.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if code, body, _ := httpDo(t, "POST", base+"/v1/tenants?file=seed-tenant.yml", "application/yaml", seed); code != 200 {
		t.Fatalf("apply seed tenant: %d %s", code, body)
	}
	var fx fixture
	srv.FSM().Read(func(st *fsm.State) {
		if gs := st.TenantGroups("demo"); len(gs) == 1 {
			fx.seedGroup = gs[0].Name
		}
	})
	if fx.seedGroup == "" {
		t.Fatal("seed tenant demo has no single group")
	}

	apply(t, srv, fsm.UpsertCloudType, fsm.UpsertCloud{Cloud: fsm.Cloud{Name: "eu-west", Priority: 0, Capacity: 12}})
	apply(t, srv, fsm.UpsertCloudType, fsm.UpsertCloud{Cloud: fsm.Cloud{Name: "onprem", Priority: 10}})
	for _, h := range []fsm.Hypervisor{
		{ID: "hv-eu-1", Cloud: "eu-west", Driver: "process", APIAddr: "127.0.0.1:7073", Capacity: 8, Liveness: fsm.LivenessAlive},
		{ID: "hv-eu-2", Cloud: "eu-west", Driver: "docker", APIAddr: "127.0.0.1:7083", Capacity: 8, Liveness: fsm.LivenessAlive},
		{ID: "hv-op-1", Cloud: "onprem", Driver: "libvirt", APIAddr: "127.0.0.1:7093", Capacity: 4, Liveness: fsm.LivenessAlive},
	} {
		apply(t, srv, fsm.UpsertHypervisorType, fsm.UpsertHypervisor{Hypervisor: h})
	}
	apply(t, srv, fsm.SetLivenessType, fsm.SetLiveness{ID: "hv-op-1", Liveness: fsm.LivenessSuspect, Time: now.Add(-40 * time.Second)})

	fx.predictGroup = "web"
	apply(t, srv, fsm.ApplyTenantType, fsm.ApplyTenant{
		Tenant: fsm.TenantSpec{Name: "shop", PublicIP: "198.18.250.9", Networks: []fsm.Network{{Name: "front",
			Subnets: []fsm.Subnet{{CIDR: "198.18.30.0/24", RangeStart: "198.18.30.10", RangeEnd: "198.18.30.200"}}}}},
		Groups: []fsm.GroupSpec{{Name: fx.predictGroup, Network: "front", Min: 1, Max: 8,
			Policy: json.RawMessage(`{"min":1,"max":8,"metric":"rps","target":120,"policies":[{"name":"forecast","predictive":{"model":"holt-winters"}}]}`),
			Clouds: []fsm.CloudPreference{{Cloud: "eu-west", Priority: 0}, {Cloud: "onprem", Priority: 10}}}},
		Time: now.Add(-2 * time.Hour),
	})

	insts := []fsm.NewInstance{
		{ID: "i-demo-1", Tenant: "demo", Group: fx.seedGroup, Cloud: "eu-west", Hypervisor: "hv-eu-1", Address: "127.0.0.1:9001"},
		{ID: "i-demo-2", Tenant: "demo", Group: fx.seedGroup, Cloud: "eu-west", Hypervisor: "hv-eu-2", Address: "127.0.0.1:9002"},
		{ID: "i-demo-3", Tenant: "demo", Group: fx.seedGroup, Cloud: "onprem", Hypervisor: "hv-op-1", Address: "127.0.0.1:9003"},
		{ID: "i-shop-1", Tenant: "shop", Group: fx.predictGroup, Cloud: "eu-west", Hypervisor: "hv-eu-1", Address: "127.0.0.1:9101"},
		{ID: "i-shop-2", Tenant: "shop", Group: fx.predictGroup, Cloud: "eu-west", Hypervisor: "hv-eu-2", Address: "127.0.0.1:9102"},
		{ID: "i-shop-3", Tenant: "shop", Group: fx.predictGroup, Cloud: "onprem", Hypervisor: "hv-op-1", Address: "127.0.0.1:9103"},
	}
	apply(t, srv, fsm.CreateInstancesType, fsm.CreateInstances{Time: now.Add(-50 * time.Minute), Instances: insts})
	var ups []fsm.InstanceUpdate
	for _, in := range insts {
		fx.instanceIDs = append(fx.instanceIDs, in.ID)
		ups = append(ups, fsm.InstanceUpdate{ID: in.ID, State: fsm.StateProvisioning, Reason: "placed by the scaler"})
		if in.ID == "i-shop-3" {
			continue // left booting
		}
		ups = append(ups, fsm.InstanceUpdate{ID: in.ID, State: fsm.StateRunning, Health: fsm.HealthHealthy, Reason: "health check passed"})
	}
	apply(t, srv, fsm.UpdateInstancesType, fsm.UpdateInstances{Time: now.Add(-45 * time.Minute), Updates: ups})

	// 60 points, one every 45 s, of a real trace (NASA HTTP, requests per
	// minute), scaled to the groups' units.
	const n, step = 60, 45 * time.Second
	fx.points = n
	loads := tracetest.Load(t, "nasa_http_1995.csv").Loads()
	if len(loads) < 600+n+5 {
		t.Fatalf("NASA trace has %d points", len(loads))
	}
	trace := loads[600 : 600+n+5]
	peak := 0.0
	for _, v := range trace {
		peak = math.Max(peak, v)
	}
	start := now.Add(-time.Duration(n) * step)
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * step)
		inst := 2
		switch {
		case i >= 45:
			inst = 3
		case i >= 25:
			inst = 4
		}
		cpuTotal := 1.3 * trace[i] / peak // busy instance-equivalents
		// demo runs in two clouds: each site writes its own point (onprem
		// has one instance); the chart draws their sum.
		apply(t, srv, fsm.RecordMetricsType, fsm.RecordMetrics{Tenant: "demo", Group: fx.seedGroup,
			Point: fsm.MetricPoint{Time: at, AvgCPU: cpuTotal / float64(inst), Instances: inst - 1, Cloud: "eu-west"}})
		apply(t, srv, fsm.RecordMetricsType, fsm.RecordMetrics{Tenant: "demo", Group: fx.seedGroup,
			Point: fsm.MetricPoint{Time: at, AvgCPU: cpuTotal / float64(inst), Instances: 1, Cloud: "onprem"}})
		rps := 420 * trace[i] / peak
		next := 420 * trace[i+3] / peak
		apply(t, srv, fsm.RecordMetricsType, fsm.RecordMetrics{Tenant: "shop", Group: fx.predictGroup,
			Point: fsm.MetricPoint{Time: at, AvgCPU: 0.4, RPS: rps, Instances: 3, Forecast: &next}})
		upper := next * 1.18
		apply(t, srv, fsm.RecordEvaluationType, fsm.RecordEvaluation{Tenant: "shop", Group: fx.predictGroup,
			Evaluation: fsm.Evaluation{Time: at, Current: 3, Serving: 3, Recommended: 3, Desired: 3, Average: rps / 3, Load: rps,
				Forecast: &next, ForecastUpper: &upper, Model: "holt-winters"}})
	}

	out := "avg cpu 0.41 above threshold 0.30: out = ceil((0.41 − 0.30) / 0.30 × 2) = 1, +1 headroom"
	in := "avg cpu 0.12 below threshold 0.30 for 5m: in = floor((0.30 − 0.12) / 0.30 × 4) = 1"
	fx.reasons = []string{out, in, "hypervisor hv-op-1 missed 3 gossip probes (suspect)"}
	apply(t, srv, fsm.SetDesiredType, fsm.SetDesired{Tenant: "demo", Group: fx.seedGroup, Desired: 4, Time: start.Add(25 * step),
		Source: fsm.SourceScaler, Direction: fsm.DirectionOut, Policy: "dynamic", Reason: out,
		Inputs: map[string]float64{"average": 0.41, "current": 2}})
	apply(t, srv, fsm.SetDesiredType, fsm.SetDesired{Tenant: "demo", Group: fx.seedGroup, Desired: 3, Time: start.Add(45 * step),
		Source: fsm.SourceScaler, Direction: fsm.DirectionIn, Policy: "dynamic", Reason: in,
		Inputs: map[string]float64{"average": 0.12, "current": 4}})
	apply(t, srv, fsm.AppendActivityType, fsm.AppendActivity{Entry: fsm.ActivityEntry{Time: now.Add(-30 * time.Second),
		Kind: "hypervisor", Cloud: "onprem", Reason: fx.reasons[2]}})
	return fx
}

func TestRegisterRoutes(t *testing.T) {
	srv := startServer(t)
	base := "http://" + srv.HTTPAddr()
	if err := ui.Register(srv); err == nil {
		t.Error("second Register succeeded, want ErrRegistered")
	}
	now := time.Now().UTC()
	fx := populate(t, srv, now)

	code, _, hdr := httpDo(t, "GET", base+"/", "", nil)
	if code != http.StatusFound || hdr.Get("Location") != "/ui/" {
		t.Errorf("GET /: %d Location %q, want 302 to /ui/", code, hdr.Get("Location"))
	}
	code, body, hdr := httpDo(t, "GET", base+"/ui/", "", nil)
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte(`id="chart-list"`)) {
		t.Errorf("GET /ui/: %d %q", code, hdr.Get("Content-Type"))
	}

	var clouds []ui.Cloud
	code, body, _ = httpDo(t, "GET", base+"/ui/api/clouds", "", nil)
	if code != 200 || json.Unmarshal(body, &clouds) != nil {
		t.Fatalf("clouds: %d %s", code, body)
	}
	want := map[string]int{"eu-west": 4, "onprem": 2} // live instances
	if len(clouds) != 2 || clouds[0].Name != "eu-west" {
		t.Fatalf("clouds %+v, want eu-west then onprem", clouds)
	}
	for _, c := range clouds {
		if c.Live != want[c.Name] {
			t.Errorf("cloud %s live %d, want %d", c.Name, c.Live, want[c.Name])
		}
	}

	var evs []ui.GroupEvaluations
	code, body, _ = httpDo(t, "GET", base+"/ui/api/evaluations?tenant=shop&limit=10", "", nil)
	if code != 200 || json.Unmarshal(body, &evs) != nil {
		t.Fatalf("evaluations: %d %s", code, body)
	}
	if len(evs) != 1 || evs[0].Group != fx.predictGroup || len(evs[0].Evaluations) != 10 || evs[0].Evaluations[9].ForecastUpper == nil {
		t.Errorf("evaluations: %s", body)
	}
	if code, body, _ = httpDo(t, "GET", base+"/ui/api/evaluations?limit=x", "", nil); code != 400 || !bytes.Contains(body, []byte("limit")) {
		t.Errorf("bad limit: %d %s", code, body)
	}
}

var (
	svgRe    = regexp.MustCompile(`(?s)<figure class="chart" data-group="([^"]+)"[^>]*>.*?</figure>`)
	circleRe = regexp.MustCompile(`<circle class="pt"`)
)

// TestDashboardInChromium loads the page in headless Chromium against a
// controller with real data and checks what it rendered.
func TestDashboardInChromium(t *testing.T) {
	chromium := testenv.RequireBinary(t, "chromium")
	srv := startServer(t)
	url := "http://" + srv.HTTPAddr() + "/ui/"

	// Empty cluster first: the page says what to do next.
	empty, _ := runChromium(t, chromium, "--dump-dom", url)
	for _, want := range []string{
		`No tenants yet — <code>ctl tenant apply examples/seed-tenant.yml</code>`,
		`No scaling groups yet`, `No hypervisors have registered`, `No instances yet`, `No activity yet`,
		`No groups to chart yet`, `leader ctl-1`,
	} {
		if !strings.Contains(empty, want) {
			t.Errorf("empty dashboard lacks %q", want)
		}
	}

	fx := populate(t, srv, time.Now().UTC())

	dom, console := runChromium(t, chromium, "--dump-dom", "--enable-logging=stderr", "--v=0", url)
	for _, bad := range []string{"Uncaught", "Refused to", "Failed to load module"} {
		if strings.Contains(console, bad) {
			t.Errorf("browser console reports %q:\n%s", bad, tail(console, 3000))
		}
	}
	if !strings.Contains(dom, `data-loaded="true"`) {
		t.Fatalf("page did not finish its first refresh; DOM:\n%s", dom)
	}
	charts := map[string]string{}
	for _, m := range svgRe.FindAllStringSubmatch(dom, -1) {
		charts[m[1]] = m[0]
	}
	for _, g := range []string{"demo/" + fx.seedGroup, "shop/" + fx.predictGroup} {
		c, ok := charts[g]
		if !ok {
			t.Errorf("no chart for %s (charts: %d)", g, len(charts))
			continue
		}
		if !strings.Contains(c, `<svg class="plot"`) || !strings.Contains(c, `data-points="`+strconv.Itoa(fx.points)+`"`) {
			t.Errorf("chart %s lacks an SVG with %d points", g, fx.points)
		}
		if got := len(circleRe.FindAllString(c, -1)); got != fx.points {
			t.Errorf("chart %s draws %d data points, want %d", g, got, fx.points)
		}
		if !strings.Contains(c, `class="cap"`) || !strings.Contains(c, `class="load"`) {
			t.Errorf("chart %s lacks the load or capacity line", g)
		}
	}
	if c := charts["shop/"+fx.predictGroup]; !strings.Contains(c, `class="band"`) || !strings.Contains(c, `class="fc"`) {
		t.Errorf("predictive chart lacks the forecast band")
	}
	demo := charts["demo/"+fx.seedGroup]
	for _, r := range fx.reasons[:2] {
		if !strings.Contains(demo, `data-reason="`+htmlEscape(r)+`"`) {
			t.Errorf("demo chart lacks a marker with reason %q", r)
		}
	}
	// The two clouds' points are drawn as one group total: 60 points (not
	// 120), the last with 2 + 1 instances.
	if !strings.Contains(demo, `· 3 instances`) {
		t.Errorf("demo chart's summary does not show the two clouds' 3 instances")
	}
	if n := strings.Count(demo, `class="marker out"`); n != 1 {
		t.Errorf("demo chart: %d scale-out markers, want 1", n)
	}
	if n := strings.Count(demo, `class="marker in"`); n != 1 {
		t.Errorf("demo chart: %d scale-in markers, want 1", n)
	}

	// Activity: every reason, newest first.
	idx := make([]int, len(fx.reasons))
	for i, r := range fx.reasons {
		if idx[i] = strings.Index(dom, ">"+htmlEscape(r)+"</span></td>"); idx[i] < 0 {
			t.Errorf("activity log lacks reason %q", r)
		}
	}
	if !(idx[2] < idx[1] && idx[1] < idx[0]) {
		t.Errorf("activity not newest first: positions %v", idx)
	}
	for _, want := range []string{
		`data-group="demo/` + fx.seedGroup + `"`,       // group row
		`<strong>3</strong> / 5`,                       // min / desired / max of demo
		`reactive · cpu 30%`,                           // its policy
		`predictive (holt-winters) · rps 120`,          // the other policy
		`data-hypervisor="hv-op-1"`, `>suspect</span>`, // liveness
		`leader ctl-1`, `data-cloud="onprem"`, `data-instance="i-shop-3"`,
		`href="../v1/activity?format=csv"`, `href="../v1/metrics/export?format=csv"`,
		`id="token-form" hidden=""`, // no ACLs: no token asked for
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM lacks %s", want)
		}
	}
	if strings.Contains(dom, `id="error" role="alert">`) && !strings.Contains(dom, `id="error" role="alert" hidden`) {
		t.Errorf("error banner shown: %s", dom[strings.Index(dom, `id="error"`):][:300])
	}

	shot := filepath.Join(t.TempDir(), "dashboard.png")
	_, _ = runChromium(t, chromium, "--screenshot="+shot, "--window-size=1400,1000", "--hide-scrollbars", url)
	st, err := os.Stat(shot)
	if err != nil || st.Size() < 20_000 {
		t.Fatalf("screenshot %s: %v (size %d)", shot, err, sizeOf(st))
	}
	t.Logf("screenshot: %s (%d bytes)", shot, st.Size())
	if dir := os.Getenv("AAS_SCREENSHOT_DIR"); dir != "" {
		b, err := os.ReadFile(shot)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "dashboard.png"), b, 0o644)
		}
		if err != nil {
			t.Errorf("copy screenshot to %s: %v", dir, err)
		}
		// The whole page, for a human to review.
		full := filepath.Join(dir, "dashboard-full.png")
		_, _ = runChromium(t, chromium, "--screenshot="+full, "--window-size=1400,3000", "--hide-scrollbars", url)
		narrow := filepath.Join(dir, "dashboard-narrow.png")
		_, _ = runChromium(t, chromium, "--screenshot="+narrow, "--window-size=420,2400", "--hide-scrollbars", url)
		t.Logf("screenshots in %s", dir)
	}
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return 0
	}
	return st.Size()
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// runChromium runs headless Chromium with a fresh profile and returns its
// stdout and stderr (the console with --enable-logging=stderr). Virtual time lets the page's first refresh complete without
// real waiting.
func runChromium(t *testing.T, bin string, args ...string) (string, string) {
	t.Helper()
	profile := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + profile, "--virtual-time-budget=5000"}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, tail(stderr.String(), 2000))
	}
	return stdout.String(), stderr.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("…%s", s[len(s)-n:])
}
