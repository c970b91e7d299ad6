package tenant

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"aas/fsm"
	"aas/scaler"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// apply runs ToFSM's payload through a real FSM.
func apply(t *testing.T, f *fsm.FSM, index uint64, s *Spec) fsm.ApplyResult {
	t.Helper()
	cmd, err := ToFSM(s)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Time = t0
	b, err := fsm.Encode(fsm.ApplyTenantType, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return f.ApplyBytes(index, b)
}

// The acceptance: the seed's tenant.yml yields one tenant, one
// network and one group with min 2, max 5, threshold 0.3, dynamic policy.
func TestSeedAppliesToFSM(t *testing.T) {
	s, err := LoadFile("testdata/seed-tenant.yml")
	if err != nil {
		t.Fatal(err)
	}
	f := fsm.New(nil)
	if r := apply(t, f, 1, s); r.Err != nil {
		t.Fatal(r.Err)
	}
	f.Read(func(st *fsm.State) {
		if len(st.Tenants) != 1 || st.Tenants["demo"] == nil {
			t.Fatalf("tenants = %v", st.Tenants)
		}
		tn := st.Tenants["demo"]
		if len(tn.Networks) != 1 || tn.Networks[0].Name != "demo_nw" {
			t.Errorf("networks = %+v", tn.Networks)
		}
		if !tn.Settings.LogSamples || !tn.Settings.EncryptSecrets {
			t.Errorf("settings = %+v", tn.Settings)
		}
		if len(st.Groups) != 1 {
			t.Fatalf("groups = %v", st.Groups)
		}
		for _, g := range st.Groups {
			if g.Min != 2 || g.Max != 5 {
				t.Errorf("min/max = %d/%d", g.Min, g.Max)
			}
			pol, err := PolicyOf(g.Policy)
			if err != nil {
				t.Fatal(err)
			}
			if pol.Kind() != scaler.KindReactive || pol.Target != 0.3 || pol.Policies[0].Reactive.Threshold != 0.3 {
				t.Errorf("policy = %+v", pol)
			}
		}
	})
}

func TestExamplesApplyToFSM(t *testing.T) {
	f := fsm.New(nil)
	for i, name := range []string{"seed-tenant.yml", "rich-tenant.yml", "multicloud-tenant.yml"} {
		s, err := LoadFile("../../examples/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if r := apply(t, f, uint64(i+1), s); r.Err != nil {
			t.Fatalf("%s: %v", name, r.Err)
		}
	}
	f.Read(func(st *fsm.State) {
		if len(st.Tenants) != 3 || len(st.Groups) != 5 {
			t.Errorf("%d tenants, %d groups", len(st.Tenants), len(st.Groups))
		}
		g := st.Groups[fsm.GroupKey("shop", "web")]
		if g == nil {
			t.Fatal("shop/web missing")
		}
		tmpl, err := TemplateOf(g.Template)
		if err != nil || tmpl.Driver != DriverProcess || tmpl.Health == nil || tmpl.Health.Path != "/healthz" {
			t.Errorf("template %+v %v", tmpl, err)
		}
	})
}

func mustParse(t *testing.T, src string) *Spec {
	t.Helper()
	s, err := Parse([]byte(src), "t.yml")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

const minimal = `name: %s
public_ip: %s
networks:
  - name: nw
    subnets:
      - cidr: %s
groups:
  - name: web
    scaling: {min: 1, max: 3}
`

func spec(t *testing.T, name, pub, cidr string) *Spec {
	return mustParse(t, strings.NewReplacer("%s", "").Replace("")+sprintf(minimal, name, pub, cidr))
}

func sprintf(f string, args ...string) string {
	for _, a := range args {
		f = strings.Replace(f, "%s", a, 1)
	}
	return f
}

func TestCheckConflicts(t *testing.T) {
	a := spec(t, "a", "198.18.250.1", "198.18.10.0/24")
	tests := []struct {
		name      string
		s         *Spec
		wantLine  int
		wantField string
	}{
		{"disjoint", spec(t, "b", "198.18.250.2", "198.18.11.0/24"), 0, ""},
		{"same tenant is skipped", spec(t, "a", "198.18.250.1", "198.18.10.0/24"), 0, ""},
		{"range overlap", spec(t, "b", "198.18.250.2", "198.18.10.0/25"), 6, "networks[0].subnets[0].dhcp_start"},
		{"public ip taken", spec(t, "b", "198.18.250.1", "198.18.11.0/24"), 2, "public_ip"},
		{"public ip in a range", spec(t, "b", "198.18.10.77", "198.18.11.0/24"), 2, "public_ip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckConflicts(tc.s, []Spec{*a})
			if tc.wantField == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrConflict) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrConflict and ErrInvalid", err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Line != tc.wantLine || fe.Field != tc.wantField {
				t.Errorf("got %v, want line %d field %s", err, tc.wantLine, tc.wantField)
			}
		})
	}
	// Against the replicated state's view of the same tenant.
	f := fsm.New(nil)
	if r := apply(t, f, 1, a); r.Err != nil {
		t.Fatal(r.Err)
	}
	var existing []Spec
	f.Read(func(st *fsm.State) {
		for _, tn := range st.Tenants {
			existing = append(existing, FromFSM(tn))
		}
	})
	if err := CheckConflicts(spec(t, "c", "", "198.18.10.128/25"), existing); !errors.Is(err, ErrConflict) {
		t.Errorf("FromFSM: err = %v", err)
	}
}

