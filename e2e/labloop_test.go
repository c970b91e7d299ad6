package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"aas/cluster/client"
	"aas/e2e/labkit"
	"aas/fsm"
	"aas/netcfg"
	"aas/nodes/loadgen"
	"aas/nodes/workload"
	"aas/scaler/trace"
	"aas/scaler/trace/tracetest"
)

// The closed loop in the lab: the leader scales a group on live metrics
// while a compressed real trace drives load through the VIP.
const (
	loopTenant = "loop"
	loopGroup  = "web"
	loopPort   = 8080
	// loopPerInstance is the policy's target: requests per second per
	// instance, as the load balancers count them (the ideal count is
	// ceil(rate / loopPerInstance)).
	loopPerInstance = 10.0
	// loopCPUms is the CPU each request burns in the workload (light: the
	// signal is the request rate, and the machine runs three clouds).
	loopCPUms = 2.0
)

// loopClouds: preference order (priority ascending) and room per cloud.
var loopClouds = []struct {
	name     string
	priority int
}{{"onprem", 0}, {"aws", 10}, {"gcp", 20}}

const loopCloudMax = 2

func loopTenantYAML(ctl string) string {
	var clouds strings.Builder
	for _, c := range loopClouds {
		fmt.Fprintf(&clouds, "  - name: %s\n    priority: %d\n    max_instances: %d\n", c.name, c.priority, loopCloudMax)
	}
	return fmt.Sprintf(`name: %s
public_ip: 198.18.250.1
settings:
  logging: true
clouds:
%snetworks:
  - name: net
    subnets:
      - cidr: 198.18.30.0/24
        dhcp_start: 198.18.30.10
        dhcp_end: 198.18.30.200
groups:
  - name: %s
    template:
      driver: process
      port: %d
      process:
        command: %q
        args: ["workload", "-listen", "$AAS_LISTEN", "-id", "$AAS_INSTANCE_ID", "-cpu-ms", "%g"]
      health:
        type: http
        path: /healthz
        interval: 1s
        timeout: 500ms
    drain: 3s
    scaling:
      min: 1
      max: 6
      metric: rps
      target: %g
      metric_period: 6s
      cooldown_out: 6s
      cooldown_in: 10s
      scale_in_stabilization: 12s
      policies:
        - name: track
          target:
            tolerance: 0.1
`, loopTenant, clouds.String(), loopGroup, loopPort, ctl, loopCPUms, loopPerInstance)
}

// loopPoll is one observation of the group's instances.
type loopPoll struct {
	At   time.Time
	Inst []fsm.Instance
}

// liveByCloud counts live, non-draining instances per cloud.
func (p loopPoll) liveByCloud() map[string]int {
	m := map[string]int{}
	for _, in := range p.Inst {
		if serving(in) {
			m[in.Cloud]++
		}
	}
	return m
}

// paid counts the instances that cost money: every live one, booting and
// draining included.
func (p loopPoll) paid() int {
	n := 0
	for _, in := range p.Inst {
		if in.Live() {
			n++
		}
	}
	return n
}

func (p loopPoll) draining() bool {
	return slices.ContainsFunc(p.Inst, func(in fsm.Instance) bool {
		return in.State == fsm.StateDraining || in.State == fsm.StateTerminating
	})
}

