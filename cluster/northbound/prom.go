package northbound

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"aas/cluster"
	"aas/fsm"
)

// commandNames labels the fsm command types (fsm/DESIGN.md's table).
var commandNames = map[fsm.MessageType]string{
	fsm.UpsertHypervisorType: "upsert-hypervisor", fsm.SetLivenessType: "set-liveness",
	fsm.UpsertCloudType: "upsert-cloud", fsm.DeleteCloudType: "delete-cloud",
	fsm.ApplyTenantType: "apply-tenant", fsm.DeleteTenantType: "delete-tenant",
	fsm.SetDesiredType: "set-desired", fsm.SetGroupSuspendedType: "set-group-suspended",
	fsm.CreateInstancesType: "create-instances", fsm.UpdateInstancesType: "update-instances",
	fsm.SetInstanceProtectedType: "set-instance-protected", fsm.ReapInstancesType: "reap-instances",
	fsm.RecordMetricsType: "record-metrics", fsm.AppendActivityType: "append-activity",
	fsm.SetSettingsType: "set-settings", fsm.RemoveHypervisorType: "remove-hypervisor",
}

func commandName(t fsm.MessageType) string {
	if n, ok := commandNames[t]; ok {
		return n
	}
	return strconv.Itoa(int(t))
}

// forecastWindow is how many recent points with a forecast the error
// gauge averages over.
const forecastWindow = 20

var (
	descRaftState    = prometheus.NewDesc("aas_raft_state", "1 for the raft state this node is in.", []string{"state"}, nil)
	descRaftTerm     = prometheus.NewDesc("aas_raft_term", "Current raft term.", nil, nil)
	descRaftLast     = prometheus.NewDesc("aas_raft_last_index", "Last raft log index.", nil, nil)
	descRaftApplied  = prometheus.NewDesc("aas_raft_applied_index", "Last raft index applied to the FSM.", nil, nil)
	descRaftLeader   = prometheus.NewDesc("aas_raft_leader", "1 when this node is the raft leader.", nil, nil)
	descTenants      = prometheus.NewDesc("aas_tenants", "Tenants in the replicated state.", nil, nil)
	descGroups       = prometheus.NewDesc("aas_groups", "Scaling groups in the replicated state.", nil, nil)
	descInstances    = prometheus.NewDesc("aas_instances", "Instances by lifecycle state and cloud.", []string{"state", "cloud"}, nil)
	descDesired      = prometheus.NewDesc("aas_group_desired", "Desired instance count per group.", []string{"tenant", "group"}, nil)
	descLive         = prometheus.NewDesc("aas_group_live", "Live instances per group.", []string{"tenant", "group"}, nil)
	descMin          = prometheus.NewDesc("aas_group_min", "Minimum instances per group.", []string{"tenant", "group"}, nil)
	descMax          = prometheus.NewDesc("aas_group_max", "Maximum instances per group.", []string{"tenant", "group"}, nil)
	descSuspended    = prometheus.NewDesc("aas_group_suspended", "1 when automatic scaling of the group is suspended.", []string{"tenant", "group"}, nil)
	descDecisions    = prometheus.NewDesc("aas_scaling_decisions_total", "Scaling decisions recorded in the activity log, by policy and direction.", []string{"policy", "direction"}, nil)
	descActions      = prometheus.NewDesc("aas_scaling_actions_total", "Scaling decisions that changed the desired count, by policy and direction.", []string{"policy", "direction"}, nil)
	descActivity     = prometheus.NewDesc("aas_activity_entries_total", "Activity log entries by kind.", []string{"kind"}, nil)
	descForecastErr  = prometheus.NewDesc("aas_forecast_error_ratio", "Mean absolute percentage error of the group's recent forecasts against the observed total load (avg_cpu × instances).", []string{"tenant", "group"}, nil)
	descForecastLast = prometheus.NewDesc("aas_forecast_last_abs_error", "Absolute error of the group's most recent forecast against the observed total load.", []string{"tenant", "group"}, nil)
)

// collector exports the raft and replicated-state figures at scrape time,
// plus counters kept by this node: commands applied (fsm Observe), API
// write latency, and decisions/actions counted from the activity log.
type collector struct {
	srv *cluster.Server

	applied    *prometheus.CounterVec
	applyDur   *prometheus.HistogramVec
	writeDur   *prometheus.HistogramVec
	writeFails *prometheus.CounterVec

	mu        sync.Mutex
	lastSeq   uint64
	decisions map[[2]string]float64
	actions   map[[2]string]float64
	kinds     map[string]float64
}

var _ prometheus.Collector = (*collector)(nil)

func newCollector(srv *cluster.Server) *collector {
	c := &collector{
		srv: srv,
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aas_fsm_applied_commands_total",
			Help: "Commands applied to the FSM on this node, by command."}, []string{"command"}),
		applyDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "aas_fsm_apply_duration_seconds",
			Help:    "Time this node's FSM took to apply one committed command, by command.",
			Buckets: prometheus.ExponentialBuckets(0.000005, 2, 18)}, []string{"command"}),
		writeDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "aas_api_write_duration_seconds",
			Help:    "Time from an API write to its commit and FSM apply (Server.Apply, forwarding included), by command.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"command"}),
		writeFails: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "aas_api_write_errors_total",
			Help: "API writes that failed or were rejected, by command."}, []string{"command"}),
		decisions: map[[2]string]float64{},
		actions:   map[[2]string]float64{},
		kinds:     map[string]float64{},
	}
	srv.FSM().Observe(func(t fsm.MessageType, _ uint64) { c.applied.WithLabelValues(commandName(t)).Inc() })
	srv.ObserveApplyLatency(func(t fsm.MessageType, d time.Duration) {
		c.applyDur.WithLabelValues(commandName(t)).Observe(d.Seconds())
	})
	return c
}

