package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"

	"aas/cluster/client"
	"aas/cluster/tenant"
)

func init() {
	register("tenant", "manage tenants: tenant validate|apply|diff FILE, tenant get|delete NAME, tenant list", runTenant)
}

// errTenantRejected: the tenant file was rejected; the field errors were
// printed one per line.
var errTenantRejected = errors.New("tenant file rejected")

// subcommand is one verb of a command with verbs (tenant, group, instance).
type subcommand struct {
	usage string
	run   func(name string, args []string, stdout, stderr io.Writer) error
}

// runSub dispatches args[0] to its subcommand; no or an unknown verb
// prints the verbs and is a usage error.
func runSub(cmd string, subs map[string]subcommand, order []string, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		printSubs(stdout, cmd, subs, order)
		return flag.ErrHelp
	}
	if len(args) == 0 {
		printSubs(stderr, cmd, subs, order)
		return errUsage
	}
	sc, ok := subs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "ctl %s: unknown subcommand %q\n", cmd, args[0])
		printSubs(stderr, cmd, subs, order)
		return errUsage
	}
	return sc.run(cmd+" "+args[0], args[1:], stdout, stderr)
}

func printSubs(w io.Writer, cmd string, subs map[string]subcommand, order []string) {
	fmt.Fprintf(w, "Usage:\n")
	for _, n := range order {
		fmt.Fprintf(w, "  ctl %s %s\n", cmd, subs[n].usage)
	}
	fmt.Fprintln(w, "Flags go before or between the arguments; -address or $CTL_ADDR finds the agent.")
}

// parseArgs parses flags interleaved with positional arguments and checks
// that exactly want positional arguments remain.
func parseArgs(fs *flag.FlagSet, args []string, want int, names string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != want {
		fmt.Fprintf(fs.Output(), "%s: want %s, got %d argument(s)\n", fs.Name(), names, len(pos))
		return nil, errUsage
	}
	return pos, nil
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printRejection prints the "file:line: field: reason" lines of a rejected
// tenant file (local or from the agent) and returns errTenantRejected; any
// other error is returned as it is.
func printRejection(stderr io.Writer, file string, err error) error {
	var ce *client.Error
	switch {
	case errors.Is(err, tenant.ErrInvalid):
		fmt.Fprintln(stderr, err.Error())
	case errors.As(err, &ce) && (ce.Code == 400 || ce.Code == 409) && strings.HasPrefix(ce.Message, filepath.Base(file)+":"):
		fmt.Fprintln(stderr, ce.Message)
	default:
		return err
	}
	return errTenantRejected
}

const maxTenantFile = tenant.MaxFileSize

func readTenantFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTenantFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxTenantFile {
		return nil, fmt.Errorf("%s: file is larger than the limit of %d bytes", path, maxTenantFile)
	}
	return data, nil
}

var tenantSubs = map[string]subcommand{
	"validate": {"validate FILE                     check a tenant file offline (no agent needed)", runTenantValidate},
	"apply":    {"apply [-version N] FILE           create or update the tenant (one Raft command)", runTenantApply},
	"diff":     {"diff FILE                         show what applying FILE would change", runTenantDiff},
	"get":      {"get [-format yaml|json] NAME      show a tenant (secrets redacted)", runTenantGet},
	"list":     {"list                              list the tenants", runTenantList},
	"delete":   {"delete NAME                       delete a tenant (instances are drained)", runTenantDelete},
}

func runTenant(args []string, stdout, stderr io.Writer) error {
	return runSub("tenant", tenantSubs, []string{"validate", "apply", "diff", "get", "list", "delete"}, args, stdout, stderr)
}

func runTenantValidate(name string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, stderr)
	pos, err := parseArgs(fs, args, 1, "FILE")
	if err != nil {
		return err
	}
	spec, err := tenant.LoadFile(pos[0])
	if err != nil {
		return printRejection(stderr, pos[0], err)
	}
	fmt.Fprintf(stdout, "%s: valid (%s format): tenant %s, %d network(s), %d group(s)\n",
		pos[0], spec.Format, spec.Name, len(spec.Networks), len(spec.Groups))
	return nil
}

