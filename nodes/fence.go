package nodes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"aas/internal/atomicfile"
)

// ErrStaleTerm: the call carries a Raft term lower than the highest this
// agent has seen; it comes from a deposed leader and is refused.
var ErrStaleTerm = errors.New("stale raft term")

// termFence remembers the highest Raft term seen, persisted in the data
// directory so a restarted agent still refuses a deposed leader.
type termFence struct {
	path    string
	mu      sync.Mutex
	highest uint64
}

func openTermFence(dataDir string) (*termFence, error) {
	f := &termFence{path: filepath.Join(dataDir, "term")}
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("term fence: %w", err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("term fence: %s line 1: %w", f.path, err)
	}
	f.highest = v
	return f, nil
}

// Observe admits term if it is not lower than the highest seen, persisting
// a new highest before admitting it.
func (f *termFence) Observe(term uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if term < f.highest {
		return fmt.Errorf("%w: term %d < highest seen %d", ErrStaleTerm, term, f.highest)
	}
	if term == f.highest {
		return nil
	}
	if err := atomicfile.Write(f.path, []byte(strconv.FormatUint(term, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("term fence: persist term %d: %w", term, err)
	}
	f.highest = term
	return nil
}

// Highest returns the highest term seen.
func (f *termFence) Highest() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.highest
}