func TestSecretsAndRedact(t *testing.T) {
	s, err := LoadFile("../../examples/rich-tenant.yml")
	if err != nil {
		t.Fatal(err)
	}
	secrets := Secrets(s)
	if len(secrets) != 2 || *secrets[0] != "change-me" || *secrets[1] != "s3cret" {
		t.Fatalf("secrets = %v", secrets)
	}
	r := Redact(s)
	out, _ := json.Marshal(r)
	if bytes.Contains(out, []byte("change-me")) || bytes.Contains(out, []byte("s3cret")) {
		t.Errorf("redacted spec still holds a secret: %s", out)
	}
	if *Secrets(s)[0] != "change-me" {
		t.Error("Redact modified its input")
	}
	// Encrypting in place reaches ToFSM's payload.
	for _, p := range Secrets(s) {
		*p = "enc:" + strings.ToUpper(*p)
	}
	cmd, err := ToFSM(s)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := json.Marshal(cmd)
	if bytes.Contains(all, []byte("change-me")) || !bytes.Contains(all, []byte("enc:CHANGE-ME")) {
		t.Errorf("payload: %s", all)
	}
}

func TestLimits(t *testing.T) {
	big := bytes.Repeat([]byte("# padding line\n"), MaxFileSize/15+10)
	if _, err := Parse(big, "big.yml"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "limit") {
		t.Errorf("oversized file: %v", err)
	}
	path := t.TempDir() + "/big.yml"
	if err := os.WriteFile(path, big, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); !errors.Is(err, ErrInvalid) {
		t.Errorf("LoadFile oversized: %v", err)
	}
	if _, err := LoadFile(t.TempDir() + "/none.yml"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}

	// A billion-laughs file and a deeply nested one are refused without
	// expanding anything: the memory allocated stays small.
	var bomb strings.Builder
	bomb.WriteString("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		bomb.WriteString(n + ": &" + n + " [")
		for j := range 9 {
			if j > 0 {
				bomb.WriteString(",")
			}
			bomb.WriteString("*" + prev)
		}
		bomb.WriteString("]\n")
		prev = n
	}
	deep := "name: x\nnetworks: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n"
	for name, src := range map[string]string{"bomb": bomb.String(), "deep": deep} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Parse([]byte(src), name)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v", name, err)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
			t.Errorf("%s: allocated %d bytes", name, alloc)
		}
	}
}

