package scaler

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// ErrUnknownPolicy is returned by Named for a name it does not know.
var ErrUnknownPolicy = errors.New("scaler: unknown policy name")

// NamedOptions parameterise the named policies.
type NamedOptions struct {
	// Target per-instance utilisation (the SLO), e.g. 0.7.
	Target float64
	// LeadTime is the provisioning lead time (boot delay).
	LeadTime time.Duration
	// Interval between evaluations; also the metric period.
	Interval time.Duration
	// Min and Max bound the group (0: min 1, max unbounded).
	Min, Max int
	// Model for predictive policies (default auto).
	Model string
}

func (o *NamedOptions) fill() {
	if o.Target <= 0 {
		o.Target = DefaultTarget
	}
	if o.LeadTime <= 0 {
		o.LeadTime = DefaultLeadTime
	}
	if o.Interval <= 0 {
		o.Interval = DefaultMetricPeriod
	}
	if o.Min <= 0 {
		o.Min = 1
	}
	if o.Max <= 0 {
		o.Max = 100000
	}
	if o.Model == "" {
		o.Model = DefaultForecastModel
	}
}

// DefaultPolicyName is the policy a group gets when it names none.
const DefaultPolicyName = "default"

func f64(v float64) *float64 { return &v }

var named = map[string]func(o NamedOptions) GroupSpec{
	// none: a fixed group (no policies).
	"none": func(o NamedOptions) GroupSpec { return GroupSpec{} },
	// reactive: the seed's formula on the average utilisation, cooldown 120 s.
	"reactive": func(o NamedOptions) GroupSpec {
		return GroupSpec{
			CooldownOut: Duration(DefaultCooldown), CooldownIn: Duration(DefaultCooldown),
			Policies: []Policy{{Name: "reactive", Reactive: &Reactive{Threshold: o.Target}}},
		}
	},
	// hpa: Kubernetes HPA defaults — tolerance 0.1, no cooldown, scale-down
	// stabilisation 300 s, scale-up at most max(4 pods, 100%) per sync.
	"hpa": func(o NamedOptions) GroupSpec {
		return GroupSpec{
			CooldownOut: -1, CooldownIn: -1,
			ScaleInStabilization: Duration(300 * time.Second),
			MaxStepOut:           4, MaxStepOutPercent: 100,
			Policies: []Policy{{Name: "hpa", Target: &TargetTracking{Target: o.Target, Tolerance: f64(0.1)}}},
		}
	},
	// aws-target: AWS target tracking defaults — the scale-out alarm needs 3
	// consecutive 1-min datapoints above the target, the scale-in alarm 15
	// below 90% of it; instance warm-up 300 s; scale-in cooldown 300 s.
	"aws-target": func(o NamedOptions) GroupSpec {
		return GroupSpec{
			CooldownOut: -1, CooldownIn: Duration(300 * time.Second),
			ThresholdTimeOut: Duration(3 * time.Minute), ThresholdTimeIn: Duration(15 * time.Minute),
			WarmUp: Duration(300 * time.Second),
			Policies: []Policy{{Name: "aws-target", Target: &TargetTracking{Target: o.Target,
				Tolerance: f64(0), ScaleInTolerance: f64(0.1)}}},
		}
	},
	// osm: OSM's stock autoscaling as in its autoscaling sample VNFD — one
	// alarm per threshold (scale out above 80%, in below 20% of the CPU,
	// mapped here to the target and a quarter of it), threshold-time 10 s,
	// cooldown-time 120 s, one VDU per scaling action.
	"osm": func(o NamedOptions) GroupSpec {
		return GroupSpec{
			CooldownOut: Duration(DefaultCooldown), CooldownIn: Duration(DefaultCooldown),
			ThresholdTimeOut: Duration(10 * time.Second), ThresholdTimeIn: Duration(10 * time.Second),
			Policies: []Policy{{Name: "osm", Simple: &SimpleScaling{ScaleOutThreshold: o.Target,
				ScaleInThreshold: o.Target / 4, OutAdjustment: 1, InAdjustment: 1}}},
		}
	},
	// proactive: the trend of the total load extrapolated over the lead time.
	"proactive": func(o NamedOptions) GroupSpec {
		return GroupSpec{
			CooldownOut: Duration(DefaultCooldown), CooldownIn: Duration(DefaultCooldown),
			Policies: []Policy{{Name: "proactive", Proactive: &Proactive{Target: o.Target, Window: Duration(10 * time.Minute)}}},
		}
	},
	// predictive: the OSM predictive autoscaler — forecast of the total load
	// over the lead time → ceil(forecast / target), cooldown 120 s.
	"predictive": func(o NamedOptions) GroupSpec {
		return GroupSpec{
			CooldownOut: Duration(DefaultCooldown), CooldownIn: Duration(DefaultCooldown),
			Policies: []Policy{{Name: "predictive", Predictive: &Predictive{Model: o.Model, Target: o.Target, Bound: "mean"}}},
		}
	},
	DefaultPolicyName: defaultPolicy,
}

// Default policy knobs: the coverage target (the cost/SLO trade-off) and the
// calibration window of the error quantiles, in evaluations.
const (
	defaultCoverage    = 0.78
	defaultCalibration = 240
)

// defaultPolicy is what a group gets when it names none; see DESIGN.md.
func defaultPolicy(o NamedOptions) GroupSpec {
	return GroupSpec{
		CooldownOut: -1, CooldownIn: -1,
		Policies: []Policy{
			// Distribution-free headroom: the 80th percentile of the last 30
			// evaluations' load plus its upward trend over the lead time; where
			// the last 90 show a strong short cycle, the 80th percentile of
			// the same phase in past cycles, over the horizon.
			{Name: "lead", Proactive: &Proactive{Target: o.Target, Window: Duration(defaultCalibration * o.Interval), Coverage: defaultCoverage, CycleWindow: Duration(90 * o.Interval)}},
			// Never stay overloaded: at least enough instances for the load
			// just observed at 100% utilisation.
			{Name: "overload", Target: &TargetTracking{Target: 1, Tolerance: f64(0), ScaleInTolerance: f64(0)}},
		},
	}
}

// Named returns the named policy (none, reactive, hpa, aws-target, osm,
// proactive, predictive, default) as a normalized group spec.
func Named(name string, o NamedOptions) (GroupSpec, error) {
	mk, ok := named[name]
	if !ok {
		return GroupSpec{}, fmt.Errorf("%w %q (known: %v)", ErrUnknownPolicy, name, NamedPolicies())
	}
	o.fill()
	g := mk(o)
	g.Min, g.Max = o.Min, o.Max
	g.Target = o.Target
	g.LeadTime = Duration(o.LeadTime)
	g.MetricPeriod = Duration(o.Interval)
	g.Normalize()
	return g, nil
}

// NamedPolicies lists the names Named knows, sorted.
func NamedPolicies() []string {
	out := make([]string, 0, len(named))
	for n := range named {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Baselines are the named policies the simulator compares the default with.
var Baselines = []string{"none", "reactive", "hpa", "aws-target", "osm", "proactive", "predictive"}