// placementViolations checks the scaling order over consecutive polls
// against the clouds' preference order (most preferred first) and the
// per-cloud room: an instance appearing in a cloud while a more preferred
// cloud has room (fewer than room live instances in the same poll) is
// a scale-out violation; an instance of a cloud leaving service (draining
// or gone) while a less preferred cloud still has a live, non-draining
// instance in the same poll is a scale-in violation. Instances that
// failed are replacements, not scaling, and are not judged.
func placementViolations(polls []loopPoll, prefs []string, room int) []string {
	rank := map[string]int{}
	for i, c := range prefs {
		rank[c] = i
	}
	var out []string
	seen := map[string]bool{}
	var prev map[string]string // serving instance → cloud in the previous poll
	for i, p := range polls {
		live := p.liveByCloud()
		now := map[string]fsm.Instance{}
		for _, in := range p.Inst {
			now[in.ID] = in
		}
		for _, in := range p.Inst {
			if seen[in.ID] || !in.Live() {
				continue
			}
			seen[in.ID] = true
			if i == 0 {
				continue
			}
			for _, c := range prefs[:rank[in.Cloud]] {
				if live[c] < room {
					out = append(out, fmt.Sprintf("%s: new instance %s in %s while %s had %d of %d",
						p.At.Format("15:04:05.000"), in.ID, in.Cloud, c, live[c], room))
				}
			}
		}
		for id, cloud := range prev {
			if in, ok := now[id]; ok && (in.State == fsm.StateFailed || serving(in)) {
				continue
			}
			for _, c := range prefs[rank[cloud]+1:] {
				if live[c] > 0 {
					out = append(out, fmt.Sprintf("%s: instance %s of %s left service while %s still had %d",
						p.At.Format("15:04:05.000"), id, cloud, c, live[c]))
				}
			}
		}
		prev = map[string]string{}
		for _, in := range p.Inst {
			if serving(in) {
				prev[in.ID] = in.Cloud
			}
		}
	}
	return out
}

// serving: live and not on its way out.
func serving(in fsm.Instance) bool {
	return in.Live() && in.State != fsm.StateDraining && in.State != fsm.StateTerminating
}

func TestPlacementViolations(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	in := func(id, cloud string, st fsm.InstanceState) fsm.Instance {
		return fsm.Instance{ID: id, Cloud: cloud, State: st}
	}
	run, drn := fsm.StateRunning, fsm.StateDraining
	prefs := []string{"a", "b", "c"}
	for _, tc := range []struct {
		name  string
		polls [][]fsm.Instance
		want  int
	}{
		{"spill in order", [][]fsm.Instance{
			{in("1", "a", run)},
			{in("1", "a", run), in("2", "a", run), in("3", "b", run)},
			{in("1", "a", run), in("2", "a", run), in("3", "b", run), in("4", "b", run), in("5", "c", run)},
		}, 0},
		{"skipped a cloud with room", [][]fsm.Instance{
			{in("1", "a", run)},
			{in("1", "a", run), in("3", "b", run)},
		}, 1},
		{"scale-in least preferred first", [][]fsm.Instance{
			{in("1", "a", run), in("2", "a", run), in("3", "b", run), in("5", "c", run)},
			{in("1", "a", run), in("2", "a", run), in("3", "b", drn), in("5", "c", drn)},
			{in("1", "a", run), in("2", "a", run)},
		}, 0},
		{"scale-in from a preferred cloud first", [][]fsm.Instance{
			{in("1", "a", run), in("2", "a", run), in("3", "b", run)},
			{in("1", "a", run), in("2", "a", drn), in("3", "b", run)},
		}, 1},
		{"failed instance is not a scale-in", [][]fsm.Instance{
			{in("1", "a", run), in("3", "b", run)},
			{in("1", "a", fsm.StateFailed), in("3", "b", run)},
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var polls []loopPoll
			for i, p := range tc.polls {
				polls = append(polls, loopPoll{At: t0.Add(time.Duration(i) * time.Second), Inst: p})
			}
			if got := placementViolations(polls, prefs, 2); len(got) != tc.want {
				t.Fatalf("violations %q, want %d", got, tc.want)
			}
		})
	}
}

// loopHits records every request's outcome of the replays.
type loopHits struct {
	mu   sync.Mutex
	hits []loadgen.Hit
}

func (h *loopHits) add(x loadgen.Hit) {
	h.mu.Lock()
	h.hits = append(h.hits, x)
	h.mu.Unlock()
}

func (h *loopHits) all() []loadgen.Hit {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.hits)
}

// hitInstance is the instance that served a successful hit ("" if none).
func hitInstance(h loadgen.Hit) string {
	if h.Err != "" {
		return ""
	}
	var r workload.Response
	if json.Unmarshal(h.Body, &r) != nil {
		return ""
	}
	return r.InstanceID
}

