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
