package main

import (
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

// logQueryFlags adds -tenant, -group, -since, -until.
func logQueryFlags(fs interface {
	StringVar(p *string, name, value, usage string)
}) *client.LogQuery {
	var q client.LogQuery
	fs.StringVar(&q.Tenant, "tenant", "", "only this tenant")
	fs.StringVar(&q.Group, "group", "", "only this group")
	fs.StringVar(&q.Since, "since", "", "from this time (RFC 3339) or this long ago (e.g. 1h)")
	fs.StringVar(&q.Until, "until", "", "before this time (RFC 3339) or this long ago")
	return &q
}

func runActivity(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("activity", stderr)
	addr := addressFlag(fs)
	q := logQueryFlags(fs)
	format := fs.String("format", "table", "output format: table, csv or json")
	if _, err := parseArgs(fs, args, 0, "no arguments"); err != nil {
		return err
	}
	ctx, cancel := requestContext()
	defer cancel()
	c := apiClient(*addr)
	switch *format {
	case "csv":
		data, err := c.ActivityCSV(ctx, *q)
		if err != nil {
			return err
		}
		_, err = stdout.Write(data)
		return err
	case "json", "table":
	default:
		fmt.Fprintf(stderr, "ctl activity: -format %q: want table, csv or json\n", *format)
		return errUsage
	}
	entries, err := c.Activity(ctx, *q)
	if err != nil {
		return err
	}
	if *format == "json" {
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