// stepTrace is a synthetic trace in loadgen's unit (requests per 1 s
// step): low req/s for lowFor, then high req/s for highFor.
func stepTrace(t *testing.T, low, high float64, lowFor, highFor int) *trace.Trace {
	t.Helper()
	var b strings.Builder
	b.WriteString("# step\nt,load\n")
	for s := 0; s < lowFor+highFor; s++ {
		v := low
		if s >= lowFor {
			v = high
		}
		fmt.Fprintf(&b, "%d,%g\n", s, v)
	}
	tr, err := trace.Parse(strings.NewReader(b.String()), "step.csv")
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// replayTrace replays tr against target (one connection per request,
// dialled by dial) recording every hit; it returns the summary, the pacer
// (the trace's rate at any elapsed time) and when it began.
func replayTrace(t *testing.T, ctx context.Context, tr *trace.Trace, speedup, scale float64, target string,
	dial func(context.Context, string, string) (net.Conn, error), hits *loopHits) (loadgen.Summary, *loadgen.TracePacer, time.Time) {
	t.Helper()
	pacer, err := loadgen.NewTracePacer(tr, speedup, scale, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	sum, err := loadgen.Run(ctx, loadgen.Config{Trace: tr, Target: target, Speedup: speedup, Scale: scale,
		Timeout: 3 * time.Second, NewConnections: true, DialContext: dial, OnResult: hits.add,
		ReportEvery: 10 * time.Second, Progress: func(p loadgen.Progress) { t.Logf("load %s", p) }})
	if err != nil {
		t.Fatal(err)
	}
	return sum, pacer, began
}

// stepReaction runs a load step — 4 req/s (one instance at 40 % of its
// target) for 15 s, then 25 req/s (2.5 instances' worth) for 30 s — and
// returns the time from the step to the first response from an instance
// that had not served before it: detection, decision, creation, boot,
// health check and load-balancer update together.
func stepReaction(t *testing.T, ctx context.Context, target string,
	dial func(context.Context, string, string) (net.Conn, error), hits *loopHits) (time.Duration, loadgen.Summary) {
	t.Helper()
	const low, high, lowFor, highFor = 4.0, 25.0, 15, 30
	sum, _, began := replayTrace(t, ctx, stepTrace(t, low, high, lowFor, highFor), 1, 1, target, dial, hits)
	stepAt := began.Add(lowFor * time.Second)
	all := hits.all()
	before := map[string]bool{}
	for _, h := range all {
		if id := hitInstance(h); id != "" && h.At.Before(stepAt) {
			before[id] = true
		}
	}
	reaction := time.Duration(-1)
	for _, h := range all {
		if id := hitInstance(h); id != "" && !h.At.Before(stepAt) && !before[id] {
			if d := h.At.Add(h.Latency).Sub(stepAt); reaction < 0 || d < reaction {
				reaction = d
			}
		}
	}
	if reaction < 0 {
		t.Fatalf("no new instance served traffic within %d s of a load step to %g× one instance's target", highFor, high/loopPerInstance)
	}
	return reaction, sum
}

// TestLabClosedLoop is the service end to end: three clouds in the lab,
// a group scaled by the leader on the request rate its load balancers
// count (target tracking, 10 req/s per instance), load through
// the tenant's public IP from the client namespace. First a load step
// (reaction time: step → first new instance serving traffic), then one
// compressed NASA day from its night trough over its afternoon peak into
// the evening (scale-out into onprem, spill into aws and gcp, scale-in from
// gcp first), with the leading controller killed (-9) and restarted in the
// middle. It asserts the scaling order, zero failed requests while
// instances drain, no duplicate or orphan instance afterwards and no lost
// history (activity and metric points written before the kill are still
// there), and prints the reaction time, instance-minutes against the
// ideal and failed requests.
func TestLabClosedLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("e2e: builds ctl and runs a namespace lab")
	}
	nasa := tracetest.Load(t, "nasa_http_1995.csv")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	lab, clientNS := upInstanceLab(t, ctx, loopTenant, loopTenantYAML, "-stats-interval", "2s")
	st := lab.State()
	dial := netcfg.DialContextIn(clientNS)
	target := "http://" + net.JoinHostPort(st.VIP, strconv.Itoa(loopPort)) + "/"

	// The API through a controller that is not the leader we will kill.
	leader, err := lab.WaitLeader(ctx, lab.ControllerIDs()...)
	if err != nil {
		t.Fatal(err)
	}
	var apiCtl labkit.ControllerInfo
	for _, c := range lab.Controllers() {
		if c.ID != leader {
			apiCtl = c
			break
		}
	}
	api := lab.Client(apiCtl)
	listInstances := func(ctx context.Context) ([]fsm.Instance, error) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return api.Instances(cctx, client.InstanceFilter{Tenant: loopTenant, Group: loopGroup})
	}

	// min 1: wait for the first instance to serve through the VIP.
	hits := &loopHits{}
	waitServing := func(what string, cond func([]fsm.Instance) bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			insts, err := listInstances(ctx)
			if err == nil && cond(insts) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not reached in 60 s (%v, %d instances)", what, err, len(insts))
			}
			time.Sleep(200 * time.Millisecond) // polling interval
		}
	}
	waitServing("first instance running", func(in []fsm.Instance) bool {
		return slices.ContainsFunc(in, func(i fsm.Instance) bool { return i.State == fsm.StateRunning && i.Health == fsm.HealthHealthy })
	})

	// Poll the instances for the whole run.
	var pollMu sync.Mutex
	var polls []loopPoll
	pctx, pstop := context.WithCancel(ctx)
	pdone := make(chan struct{})
	go func() {
		defer close(pdone)
		for pctx.Err() == nil {
			if insts, err := listInstances(pctx); err == nil {
				pollMu.Lock()
				polls = append(polls, loopPoll{At: time.Now(), Inst: insts})
				pollMu.Unlock()
			}
			select {
			case <-pctx.Done():
			case <-time.After(250 * time.Millisecond): // polling interval
			}
		}
	}()
	replay := func(tr *trace.Trace, speedup, scale float64) (loadgen.Summary, *loadgen.TracePacer, time.Time) {
		return replayTrace(t, ctx, tr, speedup, scale, target, dial, hits)
	}

	// 1. Load step (reaction time).
	reaction, stepSum := stepReaction(t, ctx, target, dial, hits)
	t.Logf("load step 4 → 25 req/s: first new instance served %v after the step (process driver, netns); %d requests, %d failed",
		reaction.Round(10*time.Millisecond), stepSum.Requests, stepSum.Failed())

	// 2. One NASA day, 04:00 to 20:00 of Monday 3 July 1995, in 160 s;
	// its hourly load rises 4× to the 13:00 peak. Scale: the peak hour
	// (100 req/min) becomes 5.5 instances' worth.
	const speedup = 360.0
	day := nasa.Window(48*3600+4*3600, 48*3600+20*3600)
	scale := 5.5 * loopPerInstance / (100.0 / 60 * speedup)
	killAt := time.Duration(float64(8*time.Hour) / speedup) // 12:00 trace time
	type killRecord struct {
		at       time.Time
		leader   string
		activity []fsm.ActivityEntry
		points   int
		last     time.Time
	}
	kill := make(chan killRecord, 1)
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(killAt):
		}
		ldr, err := lab.WaitLeader(ctx, lab.ControllerIDs()...)
		if err != nil {
			t.Errorf("leader before kill: %v", err)
			close(kill)
			return
		}
		rec := killRecord{leader: ldr}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		rec.activity, err = api.Activity(cctx, client.LogQuery{Tenant: loopTenant})
		if err == nil {
			exp, merr := api.MetricsExport(cctx, client.LogQuery{Tenant: loopTenant})
			err = merr
			for _, p := range exp.Points {
				rec.points++
				if p.Time.After(rec.last) {
					rec.last = p.Time
				}
			}
		}
		cancel()
		if err != nil {
			t.Errorf("history before kill: %v", err)
		}
		rec.at = time.Now()
		if err := lab.KillController(ldr); err != nil {
			t.Errorf("kill leader: %v", err)
		}
		if err := lab.RestartController(ldr); err != nil {
			t.Errorf("restart ex-leader: %v", err)
		}
		kill <- rec
	}()
	daySum, dayPacer, dayBegan := replay(day, speedup, scale)
	dayEnd := time.Now()
	rec, ok := <-kill
	if !ok || rec.at.IsZero() {
		t.Fatal("the leader was not killed during the replay")
	}
	t.Logf("killed leader %s at %v into the day and restarted it", rec.leader, rec.at.Sub(dayBegan).Round(time.Millisecond))

	// 3. Let the evening's scale-in finish: down to the count the last
	// rate needs (hold for the stabilisation window and cooldown).
	waitServing("scale-in after the replay", func(in []fsm.Instance) bool {
		live := 0
		for _, i := range in {
			if i.Live() {
				live++
			}
		}
		return live <= 4 && !slices.ContainsFunc(in, func(i fsm.Instance) bool { return i.State == fsm.StateDraining })
	})
	pstop()
	<-pdone
	pollMu.Lock()
	obs := slices.Clone(polls)
	pollMu.Unlock()

	prefs := []string{}
	for _, c := range loopClouds {
		prefs = append(prefs, c.name)
	}

	// Scaling order: into onprem first, spill in order, in from gcp first.
	if v := placementViolations(obs, prefs, loopCloudMax); len(v) > 0 {
		t.Errorf("scaling order violated:\n  %s", strings.Join(v, "\n  "))
	}
	peak := map[string]int{}
	peakTotal := 0
	for _, p := range obs {
		live := p.liveByCloud()
		n := 0
		for c, k := range live {
			peak[c] = max(peak[c], k)
			n += k
		}
		peakTotal = max(peakTotal, n)
	}
	if peak["aws"] == 0 || peak["gcp"] == 0 {
		t.Errorf("the day's peak never spilled into aws and gcp: peak per cloud %v", peak)
	}
	last := obs[len(obs)-1].liveByCloud()
	if last["gcp"] != 0 {
		t.Errorf("after the evening's scale-in gcp (least preferred) still has %d instances: %v", last["gcp"], last)
	}

	// Failed requests: none while instances drain (and around, by a second).
	all := hits.all()
	var drainWins [][2]time.Time
	for i, p := range obs {
		if !p.draining() {
			continue
		}
		from := p.At
		if i > 0 {
			from = obs[i-1].At
		}
		drainWins = append(drainWins, [2]time.Time{from.Add(-time.Second), p.At.Add(time.Second)})
	}
	inDrain := func(at time.Time) bool {
		return slices.ContainsFunc(drainWins, func(w [2]time.Time) bool { return !at.Before(w[0]) && !at.After(w[1]) })
	}
	failed, failedDrain, failedKill := 0, 0, 0
	var failKinds []string
	for _, h := range all {
		if h.Err == "" {
			continue
		}
		failed++
		if inDrain(h.At) {
			failedDrain++
		}
		if d := h.At.Sub(rec.at); d > -time.Second && d < 5*time.Second {
			failedKill++
		}
		if len(failKinds) < 10 {
			failKinds = append(failKinds, fmt.Sprintf("%s %s", h.At.Format("15:04:05.000"), h.Err))
		}
	}
	if failedDrain > 0 {
		t.Errorf("%d requests failed while instances were draining (scale-in must lose none): %v", failedDrain, failKinds)
	}

	// Instance-minutes against the ideal over the day's replay: ideal =
	// ceil(the trace's rate / one instance's rate at target) at every
	// moment; paid = live instances (booting and draining included).
	var paid, ideal float64
	for i := 1; i < len(obs); i++ {
		a, b := obs[i-1].At, obs[i].At
		if a.Before(dayBegan) || b.After(dayEnd) {
			continue
		}
		dt := b.Sub(a).Minutes()
		paid += float64(obs[i-1].paid()) * dt
		rate := dayPacer.Rate(a.Sub(dayBegan))
		ideal += math.Max(1, math.Ceil(rate/loopPerInstance)) * dt
	}

	// No duplicate, no orphan: what the hypervisors run is what the FSM
	// says is live, each instance on one hypervisor.
	var dupMsg string
	deadline := time.Now().Add(30 * time.Second)
	for {
		dupMsg = ""
		insts, err := listInstances(ctx)
		hv, herr := lab.HypervisorInstances()
		if err == nil && herr == nil {
			where := map[string][]string{}
			for h, ids := range hv {
				for _, id := range ids {
					where[id] = append(where[id], h)
				}
			}
			live := map[string]bool{}
			for _, in := range insts {
				if in.State == fsm.StateRunning {
					live[in.ID] = true
				}
			}
			var problems []string
			for id, hs := range where {
				if len(hs) > 1 {
					problems = append(problems, fmt.Sprintf("%s runs on %v", id, hs))
				} else if !live[id] {
					problems = append(problems, fmt.Sprintf("%s runs on %s but is not running in the FSM", id, hs[0]))
				}
			}
			for id := range live {
				if len(where[id]) == 0 {
					problems = append(problems, fmt.Sprintf("%s is running in the FSM but on no hypervisor", id))
				}
			}
			sort.Strings(problems)
			dupMsg = strings.Join(problems, "; ")
		} else {
			dupMsg = fmt.Sprintf("list: %v %v", err, herr)
		}
		if dupMsg == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond) // polling interval
	}
	if dupMsg != "" {
		t.Errorf("hypervisors vs FSM after the run: %s", dupMsg)
	}

	// No lost history: every activity entry and metric point written
	// before the kill is still there, and the new leader went on deciding.
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	defer ccancel()
	after, err := api.Activity(cctx, client.LogQuery{Tenant: loopTenant})
	if err != nil {
		t.Fatal(err)
	}
	bySeq := map[uint64]fsm.ActivityEntry{}
	for _, a := range after {
		bySeq[a.Seq] = a
	}
	for _, a := range rec.activity {
		b, ok := bySeq[a.Seq]
		if !ok || b.Kind != a.Kind || b.Reason != a.Reason || !b.Time.Equal(a.Time) {
			t.Errorf("activity entry %d (%s %s) written before the kill is lost or changed: %+v", a.Seq, a.Kind, a.Reason, b)
		}
	}
	exp, err := api.MetricsExport(cctx, client.LogQuery{Tenant: loopTenant})
	if err != nil {
		t.Fatal(err)
	}
	kept, newer := 0, 0
	for _, p := range exp.Points {
		if !p.Time.After(rec.last) {
			kept++
		} else {
			newer++
		}
	}
	if kept < rec.points || newer == 0 {
		t.Errorf("metric points: %d written before the kill, %d of them kept; %d written after", rec.points, kept, newer)
	}
	outs, ins, afterKill := 0, 0, 0
	var actions []string
	for _, a := range after {
		if a.Kind != "scale" {
			continue
		}
		if a.To > a.From {
			outs++
		} else {
			ins++
		}
		if a.Time.After(rec.at) {
			afterKill++
		}
		actions = append(actions, fmt.Sprintf("%s %d→%d %s", a.Time.Format("15:04:05"), a.From, a.To, a.Reason))
	}
	if afterKill == 0 {
		t.Errorf("no scaling action after the leader was killed: the new leader did not take over the loop\n%s", strings.Join(actions, "\n"))
	}
	if t.Failed() {
		for _, a := range actions {
			t.Log("activity: " + a)
		}
	}
	t.Logf("day replay: %d requests (%.1f req/s), %d failed (%d while draining, %d within 5 s of the leader kill), p50 %v p99 %v; errors %v",
		daySum.Requests, daySum.Rate, daySum.Failed(), failedDrain, failedKill, daySum.P50.Round(time.Millisecond), daySum.P99.Round(time.Millisecond), daySum.Errors)
	t.Logf("scaling: %d out, %d in (%d after the kill); peak %d instances %v; instance-minutes %.2f vs ideal %.2f (×%.2f)",
		outs, ins, afterKill, peakTotal, peak, paid, ideal, paid/ideal)
	t.Logf("all phases: %d failed requests of %d", failed, len(all))
}