func (c *collector) observeWrite(t fsm.MessageType, d time.Duration, err error) {
	name := commandName(t)
	c.writeDur.WithLabelValues(name).Observe(d.Seconds())
	if err != nil {
		c.writeFails.WithLabelValues(name).Inc()
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	c.applied.Describe(ch)
	c.applyDur.Describe(ch)
	c.writeDur.Describe(ch)
	c.writeFails.Describe(ch)
	for _, d := range []*prometheus.Desc{descRaftState, descRaftTerm, descRaftLast, descRaftApplied, descRaftLeader,
		descTenants, descGroups, descInstances, descDesired, descLive, descMin, descMax, descSuspended,
		descDecisions, descActions, descActivity, descForecastErr, descForecastLast} {
		ch <- d
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.applied.Collect(ch)
	c.applyDur.Collect(ch)
	c.writeDur.Collect(ch)
	c.writeFails.Collect(ch)

	r := c.srv.Raft()
	st := r.State()
	for _, s := range []raft.RaftState{raft.Follower, raft.Candidate, raft.Leader, raft.Shutdown} {
		v := 0.0
		if s == st {
			v = 1
		}
		gauge(ch, descRaftState, v, s.String())
	}
	leader := 0.0
	if st == raft.Leader {
		leader = 1
	}
	gauge(ch, descRaftLeader, leader)
	gauge(ch, descRaftTerm, float64(r.CurrentTerm()))
	gauge(ch, descRaftLast, float64(r.LastIndex()))
	gauge(ch, descRaftApplied, float64(r.AppliedIndex()))

	c.mu.Lock()
	defer c.mu.Unlock()
	c.srv.FSM().Read(func(s *fsm.State) {
		gauge(ch, descTenants, float64(len(s.Tenants)))
		gauge(ch, descGroups, float64(len(s.Groups)))
		byStateCloud := map[[2]string]int{}
		for _, i := range s.Instances {
			byStateCloud[[2]string{string(i.State), i.Cloud}]++
		}
		for k, n := range byStateCloud {
			gauge(ch, descInstances, float64(n), k[0], k[1])
		}
		for _, g := range s.AllGroups() {
			gauge(ch, descDesired, float64(g.Desired), g.Tenant, g.Name)
			gauge(ch, descLive, float64(s.LiveCount(g.Tenant, g.Name)), g.Tenant, g.Name)
			gauge(ch, descMin, float64(g.Min), g.Tenant, g.Name)
			gauge(ch, descMax, float64(g.Max), g.Tenant, g.Name)
			susp := 0.0
			if g.Suspended {
				susp = 1
			}
			gauge(ch, descSuspended, susp, g.Tenant, g.Name)
			if mape, last, ok := forecastError(s.Metrics[fsm.GroupKey(g.Tenant, g.Name)]); ok {
				gauge(ch, descForecastErr, mape, g.Tenant, g.Name)
				gauge(ch, descForecastLast, last, g.Tenant, g.Name)
			}
		}
		// Count the activity entries appended since the last scrape.
		for _, e := range s.ActivityLog(fsm.ActivityFilter{AfterSeq: c.lastSeq}) {
			c.lastSeq = e.Seq
			c.kinds[e.Kind]++
			if e.Kind != "scale" {
				continue
			}
			k := [2]string{e.Policy, Direction(e.From, e.To)}
			c.decisions[k]++
			if e.From != e.To {
				c.actions[k]++
			}
		}
	})
	for k, v := range c.decisions {
		ch <- prometheus.MustNewConstMetric(descDecisions, prometheus.CounterValue, v, k[0], k[1])
	}
	for k, v := range c.actions {
		ch <- prometheus.MustNewConstMetric(descActions, prometheus.CounterValue, v, k[0], k[1])
	}
	for k, v := range c.kinds {
		ch <- prometheus.MustNewConstMetric(descActivity, prometheus.CounterValue, v, k)
	}
}

// forecastError compares the forecasts carried by the most recent points
// with the total load observed at the same evaluation (avg_cpu ×
// instances): the mean absolute percentage error over up to
// forecastWindow points, and the absolute error of the newest one.
func forecastError(points []fsm.MetricPoint) (mape, last float64, ok bool) {
	n, sum := 0, 0.0
	for i, seen := len(points)-1, 0; i >= 0 && seen < forecastWindow; i-- {
		p := points[i]
		if p.Forecast == nil {
			continue
		}
		actual := p.AvgCPU * float64(p.Instances)
		diff := math.Abs(*p.Forecast - actual)
		if !ok {
			last, ok = diff, true
		}
		seen++
		if actual > 0 {
			sum += diff / actual
			n++
		}
	}
	if n > 0 {
		mape = sum / float64(n)
	}
	return mape, last, ok
}

func (a *API) metricsHandler() http.Handler {
	return promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{ErrorLog: nil, Registry: a.reg})
}
