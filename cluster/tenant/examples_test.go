package tenant

import (
	"path/filepath"
	"testing"

	"aas/scaler"
)

func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yml")
	if err != nil || len(files) < 3 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := LoadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ToFSM(s); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRichExample(t *testing.T) {
	s, err := LoadFile("../../examples/multicloud-tenant.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Clouds) != 3 || len(s.Networks) != 2 || len(s.Groups) != 2 {
		t.Fatalf("clouds %d networks %d groups %d", len(s.Clouds), len(s.Networks), len(s.Groups))
	}
	stream := s.Groups[0]
	if k := stream.Scaling.Kind(); k != scaler.KindCustom {
		t.Errorf("stream kind %q, want custom", k)
	}
	if stream.Template.Health.Port != 8443 || stream.Template.Health.Type != HealthTCP {
		t.Errorf("health defaults: %+v", stream.Template.Health)
	}
	back := s.Networks[1].Subnets[1]
	if back.Gateway != "198.18.21.129" || back.DHCPStart != "198.18.21.130" || back.DHCPEnd != "198.18.21.254" {
		t.Errorf("subnet defaults: %+v", back)
	}
	cmd, err := ToFSM(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := cmd.Groups[0].Clouds; len(got) != 3 || got[0].Cloud != "onprem" || got[0].Max != 4 {
		t.Errorf("stream clouds %+v", got)
	}
	if got := cmd.Groups[1].Clouds; len(got) != 2 || got[1].Max != 10 {
		t.Errorf("transcode clouds %+v", got)
	}
	if cmd.Tenant.Settings.LogSamples {
		t.Error("logging: false not carried")
	}

	r, err := LoadFile("../../examples/rich-tenant.yml")
	if err != nil {
		t.Fatal(err)
	}
	api := r.Groups[1].Scaling
	if api.Preset != "hpa" || api.Min != 1 || api.Max != 6 || api.Target != 0.5 || api.ScaleInStabilization.D().Seconds() != 300 {
		t.Errorf("preset merge: %+v", api.GroupSpec)
	}
	if len(Secrets(r)) != 2 {
		t.Errorf("secrets: %d, want 2", len(Secrets(r)))
	}
}
