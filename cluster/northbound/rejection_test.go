package northbound

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"aas/cluster"
	"aas/cluster/api"
	"aas/fsm"
)

// TestRejectionStatus: FSM rejections, local (sentinel in the chain) or
// forwarded from the leader (only the text survives), get a precise
// status instead of the cluster's generic 422, and keep the fsm sentinel.
func TestRejectionStatus(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		status   int
		sentinel error
	}{
		{"local version conflict", fmt.Errorf("%w: %w", cluster.ErrCommandRejected,
			fmt.Errorf("apply-tenant: %w: %w: tenant at 2", fsm.ErrBadCommand, fsm.ErrVersionConflict)), http.StatusConflict, fsm.ErrVersionConflict},
		{"forwarded version conflict", fmt.Errorf("%w: %w", cluster.ErrCommandRejected,
			fmt.Errorf("%w: apply-tenant: fsm: bad command: version conflict: tenant at 2", fsm.ErrBadCommand)), http.StatusConflict, fsm.ErrVersionConflict},
		{"forwarded not found", fmt.Errorf("%w: %w", cluster.ErrCommandRejected,
			errors.New("set-desired: fsm: bad command: not found: group a/b")), http.StatusNotFound, fsm.ErrNotFound},
		{"local not found", fmt.Errorf("%w: %w", cluster.ErrCommandRejected,
			fmt.Errorf("%w: %w: instance x", fsm.ErrBadCommand, fsm.ErrNotFound)), http.StatusNotFound, fsm.ErrNotFound},
		{"plain bad command", fmt.Errorf("%w: %w", cluster.ErrCommandRejected,
			fmt.Errorf("%w: desired -1 is negative", fsm.ErrBadCommand)), http.StatusBadRequest, fsm.ErrBadCommand},
		{"no leader passes through", fmt.Errorf("apply: %w", api.ErrNoLeader), http.StatusServiceUnavailable, api.ErrNoLeader},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := rejection(tc.err)
			if s := api.StatusOf(got); s != tc.status {
				t.Fatalf("status %d, want %d (%v)", s, tc.status, got)
			}
			if errors.Is(got, cluster.ErrCommandRejected) && tc.status != http.StatusServiceUnavailable {
				t.Fatalf("%v still wraps ErrCommandRejected (would map to 422)", got)
			}
			if !errors.Is(got, tc.sentinel) {
				t.Fatalf("%v does not match %v", got, tc.sentinel)
			}
		})
	}
}
