package northbound

import (
	"encoding/json"
	"io"
	"strconv"
	"testing"
	"time"

	"aas/fsm"
)

// BenchmarkActivityExport: CSV export of 10 000 activity entries (the
// default cap) against the baseline of JSON-encoding the same entries,
// measured in the same run. Report the ratio of ns/op.
func BenchmarkActivityExport(b *testing.B) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	entries := make([]fsm.ActivityEntry, fsm.DefaultActivityCap)
	for i := range entries {
		entries[i] = fsm.ActivityEntry{Seq: uint64(i + 1), Time: t0.Add(time.Duration(i) * time.Second), Kind: "scale",
			Tenant: "demo", Group: "web", Cloud: "c1", From: i % 5, To: (i + 1) % 5, Policy: "reactive",
			Inputs: map[string]float64{"avg_cpu": 0.45, "threshold": 0.3, "n": float64(i)},
			Reason: "avg 0.45 > threshold 0.3, \"scale out\" #" + strconv.Itoa(i)}
	}
	b.Run("baseline-json", func(b *testing.B) {
		for b.Loop() {
			if err := json.NewEncoder(io.Discard).Encode(entries); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("csv", func(b *testing.B) {
		for b.Loop() {
			if err := WriteActivityCSV(io.Discard, entries); err != nil {
				b.Fatal(err)
			}
		}
	})
}
