package testlog_test

import (
	"fmt"
	"strings"
	"testing"

	"aas/internal/testlog"
)

// recorder is a testing.TB that keeps what is logged.
type recorder struct {
	testing.TB
	lines []string
}

func (r *recorder) Log(args ...any) { r.lines = append(r.lines, fmt.Sprint(args...)) }

func TestNew(t *testing.T) {
	tests := []struct {
		env       string
		wantLines int
	}{
		{"", 0},
		{"1", 1},
	}
	for _, tc := range tests {
		t.Run("AAS_TEST_LOG="+tc.env, func(t *testing.T) {
			t.Setenv(testlog.EnvVar, tc.env)
			r := &recorder{TB: t}
			testlog.New(r, "node-a").Debug("hello", "k", "v")
			if len(r.lines) != tc.wantLines {
				t.Fatalf("logged %q, want %d lines", r.lines, tc.wantLines)
			}
			for _, l := range r.lines {
				if want := "node-a: hello: k=v"; !strings.Contains(l, want) {
					t.Errorf("line %q lacks %q", l, want)
				}
			}
		})
	}
}
