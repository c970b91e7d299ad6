package labkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"aas/netcfg"
)

// processDriverState is the part of the process driver's state file
// (HYPERVISOR_DATA_DIR/process/instances.json) that teardown needs.
type processDriverState struct {
	Instances map[string]struct {
		PID   int    `json:"pid"`
		Argv0 string `json:"argv0"`
		NetNS string `json:"netns"`
	} `json:"instances"`
}

// removeInstances stops the instances the lab's hypervisors started with
// the process driver (they run in their own sessions, so killing an agent
// leaves them) and deletes their namespaces (netns mode), as recorded in
// each hypervisor's driver state. A PID is killed only while its argv[0]
// is still the instance's command (PID reuse); a namespace only if it is
// named like the driver's ("aas-…").
func removeInstances(st *State) error {
	var errs []error
	for _, h := range st.Hypervisors {
		if h.DataDir == "" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(h.DataDir, "process", "instances.json"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("labkit: instances of %s: %w", h.ID, err))
			continue
		}
		var ps processDriverState
		if err := json.Unmarshal(b, &ps); err != nil {
			errs = append(errs, fmt.Errorf("labkit: instances of %s: %w", h.ID, err))
			continue
		}
		for id, r := range ps.Instances {
			if args := procCmdline(r.PID); procAlive(r.PID) && len(args) > 0 && args[0] == r.Argv0 {
				if err := killPID(r.PID, 10*time.Second); err != nil {
					errs = append(errs, fmt.Errorf("labkit: instance %s: %w", id, err))
				}
			}
			if strings.HasPrefix(r.NetNS, "aas-") {
				if _, err := os.Stat(filepath.Join(netcfg.NetnsDir, r.NetNS)); err == nil {
					if err := netcfg.DeleteNamespace(r.NetNS); err != nil {
						// The agents run under `ip netns exec`, which gives
						// them a mount namespace of their own: the driver's
						// bind mount of the namespace lived there and is gone
						// with the agent, leaving only the mount point file
						// (umount: EINVAL). The namespace itself went with
						// its last process.
						if !errors.Is(err, syscall.EINVAL) || os.Remove(filepath.Join(netcfg.NetnsDir, r.NetNS)) != nil {
							errs = append(errs, err)
						}
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

// HypervisorInstances reads what each hypervisor agent really runs: the
// instance IDs in its process driver's state file whose process is alive
// (argv[0] still the instance's command), by hypervisor ID. It is the
// agents' side of a "no duplicate, no orphan" check against the FSM.
func (l *Lab) HypervisorInstances() (map[string][]string, error) {
	out := map[string][]string{}
	for _, h := range l.Hypervisors() {
		b, err := os.ReadFile(filepath.Join(h.DataDir, "process", "instances.json"))
		if errors.Is(err, os.ErrNotExist) {
			out[h.ID] = nil
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("labkit: instances of %s: %w", h.ID, err)
		}
		var ps processDriverState
		if err := json.Unmarshal(b, &ps); err != nil {
			// The driver rewrites the file atomically; a torn read is a bug.
			return nil, fmt.Errorf("labkit: instances of %s: %w", h.ID, err)
		}
		for id, r := range ps.Instances {
			if args := procCmdline(r.PID); procAlive(r.PID) && len(args) > 0 && args[0] == r.Argv0 {
				out[h.ID] = append(out[h.ID], id)
			}
		}
	}
	return out, nil
}
