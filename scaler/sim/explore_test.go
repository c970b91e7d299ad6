package sim

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"aas/scaler"
	"aas/scaler/trace"
)

func envf(k string, d float64) float64 {
	if v := os.Getenv(k); v != "" {
		f, _ := strconv.ParseFloat(v, 64)
		return f
	}
	return d
}

func TestExplore(t *testing.T) {
	if os.Getenv("SIMEXP") == "" {
		t.Skip()
	}
	files := []string{"nasa_http_1995", "worldcup98", "azure_functions_2019", "aws_elb_requests"}
	if f := os.Getenv("TRACES"); f != "" {
		files = []string{f}
	}
	for _, f := range files {
		tr, err := trace.ParseFile("/work/shared/traces/" + f + ".csv")
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Capacity: AutoCapacity(tr), BootDelay: 3 * time.Minute, Interval: time.Minute, TargetUtilization: 0.7,
			RefitEvery: int(envf("REFIT", 240)), FitWindow: int(envf("FITWIN", 1440))}
		var pols []Policy
		opts := scaler.NamedOptions{Target: 0.7, LeadTime: 3 * time.Minute, Interval: time.Minute, Model: os.Getenv("MODEL")}
		names := []string{"reactive", "hpa", "aws-target", "osm"}
		if os.Getenv("BASE") == "" {
			names = nil
		}
		for _, n := range append([]string{"default"}, names...) {
			g, err := scaler.Named(n, opts)
			if err != nil {
				t.Fatal(err)
			}
			pols = append(pols, Policy{Name: n, Spec: g})
		}
		if os.Getenv("Q") != "" {
			iv := time.Minute
			g := scaler.GroupSpec{CooldownOut: -1, CooldownIn: -1, Target: 0.7, MetricPeriod: scaler.Duration(iv), LeadTime: scaler.Duration(3 * iv),
				ScaleInStabilization: scaler.Duration(time.Duration(envf("STAB", 0)) * iv)}
			if envf("NOLEAD", 0) == 0 {
				g.Policies = append(g.Policies, scaler.Policy{Name: "lead", Proactive: &scaler.Proactive{Target: 0.7, Window: scaler.Duration(time.Duration(envf("W", 60)) * iv), Quantile: envf("Q", 0.8)}})
			}
			if tt := envf("TT", 0); tt > 0 {
				tol := 0.0
				g.Policies = append(g.Policies, scaler.Policy{Name: "track", Target: &scaler.TargetTracking{Target: 0.7 * tt, Tolerance: &tol, ScaleInTolerance: &tol}})
			}
			if tw := envf("TW", 0); tw > 0 {
				g.Policies = append(g.Policies, scaler.Policy{Name: "trend", Proactive: &scaler.Proactive{Target: 0.7, Window: scaler.Duration(time.Duration(tw) * iv), Confidence: envf("TZ", 0)}})
			}
			if pz := envf("PZ", -1); pz >= 0 {
				g.Policies = append(g.Policies, scaler.Policy{Name: "pred", Predictive: &scaler.Predictive{Target: 0.7, Model: os.Getenv("MODEL"), Confidence: pz, Bound: "mean", Quantile: envf("PQ", 0)}})
			}
			g.Normalize()
			pols = append(pols, Policy{Name: "variant", Spec: g})
		}
		start := time.Now()
		res, err := RunAll(tr, pols, cfg)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("== %s (%s)\n", f, time.Since(start))
		for _, r := range res {
			fmt.Printf("%-11s tauU %6.2f tauO %6.2f thU %6.2f thO %6.2f ih %9.1f ovl %6.2f act %6d\n", r.Name, r.Metrics.TauU, r.Metrics.TauO, r.Metrics.ThetaU, r.Metrics.ThetaO, r.InstanceHours, r.OverloadPct, r.Actions)
		}
	}
}

func TestExploreWindows(t *testing.T) {
	if os.Getenv("SIMEXP") == "" {
		t.Skip()
	}
	for _, f := range []string{"nasa_http_1995", "worldcup98", "azure_functions_2019", "aws_elb_requests"} {
		full, err := trace.ParseFile("/work/shared/traces/" + f + ".csv")
		if err != nil {
			t.Fatal(err)
		}
		span := full.End() - full.Start()
		for _, frac := range [][2]float64{{0, 0.25}, {0.25, 0.5}, {0.5, 0.75}, {0.75, 1}} {
			tr := full.Window(full.Start()+int64(frac[0]*float64(span)), full.Start()+int64(frac[1]*float64(span)))
			rs, c, err := Compare(tr, Options{PolicyName: "default", Baselines: []string{"hpa", "aws-target", "reactive", "osm"}, BootDelay: 3 * time.Minute, Interval: time.Minute, TargetUtilization: 0.7, Capacity: AutoCapacity(full)})
			if err != nil {
				t.Fatal(err)
			}
			rep := NewReport(f, c, rs)
			line := fmt.Sprintf("%-22s %.2f-%.2f:", f, frac[0], frac[1])
			for _, v := range rep.Judge("default", JudgedBaselines) {
				mark := "-"
				if v.Win {
					mark = "W"
				}
				line += fmt.Sprintf(" %s %s(%s)", mark, v.Baseline, v.Why)
			}
			fmt.Println(line)
		}
	}
}
