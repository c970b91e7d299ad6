package main

import (
	"fmt"
	"io"
)

func init() {
	register("metrics", "export group metrics and instance load samples: metrics export [-tenant T] -format csv|json", runMetrics)
}

var metricsSubs = map[string]subcommand{
	"export": {"export [-tenant T] [-group G] [-since D] [-until D] -format csv|json", runMetricsExport},
}

func runMetrics(args []string, stdout, stderr io.Writer) error {
	return runSub("metrics", metricsSubs, []string{"export"}, args, stdout, stderr)
}

func runMetricsExport(name string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, stderr)
	addr := addressFlag(fs)
	q := logQueryFlags(fs)
	format := fs.String("format", "csv", "output format: csv or json")
	if _, err := parseArgs(fs, args, 0, "no arguments"); err != nil {
		return err
	}
	ctx, cancel := requestContext()
	defer cancel()
	c := apiClient(*addr)
	switch *format {
	case "csv":
		data, err := c.MetricsCSV(ctx, *q)
		if err != nil {
			return err
		}
		_, err = stdout.Write(data)
		return err
	case "json":
		ex, err := c.MetricsExport(ctx, *q)
		if err != nil {
			return err
		}
		return printJSON(stdout, ex)
	}
	fmt.Fprintf(stderr, "ctl %s: -format %q: want csv or json\n", name, *format)
	return errUsage
}
