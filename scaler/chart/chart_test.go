package chart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

// parseSVG decodes the whole document and returns the elements by name and
// the series names found in data-name attributes.
func parseSVG(t *testing.T, b []byte) (map[string]int, []string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	elems := make(map[string]int)
	var series []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("invalid XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			elems[se.Name.Local]++
			for _, a := range se.Attr {
				if a.Name.Local == "data-name" {
					series = append(series, a.Value)
				}
			}
		}
	}
	if elems["svg"] != 1 {
		t.Fatalf("want one svg root, got %d", elems["svg"])
	}
	return elems, series
}

func sampleChart(n int) Chart {
	c := Chart{Title: `Load & capacity <"nasa">`, YLabel: "requests/min", RightYLabel: "instances"}
	load := make([]float64, n)
	capa := make([]float64, n)
	fc := make([]float64, n)
	lo, hi := make([]float64, n), make([]float64, n)
	for i := range n {
		ts := float64(i * 60)
		c.T = append(c.T, ts)
		load[i] = 100 + 80*math.Sin(ts/86400*2*math.Pi) + float64(i%7)
		capa[i] = math.Ceil(load[i] / 40)
		if i < n/2 {
			fc[i], lo[i], hi[i] = math.NaN(), math.NaN(), math.NaN()
		} else {
			fc[i], lo[i], hi[i] = load[i]*1.05, load[i]*0.9, load[i]*1.2
		}
	}
	c.Series = []Series{
		{Name: "load", Values: load},
		{Name: "capacity", Values: capa, Step: true, Right: true},
		{Name: "forecast", Values: fc, Dashed: true},
	}
	c.Band = &Band{Name: "95% interval", Lower: lo, Upper: hi}
	for i := 1; i < n; i++ {
		if capa[i] != capa[i-1] {
			c.Actions = append(c.Actions, Action{T: c.T[i], From: int(capa[i-1]), To: int(capa[i]), Reason: "dynamic"})
		}
	}
	return c
}

func TestRenderValidSVG(t *testing.T) {
	tests := []struct {
		name string
		n    int
	}{
		{"one point", 1},
		{"short", 50},
		{"one day", 1440},
		{"nasa size", 84000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := sampleChart(tc.n)
			var buf bytes.Buffer
			if err := Render(&buf, c); err != nil {
				t.Fatal(err)
			}
			elems, series := parseSVG(t, buf.Bytes())
			want := []string{"load", "capacity", "forecast"}
			if strings.Join(series, ",") != strings.Join(want, ",") {
				t.Errorf("series = %v, want %v", series, want)
			}
			if elems["title"] == 0 || !strings.Contains(buf.String(), "Load &amp; capacity &lt;&#34;nasa&#34;&gt;") && !strings.Contains(buf.String(), "Load &amp; capacity &lt;&quot;nasa&quot;&gt;") {
				t.Errorf("title missing or unescaped")
			}
			for _, name := range []string{"load", "capacity", "forecast", "95% interval"} {
				if !strings.Contains(buf.String(), ">"+name+"</text>") {
					t.Errorf("legend lacks %q", name)
				}
			}
			if len(c.Actions) > 0 && !strings.Contains(buf.String(), `class="actions"`) {
				t.Error("no action markers")
			}
		})
	}
}

// countVertices counts the path commands of the series' lines.
func countVertices(svg string) int {
	n := 0
	for _, line := range strings.Split(svg, "\n") {
		if strings.HasPrefix(line, `<path d="M`) && !strings.Contains(line, "Z") {
			n += strings.Count(line, "L") + strings.Count(line, "H") + 1
		}
	}
	return n
}

func TestDownsamplingBoundsSize(t *testing.T) {
	small, big := sampleChart(2000), sampleChart(84000)
	var a, b bytes.Buffer
	if err := Render(&a, small); err != nil {
		t.Fatal(err)
	}
	if err := Render(&b, big); err != nil {
		t.Fatal(err)
	}
	// 42× the data, yet the file grows by far less (the actions are merged
	// per pixel column too).
	if ratio := float64(b.Len()) / float64(a.Len()); ratio > 3 {
		t.Errorf("84000-point chart is %.1f× the 2000-point one (%d vs %d bytes)", ratio, b.Len(), a.Len())
	}
	if b.Len() > 1<<20 {
		t.Errorf("84000-point chart is %d bytes", b.Len())
	}
	// Without reduction it would be far bigger.
	mid := sampleChart(20000)
	var r, c bytes.Buffer
	if err := Render(&r, mid); err != nil {
		t.Fatal(err)
	}
	mid.MaxPoints = 1 << 30
	if err := Render(&c, mid); err != nil {
		t.Fatal(err)
	}
	if c.Len() < 3*r.Len() {
		t.Errorf("unreduced %d bytes vs reduced %d: reduction not effective", c.Len(), r.Len())
	}
	t.Logf("2000 points: %d B; 84000: %d B; 20000 reduced %d B vs unreduced %d B", a.Len(), b.Len(), r.Len(), c.Len())
	if v := countVertices(b.String()); v > 3*MaxPoints+100 {
		t.Errorf("%d vertices drawn", v)
	}
}

