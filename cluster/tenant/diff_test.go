package tenant

import (
	"strings"
	"testing"

	"aas/fsm"
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

func TestDiffState(t *testing.T) {
	s, err := LoadFile("../../examples/multicloud-tenant.yml")
	if err != nil {
		t.Fatal(err)
	}
	f := fsm.New(nil)
	if r := apply(t, f, 1, s); r.Err != nil {
		t.Fatal(r.Err)
	}
	state := func() (*fsm.Tenant, []fsm.Group) {
		var cur fsm.Tenant
		var groups []fsm.Group
		f.Read(func(st *fsm.State) {
			cur, _ = st.Tenant("media")
			groups = st.TenantGroups("media")
		})
		return &cur, groups
	}
	cur, groups := state()
	same, err := LoadFile("../../examples/multicloud-tenant.yml")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := DiffState(cur, groups, same); err != nil || len(d) != 0 {
		t.Fatalf("re-applying the same file: %v %v", d, err)
	}
	next := same.Clone()
	next.Groups[1].Scaling.Max = 20
	next.Groups[0].Template.Password = "rotated"
	d, err := DiffState(cur, groups, next)
	if err != nil {
		t.Fatal(err)
	}
	var text []string
	for _, c := range d {
		text = append(text, c.String())
	}
	all := strings.Join(text, "\n")
	for _, want := range []string{"~ groups[transcode].max: 12 → 20", "~ groups[transcode].policy.max: 12 → 20", "~ groups[stream].template.password: <redacted>#"} {
		if !strings.Contains(all, want) {
			t.Errorf("diff lacks %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "rotated") || strings.Contains(all, "vm-root-password") {
		t.Errorf("secret shown:\n%s", all)
	}
	if d, _ := DiffState(nil, nil, next); len(d) == 0 {
		t.Error("a new tenant shows no changes")
	}
}
