package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestLoadCommand(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "trace.csv")
	// 120 requests per 60 s step, three steps, at 60× speed: 2/s × 60 = 120/s for 3 s.
	if err := os.WriteFile(path, []byte("# test\nt,load\n0,120\n60,120\n120,120\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rc, out, errs := runCtl("load", "-trace", path, "-target", srv.URL, "-speedup", "60", "-duration", "1s", "-report", "500ms")
	if rc != 0 {
		t.Fatalf("rc %d: %s", rc, errs)
	}
	// -duration 1s cuts the replay to 120 requests.
	if n := hits.Load(); n < 110 || n > 130 || !strings.Contains(out, "--- summary") || !strings.Contains(out, "success  100.00%") ||
		!strings.Contains(out, "achieved") {
		t.Fatalf("server saw %d requests (want ~120); output:\n%s", n, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"load", "-target", srv.URL}, "-trace and -target are required"},
		{[]string{"load", "-trace", path, "-target", "ftp://x", "-speedup", "1"}, "want an http:// or https:// URL"},
		{[]string{"load", "-trace", path, "-target", srv.URL, "-speedup", "0"}, "speedup 0"},
	} {
		if rc, _, errs := runCtl(tc.args...); rc != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: rc %d stderr %q, want 2 and %q", tc.args, rc, errs, tc.want)
		}
	}
	if rc, _, errs := runCtl("load", "-trace", filepath.Join(t.TempDir(), "none.csv"), "-target", srv.URL); rc != 1 || !strings.Contains(errs, "none.csv") {
		t.Errorf("missing trace: rc %d stderr %q", rc, errs)
	}
}
