package fsm

import "testing"

// IfAbsent creates a cloud but never replaces an existing record (its
// metadata, e.g. a published LB address, survives a controller's
// re-registration at start).
func TestUpsertCloudIfAbsent(t *testing.T) {
	h := newHarness(t)
	h.ok(UpsertCloudType, UpsertCloud{Cloud: Cloud{Name: "c1", Priority: 3}, IfAbsent: true})
	if c, ok := h.state().Clouds["c1"]; !ok || c.Priority != 3 {
		t.Fatalf("IfAbsent on a new cloud: %+v %v", c, ok)
	}
	h.ok(UpsertCloudType, UpsertCloud{Cloud: Cloud{Name: "c1", Priority: 3, Meta: map[string]string{"lb_addr": "198.18.0.11"}}})
	h.ok(UpsertCloudType, UpsertCloud{Cloud: Cloud{Name: "c1", Priority: 7}, IfAbsent: true})
	c := h.state().Clouds["c1"]
	if c.Priority != 3 || c.Meta["lb_addr"] != "198.18.0.11" {
		t.Fatalf("IfAbsent replaced an existing cloud: %+v", c)
	}
	h.ok(UpsertCloudType, UpsertCloud{Cloud: Cloud{Name: "c1", Priority: 7}})
	if c := h.state().Clouds["c1"]; c.Priority != 7 || len(c.Meta) != 0 {
		t.Fatalf("a plain upsert must replace: %+v", c)
	}
}
