package lbsync

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/hashicorp/go-hclog"

	"aas/netcfg"
)

func TestMasterServicesWeighClouds(t *testing.T) {
	g := groupView{Tenant: "t", Name: "web", Key: "t/web", Port: 8080, PublicIP: "198.18.5.5", Backends: []backend{
		{ID: "a", Cloud: "c1", Addr: "198.18.1.2:8080"},
		{ID: "b", Cloud: "c1", Addr: "198.18.1.3:8080"},
		{ID: "c", Cloud: "c1", Addr: "198.18.1.4:8080", Draining: true},
		{ID: "d", Cloud: "c2", Addr: "198.18.2.2:8080"},
		{ID: "e", Cloud: "c2", Addr: "198.18.2.3:8080"},
		{ID: "f", Cloud: "c2", Addr: "198.18.2.4:8080"},
		{ID: "g", Cloud: "c3", Addr: "198.18.3.2:8080"}, // c3 has no LB address
		{ID: "h", Cloud: "c4", Addr: "198.18.4.2:8080", Draining: true},
	}}
	addrs := StaticCloudAddrs(map[string]netip.Addr{"c2": netip.MustParseAddr("198.18.0.2"), "c4": netip.MustParseAddr("198.18.0.4")})
	noIP := g
	noIP.Key, noIP.Name, noIP.PublicIP = "t/api", "api", ""
	defPort := g
	defPort.Key, defPort.Name, defPort.Port = "t/def", "def", 0
	got := masterServices([]groupView{g, noIP, defPort}, "c1", addrs, map[string]int{"t/web": 20001, "t/def": 20002}, true, hclog.NewNullLogger())
	want := []netcfg.Backend{
		{Addr: netip.MustParseAddrPort("198.18.1.2:8080"), Weight: 1},
		{Addr: netip.MustParseAddrPort("198.18.1.3:8080"), Weight: 1},
		{Addr: netip.MustParseAddrPort("198.18.0.2:20001"), Weight: 3},
	}
	if len(got) != 2 {
		t.Fatalf("got %d services, want 2 (the group without public IP has none): %+v", len(got), got)
	}
	web := got[0]
	if web.Group != "web"+MasterGroupSuffix || web.VIP != netip.MustParseAddr("198.18.5.5") || web.Port != 8080 || !web.Masquerade {
		t.Errorf("service = %+v", web)
	}
	if !reflect.DeepEqual(web.Backends, want) {
		t.Errorf("backends = %+v\nwant %+v", web.Backends, want)
	}
	if got[1].Port != DefaultServicePort || got[1].Backends[2].Addr.Port() != 20002 {
		t.Errorf("group without template port: %+v", got[1])
	}
	for _, s := range got {
		if err := s.Validate(); err != nil {
			t.Errorf("invalid service: %v", err)
		}
	}
}

func TestCloudServicesKeepOwnCloudAndDraining(t *testing.T) {
	lb := netip.MustParseAddr("198.18.0.1")
	gs := []groupView{
		{Tenant: "t", Name: "web", Key: "t/web", Backends: []backend{
			{ID: "a", Cloud: "c1", Addr: "198.18.1.2:8080"},
			{ID: "b", Cloud: "c1", Addr: "198.18.1.3:8080", Draining: true},
			{ID: "c", Cloud: "c2", Addr: "198.18.2.2:8080"},
			{ID: "d", Cloud: "c1", Addr: "not-an-address"},
		}},
		{Tenant: "t", Name: "other", Key: "t/other", Backends: []backend{{ID: "e", Cloud: "c2", Addr: "198.18.2.3:80"}}},
	}
	got := cloudServices(gs, "c1", lb, map[string]int{"t/web": 20007, "t/other": 20008}, true)
	want := []netcfg.Service{{Tenant: "t", Group: "web", VIP: lb, Port: 20007, Masquerade: true, Backends: []netcfg.Backend{
		{Addr: netip.MustParseAddrPort("198.18.1.2:8080"), Weight: 1},
		{Addr: netip.MustParseAddrPort("198.18.1.3:8080"), Weight: 1, Draining: true},
	}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("cloudServices = %+v\nwant %+v", got, want)
	}
}

func TestValidServicesDropsBadAndDuplicates(t *testing.T) {
	vip := netip.MustParseAddr("198.18.0.1")
	b := []netcfg.Backend{{Addr: netip.MustParseAddrPort("198.18.1.2:80")}}
	in := []netcfg.Service{
		{Tenant: "t", Group: "a", VIP: vip, Port: 80, Backends: b},
		{Tenant: "t", Group: "b", VIP: vip, Port: 80, Backends: b}, // same VIP:port
		{Tenant: "t", Group: "c", VIP: vip, Port: 0, Backends: b},  // bad port
		{Tenant: "t", Group: "a", VIP: vip, Port: 81, Backends: b}, // same key
		{Tenant: "t", Group: "d", VIP: vip, Port: 82, Backends: b},
	}
	got := validServices(in, hclog.NewNullLogger())
	var keys []string
	for _, s := range got {
		keys = append(keys, s.Key())
	}
	if !reflect.DeepEqual(keys, []string{"t/a", "t/d"}) {
		t.Fatalf("kept %v, want [t/a t/d]", keys)
	}
}

func TestTemplatePort(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want int
	}{{``, 0}, {`{"port":8080}`, 8080}, {`{"driver":"process"}`, 0}, {`{"port":70000}`, 0}, {`not json`, 0}} {
		if got := templatePort([]byte(tc.raw)); got != tc.want {
			t.Errorf("templatePort(%q) = %d, want %d", tc.raw, got, tc.want)
		}
	}
}

// A cloud whose backends are all draining still takes new connections
// (the master LB may send some until it drops the cloud).
func TestCloudServicesAllDrainingTakeNewConnections(t *testing.T) {
	lb := netip.MustParseAddr("198.18.0.1")
	gs := []groupView{{Tenant: "t", Name: "web", Key: "t/web", Backends: []backend{
		{ID: "a", Cloud: "c1", Addr: "198.18.1.2:8080", Draining: true},
		{ID: "b", Cloud: "c1", Addr: "198.18.1.3:8080", Draining: true},
	}}}
	got := cloudServices(gs, "c1", lb, map[string]int{"t/web": 20007}, true)
	want := []netcfg.Service{{Tenant: "t", Group: "web", VIP: lb, Port: 20007, Masquerade: true, Backends: []netcfg.Backend{
		{Addr: netip.MustParseAddrPort("198.18.1.2:8080"), Weight: 1},
		{Addr: netip.MustParseAddrPort("198.18.1.3:8080"), Weight: 1},
	}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("cloudServices = %+v\nwant %+v", got, want)
	}
}