func TestReduceKeepsExtremes(t *testing.T) {
	n := 10000
	ts, vs := make([]float64, n), make([]float64, n)
	for i := range n {
		ts[i], vs[i] = float64(i), float64(i%100)
	}
	vs[4321], vs[7777] = 1000, -50
	vs[5000] = math.NaN()
	segs := reduce(ts, vs, 200, 0)
	if len(segs) != 2 {
		t.Fatalf("%d segments, want 2 (split at NaN)", len(segs))
	}
	var pts int
	maxV, minV := math.Inf(-1), math.Inf(1)
	for _, s := range segs {
		pts += len(s)
		for i, p := range s {
			maxV, minV = math.Max(maxV, p.v), math.Min(minV, p.v)
			if i > 0 && p.t < s[i-1].t {
				t.Fatal("points out of time order")
			}
		}
	}
	if maxV != 1000 || minV != -50 {
		t.Errorf("extremes lost: max %g min %g", maxV, minV)
	}
	if pts > 204 {
		t.Errorf("%d points kept, want ≤ ~200", pts)
	}
	// Short series are kept as they are.
	if segs := reduce(ts[:50], vs[:50], 200, 0); len(segs) != 1 || len(segs[0]) != 50 {
		t.Errorf("short series changed: %d segments", len(segs))
	}
}

func TestReduceBreaksAtTimeGaps(t *testing.T) {
	ts := []float64{0, 60, 120, 180, 5000, 5060, 5120}
	vs := []float64{1, 2, 3, 4, 5, 6, 7}
	gap := gapThreshold(ts)
	if gap != 300 {
		t.Fatalf("gap = %g, want 5 × 60", gap)
	}
	segs := reduce(ts, vs, 100, gap)
	if len(segs) != 2 || len(segs[0]) != 4 || len(segs[1]) != 3 {
		t.Errorf("segments %v, want split at the gap", segs)
	}
	if segs := reduce(ts, vs, 100, 0); len(segs) != 1 {
		t.Errorf("step series split: %v", segs)
	}
	if b := bandSegments(ts, vs, vs, 100, gap); len(b) != 2 {
		t.Errorf("band segments %d, want 2", len(b))
	}
}

func TestRenderBadInput(t *testing.T) {
	tests := []struct {
		name string
		c    Chart
	}{
		{"empty", Chart{}},
		{"length mismatch", Chart{T: []float64{0, 1}, Series: []Series{{Name: "a", Values: []float64{1}}}}},
		{"band mismatch", Chart{T: []float64{0, 1}, Band: &Band{Lower: []float64{1, 2}, Upper: []float64{1}}}},
		{"time backwards", Chart{T: []float64{0, 2, 1}}},
		{"time NaN", Chart{T: []float64{0, math.NaN()}}},
		{"too small", Chart{T: []float64{0}, Width: 50, Height: 50}},
	}
	for _, tc := range tests {
		var buf bytes.Buffer
		err := Render(&buf, tc.c)
		if !errors.Is(err, ErrBadChart) {
			t.Errorf("%s: err = %v, want ErrBadChart", tc.name, err)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: wrote %d bytes despite the error", tc.name, buf.Len())
		}
	}
}

func TestTimeLabels(t *testing.T) {
	tests := []struct {
		sec, step float64
		want      string
	}{
		{0, 3600, "00:00"},
		{5400, 1800, "01:30"},
		{86400 * 3, 86400, "day 3"},
		{86400 + 7200, 3600, "1d 02:00"},
		{90, 30, "1:30"},
	}
	for _, tc := range tests {
		if got := timeLabel(tc.sec, tc.step); got != tc.want {
			t.Errorf("timeLabel(%g, %g) = %q, want %q", tc.sec, tc.step, got, tc.want)
		}
	}
}

func FuzzRender(f *testing.F) {
	f.Add("title", 10, 1.0, 0.0)
	f.Add("\x00<&>", 1, math.NaN(), 1e308)
	f.Fuzz(func(t *testing.T, title string, n int, a, b float64) {
		n = n%500 + 1
		if n <= 0 {
			n = 1
		}
		c := Chart{Title: title, T: make([]float64, n)}
		v := make([]float64, n)
		for i := range n {
			c.T[i] = float64(i) * math.Abs(b)
			v[i] = a * float64(i%5)
		}
		c.Series = []Series{{Name: title, Values: v, Step: true}}
		c.Actions = []Action{{T: c.T[n/2], From: 1, To: 2, Reason: title}}
		var buf bytes.Buffer
		if err := Render(&buf, c); err != nil {
			if !errors.Is(err, ErrBadChart) {
				t.Fatal(err)
			}
			return
		}
		parseSVG(t, buf.Bytes())
	})
}

func BenchmarkRenderNASASize(b *testing.B) {
	c := sampleChart(84000)
	b.ReportAllocs()
	for b.Loop() {
		if err := Render(io.Discard, c); err != nil {
			b.Fatal(err)
		}
	}
}
