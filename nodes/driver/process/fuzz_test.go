package process

import "testing"

func FuzzParseProcStat(f *testing.F) {
	f.Add([]byte("1234 (ctl workload) S 1 1234 1234 0 -1 4194560 1 0 0 0 7 3 0 0 20 0 5 0 12345 1000000 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"))
	f.Add([]byte("1 (a) b) R 0"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseProcStat(b)
		if err == nil && s.CPUSeconds() < 0 {
			t.Fatal("negative CPU")
		}
	})
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		in      string
		want    procStat
		wantErr bool
	}{
		{"1234 (ctl (x) y) S 1 1234 1234 0 -1 4194560 1 0 0 0 7 3 0 0 20 0 5 0 12345 1000000 2000 0", procStat{State: 'S', UTime: 7, STime: 3, StartTicks: 12345, RSSPages: 2000}, false},
		{"1 (z) Z 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0 0", procStat{State: 'Z', StartTicks: 9}, false},
		{"1 (short) S 1 2 3", procStat{}, true},
		{"no parenthesis", procStat{}, true},
		{"1 (x) S 1 1 1 0 -1 0 0 0 0 0 zz 0 0 0 20 0 1 0 9 0 0 0", procStat{}, true},
	}
	for _, tt := range tests {
		got, err := parseProcStat([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Fatalf("%q: err %v, wantErr %v", tt.in, err, tt.wantErr)
		}
		if !tt.wantErr && got != tt.want {
			t.Fatalf("%q: %+v, want %+v", tt.in, got, tt.want)
		}
	}
	if !(procStat{State: 'Z'}).dead() || (procStat{State: 'S'}).dead() {
		t.Fatal("dead() wrong")
	}
}
