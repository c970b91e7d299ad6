package secrets_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"aas/cluster"
	"aas/cluster/clustertest"
	"aas/cluster/secrets"
	"aas/cluster/tenant"
	"aas/fsm"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// TestSealedSecretsNeverReachRaftInPlaintext applies the example tenant
// (encrypt_passwords: true) through a real single-node Raft cluster after
// sealing its secrets, takes a snapshot, and searches the BoltDB log, the
// snapshot files, the FSM state and the debug log for the plaintexts.
func TestSealedSecretsNeverReachRaftInPlaintext(t *testing.T) {
	spec, err := tenant.LoadFile(clustertest.RepoFile(t, "examples/rich-tenant.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !spec.Settings.EncryptPasswords {
		t.Fatal("example tenant does not set encrypt_passwords")
	}
	// Unique plaintexts, so that a hit cannot be a coincidence.
	var plaintexts []string
	for _, p := range tenant.Secrets(spec) {
		r := make([]byte, 8)
		_, _ = rand.Read(r)
		*p = "plain-" + hex.EncodeToString(r)
		plaintexts = append(plaintexts, *p)
	}
	if len(plaintexts) < 2 {
		t.Fatalf("example tenant has %d secrets, want a password and a secret", len(plaintexts))
	}

	kr, _, err := secrets.LoadOrGenerate("", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := kr.SealAll(tenant.Secrets(spec)); err != nil {
		t.Fatal(err)
	}
	cmd, err := tenant.ToFSM(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Time = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	var logs syncBuffer
	cfg := clustertest.Config(t, "n1")
	cfg.Bootstrap = true
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: &logs})
	dataDir := cfg.DataDir
	srv, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := srv.Apply(ctx, fsm.ApplyTenantType, cmd); err != nil {
		t.Fatalf("apply tenant: %v", err)
	}
	if err := srv.Raft().Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}

	// The sealed values are in the state and open to the plaintexts.
	var state bytes.Buffer
	srv.FSM().Read(func(s *fsm.State) { _ = fsm.WriteSnapshot(&state, s) })
	opened := 0
	srv.FSM().Read(func(s *fsm.State) {
		for _, g := range s.TenantGroups(spec.Name) {
			tpl, err := tenant.TemplateOf(g.Template)
			if err != nil {
				t.Errorf("template of %s: %v", g.Name, err)
				continue
			}
			for _, p := range []*string{&tpl.Password} {
				if *p == "" {
					continue
				}
				pt, err := kr.Open(*p)
				if err != nil {
					t.Errorf("stored password does not open: %v", err)
				}
				if pt != plaintexts[0] {
					t.Errorf("stored password opens to %q", pt)
				}
				opened++
			}
		}
	})
	if opened == 0 {
		t.Fatal("no sealed password in the state")
	}
	if err := srv.Shutdown(); err != nil {
		t.Fatal(err)
	}

	// Every file of the data dir: raft.db (log + stable store), snapshots.
	haystacks := map[string][]byte{"fsm state": state.Bytes(), "log output": logs.Bytes()}
	sawDB, sawSnap := false, false
	err = filepath.WalkDir(dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dataDir, path)
		haystacks[rel] = data
		sawDB = sawDB || filepath.Base(path) == "raft.db"
		sawSnap = sawSnap || filepath.Base(path) == "state.bin"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !sawDB || !sawSnap {
		t.Fatalf("data dir lacks raft.db (%v) or a snapshot state.bin (%v)", sawDB, sawSnap)
	}
	sealedSeen := false
	for name, data := range haystacks {
		for _, pt := range plaintexts {
			if bytes.Contains(data, []byte(pt)) {
				t.Errorf("plaintext secret found in %s", name)
			}
		}
		sealedSeen = sealedSeen || bytes.Contains(data, []byte(secrets.Prefix))
	}
	if !sealedSeen {
		t.Fatal("no sealed value found anywhere: the search looked at the wrong bytes")
	}
}
