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
	lq, err := parseLogQuery(newFlagSet(name, stderr), args, "csv", "output format: csv or json")
	if err != nil {
		return err
	}
	switch lq.format {
	case "csv":
		return lq.writeCSV(stdout, lq.client.MetricsCSV)
	case "json":
		ctx, cancel := requestContext()
		defer cancel()
		ex, err := lq.client.MetricsExport(ctx, lq.query)
		if err != nil {
			return err
		}
		return printJSON(stdout, ex)
	}
	fmt.Fprintf(stderr, "ctl %s: -format %q: want csv or json\n", name, lq.format)
	return errUsage
}
