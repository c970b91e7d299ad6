package trace

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestGaps(t *testing.T) {
	tr := &Trace{Step: 60, Points: []Point{{0, 1}, {60, 1}, {180, 1}, {240, 1}, {3240, 1}}}
	tests := []struct {
		factor float64
		want   []Gap
	}{
		{1, []Gap{{60, 180}, {240, 3240}}},
		{0, []Gap{{60, 180}, {240, 3240}}},
		{2, []Gap{{240, 3240}}},
		{100, nil},
	}
	for _, tc := range tests {
		if got := tr.Gaps(tc.factor); !slices.Equal(got, tc.want) {
			t.Errorf("Gaps(%g) = %v, want %v", tc.factor, got, tc.want)
		}
	}
}

func sum(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s
}

func TestParseGood(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		points   []Point
		step     int64
		comments []string
	}{
		{"minimal", "t,load\n0,1\n", []Point{{0, 1}}, 0, nil},
		{"comments anywhere, blank lines, CRLF",
			"\ufeff# a\r\n\r\n#b\r\nt,load\r\n0,1.5\r\n# mid\r\n60,2\r\n120,0\r\n",
			[]Point{{0, 1.5}, {60, 2}, {120, 0}}, 60, []string{"a", "b", "mid"}},
		{"spaces around fields", "t, load\n 0 , 3 \n10,4e2\n", []Point{{0, 3}, {10, 400}}, 10, nil},
		{"modal step with gaps", "t,load\n0,1\n60,1\n120,1\n300,1\n360,1\n", []Point{{0, 1}, {60, 1}, {120, 1}, {300, 1}, {360, 1}}, 60, nil},
		{"tie picks smaller step", "t,load\n0,1\n10,1\n30,1\n", []Point{{0, 1}, {10, 1}, {30, 1}}, 10, nil},
		{"negative zero load", "t,load\n5,-0\n", []Point{{5, 0}}, 0, nil},
		{"no final newline", "t,load\n0,7", []Point{{0, 7}}, 0, nil},
		{"leading zeros (fast path)", "t,load\n007,0010\n", []Point{{7, 10}}, 0, nil},
		{"16 digits (general path)", "t,load\n1234567890123456,1234567890123456\n", []Point{{1234567890123456, 1234567890123456}}, 0, nil},
		{"fast and general mixed", "t,load\n0,1\n60, 2.5\n120,3\n", []Point{{0, 1}, {60, 2.5}, {120, 3}}, 60, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := Parse(strings.NewReader(tc.in), "x.csv")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tr.Points, tc.points) {
				t.Errorf("points = %v, want %v", tr.Points, tc.points)
			}
			if tr.Step != tc.step {
				t.Errorf("step = %d, want %d", tr.Step, tc.step)
			}
			if !slices.Equal(tr.Comments, tc.comments) {
				t.Errorf("comments = %q, want %q", tr.Comments, tc.comments)
			}
			if tr.Name != "x.csv" {
				t.Errorf("name = %q", tr.Name)
			}
			if math.Signbit(tr.Points[0].Load) {
				t.Errorf("load keeps a negative zero")
			}
		})
	}
}

func TestParseBad(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		line  int
		field string
	}{
		{"empty", "", 0, "header"},
		{"only comments", "# x\n# y\n", 2, "header"},
		{"no header", "0,1\n60,2\n", 1, "header"},
		{"wrong header", "time,load\n0,1\n", 1, "header"},
		{"spaced header word", "t,lo ad\n0,1\n", 1, "header"},
		{"header only", "t,load\n", 1, "trace"},
		{"extra column", "t,load\n0,1\n60,2,3\n", 3, "line"},
		{"one column", "t,load\n0\n", 2, "line"},
		{"float t", "t,load\n0.5,1\n", 2, "t"},
		{"empty t", "t,load\n,1\n", 2, "t"},
		{"negative t", "t,load\n-60,1\n", 2, "t"},
		{"t overflow", "t,load\n99999999999999999999,1\n", 2, "t"},
		{"repeated t", "t,load\n0,1\n60,1\n60,2\n", 4, "t"},
		{"decreasing t after general path", "t,load\n0, 1\n60 ,1\n30,2\n", 4, "t"},
		{"decreasing t", "t,load\n# c\n120,1\n60,1\n", 4, "t"},
		{"NaN load", "t,load\n0,NaN\n", 2, "load"},
		{"Inf load", "t,load\n0,+Inf\n", 2, "load"},
		{"huge load", "t,load\n0,1e400\n", 2, "load"},
		{"negative load", "t,load\n0,-1\n", 2, "load"},
		{"text load", "t,load\n0,many\n", 2, "load"},
		{"empty load", "t,load\n0,\n", 2, "load"},
		{"header twice", "t,load\n0,1\nt,load\n", 3, "t"},
		{"long line", "t,load\n0," + strings.Repeat("1", MaxLineBytes+10) + "\n", 2, "line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := Parse(strings.NewReader(tc.in), "bad.csv")
			if err == nil {
				t.Fatalf("accepted: %+v", tr)
			}
			if tr != nil {
				t.Errorf("returned a trace with the error")
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("error %v does not wrap ErrSyntax", err)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *SyntaxError", err)
			}
			if se.Line != tc.line || se.Field != tc.field {
				t.Errorf("got line %d field %q (%v), want line %d field %q", se.Line, se.Field, err, tc.line, tc.field)
			}
			if !strings.HasPrefix(err.Error(), "bad.csv:") {
				t.Errorf("error %q does not start with the name", err)
			}
		})
	}
}

