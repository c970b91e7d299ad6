package trace

import (
	"fmt"
	"os"
)

// ParseFile opens path and parses it; the trace's Name is path. This is the
// package's only I/O.
func ParseFile(path string) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	defer f.Close()
	return Parse(f, path)
}
