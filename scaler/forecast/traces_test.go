package forecast

import (
	"testing"

	"aas/scaler/trace/tracetest"
)

// loadTrace reads a trace, keeps [from, to) seconds (to <= 0: all) and
// resamples it to step seconds (0: as is), returning the loads.
func loadTrace(t testing.TB, file string, from, to, step int64) []float64 {
	t.Helper()
	tr := tracetest.Load(t, file)
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
