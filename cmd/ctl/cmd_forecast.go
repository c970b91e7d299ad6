package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"aas/scaler/forecast"
	"aas/scaler/trace"
)

func init() {
	register("forecast", "evaluate load forecasters on a trace (forecast eval -trace FILE)", runForecast)
}

func runForecast(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "eval" {
		fmt.Fprintln(stderr, "Usage: ctl forecast eval -trace FILE [-aggregate 1h] [-span DUR] [-horizon N] [-season auto|none|N] [-models LIST] [-origins N] [-refit-every N] [-format table|json]")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil
		}
		return errUsage
	}
	return runForecastEval(args[1:], stdout, stderr)
}

// forecastEvalReport is the JSON output of `ctl forecast eval`.
type forecastEvalReport struct {
	Trace      string            `json:"trace"`
	Step       int64             `json:"step_seconds"`
	N          int               `json:"n"`
	Horizon    int               `json:"horizon"`
	Origins    int               `json:"origins"`
	RefitEvery int               `json:"refit_every"`
	Season     int               `json:"season"` // -1 none, 0 detected per fit
	Models     []forecast.Scores `json:"models"`
}

func runForecastEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("forecast eval", stderr)
	path := fs.String("trace", "", "trace CSV file (t,load)")
	aggregate := fs.Duration("aggregate", time.Hour, "sum the trace into buckets of this step (0: keep the trace's step)")
	span := fs.Duration("span", 0, "keep only the first DUR of the trace (0: all), e.g. 744h for 31 days")
	horizon := fs.Int("horizon", 6, "steps ahead: scores are reported for step 1 and step N")
	season := fs.String("season", "auto", "seasonal period in steps: auto (each fit detects it), none, or N")
	models := fs.String("models", "naive,seasonal-naive,linear,holt-winters,arima,auto", "comma-separated models, or all (known: "+strings.Join(forecast.Names(), ", ")+")")
	origins := fs.Int("origins", 0, "forecast origins at the end of the series (0: a fifth of the series)")
	refitEvery := fs.Int("refit-every", 1, "re-estimate the models every N origins (in between they only advance their state)")
	format := fs.String("format", "table", "output format: table or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	bad := func(format string, a ...any) error {
		fmt.Fprintf(stderr, "ctl forecast eval: "+format+"\n", a...)
		return errUsage
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected arguments %q", fs.Args())
	case *path == "":
		return bad("-trace is required")
	case *aggregate < 0 || *aggregate%time.Second != 0:
		return bad("-aggregate %v must be a whole number of seconds >= 0", *aggregate)
	case *span < 0:
		return bad("-span %v must be >= 0", *span)
	case *horizon < 1:
		return bad("-horizon %d must be >= 1", *horizon)
	case *origins < 0:
		return bad("-origins %d must be >= 0", *origins)
	case *refitEvery < 1:
		return bad("-refit-every %d must be >= 1", *refitEvery)
	case *format != "table" && *format != "json":
		return bad("-format %q must be table or json", *format)
	}
	seasonN := 0
	switch *season {
	case "auto":
	case "none":
		seasonN = -1
	default:
		v, err := strconv.Atoi(*season)
		if err != nil || v < 1 {
			return bad("-season %q must be auto, none or a period >= 1", *season)
		}
		if v == 1 {
			v = -1
		}
		seasonN = v
	}
	names := strings.Split(*models, ",")
	if *models == "all" {
		names = forecast.Names()
	}
	var fcs []forecast.Forecaster
	for _, n := range names {
		f, err := forecast.Get(strings.TrimSpace(n))
		if err != nil {
			return bad("-models: %v", err)
		}
		fcs = append(fcs, f)
	}

	tr, err := trace.ParseFile(*path)
	if err != nil {
		return err
	}
	if *span > 0 {
		tr = tr.Window(tr.Start(), tr.Start()+int64(*span/time.Second))
	}
	if step := int64(*aggregate / time.Second); step > 0 && step != tr.Step {
		if step < tr.Step || step%tr.Step != 0 {
			return bad("-aggregate %v must be a multiple of the trace's step (%ds)", *aggregate, tr.Step)
		}
		tr = tr.Resample(step)
	}
	y := tr.Loads()
	n := *origins
	if n == 0 {
		n = len(y) / 5
	}
	rep := forecastEvalReport{Trace: *path, Step: tr.Step, N: len(y), Horizon: *horizon, Origins: n, RefitEvery: *refitEvery, Season: seasonN}
	for _, f := range fcs {
		s, err := forecast.EvaluateWith(f, y, forecast.EvalOptions{Season: seasonN, Horizon: *horizon, Origins: n, RefitEvery: *refitEvery})
		if err != nil {
			s.Err = err.Error()
		}
		rep.Models = append(rep.Models, s)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return writeForecastTable(stdout, rep)
}

func writeForecastTable(w io.Writer, rep forecastEvalReport) error {
	seasonText := map[int]string{0: "detected per fit", -1: "none"}[rep.Season]
	if rep.Season > 0 {
		seasonText = strconv.Itoa(rep.Season)
	}
	scale := "n/a"
	if len(rep.Models) > 0 {
		scale = strconv.FormatFloat(rep.Models[0].Scale, 'g', 6, 64)
	}
	fmt.Fprintf(w, "trace %s: %d points of %ds, season %s\n", rep.Trace, rep.N, rep.Step, seasonText)
	fmt.Fprintf(w, "rolling origin: %d origins, horizon %d, refit every %d origin(s); MASE scale %s (lag-1 naive MAE before the first origin)\n\n",
		rep.Origins, rep.Horizon, rep.RefitEvery, scale)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	h := rep.Horizon
	if h == 1 {
		fmt.Fprintf(tw, "model\tMAE@1\tsMAPE@1\tMASE@1\t\n")
	} else {
		fmt.Fprintf(tw, "model\tMAE@1\tsMAPE@1\tMASE@1\tMAE@%d\tsMAPE@%d\tMASE@%d\t\n", h, h, h)
	}
	num := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	var notes []string
	for _, s := range rep.Models {
		if s.Err != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t", s.Model)
			if h > 1 {
				fmt.Fprint(tw, "-\t-\t-\t")
			}
			fmt.Fprintln(tw)
			notes = append(notes, fmt.Sprintf("%s: %s", s.Model, s.Err))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s%%\t%s\t", s.Model,
			num(s.OneStep.MAE, 1), num(s.OneStep.SMAPE, 2), num(s.OneStep.MASE, 4))
		if h > 1 {
			fmt.Fprintf(tw, "%s\t%s%%\t%s\t", num(s.HStep.MAE, 1), num(s.HStep.SMAPE, 2), num(s.HStep.MASE, 4))
		}
		fmt.Fprintln(tw)
		if len(s.Chosen) > 0 {
			var parts []string
			for _, k := range forecast.Names() {
				if c := s.Chosen[k]; c > 0 {
					parts = append(parts, fmt.Sprintf("%s %d", k, c))
				}
			}
			notes = append(notes, fmt.Sprintf("%s chose: %s", s.Model, strings.Join(parts, ", ")))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	return nil
}
