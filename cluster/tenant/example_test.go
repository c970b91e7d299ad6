package tenant_test

import (
	"fmt"

	"aas/cluster/tenant"
)

func ExampleParse() {
	src := `t_name: demo
nw_name: demo_nw
subnet: 19.0.0.0/24
min_containers: 6
max_containers: 5
threshold: 0.3
policy: dynamic
`
	_, err := tenant.Parse([]byte(src), "tenant.yml")
	fmt.Println(err)
	// Output: tenant.yml:4: min_containers: 6 is above max 5
}

func ExampleToFSM() {
	s, err := tenant.LoadFile("testdata/seed-tenant.yml")
	if err != nil {
		panic(err)
	}
	cmd, err := tenant.ToFSM(s)
	if err != nil {
		panic(err)
	}
	g := cmd.Groups[0]
	fmt.Println(cmd.Tenant.Name, cmd.Tenant.Networks[0].Name, g.Name, g.Min, g.Max, s.Groups[0].Scaling.Kind())
	// Output: demo demo_nw default 2 5 reactive
}
