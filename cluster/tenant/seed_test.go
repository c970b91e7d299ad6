package tenant

import (
	"os"
	"path/filepath"
	"testing"

	"aas/scaler"
)

func TestSeedTenant(t *testing.T) {
	for _, path := range []string{"testdata/seed-tenant.yml", filepath.Join("..", "..", "examples", "seed-tenant.yml")} {
		t.Run(path, func(t *testing.T) {
			s, err := LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if s.Format != FormatFlat || s.Name != "demo" {
				t.Errorf("format %s name %q", s.Format, s.Name)
			}
			if len(s.Networks) != 1 || s.Networks[0].Name != "demo_nw" || len(s.Networks[0].Subnets) != 1 {
				t.Fatalf("networks = %+v", s.Networks)
			}
			sn := s.Networks[0].Subnets[0]
			if sn != (Subnet{CIDR: "19.0.0.0/24", Gateway: "19.0.0.1", DHCPStart: "19.0.0.2", DHCPEnd: "19.0.0.254"}) {
				t.Errorf("subnet = %+v", sn)
			}
			if len(s.Groups) != 1 {
				t.Fatalf("groups = %+v", s.Groups)
			}
			g := s.Groups[0]
			if g.Scaling.Min != 2 || g.Scaling.Max != 5 || g.Scaling.Target != 0.3 {
				t.Errorf("min/max/target = %d/%d/%g", g.Scaling.Min, g.Scaling.Max, g.Scaling.Target)
			}
			if k := g.Scaling.Kind(); k != scaler.KindReactive {
				t.Errorf("policy kind %q, want reactive", k)
			}
			if th := g.Scaling.Policies[0].Reactive.Threshold; th != 0.3 {
				t.Errorf("reactive threshold %g", th)
			}
			if s.PublicIP != "45.45.45.45" || !s.Settings.Logging || !s.Settings.EncryptPasswords {
				t.Errorf("public ip %q settings %+v", s.PublicIP, s.Settings)
			}
			cmd, err := ToFSM(s)
			if err != nil {
				t.Fatal(err)
			}
			if len(cmd.Groups) != 1 || cmd.Groups[0].Min != 2 || cmd.Groups[0].Max != 5 || cmd.Groups[0].Network != "demo_nw" {
				t.Errorf("fsm groups = %+v", cmd.Groups)
			}
		})
	}
	a, _ := os.ReadFile("testdata/seed-tenant.yml")
	b, _ := os.ReadFile("../../examples/seed-tenant.yml")
	if string(a) != string(b) {
		t.Error("the two seed copies differ")
	}
}
