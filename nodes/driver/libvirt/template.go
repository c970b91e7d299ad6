package libvirt

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"aas/nodes/driver"
)

// MetadataNS is the XML namespace of the metadata element that carries the
// instance ID, tenant and group inside each domain, for adoption.
const MetadataNS = "https://aas.invalid/xmlns/instance/1"

// DefaultTemplate is used when the spec has no domain XML. It suits the
// test:///default driver; for qemu:///system provide a template with a disk
// and an interface on the tenant bridge (see nodes/DESIGN.md).
const DefaultTemplate = `<domain type='{{.Type}}'>
  <name>{{.Name}}</name>
  <memory unit='MiB'>{{.MemoryMiB}}</memory>
  <vcpu>{{.VCPUs}}</vcpu>
  <metadata>{{.Metadata}}</metadata>
  <os><type arch='x86_64'>hvm</type></os>
  {{- if .Bridge}}
  <devices>
    <interface type='bridge'><source bridge='{{.Bridge}}'/></interface>
  </devices>
  {{- end}}
</domain>
`

// templateData is what a domain template sees. Every string is already
// XML-escaped, so a tenant name cannot inject elements or attributes.
type templateData struct {
	Type, Name, ID, Tenant, Group, Bridge, IP, Gateway, Subnet string
	Port, VCPUs, MemoryMiB                                     int
	// Metadata is the complete aas metadata element (required in the
	// output so the instance can be adopted).
	Metadata string
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	// EscapeText leaves single quotes alone when they are not needed in
	// text; templates put values in attributes too.
	return strings.ReplaceAll(b.String(), "'", "&#39;")
}

type metadata struct {
	XMLName xml.Name `xml:"instance"`
	ID      string   `xml:"id,attr"`
	Tenant  string   `xml:"tenant,attr"`
	Group   string   `xml:"group,attr"`
	Addr    string   `xml:"addr,attr,omitempty"`
	IP      string   `xml:"ip,attr,omitempty"`
}

var nameRE = regexp.MustCompile(`<name>([^<]*)</name>`)

// renderDomain fills the spec's template (or DefaultTemplate).
func renderDomain(domType string, spec driver.InstanceSpec) (string, error) {
	t := spec.Libvirt
	src := DefaultTemplate
	if t != nil && t.DomainXML != "" {
		src = t.DomainXML
	}
	tmpl, err := template.New(spec.ID).Option("missingkey=error").Parse(src)
	if err != nil {
		return "", fmt.Errorf("%w: field libvirt.domain_xml: %v", driver.ErrInvalidSpec, err)
	}
	d := templateData{Type: domType, Name: domainName(spec.ID), ID: esc(spec.ID), Tenant: esc(spec.Tenant), Group: esc(spec.Group), VCPUs: 1, MemoryMiB: 256, Port: spec.Port}
	if t != nil && t.VCPUs > 0 {
		d.VCPUs = t.VCPUs
	}
	if t != nil && t.MemoryMiB > 0 {
		d.MemoryMiB = t.MemoryMiB
	}
	md := metadata{ID: spec.ID, Tenant: spec.Tenant, Group: spec.Group}
	if n := spec.Network; n != nil {
		d.Bridge = esc(n.Bridge)
		if n.IP.IsValid() {
			d.IP = n.IP.String()
			md.IP = d.IP
			if spec.Port > 0 {
				md.Addr = d.IP + ":" + strconv.Itoa(spec.Port)
			}
		}
		if n.Gateway.IsValid() {
			d.Gateway = n.Gateway.String()
		}
		if n.Subnet.IsValid() {
			d.Subnet = n.Subnet.String()
		}
	}
	mb, err := xml.Marshal(md)
	if err != nil {
		return "", err
	}
	// The element carries its namespace so libvirt files it under MetadataNS.
	d.Metadata = strings.Replace(string(mb), "<instance ", "<aas:instance xmlns:aas='"+MetadataNS+"' ", 1)
	d.Metadata = strings.Replace(d.Metadata, "></instance>", "/>", 1)
	var out bytes.Buffer
	if err := tmpl.Execute(&out, d); err != nil {
		return "", fmt.Errorf("%w: field libvirt.domain_xml: %v", driver.ErrInvalidSpec, err)
	}
	s := out.String()
	if m := nameRE.FindStringSubmatch(s); m == nil || m[1] != d.Name {
		return "", fmt.Errorf("%w: field libvirt.domain_xml: must contain <name>{{.Name}}</name>", driver.ErrInvalidSpec)
	}
	if !strings.Contains(s, MetadataNS) {
		return "", fmt.Errorf("%w: field libvirt.domain_xml: must contain <metadata>{{.Metadata}}</metadata>", driver.ErrInvalidSpec)
	}
	if err := xml.Unmarshal(out.Bytes(), new(struct{})); err != nil {
		return "", fmt.Errorf("%w: field libvirt.domain_xml: rendered XML is malformed: %v", driver.ErrInvalidSpec, err)
	}
	return s, nil
}

func domainName(id string) string { return "aas-" + id }

// parseMetadata reads the aas element back from a domain.
func parseMetadata(s string) (metadata, error) {
	var m metadata
	err := xml.Unmarshal([]byte(s), &m)
	return m, err
}
