package labkit

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"aas/netcfg"
)

func TestTenantSubnets(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		want    []InstanceSubnet // Bridge filled in by the test
		wantErr string           // substring; the error wraps ErrInvalid
	}{
		{
			name: "default and explicit gateways",
			yaml: `name: media
networks:
  - name: front
    subnets:
      - cidr: 198.18.20.0/24
  - name: back
    subnets:
      - cidr: 198.18.21.128/25
        gateway: 198.18.21.254
`,
			want: []InstanceSubnet{
				{Tenant: "media", Network: "front", CIDR: netip.MustParsePrefix("198.18.20.0/24"), Gateway: netip.MustParseAddr("198.18.20.1")},
				{Tenant: "media", Network: "back", CIDR: netip.MustParsePrefix("198.18.21.128/25"), Gateway: netip.MustParseAddr("198.18.21.254")},
			},
		},
		{
			name:    "outside the lab range",
			yaml:    "name: x\nnetworks:\n  - name: n\n    subnets:\n      - cidr: 10.0.0.0/24\n",
			wantErr: "networks[0].subnets[0].cidr",
		},
		{
			name:    "bad prefix",
			yaml:    "name: x\nnetworks:\n  - name: n\n    subnets:\n      - cidr: 198.18.20.0/24\n      - cidr: nonsense\n",
			wantErr: "networks[0].subnets[1].cidr",
		},
		{
			name:    "gateway outside its subnet",
			yaml:    "name: x\nnetworks:\n  - name: n\n    subnets:\n      - cidr: 198.18.20.0/24\n        gateway: 198.18.30.1\n",
			wantErr: "networks[0].subnets[0].gateway",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "tenant.yml")
			if err := os.WriteFile(file, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := tenantSubnets(file)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), file) {
					t.Fatalf("error %v, want ErrInvalid naming %s and %q", err, file, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d subnets, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				w.Bridge = netcfg.BridgeName(w.Tenant, w.Network, w.CIDR.String())
				if got[i] != w {
					t.Errorf("subnet %d: got %+v, want %+v", i, got[i], w)
				}
			}
		})
	}
}

// TestRemoveInstances: teardown stops the processes a hypervisor's process
// driver recorded (they outlive the agent in their own sessions) and leaves
// a recorded PID alone when it runs something else (PID reuse).
func TestRemoveInstances(t *testing.T) {
	sleepPath, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(sleepPath, "60")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go cmd.Wait()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		return cmd
	}
	inst, other := start(), start()
	dir := t.TempDir()
	st := &State{Hypervisors: []HypervisorInfo{{ID: "hv1", DataDir: filepath.Join(dir, "hv1")}, {ID: "hv2", DataDir: filepath.Join(dir, "hv2")}}}
	if err := os.MkdirAll(filepath.Join(dir, "hv1", "process"), 0o755); err != nil {
		t.Fatal(err)
	}
	state := fmt.Sprintf(`{"version":1,"instances":{"a":{"pid":%d,"argv0":%q},"b":{"pid":%d,"argv0":"/usr/bin/not-this"}}}`,
		inst.Process.Pid, sleepPath, other.Process.Pid)
	if err := os.WriteFile(filepath.Join(dir, "hv1", "process", "instances.json"), []byte(state), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := removeInstances(st); err != nil { // hv2 has no state file: not an error
		t.Fatal(err)
	}
	if procAlive(inst.Process.Pid) {
		t.Errorf("recorded instance %d still running", inst.Process.Pid)
	}
	if !procAlive(other.Process.Pid) {
		t.Errorf("process %d whose argv[0] is not the recorded command was killed", other.Process.Pid)
	}
}
