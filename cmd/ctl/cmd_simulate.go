package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"aas/scaler"
	"aas/scaler/chart"
	"aas/scaler/sim"
	"aas/scaler/trace"
)

func init() {
	register("simulate", "replay a trace through the scaling policies and score them", runSimulate)
}

func runSimulate(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simulate", stderr)
	tracePath := fs.String("trace", "", "trace file (CSV t,load)")
	policy := fs.String("policy", scaler.DefaultPolicyName, "policy under test: a YAML/JSON group spec FILE or a NAME ("+strings.Join(scaler.NamedPolicies(), ", ")+")")
	baselines := fs.String("baselines", strings.Join(scaler.Baselines, ","), "comma-separated baseline policies to compare with (empty: none)")
	capacity := fs.String("instance-capacity", "auto", "load units one instance serves per trace step at 100% (auto: the trace's p99 load / 30)")
	boot := fs.Duration("boot-delay", sim.DefaultBootDelay, "time from scale-out to a ready instance")
	interval := fs.Duration("interval", sim.DefaultInterval, "policy evaluation interval")
	target := fs.Float64("target-utilization", 0.7, "SLO: utilisation at or below this (defines demand)")
	minN := fs.Int("min", 0, "minimum instances (0: 1)")
	maxN := fs.Int("max", 0, "maximum instances (0: unbounded)")
	model := fs.String("model", "", "forecast model for predictive policies (default auto)")
	format := fs.String("format", "table", "output: table, json, csv or markdown")
	timeline := fs.String("timeline", "", "write the policy under test's timeline as CSV to FILE")
	chartPath := fs.String("chart", "", "write an SVG chart (load, capacity, forecast, actions) of the policy under test to FILE")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *tracePath == "" {
		fmt.Fprintln(stderr, "ctl simulate: -trace is required")
		fs.Usage()
		return errUsage
	}
	switch *format {
	case "table", "json", "csv", "markdown":
	default:
		return fmt.Errorf("%w: -format: want table, json, csv or markdown, got %q", errUsage, *format)
	}
	tr, err := trace.ParseFile(*tracePath)
	if err != nil {
		return err
	}
	o := sim.Options{BootDelay: *boot, Interval: *interval, TargetUtilization: *target, Min: *minN, Max: *maxN,
		Model: *model, Timeline: *timeline != "" || *chartPath != ""}
	if *capacity != "auto" {
		c, err := strconv.ParseFloat(*capacity, 64)
		if err != nil || !(c > 0) {
			return fmt.Errorf("%w: -instance-capacity: want a number > 0 or auto, got %q", errUsage, *capacity)
		}
		o.Capacity = c
	}
	if looksLikeFile(*policy) {
		data, err := os.ReadFile(*policy)
		if err != nil {
			return err
		}
		g, err := scaler.DecodeGroupSpec(data, *policy)
		if err != nil {
			return err
		}
		o.PolicySpec, o.PolicyName = &g, "policy"
	} else {
		o.PolicyName = *policy
	}
	for _, b := range strings.Split(*baselines, ",") {
		if b = strings.TrimSpace(b); b != "" {
			o.Baselines = append(o.Baselines, b)
		}
	}
	if f, ok := stderr.(*os.File); ok && isTerminal(f) {
		o.Progress = progressBar(stderr)
		defer fmt.Fprint(stderr, "\r\033[K")
	}
	rs, capUsed, err := sim.Compare(tr, o)
	if err != nil {
		return err
	}
	rep := sim.NewReport(filepath.Base(tr.Name), capUsed, rs)
	if *timeline != "" || *chartPath != "" {
		if err := writeArtifacts(rs[0], tr.Name, capUsed, *timeline, *chartPath); err != nil {
			return err
		}
	}
	switch *format {
	case "json":
		return rep.WriteJSON(stdout)
	case "csv":
		return rep.WriteCSV(stdout)
	case "markdown":
		return rep.WriteMarkdown(stdout)
	}
	return rep.WriteTable(stdout)
}

// looksLikeFile: a -policy value naming an existing file or ending in a
// spec file extension is read as a file; anything else is a policy name.
func looksLikeFile(s string) bool {
	for _, ext := range []string{".yaml", ".yml", ".json"} {
		if strings.HasSuffix(s, ext) {
			return true
		}
	}
	st, err := os.Stat(s)
	return err == nil && st.Mode().IsRegular()
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func progressBar(w io.Writer) func(done, total int) {
	last := -1
	return func(done, total int) {
		if total <= 0 {
			return
		}
		pct := done * 100 / total
		if pct == last {
			return
		}
		last = pct
		n := pct / 4
		fmt.Fprintf(w, "\r[%s%s] %3d%%", strings.Repeat("#", n), strings.Repeat(".", 25-n), pct)
	}
}

func writeArtifacts(r sim.Result, name string, capacity float64, timelinePath, chartPath string) error {
	if timelinePath != "" {
		f, err := os.Create(timelinePath)
		if err != nil {
			return err
		}
		werr := sim.WriteTimelineCSV(f, r.Timeline)
		if err := errors.Join(werr, f.Close()); err != nil {
			return fmt.Errorf("timeline %s: %w", timelinePath, err)
		}
	}
	if chartPath != "" {
		f, err := os.Create(chartPath)
		if err != nil {
			return err
		}
		werr := chart.Render(f, sim.TimelineChart(r, name, capacity))
		if err := errors.Join(werr, f.Close()); err != nil {
			return fmt.Errorf("chart %s: %w", chartPath, err)
		}
	}
	return nil
}
