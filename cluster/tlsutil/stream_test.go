package tlsutil

import (
	"crypto/tls"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// tlsTransport builds a raft NetworkTransport over the TLS stream layer,
// answering every AppendEntries with success and counting them.
func tlsTransport(t *testing.T, f Files) (*raft.NetworkTransport, *atomic.Int64) {
	t.Helper()
	server, err := MutualConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	client, err := MutualClientConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	sl, err := NewStreamLayer("127.0.0.1:0", nil, server, client)
	if err != nil {
		t.Fatal(err)
	}
	return serveTransport(t, raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: sl, MaxPool: 2, Timeout: 5 * time.Second, Logger: hclog.NewNullLogger(),
	}))
}

func serveTransport(t *testing.T, tr *raft.NetworkTransport) (*raft.NetworkTransport, *atomic.Int64) {
	n := new(atomic.Int64)
	go func() {
		for rpc := range tr.Consumer() {
			n.Add(1)
			rpc.Respond(&raft.AppendEntriesResponse{Term: 7, Success: true}, nil)
		}
	}()
	t.Cleanup(func() { tr.Close() })
	return tr, n
}

func appendEntries(from *raft.NetworkTransport, to raft.ServerAddress) (raft.AppendEntriesResponse, error) {
	var resp raft.AppendEntriesResponse
	err := from.AppendEntries("target", to, &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("src"), Addr: []byte(from.LocalAddr())},
		Term:      7,
	}, &resp)
	return resp, err
}

func TestRaftTransportOverMutualTLS(t *testing.T) {
	pki := newPKI(t)
	a, _ := tlsTransport(t, pki.files(t, "a", false))
	b, bHits := tlsTransport(t, pki.files(t, "b", false))
	for i := range 3 { // several RPCs over the pooled connection
		resp, err := appendEntries(a, b.LocalAddr())
		if err != nil || !resp.Success || resp.Term != 7 {
			t.Fatalf("rpc %d a→b: %+v %v", i, resp, err)
		}
	}
	if resp, err := appendEntries(b, a.LocalAddr()); err != nil || !resp.Success {
		t.Fatalf("b→a: %+v %v", resp, err)
	}
	if bHits.Load() != 3 {
		t.Fatalf("b served %d RPCs, want 3", bHits.Load())
	}
}

func TestRaftTransportRefusesPeersWithoutCACert(t *testing.T) {
	pki := newPKI(t)
	foreign := newPKI(t)
	target, hits := tlsTransport(t, pki.files(t, "target", false))

	// A peer whose CA is foreign: it distrusts the target, and the target
	// distrusts its certificate.
	foreignPeer, _ := tlsTransport(t, foreign.files(t, "foreign", false))
	// A peer trusting our CA but presenting a foreign certificate: its
	// handshake passes the client side, the server rejects it.
	sneaky := foreign.files(t, "sneaky", false)
	sneaky.CAFile = pki.files(t, "unused", false).CAFile
	sneakyPeer, _ := tlsTransport(t, sneaky)
	// A plain TCP raft transport (no TLS at all).
	plain, err := raft.NewTCPTransportWithLogger("127.0.0.1:0", nil, 2, 2*time.Second, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	plainPeer, _ := serveTransport(t, plain)

	for _, tc := range []struct {
		name string
		from *raft.NetworkTransport
	}{
		{"foreign CA", foreignPeer},
		{"foreign cert, trusts our CA", sneakyPeer},
		{"plain TCP", plainPeer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if resp, err := appendEntries(tc.from, target.LocalAddr()); err == nil {
				t.Fatalf("RPC accepted: %+v", resp)
			}
		})
	}
	if hits.Load() != 0 {
		t.Fatalf("target served %d RPCs from untrusted peers", hits.Load())
	}
	// And the target cannot be talked into dialling a peer with a foreign
	// certificate either.
	if _, err := appendEntries(target, foreignPeer.LocalAddr()); err == nil {
		t.Fatal("target accepted a foreign server certificate")
	}
}

func TestStreamLayerConfigChecks(t *testing.T) {
	pki := newPKI(t)
	f := pki.files(t, "n", false)
	server, _ := MutualConfig(f)
	client, _ := MutualClientConfig(f)
	plainServer, _ := ServerConfig(f)
	noCert := &tls.Config{RootCAs: pki.ca.Pool()}
	for _, tc := range []struct {
		name           string
		server, client *tls.Config
	}{
		{"nil configs", nil, nil},
		{"server does not verify clients", plainServer, client},
		{"client without certificate", server, noCert},
	} {
		if sl, err := NewStreamLayer("127.0.0.1:0", nil, tc.server, tc.client); err == nil {
			sl.Close()
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if sl, err := NewStreamLayer("0.0.0.0:0", nil, server, client); err == nil {
		sl.Close()
		t.Error("unspecified advertise address accepted")
	}
}
