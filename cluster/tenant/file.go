package tenant

import (
	"fmt"
	"io"
	"os"
)

// LoadFile reads and parses a tenant file; errors carry path as the file
// name. A file larger than MaxFileSize is rejected without reading it all.
// This is the package's only I/O.
func LoadFile(path string) (*Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("tenant: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("tenant: read %s: %w", path, err)
	}
	return Parse(data, path)
}
