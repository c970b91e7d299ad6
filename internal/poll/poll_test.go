package poll_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"aas/internal/poll"
)

// recorder is a testing.TB whose Fatalf records the message and ends the
// calling goroutine, as the real one does.
type recorder struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.msg = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// until runs poll.Until in its own goroutine (Fatalf ends it) and returns
// the failure message, empty when the condition held.
func until(timeout time.Duration, cond func() (bool, string)) string {
	r := &recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		poll.Until(r, timeout, "the thing", cond)
	}()
	<-done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.msg
}

func TestUntil(t *testing.T) {
	tests := []struct {
		name    string
		holdsAt int // the call on which cond first holds; 0: never
		want    string
	}{
		{"holds at once", 1, ""},
		{"holds on the fifth check", 5, ""},
		{"never holds", 0, "timed out after 50ms waiting for the thing (last: first check)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			got := until(50*time.Millisecond, func() (bool, string) {
				calls++
				if tc.holdsAt > 0 && calls >= tc.holdsAt {
					return true, ""
				}
				// An empty detail keeps the last one for the message.
				if calls == 1 {
					return false, "first check"
				}
				return false, ""
			})
			if got != tc.want {
				t.Errorf("failure %q, want %q", got, tc.want)
			}
			if tc.holdsAt > 0 && calls != tc.holdsAt {
				t.Errorf("cond called %d times, want %d", calls, tc.holdsAt)
			}
		})
	}
}
