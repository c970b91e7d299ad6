package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"aas/cluster/client"
	"aas/cluster/northbound"
)

func init() {
	register("activity", "show the scaling activity log: activity [-tenant T] [-since D] [-format table|csv|json]", runActivity)
}

// logQuery is what the commands reading the activity log or the metric
// history share: the agent's client, the query and the output format.
type logQuery struct {
	client *client.Client
	query  client.LogQuery
	format string
}

// parseLogQuery declares -address (with the security flags), -tenant,
// -group, -since, -until and -format (default defFormat) on fs and parses
// args, which may hold no positional argument.
func parseLogQuery(fs *flag.FlagSet, args []string, defFormat, formatUsage string) (*logQuery, error) {
	addr := addressFlag(fs)
	var q client.LogQuery
	fs.StringVar(&q.Tenant, "tenant", "", "only this tenant")
	fs.StringVar(&q.Group, "group", "", "only this group")
	fs.StringVar(&q.Since, "since", "", "from this time (RFC 3339) or this long ago (e.g. 1h)")
	fs.StringVar(&q.Until, "until", "", "before this time (RFC 3339) or this long ago")
	format := fs.String("format", defFormat, formatUsage)
	if _, err := parseArgs(fs, args, 0, "no arguments"); err != nil {
		return nil, err
	}
	return &logQuery{client: apiClient(*addr), query: q, format: *format}, nil
}

// writeCSV copies the CSV that fetch returns for the query to stdout.
func (lq *logQuery) writeCSV(stdout io.Writer, fetch func(context.Context, client.LogQuery) ([]byte, error)) error {
	ctx, cancel := requestContext()
	defer cancel()
	data, err := fetch(ctx, lq.query)
	if err != nil {
		return err
	}
	_, err = stdout.Write(data)
	return err
}

func runActivity(args []string, stdout, stderr io.Writer) error {
	lq, err := parseLogQuery(newFlagSet("activity", stderr), args, "table", "output format: table, csv or json")
	if err != nil {
		return err
	}
	switch lq.format {
	case "csv":
		return lq.writeCSV(stdout, lq.client.ActivityCSV)
	case "json", "table":
	default:
		fmt.Fprintf(stderr, "ctl activity: -format %q: want table, csv or json\n", lq.format)
		return errUsage
	}
	ctx, cancel := requestContext()
	defer cancel()
	entries, err := lq.client.Activity(ctx, lq.query)
	if err != nil {
		return err
	}
	if lq.format == "json" {
		return printJSON(stdout, entries)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tGROUP\tCLOUD\tCHANGE\tPOLICY\tREASON")
	for _, e := range entries {
		grp := e.Tenant
		if e.Group != "" {
			grp += "/" + e.Group
		}
		change := "-"
		if e.Kind == "scale" {
			change = fmt.Sprintf("%d→%d", e.From, e.To)
		}
		cloud := e.Cloud
		if cloud == "" {
			cloud = "-"
		}
		reason := strings.ReplaceAll(e.Reason, "\n", " ")
		if in := northbound.FormatInputs(e.Inputs); in != "" {
			reason += " [" + in + "]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", northbound.FormatTime(e.Time), e.Kind, grp, cloud, change, e.Policy, reason)
	}
	if len(entries) == 0 {
		fmt.Fprintln(tw, "(none)\t\t\t\t\t\t")
	}
	return tw.Flush()
}
