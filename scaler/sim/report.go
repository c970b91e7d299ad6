package sim

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"aas/scaler"
	"aas/scaler/trace"
)

// PolicyReport is one policy's line in the JSON report (percentages 0–100).
type PolicyReport struct {
	Name           string  `json:"name"`
	ThetaU         float64 `json:"theta_u"`
	ThetaO         float64 `json:"theta_o"`
	TauU           float64 `json:"tau_u"`
	TauO           float64 `json:"tau_o"`
	Jitter         float64 `json:"jitter"`
	ElasticSpeedup float64 `json:"elastic_speedup"`
	InstanceHours  float64 `json:"instance_hours"`
	OverloadPct    float64 `json:"overload_pct"`
	Actions        int     `json:"actions"`
}

// Report is the JSON form of one simulation run.
type Report struct {
	Trace    string         `json:"trace"`
	Capacity float64        `json:"instance_capacity"`
	Policies []PolicyReport `json:"policies"`
}

// NewReport converts results into a Report.
func NewReport(traceName string, capacity float64, rs []Result) Report {
	r := Report{Trace: traceName, Capacity: capacity}
	for _, x := range rs {
		r.Policies = append(r.Policies, PolicyReport{
			Name: x.Name, ThetaU: x.Metrics.ThetaU, ThetaO: x.Metrics.ThetaO, TauU: x.Metrics.TauU, TauO: x.Metrics.TauO,
			Jitter: x.Metrics.Jitter, ElasticSpeedup: x.ElasticSpeedup, InstanceHours: x.InstanceHours,
			OverloadPct: x.OverloadPct, Actions: x.Actions,
		})
	}
	return r
}

// WriteJSON writes r as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

var header = []string{"policy", "tau_u_pct", "tau_o_pct", "theta_u_pct", "theta_o_pct", "instance_hours", "overload_pct", "actions", "jitter_per_h", "elastic_speedup"}

func (p PolicyReport) cells() []string {
	f := func(v float64, d int) string { return strconv.FormatFloat(v, 'f', d, 64) }
	return []string{p.Name, f(p.TauU, 2), f(p.TauO, 2), f(p.ThetaU, 2), f(p.ThetaO, 2), f(p.InstanceHours, 1),
		f(p.OverloadPct, 2), strconv.Itoa(p.Actions), f(p.Jitter, 2), f(p.ElasticSpeedup, 3)}
}

// WriteCSV writes one row per policy.
func (r Report) WriteCSV(w io.Writer) error {
	c := csv.NewWriter(w)
	_ = c.Write(append([]string{"trace"}, header...))
	for _, p := range r.Policies {
		_ = c.Write(append([]string{r.Trace}, p.cells()...))
	}
	c.Flush()
	return c.Error()
}

// WriteTable writes an aligned text table.
func (r Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "trace %s, instance capacity %.4g load units per step\n", r.Trace, r.Capacity)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	for _, p := range r.Policies {
		fmt.Fprintln(tw, strings.Join(p.cells(), "\t")+"\t")
	}
	return tw.Flush()
}

// WriteMarkdown writes a markdown section: the table and, when the report
// holds the default policy, its verdict against each baseline.
func (r Report) WriteMarkdown(w io.Writer) error {
	fmt.Fprintf(w, "### %s\n\ninstance capacity %.4g load units per trace step\n\n", r.Trace, r.Capacity)
	fmt.Fprintln(w, "| policy | τU % | τO % | θU % | θO % | instance-hours | overload % | actions | elastic speedup |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, p := range r.Policies {
		fmt.Fprintf(w, "| %s | %.2f | %.2f | %.2f | %.2f | %.1f | %.2f | %d | %.3f |\n",
			p.Name, p.TauU, p.TauO, p.ThetaU, p.ThetaO, p.InstanceHours, p.OverloadPct, p.Actions, p.ElasticSpeedup)
	}
	if vs := r.Judge(scaler.DefaultPolicyName, JudgedBaselines); len(vs) > 0 {
		fmt.Fprintln(w)
		for _, v := range vs {
			mark := "✗"
			if v.Win {
				mark = "✓"
			}
			fmt.Fprintf(w, "- %s default vs %s: %s\n", mark, v.Baseline, v.Why)
		}
	}
	fmt.Fprintln(w)
	return nil
}

