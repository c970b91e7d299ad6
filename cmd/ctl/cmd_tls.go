package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"aas/cluster/tlsutil"
)

func init() {
	register("tls", "dev certificates: tls ca create -dir D | tls cert create -ca-dir D -name N -ip IP [-client]", runTLS)
}

// listFlag is a repeatable, comma-separated string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func runTLS(args []string, stdout, stderr io.Writer) error {
	usage := func() error {
		fmt.Fprintln(stderr, `Usage: ctl tls ca create -dir D [-name CN] [-days N]
       ctl tls cert create -ca-dir D -name N [-ip IP,...] [-dns NAME,...] [-client] [-days N] [-out DIR]`)
		return errUsage
	}
	if len(args) < 2 || args[1] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			usage()
			return flag.ErrHelp
		}
		return usage()
	}
	switch args[0] {
	case "ca":
		fs := newFlagSet("tls ca create", stderr)
		dir := fs.String("dir", "", "directory for ca.pem and ca-key.pem (created)")
		name := fs.String("name", "aas dev CA", "CA common name")
		days := fs.Int("days", int(tlsutil.DefaultCAValidity/(24*time.Hour)), "validity in days")
		if err := parseFlags(fs, args[2:]); err != nil {
			return err
		}
		if *dir == "" || fs.NArg() != 0 || *days <= 0 {
			fs.Usage()
			return errUsage
		}
		ca, err := tlsutil.GenerateCA(*name, time.Now(), time.Duration(*days)*24*time.Hour)
		if err != nil {
			return err
		}
		if err := ca.WriteCA(*dir); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s/%s and %s/%s (keep the key private)\n", *dir, tlsutil.CACertFile, *dir, tlsutil.CAKeyFile)
		return nil
	case "cert":
		fs := newFlagSet("tls cert create", stderr)
		caDir := fs.String("ca-dir", "", "directory of ca.pem and ca-key.pem")
		name := fs.String("name", "", "certificate name (common name; files NAME.pem, NAME-key.pem)")
		out := fs.String("out", "", "output directory (default -ca-dir)")
		client := fs.Bool("client", false, "client-only certificate (ctl, callers of the hypervisor API)")
		days := fs.Int("days", int(tlsutil.DefaultCertValidity/(24*time.Hour)), "validity in days")
		var ips, dns listFlag
		fs.Var(&ips, "ip", "IP address SAN (repeatable, comma-separated)")
		fs.Var(&dns, "dns", "DNS name SAN (repeatable, comma-separated)")
		if err := parseFlags(fs, args[2:]); err != nil {
			return err
		}
		if *caDir == "" || *name == "" || fs.NArg() != 0 || *days <= 0 {
			fs.Usage()
			return errUsage
		}
		opts := tlsutil.CertOptions{Name: *name, DNSNames: dns, Client: *client, Validity: time.Duration(*days) * 24 * time.Hour}
		for _, s := range ips {
			ip := net.ParseIP(s)
			if ip == nil {
				return fmt.Errorf("-ip %q: not an IP address", s)
			}
			opts.IPs = append(opts.IPs, ip)
		}
		ca, err := tlsutil.LoadCA(*caDir)
		if err != nil {
			return err
		}
		dir := *out
		if dir == "" {
			dir = *caDir
		}
		certFile, keyFile, err := ca.WriteCert(dir, opts, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s and %s\n", certFile, keyFile)
		return nil
	}
	return usage()
}
