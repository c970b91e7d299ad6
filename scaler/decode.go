package scaler

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// DecodeGroupSpec reads a group spec from YAML or JSON (JSON is read as
// YAML). Decoding is strict: an unknown key is an error naming its line and
// field. The spec is normalized and validated; errors are prefixed with
// name and wrap ErrInvalidSpec.
func DecodeGroupSpec(data []byte, name string) (GroupSpec, error) {
	var g GroupSpec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&g); err != nil {
		if errors.Is(err, io.EOF) {
			return GroupSpec{}, fmt.Errorf("%s: %w: empty file", name, ErrInvalidSpec)
		}
		return GroupSpec{}, fmt.Errorf("%s: %w: %v", name, ErrInvalidSpec, err)
	}
	g.Normalize()
	if err := g.Validate(); err != nil {
		return GroupSpec{}, fmt.Errorf("%s: %w", name, err)
	}
	return g, nil
}
