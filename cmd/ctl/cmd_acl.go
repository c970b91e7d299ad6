package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"

	"aas/cluster/acl"
	"aas/cluster/client"
	"aas/cluster/tlsutil"
)

// Environment variables of the secured client flags.
const (
	envToken  = "CTL_TOKEN"
	envCAFile = "CTL_CA_FILE"
)

func init() {
	register("acl", "ACL tokens: acl token create -tenant T|-management | list | delete ID | self", runACL)
}

// secureFlags are the connection flags of every client command: -address
// (then $CTL_ADDR), -token (then $CTL_TOKEN) and -ca-file (then
// $CTL_CA_FILE). The agent's HTTPS API does not ask for client
// certificates (ACL tokens authenticate API callers), so there are no
// client certificate flags.
type secureFlags struct {
	addr, token, caFile *string
}

// clientFlags remembers the -token and -ca-file flags that addressFlag
// registered, so that apiClient (which only gets the address) can use
// them. A ctl process runs one command; a command that parses a second
// FlagSet for its subcommand (ctl peers remove ...) adds to the list.
var clientFlags struct {
	mu   sync.Mutex
	name string
	regs []secureFlags
}

// addSecureFlags adds -address, -token and -ca-file to fs.
func addSecureFlags(fs *flag.FlagSet) secureFlags {
	sf := secureFlags{
		addr:   fs.String("address", "", "agent HTTP address (default $"+client.EnvAddress+" or "+client.DefaultAddress+"; host:port means https:// when a CA file is set)"),
		token:  fs.String("token", "", "ACL token (default $"+envToken+"; prefer the variable: flags show in ps)"),
		caFile: fs.String("ca-file", "", "CA certificate to verify an https agent (default $"+envCAFile+")"),
	}
	clientFlags.mu.Lock()
	defer clientFlags.mu.Unlock()
	if clientFlags.name == "" || !strings.HasPrefix(fs.Name(), clientFlags.name+" ") {
		clientFlags.name, clientFlags.regs = fs.Name(), nil
	}
	clientFlags.regs = append(clientFlags.regs, sf)
	return sf
}

// registeredSecurity returns the token and CA file given to the flags of
// the current command (the last non-empty value wins), or "".
func registeredSecurity() (token, caFile string) {
	clientFlags.mu.Lock()
	defer clientFlags.mu.Unlock()
	for _, r := range clientFlags.regs {
		if *r.token != "" {
			token = *r.token
		}
		if *r.caFile != "" {
			caFile = *r.caFile
		}
	}
	return token, caFile
}

// client builds an API client that sends the token and trusts the CA.
func (f secureFlags) client() (*client.Client, error) {
	return secureClient(*f.addr, *f.token, *f.caFile)
}

// secureClient resolves the address, token ($CTL_TOKEN) and CA file
// ($CTL_CA_FILE) and builds the API client. With a CA file, an address
// without a scheme is https.
func secureClient(addr, token, caFile string) (*client.Client, error) {
	if token == "" {
		token = os.Getenv(envToken)
	}
	if caFile == "" {
		caFile = os.Getenv(envCAFile)
	}
	addr = client.ResolveAddress(addr)
	var tlsCfg *tls.Config
	if caFile != "" {
		cfg, err := tlsutil.ClientConfig(tlsutil.Files{CAFile: caFile})
		if err != nil {
			return nil, fmt.Errorf("-ca-file: %w", err)
		}
		tlsCfg = cfg
		if !strings.Contains(addr, "://") {
			addr = "https://" + addr
		}
	}
	return client.New(addr).WithHTTPClient(acl.NewHTTPClient(token, tlsCfg)), nil
}

func runACL(args []string, stdout, stderr io.Writer) error {
	usage := func() error {
		fmt.Fprintln(stderr, `Usage: ctl acl token create (-tenant T | -management) [-description D]
       ctl acl token list
       ctl acl token delete ACCESSOR_ID
       ctl acl token self
Common flags: -address A, -token T (or $`+envToken+`), -ca-file F (or $`+envCAFile+`)`)
		return errUsage
	}
	if len(args) < 2 || args[0] != "token" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			usage()
			return flag.ErrHelp
		}
		return usage()
	}
	sub := args[1]
	fs := newFlagSet("acl token "+sub, stderr)
	sf := addSecureFlags(fs)
	var tenant, desc *string
	var mgmt *bool
	if sub == "create" {
		tenant = fs.String("tenant", "", "make a token for this tenant only")
		mgmt = fs.Bool("management", false, "make a management token (all tenants, cluster operations)")
		desc = fs.String("description", "", "free text shown in the list")
	}
	if err := parseFlags(fs, args[2:]); err != nil {
		return err
	}
	c, err := sf.client()
	if err != nil {
		return err
	}
	ctx, cancel := requestContext()
	defer cancel()
	switch {
	case sub == "create" && fs.NArg() == 0:
		if *mgmt == (*tenant != "") {
			fmt.Fprintln(stderr, "ctl acl token create: give exactly one of -tenant T or -management")
			return errUsage
		}
		tok, err := acl.CreateToken(ctx, c, acl.CreateRequest{Management: *mgmt, Tenant: *tenant, Description: *desc})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "AccessorID:  %s\nSecretID:    %s\nScope:       %s\n", tok.AccessorID, tok.Secret, scope(tok.Token))
		fmt.Fprintln(stderr, "The secret is shown only now; store it safely.")
		return nil
	case sub == "list" && fs.NArg() == 0:
		toks, err := acl.ListTokens(ctx, c)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ACCESSOR\tSCOPE\tCREATED\tDESCRIPTION")
		for _, t := range toks {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.AccessorID, scope(t), t.Created.UTC().Format("2006-01-02T15:04:05Z"), t.Description)
		}
		return tw.Flush()
	case sub == "delete" && fs.NArg() == 1:
		if err := acl.DeleteToken(ctx, c, fs.Arg(0)); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted token %s\n", fs.Arg(0))
		return nil
	case sub == "self" && fs.NArg() == 0:
		id, err := acl.Self(ctx, c)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "AccessorID:  %s\nScope:       %s\n", id.AccessorID, scope(acl.Token{Management: id.Management, Tenant: id.Tenant}))
		return nil
	}
	return usage()
}

func scope(t acl.Token) string {
	if t.Management {
		return "management"
	}
	return "tenant " + t.Tenant
}
