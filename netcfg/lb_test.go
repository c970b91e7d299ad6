package netcfg

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/vishvananda/netns"
)

func TestProbabilities(t *testing.T) {
	cases := []struct {
		weights []int
		want    []float64
	}{
		{[]int{1}, []float64{1}},
		{[]int{1, 1, 1}, []float64{1.0 / 3, 1.0 / 2, 1}},
		{[]int{1, 1, 1, 1}, []float64{1.0 / 4, 1.0 / 3, 1.0 / 2, 1}},
		{[]int{3, 1}, []float64{3.0 / 4, 1}},
		{[]int{1, 2, 3}, []float64{1.0 / 6, 2.0 / 5, 1}},
		{nil, []float64{}},
	}
	for _, tc := range cases {
		got := Probabilities(tc.weights)
		if len(got) != len(tc.want) {
			t.Fatalf("Probabilities(%v) = %v", tc.weights, got)
		}
		// The share each rule really gets: p_i × Π_{j<i}(1-p_j) must be
		// w_i / Σw.
		total := 0
		for _, w := range tc.weights {
			total += w
		}
		reach := 1.0
		for i, p := range got {
			if math.Abs(p-tc.want[i]) > 1e-12 {
				t.Errorf("Probabilities(%v)[%d] = %v, want %v", tc.weights, i, p, tc.want[i])
			}
			share := reach * p
			if want := float64(tc.weights[i]) / float64(total); math.Abs(share-want) > 1e-12 {
				t.Errorf("weights %v: backend %d share %v, want %v", tc.weights, i, share, want)
			}
			reach *= 1 - p
		}
	}
}

func TestServiceChainBase(t *testing.T) {
	cases := [][2]string{
		{"acme", "web"},
		{"a-very-long-tenant-name-indeed", "and-a-long-group-name"},
		{"a", "b_c"},
		{"a_b", "c"}, // same slug as above, different key
		{"t.x", "g"},
	}
	seen := map[string]string{}
	for _, c := range cases {
		b := ServiceChainBase(c[0], c[1])
		if !strings.HasPrefix(b, ServicePrefix) || len(b)+2 > maxChainLen {
			t.Errorf("ServiceChainBase(%q, %q) = %q (%d bytes)", c[0], c[1], b, len(b))
		}
		if strings.ContainsAny(b, " ./!") {
			t.Errorf("ServiceChainBase(%q, %q) = %q has unsafe characters", c[0], c[1], b)
		}
		if prev, dup := seen[b]; dup {
			t.Errorf("%q and %q/%q share chain %q", prev, c[0], c[1], b)
		}
		seen[b] = c[0] + "/" + c[1]
		if again := ServiceChainBase(c[0], c[1]); again != b {
			t.Errorf("not deterministic: %q vs %q", b, again)
		}
	}
}

func TestServiceValidate(t *testing.T) {
	good := Service{Tenant: "acme", Group: "web", VIP: ip("198.18.100.1"), Port: 80,
		Backends: []Backend{{Addr: netip.MustParseAddrPort("198.18.10.2:8080")}}}
	cases := []struct {
		name  string
		mod   func(*Service)
		field string
	}{
		{"ok", func(*Service) {}, ""},
		{"empty tenant", func(s *Service) { s.Tenant = "" }, "tenant"},
		{"tenant with space", func(s *Service) { s.Tenant = "a b" }, "tenant"},
		{"group starting with dash", func(s *Service) { s.Group = "-j" }, "group"},
		{"ipv6 vip", func(s *Service) { s.VIP = ip("::1") }, "VIP"},
		{"no port", func(s *Service) { s.Port = 0 }, "Port"},
		{"bad protocol", func(s *Service) { s.Protocol = "sctp" }, "Protocol"},
		{"backend without port", func(s *Service) { s.Backends[0].Addr = netip.AddrPortFrom(ip("198.18.10.2"), 0) }, "Backends[0].Addr"},
		{"negative weight", func(s *Service) { s.Backends[0].Weight = -1 }, "Backends[0].Weight"},
		{"duplicate backend", func(s *Service) { s.Backends = append(s.Backends, s.Backends[0]) }, "Backends[1].Addr"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			s.Backends = slices.Clone(good.Backends)
			tc.mod(&s)
			err := s.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate() = %v, want ErrInvalid naming %s", err, tc.field)
			}
		})
	}
}

