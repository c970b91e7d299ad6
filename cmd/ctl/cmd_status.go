package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"

	"aas/cluster/api"
	"aas/cluster/client"
)

func init() {
	register("status", "show the leader, the raft peers and the hypervisors with their liveness", runStatus)
}

// addressFlag adds -address, -token and -ca-file to a client command's
// flags (see secureFlags); apiClient resolves them into a client.
func addressFlag(fs *flag.FlagSet) *string { return addSecureFlags(fs).addr }

// apiClient is the client of every client command: the address (flag,
// then $CTL_ADDR, then the default), the ACL token (-token, then
// $CTL_TOKEN) and the CA that verifies an https agent (-ca-file, then
// $CTL_CA_FILE). A CA file that cannot be loaded makes every request of
// the client fail with that error.
func apiClient(addr string) *client.Client {
	token, caFile := registeredSecurity()
	c, err := secureClient(addr, token, caFile)
	if err != nil {
		return client.New(client.ResolveAddress(addr)).WithHTTPClient(&http.Client{Transport: failingTransport{err}})
	}
	return c
}

// failingTransport fails every request with err.
type failingTransport struct{ err error }

func (t failingTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, t.err }

// requestContext bounds a client command's requests.
func requestContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

func runStatus(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", stderr)
	addr := addressFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	c := apiClient(*addr)
	ctx, cancel := requestContext()
	defer cancel()
	leader, err := c.Leader(ctx)
	switch {
	case errors.Is(err, api.ErrNoLeader), errors.Is(err, api.ErrUnavailable):
		fmt.Fprintln(stdout, "Leader: none")
	case err != nil:
		return err
	default:
		fmt.Fprintf(stdout, "Leader: %s (raft %s, http %s)\n", leader.ID, leader.RaftAddr, leader.HTTPAddr)
	}
	peers, err := c.Peers(ctx)
	if err != nil {
		return err
	}
	hvs, err := c.Hypervisors(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	printPeers(stdout, peers)
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HYPERVISOR\tCLOUD\tDRIVER\tCAPACITY\tAPI\tLIVENESS\tSINCE")
	for _, h := range hvs {
		since := "-"
		if !h.Since.IsZero() {
			since = h.Since.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", h.ID, h.Cloud, h.Driver, h.Capacity, h.APIAddr, h.Liveness, since)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(hvs) == 0 {
		fmt.Fprintln(stdout, "(no hypervisors)")
	}
	return nil
}

func printPeers(w io.Writer, peers []api.Peer) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PEER\tRAFT\tHTTP\tSUFFRAGE\tROLE")
	for _, p := range peers {
		role := "follower"
		if p.Leader {
			role = "leader"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.ID, p.RaftAddr, p.HTTPAddr, p.Suffrage, role)
	}
	_ = tw.Flush()
}
