package forecast

import (
	"os"
	"path/filepath"
	"testing"

	"aas/scaler/trace"
)

// tracesDir finds shared/traces by walking up from the package directory.
// It skips when the traces are absent, except in CI where that fails.
func tracesDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "traces")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if os.Getenv("CI") != "" {
		t.Fatal("shared/traces not found above the package directory (required in CI)")
	}
	t.Skip("shared/traces not found above the package directory")
	return ""
}

// loadTrace reads a trace, keeps [from, to) seconds (to <= 0: all) and
// resamples it to step seconds (0: as is), returning the loads.
func loadTrace(t testing.TB, file string, from, to, step int64) []float64 {
	t.Helper()
	tr, err := trace.ParseFile(filepath.Join(tracesDir(t), file))
	if err != nil {
		t.Fatal(err)
	}
	if to > 0 {
		tr = tr.Window(from, to)
	}
	if step > 0 {
		tr = tr.Resample(step)
	}
	return tr.Loads()
}

const (
	nasaFile     = "nasa_http_1995.csv"
	worldCupFile = "worldcup98.csv"
	day          = 86400
)

// nasaJulyHourly is the hourly NASA series over the first 31 days (the log
// stops on 28 July, so 662 hours).
func nasaJulyHourly(t testing.TB) []float64 { return loadTrace(t, nasaFile, 0, 31*day, 3600) }

// worldCupHourly is the whole World Cup trace summed per hour (2089 hours).
func worldCupHourly(t testing.TB) []float64 { return loadTrace(t, worldCupFile, 0, 0, 3600) }