func TestSplitRule(t *testing.T) {
	got := splitRule(`-A AAS-LB -d 198.18.0.1/32 -p tcp -m comment --comment "aas:t/g fp=ab" -j AAS-S-x-0`)
	want := []string{"-A", "AAS-LB", "-d", "198.18.0.1/32", "-p", "tcp", "-m", "comment", "--comment", "aas:t/g fp=ab", "-j", "AAS-S-x-0"}
	if !slices.Equal(got, want) {
		t.Fatalf("splitRule = %q", got)
	}
}

// chiSquare of observed counts against expected shares.
func chiSquare(obs map[string]int, want map[string]float64, n int) float64 {
	x := 0.0
	for k, share := range want {
		e := share * float64(n)
		d := float64(obs[k]) - e
		x += d * d / e
	}
	return x
}

// Critical values of χ² at p = 0.001 by degrees of freedom: a correct
// balancer fails the check once in a thousand runs.
var chi2crit = map[int]float64{1: 10.83, 2: 13.82, 3: 16.27}

// lbLab is client ns → LB ns → three backend namespaces. Backends have no
// route back to the client, so replies only work through masquerading.
type lbLab struct {
	client, lbns netns.NsHandle
	ipt          IPTables
	backends     []netip.AddrPort
	names        []string
}

func newLBLab(t testing.TB) *lbLab { return newLBLabRouted(t, false) }

// newLBLabRouted: with routed, backends get a default route via the LB, so
// they are reachable directly and need no masquerading.
func newLBLabRouted(t testing.TB, routed bool) *lbLab {
	requireNetAdmin(t)
	lab := &lbLab{client: testNS(t, "cli"), lbns: testNS(t, "lb")}
	wire(t, lab.client, "eth0", "198.18.0.2/24", lab.lbns, "cli0", "198.18.0.1/24")
	must(t, testLinks(t, lab.client).AddRoute(pfx("0.0.0.0/0"), ip("198.18.0.1"), ""))
	must(t, SetSysctl(lab.lbns, "net.ipv4.ip_forward", "1"))
	for i := range 3 {
		be := testNS(t, fmt.Sprintf("be%d", i))
		wire(t, lab.lbns, fmt.Sprintf("be%d", i), fmt.Sprintf("198.18.%d.1/24", 10+i), be, "eth0", fmt.Sprintf("198.18.%d.2/24", 10+i))
		addr := netip.MustParseAddrPort(fmt.Sprintf("198.18.%d.2:8080", 10+i))
		name := fmt.Sprintf("be%d", i)
		if routed {
			must(t, testLinks(t, be).AddRoute(pfx("0.0.0.0/0"), ip(fmt.Sprintf("198.18.%d.1", 10+i)), ""))
		}
		serveName(t, be, addr.String(), name)
		lab.backends = append(lab.backends, addr)
		lab.names = append(lab.names, name)
	}
	ipt, err := NewIPTablesIn(lab.lbns)
	must(t, err)
	lab.ipt = ipt
	return lab
}

func (lab *lbLab) service(mod func(i int, b *Backend)) Service {
	s := Service{Tenant: "acme", Group: "web", VIP: ip("198.18.100.1"), Port: 80, Masquerade: true}
	for i, a := range lab.backends {
		b := Backend{Addr: a}
		if mod != nil {
			mod(i, &b)
		}
		s.Backends = append(s.Backends, b)
	}
	return s
}

// count sends n requests (new connections) from the client to the VIP.
func (lab *lbLab) count(t *testing.T, n int) map[string]int {
	t.Helper()
	c := nsClient(lab.client)
	got := map[string]int{}
	for i := 0; i < n; i++ {
		body, err := get(c, "http://198.18.100.1:80/")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got[body]++
	}
	return got
}

func (lab *lbLab) snapshot(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, c := range []string{"PREROUTING", "OUTPUT", "POSTROUTING"} {
		rules, err := lab.ipt.List(natTable, c)
		must(t, err)
		fmt.Fprintln(&b, strings.Join(rules, "\n"))
	}
	chains, err := lab.ipt.ListChains(natTable)
	must(t, err)
	for _, c := range chains {
		if strings.HasPrefix(c, ChainPrefix) {
			rules, err := lab.ipt.List(natTable, c)
			must(t, err)
			fmt.Fprintln(&b, strings.Join(rules, "\n"))
		}
	}
	return b.String()
}

