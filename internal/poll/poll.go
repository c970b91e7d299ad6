// Package poll waits in tests for a condition with a deadline, instead of
// sleeping for a guessed time.
package poll

import (
	"testing"
	"time"
)

// Interval is how often Until checks its condition.
const Interval = 10 * time.Millisecond

// Until checks cond every Interval until it holds, and fails the test when
// timeout passes first. cond returns whether it holds and, when not, a
// detail; the last non-empty detail goes into the failure message, which
// names what was awaited.
func Until(tb testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if detail != "" {
			last = detail
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s (last: %s)", timeout, what, last)
		}
		time.Sleep(Interval) // polling interval, not synchronisation
	}
}