func TestErrorListAndFormat(t *testing.T) {
	src := "name: Bad!\nnetworks: []\ncolour: x\n"
	_, err := Parse([]byte(src), "f.yml")
	var fes FieldErrors
	if !errors.As(err, &fes) {
		t.Fatalf("%T", err)
	}
	var got []string
	for _, e := range fes {
		got = append(got, e.Error())
	}
	want := []string{
		"f.yml:3: colour: unknown field (known: name, public_ip, settings, networks, clouds, groups)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Once the keys are known, every semantic problem is listed in line order.
	_, err = Parse([]byte("name: Bad!\nnetworks: []\n"), "f.yml")
	if !errors.As(err, &fes) || len(fes) != 2 || fes[0].Line != 1 || fes[1].Line != 2 {
		t.Errorf("got %v", err)
	}
}

func TestDefaults(t *testing.T) {
	s := mustParse(t, sprintf(minimal, "d", "", "198.18.30.0/24"))
	sn := s.Networks[0].Subnets[0]
	if sn.Gateway != "198.18.30.1" || sn.DHCPStart != "198.18.30.2" || sn.DHCPEnd != "198.18.30.254" {
		t.Errorf("subnet defaults %+v", sn)
	}
	g := s.Groups[0]
	if g.Network != "nw" || g.Drain.D() != 30*time.Second || !s.Settings.Logging {
		t.Errorf("group defaults %+v settings %+v", g, s.Settings)
	}
	if g.Scaling.CooldownOut.D() != scaler.DefaultCooldown || g.Scaling.Kind() != scaler.KindNone {
		t.Errorf("scaling defaults %+v", g.Scaling)
	}
	v6 := mustParse(t, sprintf(minimal, "d", "", "2001:db8:1::/64"))
	if sn := v6.Networks[0].Subnets[0]; sn.Gateway != "2001:db8:1::1" || sn.DHCPStart != "2001:db8:1::2" || sn.DHCPEnd != "2001:db8:1:0:ffff:ffff:ffff:ffff" {
		t.Errorf("v6 defaults %+v", sn)
	}
}

func TestValidateBuiltSpec(t *testing.T) {
	s := &Spec{Name: "x", Networks: []Network{{Name: "n", Subnets: []Subnet{{CIDR: "198.18.40.0/24"}}}},
		Groups: []Group{{Name: "g", Scaling: Scaling{GroupSpec: scaler.GroupSpec{Min: 3, Max: 2}}}}}
	err := s.Validate()
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "groups[0].scaling.min" {
		t.Errorf("err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/seed-tenant.yml", "../../examples/rich-tenant.yml", "../../examples/multicloud-tenant.yml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	bad, _ := os.ReadDir("testdata/bad")
	for i, e := range bad {
		if i%4 != 0 {
			continue
		}
		b, err := os.ReadFile("testdata/bad/" + e.Name())
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data, "fuzz.yml")
		if err != nil {
			if s != nil {
				t.Fatal("spec returned with an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			var fes FieldErrors
			if !errors.As(err, &fes) || len(fes) == 0 {
				t.Fatalf("not a FieldErrors: %T %v", err, err)
			}
			return
		}
		// An accepted spec converts, clones and re-validates cleanly.
		if _, err := ToFSM(s); err != nil {
			t.Fatal(err)
		}
		c := s.Clone()
		if err := c.Validate(); err != nil {
			t.Fatalf("a clone of an accepted spec is invalid: %v", err)
		}
		_ = Redact(s)
	})
}

func TestSeedVariants(t *testing.T) {
	seed, err := os.ReadFile("testdata/seed-tenant.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string][]byte{
		"crlf":          bytes.ReplaceAll(seed, []byte("\n"), []byte("\r\n")),
		"bom":           append([]byte("\ufeff"), seed...),
		"document mark": append([]byte("---\n# a comment\n"), seed...),
		"booleans":      bytes.Replace(bytes.Replace(seed, []byte("should_log: 1"), []byte("should_log: true"), 1), []byte("should_encrypt_pwd: 1"), []byte("should_encrypt_pwd: true"), 1),
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := Parse(src, name)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != "demo" || s.Groups[0].Scaling.Max != 5 || !s.Settings.EncryptPasswords {
				t.Errorf("%+v", s)
			}
		})
	}
}
