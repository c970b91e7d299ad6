package scaler

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrInvalidSpec is wrapped by every validation error of a GroupSpec or Policy.
var ErrInvalidSpec = errors.New("scaler: invalid spec")

// Default values applied by GroupSpec.Normalize.
const (
	DefaultCooldown      = 120 * time.Second
	DefaultTolerance     = 0.1
	DefaultTarget        = 0.6
	DefaultMetric        = MetricCPU
	DefaultLeadTime      = 3 * time.Minute
	DefaultMetricPeriod  = time.Minute
	DefaultTrendWindow   = 10 * time.Minute
	DefaultForecastModel = "auto"
)

// Metric names the per-instance metric a group scales on.
type Metric string

// Metrics a group can scale on.
const (
	MetricCPU    Metric = "cpu"    // utilisation, 0..1 (1 = 100%) per instance
	MetricMemory Metric = "memory" // utilisation, 0..1 per instance
	MetricRPS    Metric = "rps"    // requests per second per instance
	MetricCustom Metric = "custom" // any per-instance gauge
)

// Duration is a time.Duration that reads and writes as "90s", "2m" (or a
// plain number of seconds) in JSON and YAML.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalJSON accepts "90s" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var f float64
		if err2 := json.Unmarshal(b, &f); err2 != nil {
			return fmt.Errorf("duration: want \"90s\" or seconds, got %s", b)
		}
		*d = Duration(f * float64(time.Second))
		return nil
	}
	return d.parse(s)
}

