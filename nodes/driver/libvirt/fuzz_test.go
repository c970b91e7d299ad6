package libvirt

import (
	"encoding/xml"
	"strings"
	"testing"

	"aas/nodes/driver"
)

// Whatever tenant and group names arrive, the rendered domain XML is
// well-formed and the metadata reads back the same values.
func FuzzRenderDomain(f *testing.F) {
	f.Add("acme", "web")
	f.Add(`a"'<>&`, "]]>")
	f.Add("\x00", "\ufffe")
	f.Fuzz(func(t *testing.T, tenant, group string) {
		x, err := renderDomain("test", driver.InstanceSpec{ID: "f1", Tenant: tenant, Group: group})
		if err != nil {
			return // refused is fine; malformed output is not
		}
		if err := xml.Unmarshal([]byte(x), new(struct{})); err != nil {
			t.Fatalf("malformed XML for %q/%q: %v", tenant, group, err)
		}
		i := strings.Index(x, "<aas:instance")
		j := strings.Index(x[i:], "/>")
		m, err := parseMetadata(x[i : i+j+2])
		if err != nil {
			t.Fatal(err)
		}
		if m.ID != "f1" {
			t.Fatalf("metadata id %q", m.ID)
		}
	})
}
