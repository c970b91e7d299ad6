package labkit

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"go.yaml.in/yaml/v3"
)

const exampleTenant = `name: media
public_ip: 198.18.250.1
clouds:
  - name: onprem
    priority: 0
    max_instances: 4
  - name: aws
    priority: 10
  - name: gcp
    priority: 20
groups:
  - name: stream
    network: front
  - name: transcode
    network: back
    clouds:
      - name: onprem
        priority: 0
      - name: aws
        priority: 1
`

func TestAdaptTenant(t *testing.T) {
	tests := []struct {
		name       string
		clouds     []string
		wantClouds []string
		wantPrio   []int
		// the transcode group's clouds (nil: key dropped)
		wantGroup []string
	}{
		{"three lab clouds", []string{"onprem", "aws", "gcp"}, []string{"onprem", "aws", "gcp"}, []int{0, 10, 20}, []string{"onprem", "aws"}},
		{"one cloud", []string{"onprem"}, []string{"onprem"}, []int{0}, []string{"onprem"}},
		{"new clouds", []string{"cloud1", "cloud2"}, []string{"cloud1", "cloud2"}, []int{0, 10}, nil},
		{"five clouds", []string{"onprem", "aws", "gcp", "cloud4", "cloud5"}, []string{"onprem", "aws", "gcp", "cloud4", "cloud5"}, []int{0, 10, 20, 30, 40}, []string{"onprem", "aws"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := AdaptTenant([]byte(exampleTenant), tt.clouds)
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Name   string
				Clouds []struct {
					Name     string
					Priority int
				}
				Groups []struct {
					Name   string
					Clouds []struct{ Name string }
				}
			}
			if err := yaml.Unmarshal(out, &doc); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var names []string
			var prios []int
			for _, c := range doc.Clouds {
				names = append(names, c.Name)
				prios = append(prios, c.Priority)
			}
			if !reflect.DeepEqual(names, tt.wantClouds) || !reflect.DeepEqual(prios, tt.wantPrio) {
				t.Errorf("clouds %v priorities %v, want %v %v", names, prios, tt.wantClouds, tt.wantPrio)
			}
			var group []string
			for _, c := range doc.Groups[1].Clouds {
				group = append(group, c.Name)
			}
			if !reflect.DeepEqual(group, tt.wantGroup) {
				t.Errorf("transcode clouds %v, want %v", group, tt.wantGroup)
			}
			if doc.Name != "media" || len(doc.Groups) != 2 {
				t.Errorf("rest of the tenant changed: %s", out)
			}
		})
	}
}

func TestAdaptTenantRealExample(t *testing.T) {
	p, err := findUp(DemoTenantFile)
	if err != nil {
		t.Skip(err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := AdaptTenant(data, []string{"onprem", "aws"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "gcp") {
		t.Errorf("gcp left in the adapted tenant:\n%s", out)
	}
}

func TestAdaptTenantRejectsBadYAML(t *testing.T) {
	for _, in := range []string{"", "clouds: [", "- a\n- b\n"} {
		if _, err := AdaptTenant([]byte(in), []string{"onprem"}); !errors.Is(err, ErrInvalid) {
			t.Errorf("AdaptTenant(%q): err %v, want ErrInvalid", in, err)
		}
	}
}

func TestUpRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		field string
	}{
		{"too many clouds", Options{Clouds: MaxClouds + 1}, "Clouds"},
		{"negative clouds", Options{Clouds: -1}, "Clouds"},
		{"foreign prefix", Options{Prefix: "mylab-1"}, "Prefix"},
		{"bad prefix character", Options{Prefix: "aaslab-A_b"}, "Prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lab, err := Up(context.Background(), tt.opts)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.field) {
				if lab != nil {
					_ = lab.Down()
				}
				t.Fatalf("err %v, want ErrInvalid naming %s", err, tt.field)
			}
		})
	}
}

func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	in := &State{Prefix: "aaslab-abc123", WorkDir: dir, VIP: DefaultVIP.String(),
		Namespaces: nsNames("aaslab-abc123", 2), ClientNS: "aaslab-abc123-client",
		Controllers: []ControllerInfo{{Cloud: "onprem", ID: "aaslab-abc123-c1", PID: 42, Args: []string{"-server"}}}}
	if err := WriteState(p, in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadState(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
	if got := len(out.AllNamespaces()); got != 6 {
		t.Errorf("2 clouds: %d namespaces, want 6", got)
	}
}

func TestReadStateRejects(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, content string }{
		{"not json", "{"},
		{"foreign prefix", `{"prefix":"other-1"}`},
		{"no prefix", `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ReadState(p)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), p) {
				t.Fatalf("err %v, want ErrInvalid naming %s", err, p)
			}
		})
	}
}

func TestTeardownRefusesForeignPrefix(t *testing.T) {
	if err := Teardown(&State{Prefix: "x"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err %v, want ErrInvalid", err)
	}
}

// TestTeardownKillsOnlyLabAgents checks the PID-reuse guard: a recorded
// PID whose command line is not a lab agent survives Teardown; a process
// that looks like one of the lab's agents (recorded or not) is killed.
func TestTeardownKillsOnlyLabAgents(t *testing.T) {
	const prefix = "aaslab-t0e5t1"
	start := func(args ...string) *exec.Cmd {
		t.Helper()
		cmd := exec.Command("sh", append([]string{"-c", "sleep 60; :"}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // like startAgent
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); <-done })
		return cmd
	}
	foreign := start("agent", "-node-id", "someone-else")
	recorded := start("agent", "-node-id", prefix+"-c1")
	unrecorded := start("agent", "-node-id", prefix+"-c2-hv1")
	st := &State{Prefix: prefix, Controllers: []ControllerInfo{
		{ID: prefix + "-c1", PID: recorded.Process.Pid},
		{ID: prefix + "-c9", PID: foreign.Process.Pid}, // a recycled PID
	}}
	if err := Teardown(st); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		pid   int
		alive bool
	}{
		{"foreign process with a recorded PID", foreign.Process.Pid, true},
		{"recorded lab agent", recorded.Process.Pid, false},
		{"unrecorded lab agent", unrecorded.Process.Pid, false},
	}
	for _, tt := range tests {
		if got := procAlive(tt.pid); got != tt.alive {
			t.Errorf("%s (pid %d): alive %v, want %v", tt.name, tt.pid, got, tt.alive)
		}
	}
}
