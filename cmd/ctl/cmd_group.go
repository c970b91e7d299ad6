package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"aas/cluster/northbound/wire"
)

func init() {
	register("group", "manage scaling groups: group scale TENANT/GROUP N, group suspend|resume TENANT/GROUP, group list", runGroup)
}

var groupSubs = map[string]subcommand{
	"scale":   {"scale [-reason R] TENANT/GROUP N   set the desired count manually (clamped to min/max)", runGroupScale},
	"suspend": {"suspend [-reason R] TENANT/GROUP   stop automatic scaling of the group", runGroupSuspend(true)},
	"resume":  {"resume [-reason R] TENANT/GROUP    resume automatic scaling", runGroupSuspend(false)},
	"list":    {"list [-tenant T]                   list the scaling groups", runGroupList},
}

func runGroup(args []string, stdout, stderr io.Writer) error {
	return runSub("group", groupSubs, []string{"scale", "suspend", "resume", "list"}, args, stdout, stderr)
}

// splitGroup parses TENANT/GROUP.
func splitGroup(stderr io.Writer, cmd, s string) (string, string, error) {
	t, g, ok := strings.Cut(s, "/")
	if !ok || t == "" || g == "" || strings.Contains(g, "/") {
		fmt.Fprintf(stderr, "ctl %s: %q: want TENANT/GROUP\n", cmd, s)
		return "", "", errUsage
	}
	return t, g, nil
}

func runGroupScale(name string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, stderr)
	addr := addressFlag(fs)
	reason := fs.String("reason", "", "why (recorded in the activity log)")
	pos, err := parseArgs(fs, args, 2, "TENANT/GROUP N")
	if err != nil {
		return err
	}
	t, g, err := splitGroup(stderr, name, pos[0])
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(pos[1])
	if err != nil || n < 0 {
		fmt.Fprintf(stderr, "ctl %s: N %q: want an instance count >= 0\n", name, pos[1])
		return errUsage
	}
	ctx, cancel := requestContext()
	defer cancel()
	res, err := apiClient(*addr).ScaleGroup(ctx, t, g, n, *reason)
	if err != nil {
		return err
	}
	if res.Desired != res.Requested {
		fmt.Fprintf(stdout, "group %s/%s: desired %d (requested %d, clamped to the group's min/max)\n", t, g, res.Desired, res.Requested)
		return nil
	}
	fmt.Fprintf(stdout, "group %s/%s: desired %d\n", t, g, res.Desired)
	return nil
}

func runGroupSuspend(suspend bool) func(string, []string, io.Writer, io.Writer) error {
	return func(name string, args []string, stdout, stderr io.Writer) error {
		fs := newFlagSet(name, stderr)
		addr := addressFlag(fs)
		reason := fs.String("reason", "", "why (recorded in the activity log)")
		pos, err := parseArgs(fs, args, 1, "TENANT/GROUP")
		if err != nil {
			return err
		}
		t, g, err := splitGroup(stderr, name, pos[0])
		if err != nil {
			return err
		}
		ctx, cancel := requestContext()
		defer cancel()
		grp, err := apiClient(*addr).SuspendGroup(ctx, t, g, suspend, *reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "group %s/%s: automatic scaling %s\n", t, g, scalingState(grp))
		return nil
	}
}

func scalingState(g wire.Group) string {
	switch {
	case g.Deleting:
		return "deleting"
	case g.Suspended:
		return "suspended"
	}
	return "active"
}

func runGroupList(name string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, stderr)
	addr := addressFlag(fs)
	tn := fs.String("tenant", "", "only this tenant's groups")
	if _, err := parseArgs(fs, args, 0, "no arguments"); err != nil {
		return err
	}
	ctx, cancel := requestContext()
	defer cancel()
	gs, err := apiClient(*addr).Groups(ctx, *tn)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tNETWORK\tMIN\tMAX\tDESIRED\tLIVE\tSCALING\tLAST DECISION")
	for _, g := range gs {
		last := "-"
		if d := g.Cooldown.LastDecision; d != nil {
			last = fmt.Sprintf("%s %d→%d (%s)", d.Time.UTC().Format("2006-01-02T15:04:05Z"), d.From, d.To, d.Source)
		}
		fmt.Fprintf(tw, "%s/%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", g.Tenant, g.Name, g.Network, g.Min, g.Max, g.Desired, g.Live, scalingState(g), last)
	}
	if len(gs) == 0 {
		fmt.Fprintln(tw, "(none)\t\t\t\t\t\t\t")
	}
	return tw.Flush()
}
