package labkit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"aas/cluster/api"
	"aas/cluster/client"
)

// RegisteredCloud is a cloud as the replicated state holds it (GET
// /ui/api/clouds, the dashboard's read-only view).
type RegisteredCloud struct {
	Name     string            `json:"name"`
	Priority int               `json:"priority"`
	Meta     map[string]string `json:"meta,omitempty"`
}

// ErrCloudsAPIMissing: the agents do not serve GET /ui/api/clouds.
var ErrCloudsAPIMissing = errors.New("labkit: the agents have no clouds view")

// WaitClouds polls the leader until the replicated state has every lab
// cloud — each controller registers its own cloud once it has a leader,
// and the converger places instances only in registered clouds, so a
// group scaled before that spills over to the clouds that are there —
// and, with withLBAddr, each cloud's published load-balancer address
// (meta "lb_addr", which the master LB needs to send traffic there).
func (l *Lab) WaitClouds(ctx context.Context, withLBAddr bool) error {
	var want []string
	for _, c := range l.Controllers() {
		want = append(want, c.Cloud)
	}
	var last string
	for {
		if got, err := l.clouds(ctx); err != nil {
			if errors.Is(err, ErrCloudsAPIMissing) {
				return err
			}
			last = err.Error()
		} else {
			var missing []string
			for _, name := range want {
				i := slices.IndexFunc(got, func(c RegisteredCloud) bool { return c.Name == name })
				switch {
				case i < 0:
					missing = append(missing, name+" (not registered)")
				case withLBAddr && got[i].Meta["lb_addr"] == "":
					missing = append(missing, name+" (no lb_addr)")
				}
			}
			if len(missing) == 0 {
				return nil
			}
			last = strings.Join(missing, ", ")
		}
		if err := l.checkRunning(nil); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: clouds: %s", ErrNotReady, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// clouds reads the registered clouds from the leader (or the first
// controller when the leader is unknown).
func (l *Lab) clouds(ctx context.Context) ([]RegisteredCloud, error) {
	ids := l.ControllerIDs()
	var alive []string
	for _, id := range ids {
		if c, ok := l.Controller(id); ok && procAlive(c.PID) {
			alive = append(alive, id)
		}
	}
	if len(alive) == 0 {
		return nil, fmt.Errorf("%w: no controller running", ErrNotReady)
	}
	c, ok := l.Controller(l.Leaders(ctx, alive...)[alive[0]])
	if !ok {
		c, _ = l.Controller(alive[0])
	}
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var out []RegisteredCloud
	err := l.Client(c).Do(cctx, http.MethodGet, "/ui/api/clouds", nil, &out)
	var ce *client.Error
	if errors.Is(err, api.ErrNotFound) || errors.As(err, &ce) && ce.Code == http.StatusNotFound {
		return nil, fmt.Errorf("%w: %v", ErrCloudsAPIMissing, err)
	}
	return out, err
}
