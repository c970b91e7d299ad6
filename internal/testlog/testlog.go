// Package testlog gives tests a go-hclog logger that stays quiet unless
// asked: raft and memberlist are chatty, so the log is written only when the
// AAS_TEST_LOG environment variable is set, and then into the test's own log
// (shown with -v or on failure).
package testlog

import (
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// EnvVar turns the test logs on when set to any non-empty value.
const EnvVar = "AAS_TEST_LOG"

// New returns a null logger, or with EnvVar set a debug-level logger named
// name that writes to tb.Log.
func New(tb testing.TB, name string) hclog.Logger {
	if os.Getenv(EnvVar) == "" {
		return hclog.NewNullLogger()
	}
	return hclog.New(&hclog.LoggerOptions{Name: name, Level: hclog.Debug, Output: writer{tb}})
}

// writer turns each log line into one tb.Log call.
type writer struct{ tb testing.TB }

func (w writer) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