func TestLBDistributesDrainsAndCleansUp(t *testing.T) {
	lab := newLBLab(t)
	lb := NewLB(lab.ipt, nil)
	t.Cleanup(func() { lb.Teardown() })

	// Equal shares over 300 new connections.
	must(t, lb.Sync([]Service{lab.service(nil)}))
	const n = 300
	got := lab.count(t, n)
	equal := map[string]float64{"be0": 1.0 / 3, "be1": 1.0 / 3, "be2": 1.0 / 3}
	if x := chiSquare(got, equal, n); x > chi2crit[2] {
		t.Fatalf("equal weights: counts %v, χ²=%.2f > %.2f", got, x, chi2crit[2])
	} else {
		t.Logf("equal weights: %v χ²=%.2f", got, x)
	}

	// Sync is idempotent, also from a fresh LB (a restarted controller).
	before := lab.snapshot(t)
	must(t, lb.Sync([]Service{lab.service(nil)}))
	must(t, NewLB(lab.ipt, nil).Sync([]Service{lab.service(nil)}))
	if after := lab.snapshot(t); after != before {
		t.Fatalf("Sync of the same state changed the rules:\n--- before\n%s\n--- after\n%s", before, after)
	}

	// Weighted: 1:1:2.
	must(t, lb.Apply(lab.service(func(i int, b *Backend) { b.Weight = 1 + i/2 })))
	got = lab.count(t, 400)
	if x := chiSquare(got, map[string]float64{"be0": .25, "be1": .25, "be2": .5}, 400); x > chi2crit[2] {
		t.Fatalf("weights 1:1:2: counts %v, χ²=%.2f", got, x)
	} else {
		t.Logf("weights 1:1:2: %v χ²=%.2f", got, x)
	}
	must(t, lb.Apply(lab.service(nil)))

	// An established connection to be0 survives be0's drain; new ones
	// never reach it.
	conn, r := lab.connTo(t, "be0")
	defer conn.Close()
	must(t, lb.Apply(lab.service(func(i int, b *Backend) { b.Draining = i == 0 })))
	got = lab.count(t, n)
	if got["be0"] != 0 {
		t.Fatalf("draining be0 got %d new connections: %v", got["be0"], got)
	}
	if x := chiSquare(got, map[string]float64{"be1": .5, "be2": .5}, n); x > chi2crit[1] {
		t.Fatalf("after drain: counts %v, χ²=%.2f", got, x)
	}
	if body := roundTrip(t, conn, r); body != "be0" {
		t.Fatalf("established connection now answered by %q, want be0", body)
	}

	// A stale service is removed by Sync; Delete and Teardown leave nothing.
	other := lab.service(nil)
	other.Group, other.Port = "api", 81
	must(t, lb.Sync([]Service{lab.service(nil), other}))
	must(t, lb.Sync([]Service{other}))
	if _, err := get(nsClient(lab.client), "http://198.18.100.1:80/"); err == nil {
		t.Fatal("removed service still answers")
	}
	if body, err := get(nsClient(lab.client), "http://198.18.100.1:81/"); err != nil || !strings.HasPrefix(body, "be") {
		t.Fatalf("kept service: %q, %v", body, err)
	}
	must(t, lb.DeleteTenant("acme"))
	owned, err := lb.OwnedChains()
	must(t, err)
	if !slices.Equal(owned, []string{DispatchChain, PostChain}) {
		t.Fatalf("after DeleteTenant owned chains = %v", owned)
	}
	must(t, lb.Apply(lab.service(nil)))
	must(t, lb.Delete("acme", "web"))
	must(t, lb.Teardown())
	if owned, _ = lb.OwnedChains(); len(owned) != 0 {
		t.Fatalf("after Teardown owned chains = %v", owned)
	}
	if s := lab.snapshot(t); strings.Contains(s, ChainPrefix) {
		t.Fatalf("after Teardown rules still mention %s:\n%s", ChainPrefix, s)
	}
}

// connTo opens keep-alive connections to the VIP until one lands on want.
func (lab *lbLab) connTo(t *testing.T, want string) (interface {
	io.ReadWriteCloser
}, *bufio.Reader) {
	t.Helper()
	for range 100 {
		c := dialIn(t, lab.client, "198.18.100.1:80")
		r := bufio.NewReader(c)
		if roundTrip(t, c, r) == want {
			return c, r
		}
		c.Close()
	}
	t.Fatalf("no connection reached %s in 100 tries", want)
	return nil, nil
}

