package acl_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"aas/cluster/acl"
	"aas/fsm"
)

// BenchmarkMiddleware measures the cost the ACL check adds to a request:
// "bare" is the handler alone (baseline), then the middleware with a
// given number of stored tokens (the lookup scans them all in constant
// time per token). Report ratios against bare from the same run.
func BenchmarkMiddleware(b *testing.B) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := acl.Authorize(r.Context(), "t0"); err != nil {
			w.WriteHeader(http.StatusForbidden)
		}
	})
	run := func(b *testing.B, h http.Handler, secret string) {
		req := httptest.NewRequest("GET", "/v1/tenants/t0", nil)
		req.Header.Set(acl.TokenHeader, secret)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	}
	b.Run("bare", func(b *testing.B) { run(b, ok, "") })
	for _, n := range []int{1, 100, 1000} {
		f := fsm.New(nil)
		var secret string
		for i := range n {
			secret = fmt.Sprintf("secret-%d-0123456789abcdef", i)
			cmd, err := fsm.EncodeCommand(fsm.CreateACLToken{Token: fsm.ACLToken{
				AccessorID: fmt.Sprintf("a%d", i), SecretHash: acl.HashSecret(secret),
				Tenant: fmt.Sprintf("t%d", i%10), Created: time.Unix(1, 0)}})
			if err != nil {
				b.Fatal(err)
			}
			if res, ok := f.Apply(&raft.Log{Index: uint64(i + 1), Data: cmd}).(fsm.ApplyResult); ok && res.Err != nil {
				b.Fatal(res.Err)
			}
		}
		secret = "secret-0-0123456789abcdef" // tenant t0
		h := acl.Middleware(&acl.FSMResolver{State: f}, ok)
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) { run(b, h, secret) })
	}
}
