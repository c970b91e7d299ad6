package libvirt

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"aas/nodes/driver"
)

func TestRenderDomain(t *testing.T) {
	net := &driver.Network{Bridge: "br-acme", Subnet: netip.MustParsePrefix("198.18.1.0/24"), IP: netip.MustParseAddr("198.18.1.5")}
	tests := []struct {
		name    string
		spec    driver.InstanceSpec
		want    []string
		wantErr bool
	}{
		{"default", driver.InstanceSpec{ID: "i1", Tenant: "acme", Group: "web"}, []string{"<name>aas-i1</name>", "type='test'", MetadataNS, `id="i1"`}, false},
		{"escaping", driver.InstanceSpec{ID: "i2", Tenant: `a"c<m>e'&`, Group: "web", Network: net, Port: 80}, []string{`tenant="a&#34;c&lt;m&gt;e&#39;&amp;"`, "br-acme", `addr="198.18.1.5:80"`}, false},
		{"custom", driver.InstanceSpec{ID: "i3", Libvirt: &driver.LibvirtTemplate{DomainXML: "<domain type='{{.Type}}'><name>{{.Name}}</name><memory unit='MiB'>{{.MemoryMiB}}</memory><metadata>{{.Metadata}}</metadata><os><type>hvm</type></os><description>{{.Tenant}}</description></domain>", MemoryMiB: 64}}, []string{"<memory unit='MiB'>64</memory>"}, false},
		{"no name", driver.InstanceSpec{ID: "i4", Libvirt: &driver.LibvirtTemplate{DomainXML: "<domain><metadata>{{.Metadata}}</metadata></domain>"}}, nil, true},
		{"no metadata", driver.InstanceSpec{ID: "i5", Libvirt: &driver.LibvirtTemplate{DomainXML: "<domain><name>{{.Name}}</name></domain>"}}, nil, true},
		{"unknown key", driver.InstanceSpec{ID: "i6", Libvirt: &driver.LibvirtTemplate{DomainXML: "<domain><name>{{.Nope}}</name></domain>"}}, nil, true},
		{"malformed", driver.InstanceSpec{ID: "i7", Libvirt: &driver.LibvirtTemplate{DomainXML: "<domain><name>{{.Name}}</name><metadata>{{.Metadata}}</metadata>"}}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := renderDomain("test", tt.spec)
			if tt.wantErr {
				if !errors.Is(err, driver.ErrInvalidSpec) {
					t.Fatalf("err %v, want ErrInvalidSpec", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("rendered XML lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	x, err := renderDomain("test", driver.InstanceSpec{ID: "r1", Tenant: "t<1>", Group: "g"})
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(x, "<aas:instance")
	j := strings.Index(x[i:], "/>")
	m, err := parseMetadata(x[i : i+j+2])
	if err != nil {
		t.Fatal(err)
	}
	if m.ID != "r1" || m.Tenant != "t<1>" || m.Group != "g" {
		t.Fatalf("metadata %+v", m)
	}
}
