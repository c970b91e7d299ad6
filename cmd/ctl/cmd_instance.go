package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"aas/cluster/client"
)

func init() {
	register("instance", "instances: instance list [-tenant T] [-group G], instance protect|unprotect ID", runInstance)
}

var instanceSubs = map[string]subcommand{
	"list":      {"list [-tenant T] [-group G] [-cloud C] [-state S]   list instances", runInstanceList},
	"protect":   {"protect ID                                          protect an instance from scale-in", runInstanceProtect(true)},
	"unprotect": {"unprotect ID                                        remove the scale-in protection", runInstanceProtect(false)},
}

func runInstance(args []string, stdout, stderr io.Writer) error {
	return runSub("instance", instanceSubs, []string{"list", "protect", "unprotect"}, args, stdout, stderr)
}

func runInstanceList(name string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, stderr)
	addr := addressFlag(fs)
	var f client.InstanceFilter
	fs.StringVar(&f.Tenant, "tenant", "", "only this tenant's instances")
	fs.StringVar(&f.Group, "group", "", "only this group's instances")
	fs.StringVar(&f.Cloud, "cloud", "", "only instances in this cloud")
	fs.StringVar(&f.State, "state", "", "only instances in this lifecycle state (running, draining, ...)")
	if _, err := parseArgs(fs, args, 0, "no arguments"); err != nil {
		return err
	}
	ctx, cancel := requestContext()
	defer cancel()
	is, err := apiClient(*addr).Instances(ctx, f)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tGROUP\tCLOUD\tHYPERVISOR\tIP\tSTATE\tHEALTH\tPROTECTED\tSINCE")
	for _, i := range is {
		prot := "-"
		if i.Protected {
			prot = "yes"
		}
		hv := i.Hypervisor
		if hv == "" {
			hv = "-"
		}
		fmt.Fprintf(tw, "%s\t%s/%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.ID, i.Tenant, i.Group, i.Cloud, hv, i.IP, i.State, i.Health, prot,
			i.Since.UTC().Format("2006-01-02T15:04:05Z"))
	}
	if len(is) == 0 {
		fmt.Fprintln(tw, "(none)\t\t\t\t\t\t\t\t")
	}
	return tw.Flush()
}

func runInstanceProtect(protect bool) func(string, []string, io.Writer, io.Writer) error {
	return func(name string, args []string, stdout, stderr io.Writer) error {
		fs := newFlagSet(name, stderr)
		addr := addressFlag(fs)
		pos, err := parseArgs(fs, args, 1, "ID")
		if err != nil {
			return err
		}
		ctx, cancel := requestContext()
		defer cancel()
		inst, err := apiClient(*addr).ProtectInstance(ctx, pos[0], protect)
		if err != nil {
			return err
		}
		what := "not protected"
		if inst.Protected {
			what = "protected from scale-in"
		}
		fmt.Fprintf(stdout, "instance %s (%s/%s): %s\n", inst.ID, inst.Tenant, inst.Group, what)
		return nil
	}
}
