package tenant

import (
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	cur, err := LoadFile("../../examples/rich-tenant.yml")
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(cur, cur.Clone()); len(d) != 0 {
		t.Fatalf("identical specs differ: %v", d)
	}
	next := cur.Clone()
	next.Groups[0].Scaling.Max = 12
	next.Groups[1].Template.Password = "new-password"
	next.Groups = append(next.Groups[:1], next.Groups[1], Group{Name: "batch"})
	next.Networks[0].Subnets = next.Networks[0].Subnets[:1]

	var got []string
	for _, c := range Diff(cur, next) {
		got = append(got, c.String())
	}
	text := strings.Join(got, "\n")
	for _, want := range []string{
		"~ groups[web].scaling.max: 10 → 12",
		"~ groups[api].template.password: <redacted>#",
		"+ groups[batch].name: batch",
		"- networks[shop-nw].subnets[198.18.11.0/24].cidr: 198.18.11.0/24",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("diff lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "new-password") || strings.Contains(text, "change-me") {
		t.Errorf("diff shows a secret:\n%s", text)
	}
	// A new tenant: everything is an addition.
	for _, c := range Diff(nil, cur) {
		if c.Old != "" {
			t.Fatalf("addition with an old value: %v", c)
		}
	}
}
