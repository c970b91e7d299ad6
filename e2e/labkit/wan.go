package labkit

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"aas/netcfg"
)

// CutWAN sets controller id's WAN link (wan0) down: from then on nothing
// reaches the controller's namespace over the WAN or leaves it (no ARP
// either), like a host that lost power or a cut uplink. The controller
// process keeps running and its addresses stay configured; the kernel
// drops the routes through the link (RestoreWAN puts them back).
func (l *Lab) CutWAN(id string) error { return l.setWAN(id, false) }

// RestoreWAN sets controller id's WAN link up again and re-adds its
// routes to the other clouds' LANs.
func (l *Lab) RestoreWAN(id string) error { return l.setWAN(id, true) }

func (l *Lab) setWAN(id string, up bool) error {
	st := l.State()
	idx := -1
	for i, c := range st.Controllers {
		if c.ID == id {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("%w: unknown controller %q", ErrInvalid, id)
	}
	ns, err := netcfg.NamespaceByName(st.Controllers[idx].NS)
	if err != nil {
		return err
	}
	defer ns.Close()
	lk, err := netcfg.NewLinks(ns)
	if err != nil {
		return err
	}
	defer lk.Close()
	if !up {
		// netcfg has no "set down" (nothing else needs it): netlink here.
		h, err := netlink.NewHandleAt(ns)
		if err != nil {
			return fmt.Errorf("labkit: netlink in %s: %w", st.Controllers[idx].NS, err)
		}
		defer h.Close()
		link, err := h.LinkByName(ctlUplink)
		if err != nil {
			return fmt.Errorf("labkit: %s in %s: %w", ctlUplink, st.Controllers[idx].NS, err)
		}
		if err := h.LinkSetDown(link); err != nil {
			return fmt.Errorf("labkit: set %s down in %s: %w", ctlUplink, st.Controllers[idx].NS, err)
		}
		return nil
	}
	if err := lk.Up(ctlUplink); err != nil {
		return err
	}
	for j := 1; j <= len(st.Controllers); j++ {
		if j != idx+1 {
			if err := lk.AddRoute(lanPrefix(j), controllerWANAddr(j), ""); err != nil {
				return err
			}
		}
	}
	return nil
}