func runTenantApply(name string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, stderr)
	addr := addressFlag(fs)
	version := fs.Int64("version", -1, "expected current version of the tenant (0: must not exist; default: as the agent sees it)")
	pos, err := parseArgs(fs, args, 1, "FILE")
	if err != nil {
		return err
	}
	data, err := readTenantFile(pos[0])
	if err != nil {
		return err
	}
	ctx, cancel := requestContext()
	defer cancel()
	res, err := apiClient(*addr).ApplyTenant(ctx, pos[0], data, *version)
	if err != nil {
		return printRejection(stderr, pos[0], err)
	}
	if res.Created {
		// Every field is new: 'ctl tenant get' shows them.
		fmt.Fprintf(stdout, "tenant %s created: version %d\n", res.Tenant, res.Version)
		return nil
	}
	fmt.Fprintf(stdout, "tenant %s updated: version %d (%d change(s))\n", res.Tenant, res.Version, len(res.Changes))
	for _, c := range res.Changes {
		fmt.Fprintf(stdout, "  %s\n", c)
	}
	return nil
}

func runTenantDiff(name string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, stderr)
	addr := addressFlag(fs)
	pos, err := parseArgs(fs, args, 1, "FILE")
	if err != nil {
		return err
	}
	data, err := readTenantFile(pos[0])
	if err != nil {
		return err
	}
	spec, err := tenant.Parse(data, pos[0])
	if err != nil {
		return printRejection(stderr, pos[0], err)
	}
	ctx, cancel := requestContext()
	defer cancel()
	d, err := apiClient(*addr).DiffTenant(ctx, spec.Name, pos[0], data)
	if err != nil {
		return printRejection(stderr, pos[0], err)
	}
	switch {
	case !d.Exists:
		fmt.Fprintf(stdout, "tenant %s does not exist; applying creates it:\n", d.Tenant)
	case len(d.Changes) == 0:
		fmt.Fprintf(stdout, "tenant %s (version %d): no changes\n", d.Tenant, d.Version)
		return nil
	default:
		fmt.Fprintf(stdout, "tenant %s (version %d): %d change(s):\n", d.Tenant, d.Version, len(d.Changes))
	}
	for _, c := range d.Changes {
		fmt.Fprintf(stdout, "  %s\n", c)
	}
	return nil
}

func runTenantGet(name string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, stderr)
	addr := addressFlag(fs)
	format := fs.String("format", "yaml", "output format: yaml or json")
	pos, err := parseArgs(fs, args, 1, "NAME")
	if err != nil {
		return err
	}
	if *format != "yaml" && *format != "json" {
		fmt.Fprintf(stderr, "%s: -format %q: want yaml or json\n", fs.Name(), *format)
		return errUsage
	}
	ctx, cancel := requestContext()
	defer cancel()
	t, err := apiClient(*addr).Tenant(ctx, pos[0])
	if err != nil {
		return err
	}
	if *format == "json" {
		return printJSON(stdout, t)
	}
	fmt.Fprintf(stdout, "# tenant %s, version %d, updated %s\n", t.Name, t.Version, t.Updated.UTC().Format("2006-01-02T15:04:05Z"))
	if t.Deleting {
		fmt.Fprintln(stdout, "# being deleted")
	}
	enc := yaml.NewEncoder(stdout)
	enc.SetIndent(2)
	if err := enc.Encode(t.Spec); err != nil {
		return err
	}
	return enc.Close()
}

func runTenantList(name string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, stderr)
	addr := addressFlag(fs)
	if _, err := parseArgs(fs, args, 0, "no arguments"); err != nil {
		return err
	}
	ctx, cancel := requestContext()
	defer cancel()
	ts, err := apiClient(*addr).Tenants(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tVERSION\tPUBLIC IP\tNETWORKS\tGROUPS\tSTATE")
	for _, t := range ts {
		state := "active"
		if t.Deleting {
			state = "deleting"
		}
		pub := t.PublicIP
		if pub == "" {
			pub = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", t.Name, t.Version, pub, strings.Join(t.Networks, ","), strings.Join(t.Groups, ","), state)
	}
	if len(ts) == 0 {
		fmt.Fprintln(tw, "(none)\t\t\t\t\t")
	}
	return tw.Flush()
}

func runTenantDelete(name string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet(name, stderr)
	addr := addressFlag(fs)
	pos, err := parseArgs(fs, args, 1, "NAME")
	if err != nil {
		return err
	}
	ctx, cancel := requestContext()
	defer cancel()
	if err := apiClient(*addr).DeleteTenant(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tenant %s: deletion requested (instances drain first)\n", pos[0])
	return nil
}
