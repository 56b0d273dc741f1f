package ingest

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkRunSmall ingests the fixture exports replicated to 112 files
// (about 1.3k events each, like a batch of small runs) into a fresh
// warehouse per iteration, with one job, and reports events per second and
// milliseconds per export.
func BenchmarkRunSmall(b *testing.B) {
	const n = 112
	dir := b.TempDir()
	in := filepath.Join(dir, "in")
	fx := fixtures(b)
	for i := range n {
		copyFile(b, filepath.Join(in, fmt.Sprintf("e%04d-%s", i, filepath.Base(fx[i%len(fx)]))), fx[i%len(fx)])
	}
	var events int64
	i := 0
	for b.Loop() {
		i++
		sum, err := Run(context.Background(), Request{Warehouse: filepath.Join(dir, fmt.Sprintf("wh%d", i)), Paths: []string{in}, BatchID: "bench", Jobs: 1})
		if err != nil {
			b.Fatal(err)
		}
		events += sum.Events
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(i*n), "ms/export")
}
