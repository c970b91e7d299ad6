package gossip

import (
	"errors"
	"strings"
	"testing"
)

func TestMetaValidate(t *testing.T) {
	ok := Meta{NodeID: "h1", Role: RoleHypervisor, Cloud: "aws", Driver: "docker", Capacity: 8, APIAddr: "10.0.0.1:7073"}
	cases := []struct {
		name string
		mod  func(*Meta)
		want error
	}{
		{"valid hypervisor", func(*Meta) {}, nil},
		{"valid server", func(m *Meta) { m.Role = RoleServer }, nil},
		{"empty id", func(m *Meta) { m.NodeID = "" }, ErrInvalidMeta},
		{"empty role", func(m *Meta) { m.Role = "" }, ErrInvalidMeta},
		{"unknown role", func(m *Meta) { m.Role = "client" }, ErrInvalidMeta},
		{"negative capacity", func(m *Meta) { m.Capacity = -1 }, ErrInvalidMeta},
		{"too large", func(m *Meta) { m.Driver = strings.Repeat("d", 500) }, ErrMetaTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := ok
			tc.mod(&m)
			err := m.Validate()
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Validate() = %v, want %v", err, tc.want)
			}
		})
	}
}

// The size check is exact: the largest valid meta fits, one byte more fails.
func TestMetaSizeBoundary(t *testing.T) {
	m := Meta{NodeID: "h1", Role: RoleServer}
	base, _ := encodeMeta(m, true)
	m.Cloud = strings.Repeat("c", MaxMetaSize-len(base)-len(`,"c":""`))
	if err := m.Validate(); err != nil {
		t.Fatalf("meta of exactly %d bytes rejected: %v", MaxMetaSize, err)
	}
	if b, _ := encodeMeta(m, true); len(b) != MaxMetaSize {
		t.Fatalf("test setup: encoded %d bytes", len(b))
	}
	m.Cloud += "c"
	if err := m.Validate(); !errors.Is(err, ErrMetaTooLarge) {
		t.Fatalf("meta of %d bytes: %v", MaxMetaSize+1, err)
	}
}

func TestMetaRoundTrip(t *testing.T) {
	m := Meta{NodeID: "c1", Role: RoleServer, Cloud: "gcp", Capacity: 3, HTTPAddr: "[::1]:7070", RaftAddr: "127.0.0.1:7071"}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMeta(b)
	if err != nil || got != m {
		t.Fatalf("DecodeMeta = %+v, %v; want %+v", got, err, m)
	}
}

func TestDecodeMetaRejects(t *testing.T) {
	cases := map[string]string{
		"empty":       "",
		"not json":    "hello",
		"bad version": `{"v":2,"id":"x","r":"server"}`,
		"no version":  `{"id":"x","r":"server"}`,
		"wrong type":  `{"v":1,"cap":"many"}`,
		"too large":   `{"v":1,"c":"` + strings.Repeat("x", MaxMetaSize) + `"}`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeMeta([]byte(in)); err == nil {
				t.Fatalf("DecodeMeta(%q) succeeded", in)
			}
		})
	}
}

func FuzzDecodeMeta(f *testing.F) {
	b, _ := Meta{NodeID: "a", Role: RoleHypervisor, Capacity: 2}.Encode()
	f.Add(b)
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := DecodeMeta(in)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes and, when that still fits, decodes to
		// the same value.
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > MaxMetaSize {
			return
		}
		m2, err := DecodeMeta(b)
		if err != nil || m2 != m {
			t.Fatalf("round trip: %+v -> %+v, %v", m, m2, err)
		}
	})
}