func roundTrip(t *testing.T, c io.Writer, r *bufio.Reader) string {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Replacing the backend set while requests flow fails no request: there is
// no moment with a half-written chain.
func TestLBSwapUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: continuous load during swaps")
	}
	lab := newLBLab(t)
	lb := NewLB(lab.ipt, nil)
	t.Cleanup(func() { lb.Teardown() })
	sets := []Service{
		lab.service(func(i int, b *Backend) { b.Draining = i == 2 }),
		lab.service(func(i int, b *Backend) { b.Draining = i == 0 }),
	}
	must(t, lb.Apply(sets[0]))
	var failures, done atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := nsClient(lab.client)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := get(c, "http://198.18.100.1:80/"); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
				done.Add(1)
			}
		}()
	}
	const swaps = 10
	for i := range swaps {
		must(t, lb.Apply(sets[(i+1)%2]))
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests during %d swaps", done.Load(), swaps)
	if f := failures.Load(); f != 0 {
		t.Fatalf("%d of %d requests failed during swaps; first: %v", f, done.Load(), firstErr.Load())
	}
	owned, err := lb.OwnedChains()
	must(t, err)
	if len(owned) != 3 { // AAS-LB, AAS-POST, one service chain
		t.Fatalf("owned chains after swaps: %v", owned)
	}
}

// A crash between steps can leave an unreferenced service chain; Sync
// removes it and invalid desired state changes nothing.
func TestLBSyncRemovesOrphansAndRejectsBadState(t *testing.T) {
	lab := newLBLab(t)
	lb := NewLB(lab.ipt, nil)
	t.Cleanup(func() { lb.Teardown() })
	must(t, lb.Sync([]Service{lab.service(nil)}))
	orphan := ServiceChainBase("gone", "away") + "-1"
	must(t, lab.ipt.NewChain(natTable, orphan))
	before := lab.snapshot(t)
	bad := lab.service(nil)
	bad.Port = 0
	dup := lab.service(nil)
	dup.Group = "other" // same VIP:port as the first
	for name, desired := range map[string][]Service{
		"invalid field":      {bad},
		"duplicate key":      {lab.service(nil), lab.service(nil)},
		"duplicate endpoint": {lab.service(nil), dup},
	} {
		if err := lb.Sync(desired); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Sync = %v, want ErrInvalid", name, err)
		}
	}
	if after := lab.snapshot(t); after != before {
		t.Fatalf("rejected Sync changed the rules")
	}
	must(t, lb.Sync([]Service{lab.service(nil)}))
	if ok, _ := lab.ipt.ChainExists(natTable, orphan); ok {
		t.Fatalf("orphan chain %s survived Sync", orphan)
	}
}

func FuzzSplitRule(f *testing.F) {
	f.Add(`-A AAS-LB -d 198.18.0.1/32 -m comment --comment "aas:t/g fp=ab" -j AAS-S-x-0`)
	f.Add(`-A X "unterminated`)
	f.Add(`"a\\"b" c`)
	f.Fuzz(func(t *testing.T, line string) {
		for _, f := range splitRule(line) {
			if strings.Contains(line, `"`) {
				continue
			}
			// Without quotes, fields are exactly the space-separated words.
			if f == "" || strings.Contains(f, " ") {
				t.Fatalf("splitRule(%q) produced field %q", line, f)
			}
		}
	})
}

// A crash between "insert the new dispatch rule" and "delete the old one"
// leaves two rules for one service; the next Apply repairs it.
func TestLBRepairsInterruptedSwap(t *testing.T) {
	lab := newLBLab(t)
	lb := NewLB(lab.ipt, nil)
	t.Cleanup(func() { lb.Teardown() })
	svc := lab.service(nil)
	must(t, lb.Apply(svc))
	base := ServiceChainBase(svc.Tenant, svc.Group)
	// Recreate the interrupted state by hand: a complete "-1" generation
	// and its dispatch rule above the "-0" one.
	must(t, lab.ipt.NewChain(natTable, base+"-1"))
	for _, r := range svc.rules(DefaultMasqBit) {
		must(t, lab.ipt.Append(natTable, base+"-1", r...))
	}
	must(t, lab.ipt.Insert(natTable, DispatchChain, 1, svc.jumpSpec(base+"-1", "0123456789ab")...))
	jumps, err := lb.scan()
	must(t, err)
	if len(jumps[base]) != 2 {
		t.Fatalf("setup: %d dispatch rules", len(jumps[base]))
	}

	drained := lab.service(func(i int, b *Backend) { b.Draining = i == 1 })
	must(t, lb.Apply(drained))
	jumps, err = lb.scan()
	must(t, err)
	if len(jumps[base]) != 1 {
		t.Fatalf("after repair: %d dispatch rules: %+v", len(jumps[base]), jumps[base])
	}
	owned, err := lb.OwnedChains()
	must(t, err)
	if len(owned) != 3 {
		t.Fatalf("after repair owned chains = %v", owned)
	}
	if got := lab.count(t, 60); got["be1"] != 0 || got["be0"]+got["be2"] != 60 {
		t.Fatalf("after repair: %v", got)
	}
}
