package sim

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"aas/scaler"
)

// temporary exploration harness (deleted before hand-off)
func TestZZExplore(t *testing.T) {
	if os.Getenv("EXPLORE") == "" {
		t.Skip()
	}
	base := map[string][4][2]float64{ // hpa aws reactive osm: tauU, IH
		"nasa_http_1995.csv":       {{19.69, 28938}, {19.54, 27272.9}, {53.09, 25115.5}, {5.98, 35526.9}},
		"worldcup98.csv":           {{8.95, 10074}, {4.55, 10419.2}, {13.29, 10044.3}, {1.18, 18674.2}},
		"azure_functions_2019.csv": {{12.57, 853.9}, {7.08, 816}, {52.01, 771.9}, {4.79, 984.5}},
		"aws_elb_requests.csv":     {{35.66, 7040.2}, {29.91, 6070.5}, {34.16, 7743.4}, {25.72, 5292.9}},
	}
	cov, _ := strconv.ParseFloat(os.Getenv("COV"), 64)
	win, _ := strconv.Atoi(os.Getenv("WIN"))
	stab, _ := strconv.Atoi(os.Getenv("STAB"))
	var as []float64
	for _, x := range strings.Split(os.Getenv("A"), ",") {
		v, _ := strconv.ParseFloat(x, 64)
		if v > 0 {
			as = append(as, v)
		}
	}
	b, _ := strconv.ParseFloat(os.Getenv("B"), 64)
	phi, _ := strconv.ParseFloat(os.Getenv("PHI"), 64)
	if os.Getenv("GAM") != "" {
		scaler.QPGammas = []float64{0.5, 1}
	}
	if len(as) > 0 {
		scaler.SetQP(as, b, phi)
	}
	scaler.QPCycles, _ = strconv.Atoi(os.Getenv("CYC"))
	files := []string{"nasa_http_1995.csv", "worldcup98.csv", "azure_functions_2019.csv", "aws_elb_requests.csv"}
	if f := os.Getenv("FILES"); f != "" {
		files = strings.Split(f, ",")
	}
	for _, f := range files {
		tr := loadTrace(t, f)
		no := scaler.NamedOptions{Target: 0.7, LeadTime: 3 * time.Minute, Interval: time.Minute}
		g, _ := scaler.Named("default", no)
		if cov > 0 {
			g.Policies[0].Proactive.Coverage = cov
		}
		if win > 0 {
			g.Policies[0].Proactive.Window = scaler.Duration(time.Duration(win) * time.Minute)
		}
		if stab > 0 {
			g.ScaleInStabilization = scaler.Duration(time.Duration(stab) * time.Minute)
		}
		rs, _, err := Compare(tr, Options{PolicyName: "x", PolicySpec: &g, BootDelay: 3 * time.Minute, Interval: time.Minute, TargetUtilization: 0.7})
		if err != nil {
			t.Fatal(err)
		}
		r := rs[0]
		wins := ""
		for i, b := range base[f] {
			ok := r.Metrics.TauU < b[0] && r.InstanceHours <= 1.05*b[1]
			wins += fmt.Sprintf(" %v(%.3f)", map[bool]string{true: "W", false: "l"}[ok], r.InstanceHours/b[1])
			_ = i
		}
		fmt.Printf("%-26s tauU %6.2f IH %9.1f |%s\n", f, r.Metrics.TauU, r.InstanceHours, wins)
	}
}