func TestParseFileMissing(t *testing.T) {
	_, err := ParseFile(filepath.Join(t.TempDir(), "none.csv"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want ErrNotExist", err)
	}
}

func TestResample(t *testing.T) {
	tr := &Trace{Name: "n", Comments: []string{"c"}, Step: 60, Points: []Point{
		{60, 1}, {120, 2}, {180, 4}, {300, 8}, {600, 16}, {1260, 32},
	}}
	tests := []struct {
		step int64
		want []Point
	}{
		{300, []Point{{0, 7}, {300, 8}, {600, 16}, {900, 0}, {1200, 32}}},
		{600, []Point{{0, 15}, {600, 16}, {1200, 32}}},
		{10000, []Point{{0, 63}}},
		{0, tr.Points},
	}
	for _, tc := range tests {
		got := tr.Resample(tc.step)
		if !slices.Equal(got.Points, tc.want) {
			t.Errorf("Resample(%d) = %v, want %v", tc.step, got.Points, tc.want)
		}
		if tc.step > 0 && got.Step != tc.step {
			t.Errorf("Resample(%d).Step = %d", tc.step, got.Step)
		}
		if got.Name != "n" || !slices.Equal(got.Comments, []string{"c"}) {
			t.Errorf("Resample(%d) lost name/comments", tc.step)
		}
	}
	if tr.Points[0] != (Point{60, 1}) || len(tr.Points) != 6 {
		t.Error("Resample modified the receiver")
	}
}

func TestResampleSparseGrid(t *testing.T) {
	tr := &Trace{Step: 1, Points: []Point{{0, 1}, {1, 2}, {1 << 40, 3}}}
	got := tr.Resample(1)
	want := []Point{{0, 1}, {1, 2}, {2, 0}, {1 << 40, 3}}
	if !slices.Equal(got.Points, want) {
		t.Errorf("got %v, want %v", got.Points, want)
	}
}

func TestWindow(t *testing.T) {
	tr := &Trace{Step: 10, Points: []Point{{0, 1}, {10, 2}, {20, 3}, {30, 4}}}
	tests := []struct {
		from, to int64
		want     []Point
	}{
		{0, 40, tr.Points},
		{10, 30, []Point{{10, 2}, {20, 3}}},
		{5, 25, []Point{{10, 2}, {20, 3}}},
		{30, 10, nil},
		{100, 200, nil},
		{-5, 1, []Point{{0, 1}}},
	}
	for _, tc := range tests {
		got := tr.Window(tc.from, tc.to)
		if len(got.Points) != len(tc.want) || (len(tc.want) > 0 && !slices.Equal(got.Points, tc.want)) {
			t.Errorf("Window(%d,%d) = %v, want %v", tc.from, tc.to, got.Points, tc.want)
		}
		if got.Step != 10 {
			t.Errorf("Window kept step %d", got.Step)
		}
	}
	w := tr.Window(0, 40)
	w.Points[0].Load = 99
	if tr.Points[0].Load != 1 {
		t.Error("Window shares the receiver's points")
	}
}

func TestQuantile(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	tests := []struct {
		xs   []float64
		q    float64
		want float64
	}{
		{xs, 0, 1},
		{xs, 1, 5},
		{xs, 0.5, 3},
		{xs, 0.25, 2},
		{xs, 0.1, 1.4},
		{xs, -1, 1},
		{xs, 2, 5},
		{[]float64{7}, 0.3, 7},
		{[]float64{math.NaN(), 2, 4}, 0.5, 3},
	}
	for _, tc := range tests {
		if got := Quantile(tc.xs, tc.q); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Quantile(%v, %g) = %g, want %g", tc.xs, tc.q, got, tc.want)
		}
	}
	if !math.IsNaN(Quantile(nil, 0.5)) || !math.IsNaN(Quantile([]float64{math.NaN()}, 0.5)) {
		t.Error("Quantile of nothing is not NaN")
	}
	if !slices.Equal(xs, []float64{5, 1, 4, 2, 3}) {
		t.Error("Quantile sorted its input")
	}
}

func FuzzParse(f *testing.F) {
	f.Add("t,load\n0,1\n60,2\n")
	f.Add("# c\nt,load\n0,1.5e3\n60,0\n300,7\n")
	f.Add("t,load\n0,NaN\n")
	f.Add("t,load\n60,1\n0,1\n")
	f.Add("\ufefft, load\r\n0 , 1\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		tr, err := Parse(strings.NewReader(in), "fuzz")
		if err != nil {
			if tr != nil {
				t.Fatal("trace returned with an error")
			}
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error does not wrap ErrSyntax: %v", err)
			}
			return
		}
		if len(tr.Points) == 0 {
			t.Fatal("accepted a trace without samples")
		}
		for i, p := range tr.Points {
			if p.T < 0 || p.Load < 0 || math.IsNaN(p.Load) || math.IsInf(p.Load, 0) {
				t.Fatalf("bad point %v", p)
			}
			if i > 0 && p.T <= tr.Points[i-1].T {
				t.Fatal("t not strictly increasing")
			}
		}
		if len(tr.Points) > 1 && tr.Step <= 0 {
			t.Fatalf("step %d", tr.Step)
		}
		// Resampling keeps the total (within float rounding) and the grid.
		if tr.Step > 0 && tr.Step < 1<<40 {
			r := tr.Resample(tr.Step * 3)
			total, got := sum(tr.Loads()), sum(r.Loads())
			if math.Abs(total-got) > 1e-9*math.Max(1, math.Abs(total)) {
				t.Fatalf("resample total %g != %g", got, total)
			}
		}
	})
}
