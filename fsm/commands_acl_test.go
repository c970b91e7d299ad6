package fsm

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func aclHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

func mgmtToken(id string) ACLToken {
	return ACLToken{AccessorID: id, SecretHash: aclHash("s-" + id), Management: true, Created: at(1)}
}

func tenantToken(id, tenant string) ACLToken {
	return ACLToken{AccessorID: id, SecretHash: aclHash("s-" + id), Tenant: tenant, Created: at(1)}
}

// aclCommand is the property generator's ACL branch (see gen.command).
func (g *gen) aclCommand() (MessageType, any) {
	id := g.pick("a1", "a2", "a3", "a4")
	if g.r.Intn(3) == 0 {
		return DeleteACLTokenType, DeleteACLToken{AccessorID: id}
	}
	tok := ACLToken{AccessorID: id, SecretHash: aclHash(g.pick("x", "y", "z", id)), Created: g.now()}
	if g.r.Intn(2) == 0 {
		tok.Management = true
	} else {
		tok.Tenant = g.pick("t1", "t2", "t3")
	}
	return CreateACLTokenType, CreateACLToken{Token: tok, Bootstrap: g.r.Intn(4) == 0}
}

func TestACLTokenLifecycle(t *testing.T) {
	h := newHarness(t)
	if h.state().ACLBootstrapped() {
		t.Fatal("new state is bootstrapped")
	}
	h.ok(CreateACLTokenType, CreateACLToken{Token: mgmtToken("root"), Bootstrap: true})
	if !h.state().ACLBootstrapped() {
		t.Fatal("not bootstrapped after the bootstrap token")
	}
	// A second bootstrap (another controller's first start) is a conflict.
	h.fail(CreateACLTokenType, CreateACLToken{Token: mgmtToken("root2"), Bootstrap: true}, ErrConflict)
	h.ok(CreateACLTokenType, CreateACLToken{Token: tenantToken("acme-1", "acme")})

	got, ok := h.state().ACLTokenBySecretHash(aclHash("s-acme-1"))
	if !ok || got.Tenant != "acme" || got.Management || got.AccessorID != "acme-1" {
		t.Fatalf("lookup by hash = %+v, %v", got, ok)
	}
	if _, ok := h.state().ACLTokenBySecretHash(aclHash("nope")); ok {
		t.Fatal("unknown secret resolved")
	}
	list := h.state().ACLTokenList()
	if len(list) != 2 || list[0].AccessorID != "acme-1" || list[1].AccessorID != "root" {
		t.Fatalf("list = %+v", list)
	}
	// The last management token cannot go; with a second one it can.
	h.fail(DeleteACLTokenType, DeleteACLToken{AccessorID: "root"}, ErrInUse)
	h.ok(CreateACLTokenType, CreateACLToken{Token: mgmtToken("ops")})
	h.ok(DeleteACLTokenType, DeleteACLToken{AccessorID: "root"})
	h.ok(DeleteACLTokenType, DeleteACLToken{AccessorID: "acme-1"})
	h.fail(DeleteACLTokenType, DeleteACLToken{AccessorID: "acme-1"}, ErrNotFound)
	if _, ok := h.state().ACLToken("ops"); !ok {
		t.Fatal("ops token missing")
	}
}

func TestCreateACLTokenRejections(t *testing.T) {
	h := newHarness(t)
	h.ok(CreateACLTokenType, CreateACLToken{Token: mgmtToken("root")})
	mut := func(f func(*ACLToken)) ACLToken {
		tok := tenantToken("new", "acme")
		f(&tok)
		return tok
	}
	for _, tc := range []struct {
		name      string
		tok       ACLToken
		bootstrap bool
		want      error
	}{
		{"bad accessor", mut(func(t *ACLToken) { t.AccessorID = "a/b" }), false, ErrBadCommand},
		{"short hash", mut(func(t *ACLToken) { t.SecretHash = "abcd" }), false, ErrBadCommand},
		{"upper-case hash", mut(func(t *ACLToken) { t.SecretHash = strings.ToUpper(t.SecretHash) }), false, ErrBadCommand},
		{"plaintext secret", mut(func(t *ACLToken) { t.SecretHash = "my-secret-token" }), false, ErrBadCommand},
		{"neither scope", mut(func(t *ACLToken) { t.Tenant = "" }), false, ErrBadCommand},
		{"both scopes", mut(func(t *ACLToken) { t.Management = true }), false, ErrBadCommand},
		{"bad tenant", mut(func(t *ACLToken) { t.Tenant = "../x" }), false, ErrBadCommand},
		{"zero time", mut(func(t *ACLToken) { t.Created = time.Time{} }), false, ErrBadCommand},
		{"long description", mut(func(t *ACLToken) { t.Description = strings.Repeat("d", 257) }), false, ErrBadCommand},
		{"tenant bootstrap", mut(func(*ACLToken) {}), true, ErrBadCommand},
		{"already bootstrapped", mgmtToken("other"), true, ErrConflict},
		{"duplicate accessor", mut(func(t *ACLToken) { t.AccessorID = "root" }), false, ErrConflict},
		{"duplicate secret", mut(func(t *ACLToken) { t.SecretHash = aclHash("s-root") }), false, ErrConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			h.fail(CreateACLTokenType, CreateACLToken{Token: tc.tok, Bootstrap: tc.bootstrap}, tc.want)
		})
	}
}

func TestACLTokensSurviveSnapshot(t *testing.T) {
	h := newHarness(t)
	for i := range 3 {
		h.ok(CreateACLTokenType, CreateACLToken{Token: tenantToken(fmt.Sprintf("t%d", i), "acme")})
	}
	h.ok(CreateACLTokenType, CreateACLToken{Token: mgmtToken("root")})
	want := h.json()
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	h.ok(DeleteACLTokenType, DeleteACLToken{AccessorID: "t0"}) // after Snapshot: must not leak in
	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := New(nil)
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	h2 := &harness{t: t, f: g}
	if got := h2.json(); string(got) != string(want) {
		t.Fatalf("restored state differs:\n got %s\nwant %s", got, want)
	}
	if len(h2.state().ACLTokenList()) != 4 {
		t.Fatal("tokens lost in the snapshot")
	}
}
