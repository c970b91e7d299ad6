package tenant

import (
	"os"
	"testing"

	"go.yaml.in/yaml/v3"
)

func exampleBytes(b *testing.B) []byte {
	data, err := os.ReadFile("../../examples/multicloud-tenant.yml")
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkYAMLNodeBaseline only parses the file into yaml.v3 nodes: the
// floor of any YAML-based validator.
func BenchmarkYAMLNodeBaseline(b *testing.B) {
	data := exampleBytes(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var n yaml.Node
		if err := yaml.Unmarshal(data, &n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseMulticloud parses, decodes strictly and validates the
// multi-cloud example.
func BenchmarkParseMulticloud(b *testing.B) {
	data := exampleBytes(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, "multicloud-tenant.yml"); err != nil {
			b.Fatal(err)
		}
	}
}