// JudgedBaselines are the baselines the default policy must beat.
var JudgedBaselines = []string{"hpa", "aws-target", "reactive", "osm"}

// Verdict is the default policy's result against one baseline.
type Verdict struct {
	Trace, Baseline string
	Win             bool
	Why             string
}

// Beats reports the acceptance rule: lower τU than the baseline while
// spending at most 5% more instance-hours, or, with equal τU, at least 5%
// fewer instance-hours.
func Beats(p, b PolicyReport) (bool, string) {
	ratio := p.InstanceHours / b.InstanceHours
	why := fmt.Sprintf("τU %.2f vs %.2f, instance-hours ×%.3f", p.TauU, b.TauU, ratio)
	if math.Abs(p.TauU-b.TauU) < 1e-9 {
		return ratio <= 0.95, why
	}
	return p.TauU < b.TauU && ratio <= 1.05, why
}

// Judge compares policy with each named baseline present in r.
func (r Report) Judge(policy string, baselines []string) []Verdict {
	var me *PolicyReport
	for i := range r.Policies {
		if r.Policies[i].Name == policy {
			me = &r.Policies[i]
		}
	}
	if me == nil {
		return nil
	}
	var out []Verdict
	for _, b := range baselines {
		for _, p := range r.Policies {
			if p.Name == b {
				win, why := Beats(*me, p)
				out = append(out, Verdict{Trace: r.Trace, Baseline: b, Win: win, Why: why})
			}
		}
	}
	return out
}

// Options are the knobs of a comparison run (ctl simulate, the benchmark).
type Options struct {
	// Policy is the policy under test: a name (see scaler.Named) or a spec.
	PolicyName string
	PolicySpec *scaler.GroupSpec
	Baselines  []string
	// Capacity 0 = AutoCapacity.
	Capacity          float64
	BootDelay         time.Duration
	Interval          time.Duration
	TargetUtilization float64
	Min, Max          int
	Model             string
	Timeline          bool
	Progress          func(done, total int)
}

// Compare simulates the policy under test and the baselines on tr.
func Compare(tr *trace.Trace, o Options) ([]Result, float64, error) {
	capacity := o.Capacity
	if capacity <= 0 {
		capacity = AutoCapacity(tr)
	}
	no := scaler.NamedOptions{Target: o.TargetUtilization, LeadTime: o.BootDelay, Interval: o.Interval, Min: o.Min, Max: o.Max, Model: o.Model}
	var pols []Policy
	name := o.PolicyName
	if o.PolicySpec != nil {
		if name == "" {
			name = "policy"
		}
		pols = append(pols, Policy{Name: name, Spec: o.PolicySpec.Clone()})
	} else if name != "" {
		g, err := scaler.Named(name, no)
		if err != nil {
			return nil, 0, err
		}
		pols = append(pols, Policy{Name: name, Spec: g})
	}
	for _, b := range o.Baselines {
		if b == "" || b == name {
			continue
		}
		g, err := scaler.Named(b, no)
		if err != nil {
			return nil, 0, err
		}
		pols = append(pols, Policy{Name: b, Spec: g})
	}
	cfg := Config{Capacity: capacity, BootDelay: o.BootDelay, Interval: o.Interval, TargetUtilization: o.TargetUtilization,
		Min: o.Min, Max: o.Max, Timeline: o.Timeline, Progress: o.Progress}
	rs, err := RunAll(tr, pols, cfg)
	return rs, capacity, err
}
