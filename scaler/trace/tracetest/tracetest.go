// Package tracetest finds and reads the real workload traces for tests.
//
// The traces live in shared/traces beside the repository, never inside it,
// so a test walks up from its package directory to find them. When they are
// absent the test is skipped, except in CI (the CI environment variable is
// set), where that is a failure: a CI run must not pass by skipping.
//
// The package lives in the scaler tree because scaler/... may import nothing
// of the project outside that tree (so not internal/testenv).
package tracetest

import (
	"os"
	"path/filepath"
	"testing"

	"aas/scaler/trace"
)

// Dir returns the shared/traces directory found by walking up from the
// working directory (the package directory under go test). It skips the
// test when there is none, or fails it in CI.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "traces")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if os.Getenv("CI") != "" {
		tb.Fatal("shared/traces not found above the package directory (required in CI)")
	}
	tb.Skip("shared/traces not found above the package directory")
	return ""
}

// Path returns the path of the trace file name in Dir.
func Path(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(Dir(tb), name)
}

// Load parses the trace file name from Dir and fails the test on error.
func Load(tb testing.TB, name string) *trace.Trace {
	tb.Helper()
	tr, err := trace.ParseFile(Path(tb, name))
	if err != nil {
		tb.Fatal(err)
	}
	return tr
}