// UnmarshalYAML accepts "90s" or a number of seconds.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: duration: want a scalar", n.Line)
	}
	if err := d.parse(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

func (d *Duration) parse(s string) error {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		*d = Duration(f * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// GroupSpec is a scaling group's bounds, guards and policies. One definition
// is shared by the CLI, tenant files, the cluster leader and the simulator.
// Zero fields take the documented defaults in Normalize.
type GroupSpec struct {
	// Min and Max bound the instance count (hard guards).
	Min int `json:"min" yaml:"min"`
	Max int `json:"max" yaml:"max"`
	// Metric the dynamic policies read (cpu, memory, rps, custom); default cpu.
	Metric Metric `json:"metric,omitempty" yaml:"metric,omitempty"`
	// Target is the per-instance threshold/target of Metric (cpu: 0.6 = 60%).
	// Policies that leave their own threshold at zero use it. Default 0.6.
	Target float64 `json:"target,omitempty" yaml:"target,omitempty"`
	// MetricPeriod is the averaging period of the metric ("load avg over
	// 5 min" in the seed). Default 1 min.
	MetricPeriod Duration `json:"metric_period,omitempty" yaml:"metric_period,omitempty"`
	// CooldownOut blocks a scale-out for this long after the last scale-out;
	// CooldownIn blocks a scale-in after any scaling action. Default 120 s each;
	// a negative value disables the cooldown.
	CooldownOut Duration `json:"cooldown_out,omitempty" yaml:"cooldown_out,omitempty"`
	CooldownIn  Duration `json:"cooldown_in,omitempty" yaml:"cooldown_in,omitempty"`
	// ThresholdTimeOut / ThresholdTimeIn: a scale-out (scale-in) is only
	// taken when the policies have asked for it continuously for this long.
	ThresholdTimeOut Duration `json:"threshold_time_out,omitempty" yaml:"threshold_time_out,omitempty"`
	ThresholdTimeIn  Duration `json:"threshold_time_in,omitempty" yaml:"threshold_time_in,omitempty"`
	// ScaleInStabilization: scale in only to the highest recommendation of
	// this window (Kubernetes HPA's stabilizationWindowSeconds).
	ScaleInStabilization Duration `json:"scale_in_stabilization,omitempty" yaml:"scale_in_stabilization,omitempty"`
	// WarmUp: instances younger than this are left out of the metric average.
	WarmUp Duration `json:"warm_up,omitempty" yaml:"warm_up,omitempty"`
	// MaxStepOut / MaxStepIn cap the instances added (removed) by one
	// decision; 0 = no cap. MaxStepOutPercent additionally allows up to that
	// percentage of the current count when it is larger (HPA: max(4, 100%)).
	MaxStepOut        int     `json:"max_step_out,omitempty" yaml:"max_step_out,omitempty"`
	MaxStepOutPercent float64 `json:"max_step_out_percent,omitempty" yaml:"max_step_out_percent,omitempty"`
	MaxStepIn         int     `json:"max_step_in,omitempty" yaml:"max_step_in,omitempty"`
	// LeadTime is the provisioning lead time (boot to ready) that proactive
	// and predictive policies look ahead over. Default 3 min.
	LeadTime Duration `json:"lead_time,omitempty" yaml:"lead_time,omitempty"`
	// Policies are combined as the seed's custom policy: scheduled slots set
	// the floor; among dynamic policies scale out if any asks, scale in only
	// if all agree (the highest recommendation wins).
	Policies []Policy `json:"policies" yaml:"policies"`
}

// Kind names a policy type.
type Kind string

// Policy kinds.
const (
	KindScheduled  Kind = "scheduled"
	KindReactive   Kind = "reactive"
	KindTarget     Kind = "target"
	KindStep       Kind = "step"
	KindSimple     Kind = "simple"
	KindProactive  Kind = "proactive"
	KindPredictive Kind = "predictive"
	// KindCustom is reported for a group that has scheduled and dynamic
	// policies together.
	KindCustom Kind = "custom"
	// KindNone is reported for a group without policies (fixed size).
	KindNone Kind = "none"
)

// Policy is one scaling rule; exactly one of its blocks is set.
type Policy struct {
	// Name identifies the policy in decisions; default: its kind and index.
	Name       string          `json:"name,omitempty" yaml:"name,omitempty"`
	Scheduled  *Scheduled      `json:"scheduled,omitempty" yaml:"scheduled,omitempty"`
	Reactive   *Reactive       `json:"reactive,omitempty" yaml:"reactive,omitempty"`
	Target     *TargetTracking `json:"target,omitempty" yaml:"target,omitempty"`
	Step       *StepScaling    `json:"step,omitempty" yaml:"step,omitempty"`
	Simple     *SimpleScaling  `json:"simple,omitempty" yaml:"simple,omitempty"`
	Proactive  *Proactive      `json:"proactive,omitempty" yaml:"proactive,omitempty"`
	Predictive *Predictive     `json:"predictive,omitempty" yaml:"predictive,omitempty"`
}

// Kind reports which block is set ("" when none or several are).
func (p Policy) Kind() Kind {
	var k Kind
	n := 0
	set := func(b bool, kk Kind) {
		if b {
			n++
			k = kk
		}
	}
	set(p.Scheduled != nil, KindScheduled)
	set(p.Reactive != nil, KindReactive)
	set(p.Target != nil, KindTarget)
	set(p.Step != nil, KindStep)
	set(p.Simple != nil, KindSimple)
	set(p.Proactive != nil, KindProactive)
	set(p.Predictive != nil, KindPredictive)
	if n != 1 {
		return ""
	}
	return k
}

// Scheduled is a static policy: from every cron slot on, for Duration, the
// group needs at least Count instances. Each slot fires once, keyed by its
// start time (see Decision.Fired).
type Scheduled struct {
	// Cron is a 5-field cron expression (minute hour day-of-month month
	// day-of-week) with *, lists, ranges and steps.
	Cron     string   `json:"cron" yaml:"cron"`
	Duration Duration `json:"duration" yaml:"duration"`
	Count    int      `json:"count" yaml:"count"`
	// TimeZone is an IANA name (default UTC); resolved from the embedded
	// time zone database so every replica agrees.
	TimeZone string `json:"time_zone,omitempty" yaml:"time_zone,omitempty"`
}

// Reactive is the seed's dynamic policy: out = ceil((avg−threshold)/threshold
// × current), in = floor((in_threshold−avg)/in_threshold × current).
type Reactive struct {
	// Threshold of the averaged metric; 0 = the group's target.
	Threshold float64 `json:"threshold,omitempty" yaml:"threshold,omitempty"`
	// ScaleInThreshold, when set below Threshold, opens a dead band that
	// stops flapping; 0 = Threshold.
	ScaleInThreshold float64 `json:"scale_in_threshold,omitempty" yaml:"scale_in_threshold,omitempty"`
}

// TargetTracking is the Kubernetes HPA algorithm: desired = ceil(current ×
// metric / target), unless |metric/target − 1| ≤ tolerance.
type TargetTracking struct {
	// Target value of the metric; 0 = the group's target.
	Target float64 `json:"target,omitempty" yaml:"target,omitempty"`
	// Tolerance for scaling out (default 0.1) and in (default = Tolerance).
	Tolerance        *float64 `json:"tolerance,omitempty" yaml:"tolerance,omitempty"`
	ScaleInTolerance *float64 `json:"scale_in_tolerance,omitempty" yaml:"scale_in_tolerance,omitempty"`
}

// AdjustmentType says how a step/simple adjustment is applied.
type AdjustmentType string

// Adjustment types (AWS names).
const (
	ChangeInCapacity        AdjustmentType = "change_in_capacity"
	ExactCapacity           AdjustmentType = "exact_capacity"
	PercentChangeInCapacity AdjustmentType = "percent_change_in_capacity"
)

// StepAdjustment applies when lower ≤ metric − threshold < upper (nil bound
// = unbounded on that side).
type StepAdjustment struct {
	Lower      *float64 `json:"lower,omitempty" yaml:"lower,omitempty"`
	Upper      *float64 `json:"upper,omitempty" yaml:"upper,omitempty"`
	Adjustment float64  `json:"adjustment" yaml:"adjustment"`
}

// StepScaling is AWS step scaling: the metric's distance from Threshold
// picks one step's adjustment (positive: out, negative: in).
type StepScaling struct {
	Threshold      float64          `json:"threshold,omitempty" yaml:"threshold,omitempty"`
	AdjustmentType AdjustmentType   `json:"adjustment_type,omitempty" yaml:"adjustment_type,omitempty"`
	Steps          []StepAdjustment `json:"steps" yaml:"steps"`
}

// SimpleScaling is AWS simple scaling / the OSM stock alarms: above
// ScaleOutThreshold add OutAdjustment, below ScaleInThreshold remove
// InAdjustment (then the cooldown applies).
type SimpleScaling struct {
	ScaleOutThreshold float64        `json:"scale_out_threshold,omitempty" yaml:"scale_out_threshold,omitempty"`
	ScaleInThreshold  float64        `json:"scale_in_threshold,omitempty" yaml:"scale_in_threshold,omitempty"`
	OutAdjustment     float64        `json:"out_adjustment,omitempty" yaml:"out_adjustment,omitempty"`
	InAdjustment      float64        `json:"in_adjustment,omitempty" yaml:"in_adjustment,omitempty"`
	AdjustmentType    AdjustmentType `json:"adjustment_type,omitempty" yaml:"adjustment_type,omitempty"`
}

// Proactive extrapolates the trend of the group's total load over the
// provisioning lead time: peak = level + max(0, slope)×horizon + z×σ, desired
// = ceil(peak / target). With Confidence 0 it is the plain trend policy.
type Proactive struct {
	Target float64 `json:"target,omitempty" yaml:"target,omitempty"`
	// Window of history the level, slope and noise are estimated on
	// (default 10 min).
	Window Duration `json:"window,omitempty" yaml:"window,omitempty"`
	// Horizon to look ahead; 0 = the group's lead time plus one metric period.
	Horizon Duration `json:"horizon,omitempty" yaml:"horizon,omitempty"`
	// Confidence z: margin in standard deviations of the one-period load
	// change, scaled by √(horizon/period). 0 = no margin.
	Confidence float64 `json:"confidence,omitempty" yaml:"confidence,omitempty"`
	// Quantile q in (0, 1): when set, the level is the q-quantile of the
	// window's load instead of its latest value, and Confidence is ignored —
	// a distribution-free margin that covers noise, spikes and short cycles.
	Quantile float64 `json:"quantile,omitempty" yaml:"quantile,omitempty"`
	// CycleWindow, when set (quantile mode), looks for a short cycle (a
	// period of 2 to CycleWindow/4 metric periods, e.g. timer-driven jobs
	// every 15 min) in the load's changes over this window; when one stands
	// out, the level for each step of the horizon is the q-quantile of the
	// same phase in the past cycles instead of the whole window's.
	CycleWindow Duration `json:"cycle_window,omitempty" yaml:"cycle_window,omitempty"`
	// Coverage p in (0, 1): when set, quantile provisioning (quantile.go) —
	// size for the p-quantile of the load's conditional distribution over
	// the horizon: a level/damped-trend (and short-cycle) point forecast
	// plus the empirical p-quantile of its recent standardised errors at
	// each step of the horizon, calibrated on Window. Quantile and
	// Confidence are then ignored.
	Coverage float64 `json:"coverage,omitempty" yaml:"coverage,omitempty"`
}

// Predictive sizes the group for a forecast of its total load over the lead
// time: desired = ceil(forecast / target) (the OSM predictive autoscaler).
// The caller fits Model on the group's history and passes Input.Forecast.
type Predictive struct {
	// Model names the forecaster (holt-winters, arima, lstm, seasonal-naive,
	// naive, linear, auto); default auto. Switchable at run time.
	Model  string  `json:"model,omitempty" yaml:"model,omitempty"`
	Target float64 `json:"target,omitempty" yaml:"target,omitempty"`
	// Bound: "mean" sizes for the forecast mean, "upper" for the upper end of
	// its interval (default upper).
	Bound string `json:"bound,omitempty" yaml:"bound,omitempty"`
	// Horizon to look ahead; 0 = the group's lead time plus one metric period.
	Horizon Duration `json:"horizon,omitempty" yaml:"horizon,omitempty"`
	// Confidence z, used instead of Bound when > 0: size for mean + z×σ,
	// σ read from the forecast's ~95% band as (upper − mean)/1.96.
	Confidence float64 `json:"confidence,omitempty" yaml:"confidence,omitempty"`
	// Quantile q in (0, 1), used first when > 0 and the forecast carries
	// errors: size for the forecast peak plus the q-quantile of the
	// forecaster's recent peak errors (an empirical, conformal bound).
	Quantile float64 `json:"quantile,omitempty" yaml:"quantile,omitempty"`
}

// Normalize fills zero fields with their defaults, in place, and returns g.
func (g *GroupSpec) Normalize() *GroupSpec {
	if g.Metric == "" {
		g.Metric = DefaultMetric
	}
	if g.Target == 0 {
		g.Target = DefaultTarget
	}
	if g.MetricPeriod == 0 {
		g.MetricPeriod = Duration(DefaultMetricPeriod)
	}
	if g.CooldownOut == 0 {
		g.CooldownOut = Duration(DefaultCooldown)
	}
	if g.CooldownIn == 0 {
		g.CooldownIn = Duration(DefaultCooldown)
	}
	if g.LeadTime == 0 {
		g.LeadTime = Duration(DefaultLeadTime)
	}
	for i := range g.Policies {
		p := &g.Policies[i]
		if p.Name == "" {
			p.Name = fmt.Sprintf("%s-%d", p.Kind(), i)
		}
		switch {
		case p.Reactive != nil:
			if p.Reactive.Threshold == 0 {
				p.Reactive.Threshold = g.Target
			}
			if p.Reactive.ScaleInThreshold == 0 {
				p.Reactive.ScaleInThreshold = p.Reactive.Threshold
			}
		case p.Target != nil:
			if p.Target.Target == 0 {
				p.Target.Target = g.Target
			}
			if p.Target.Tolerance == nil {
				t := DefaultTolerance
				p.Target.Tolerance = &t
			}
			if p.Target.ScaleInTolerance == nil {
				t := *p.Target.Tolerance
				p.Target.ScaleInTolerance = &t
			}
		case p.Step != nil:
			if p.Step.Threshold == 0 {
				p.Step.Threshold = g.Target
			}
			if p.Step.AdjustmentType == "" {
				p.Step.AdjustmentType = ChangeInCapacity
			}
		case p.Simple != nil:
			if p.Simple.ScaleOutThreshold == 0 {
				p.Simple.ScaleOutThreshold = g.Target
			}
			if p.Simple.AdjustmentType == "" {
				p.Simple.AdjustmentType = ChangeInCapacity
			}
			if p.Simple.OutAdjustment == 0 {
				p.Simple.OutAdjustment = 1
			}
			if p.Simple.InAdjustment == 0 {
				p.Simple.InAdjustment = 1
			}
		case p.Proactive != nil:
			if p.Proactive.Target == 0 {
				p.Proactive.Target = g.Target
			}
			if p.Proactive.Window == 0 {
				p.Proactive.Window = Duration(DefaultTrendWindow)
			}
			if p.Proactive.Horizon == 0 {
				p.Proactive.Horizon = g.LeadTime + g.MetricPeriod
			}
		case p.Predictive != nil:
			if p.Predictive.Model == "" {
				p.Predictive.Model = DefaultForecastModel
			}
			if p.Predictive.Target == 0 {
				p.Predictive.Target = g.Target
			}
			if p.Predictive.Bound == "" {
				p.Predictive.Bound = "upper"
			}
			if p.Predictive.Horizon == 0 {
				p.Predictive.Horizon = g.LeadTime + g.MetricPeriod
			}
		case p.Scheduled != nil:
			if p.Scheduled.TimeZone == "" {
				p.Scheduled.TimeZone = "UTC"
			}
		}
	}
	return g
}

// Kind reports the group's overall policy kind: none, the single kind of its
// policies, or custom when scheduled and dynamic policies are combined.
func (g *GroupSpec) Kind() Kind {
	if len(g.Policies) == 0 {
		return KindNone
	}
	var static, dynamic bool
	k := g.Policies[0].Kind()
	same := true
	for _, p := range g.Policies {
		if p.Kind() == KindScheduled {
			static = true
		} else {
			dynamic = true
		}
		if p.Kind() != k {
			same = false
		}
	}
	if static && dynamic {
		return KindCustom
	}
	if same {
		return k
	}
	return KindCustom
}

func invalid(field, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidSpec, field, fmt.Sprintf(format, a...))
}

// Validate checks a normalized spec and names the first bad field.
func (g *GroupSpec) Validate() error {
	switch {
	case g.Min < 0:
		return invalid("min", "must be ≥ 0, got %d", g.Min)
	case g.Max < 1:
		return invalid("max", "must be ≥ 1, got %d", g.Max)
	case g.Min > g.Max:
		return invalid("min", "%d is above max %d", g.Min, g.Max)
	case g.Target <= 0:
		return invalid("target", "must be > 0, got %g", g.Target)
	case g.MetricPeriod < 0:
		return invalid("metric_period", "must be ≥ 0")
	case g.ThresholdTimeOut < 0:
		return invalid("threshold_time_out", "must be ≥ 0")
	case g.ThresholdTimeIn < 0:
		return invalid("threshold_time_in", "must be ≥ 0")
	case g.ScaleInStabilization < 0:
		return invalid("scale_in_stabilization", "must be ≥ 0")
	case g.WarmUp < 0:
		return invalid("warm_up", "must be ≥ 0")
	case g.MaxStepOut < 0:
		return invalid("max_step_out", "must be ≥ 0")
	case g.MaxStepOutPercent < 0:
		return invalid("max_step_out_percent", "must be ≥ 0")
	case g.MaxStepIn < 0:
		return invalid("max_step_in", "must be ≥ 0")
	case g.LeadTime < 0:
		return invalid("lead_time", "must be ≥ 0")
	}
	switch g.Metric {
	case MetricCPU, MetricMemory, MetricRPS, MetricCustom:
	default:
		return invalid("metric", "unknown metric %q (want cpu, memory, rps or custom)", g.Metric)
	}
	names := map[string]bool{}
	for i, p := range g.Policies {
		f := fmt.Sprintf("policies[%d]", i)
		if names[p.Name] {
			return invalid(f+".name", "duplicate name %q", p.Name)
		}
		names[p.Name] = true
		if err := p.validate(f); err != nil {
			return err
		}
	}
	return nil
}

func (p *Policy) validate(f string) error {
	if p.Kind() == "" {
		return invalid(f, "exactly one of scheduled, reactive, target, step, simple, proactive, predictive must be set")
	}
	switch {
	case p.Scheduled != nil:
		s := p.Scheduled
		if _, err := ParseCron(s.Cron); err != nil {
			return invalid(f+".scheduled.cron", "%v", err)
		}
		if s.Duration <= 0 {
			return invalid(f+".scheduled.duration", "must be > 0")
		}
		if s.Count < 0 {
			return invalid(f+".scheduled.count", "must be ≥ 0")
		}
		if _, err := loadLocation(s.TimeZone); err != nil {
			return invalid(f+".scheduled.time_zone", "%v", err)
		}
	case p.Reactive != nil:
		r := p.Reactive
		if r.Threshold <= 0 {
			return invalid(f+".reactive.threshold", "must be > 0")
		}
		if r.ScaleInThreshold <= 0 || r.ScaleInThreshold > r.Threshold {
			return invalid(f+".reactive.scale_in_threshold", "must be in (0, threshold]")
		}
	case p.Target != nil:
		t := p.Target
		if t.Target <= 0 {
			return invalid(f+".target.target", "must be > 0")
		}
		if t.Tolerance == nil || *t.Tolerance < 0 || *t.Tolerance >= 1 {
			return invalid(f+".target.tolerance", "must be in [0, 1)")
		}
		if t.ScaleInTolerance == nil || *t.ScaleInTolerance < 0 || *t.ScaleInTolerance >= 1 {
			return invalid(f+".target.scale_in_tolerance", "must be in [0, 1)")
		}
	case p.Step != nil:
		s := p.Step
		if err := validAdjustment(s.AdjustmentType); err != nil {
			return invalid(f+".step.adjustment_type", "%v", err)
		}
		if len(s.Steps) == 0 {
			return invalid(f+".step.steps", "at least one step is required")
		}
		for j, st := range s.Steps {
			if st.Lower != nil && st.Upper != nil && *st.Lower >= *st.Upper {
				return invalid(fmt.Sprintf("%s.step.steps[%d].lower", f, j), "must be below upper")
			}
		}
	case p.Simple != nil:
		s := p.Simple
		if err := validAdjustment(s.AdjustmentType); err != nil {
			return invalid(f+".simple.adjustment_type", "%v", err)
		}
		if s.ScaleInThreshold < 0 || s.ScaleInThreshold > s.ScaleOutThreshold {
			return invalid(f+".simple.scale_in_threshold", "must be in [0, scale_out_threshold]")
		}
		if s.OutAdjustment < 0 || s.InAdjustment < 0 {
			return invalid(f+".simple.out_adjustment", "adjustments are magnitudes, must be ≥ 0")
		}
	case p.Proactive != nil:
		s := p.Proactive
		if s.Target <= 0 {
			return invalid(f+".proactive.target", "must be > 0")
		}
		if s.Window <= 0 {
			return invalid(f+".proactive.window", "must be > 0")
		}
		if s.Horizon < 0 {
			return invalid(f+".proactive.horizon", "must be ≥ 0")
		}
		if s.Confidence < 0 {
			return invalid(f+".proactive.confidence", "must be ≥ 0")
		}
		if s.Quantile < 0 || s.Quantile >= 1 {
			return invalid(f+".proactive.quantile", "must be in [0, 1)")
		}
		if s.CycleWindow < 0 {
			return invalid(f+".proactive.cycle_window", "must be ≥ 0")
		}
		if s.Coverage < 0 || s.Coverage >= 1 {
			return invalid(f+".proactive.coverage", "must be in [0, 1)")
		}
	case p.Predictive != nil:
		s := p.Predictive
		if s.Target <= 0 {
			return invalid(f+".predictive.target", "must be > 0")
		}
		if s.Bound != "mean" && s.Bound != "upper" {
			return invalid(f+".predictive.bound", "want mean or upper, got %q", s.Bound)
		}
		if s.Horizon < 0 {
			return invalid(f+".predictive.horizon", "must be ≥ 0")
		}
		if s.Confidence < 0 {
			return invalid(f+".predictive.confidence", "must be ≥ 0")
		}
		if s.Quantile < 0 || s.Quantile >= 1 {
			return invalid(f+".predictive.quantile", "must be in [0, 1)")
		}
	}
	return nil
}

func validAdjustment(t AdjustmentType) error {
	switch t {
	case ChangeInCapacity, ExactCapacity, PercentChangeInCapacity:
		return nil
	}
	return fmt.Errorf("unknown adjustment type %q", t)
}
