package trace_test

import (
	"bufio"
	"bytes"
	"os"
	"testing"

	"aas/scaler/trace"
	"aas/scaler/trace/tracetest"
)

func nasaBytes(b *testing.B) []byte {
	data, err := os.ReadFile(tracetest.Path(b, "nasa_http_1995.csv"))
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkScanLinesNASA is the baseline: only splitting the file into
// lines, as any parser must.
func BenchmarkScanLinesNASA(b *testing.B) {
	data := nasaBytes(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		sc := bufio.NewScanner(bytes.NewReader(data))
		n := 0
		for sc.Scan() {
			n++
		}
		if n < 80000 {
			b.Fatal(n)
		}
	}
}

// BenchmarkParseNASA parses the 84 334-sample NASA trace.
func BenchmarkParseNASA(b *testing.B) {
	data := nasaBytes(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := trace.Parse(bytes.NewReader(data), "nasa"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResampleNASAHourly(b *testing.B) {
	tr, err := trace.Parse(bytes.NewReader(nasaBytes(b)), "nasa")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		tr.Resample(3600)
	}
}
