package tracetest_test

import (
	"os"
	"path/filepath"
	"testing"

	"aas/scaler/trace/tracetest"
)

func TestDirHoldsTraces(t *testing.T) {
	dir := tracetest.Dir(t)
	if filepath.Base(dir) != "traces" || filepath.Base(filepath.Dir(dir)) != "shared" {
		t.Errorf("Dir = %q, want .../shared/traces", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "nasa_http_1995.csv")); err != nil {
		t.Errorf("NASA trace not in %s: %v", dir, err)
	}
}

func TestLoad(t *testing.T) {
	tr := tracetest.Load(t, "nasa_http_1995.csv")
	if tr.Len() == 0 {
		t.Fatal("empty trace")
	}
	if tr.Name != tracetest.Path(t, "nasa_http_1995.csv") {
		t.Errorf("Name = %q, want the file's path", tr.Name)
	}
}
