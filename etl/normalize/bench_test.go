package normalize

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"vitlab/etl/nsysdb"
	"vitlab/etl/nsysdb/nsysdbtest"
	"vitlab/schemas"
)

// countSink counts rows and drops the records.
type countSink struct{ rows int64 }

func (s *countSink) Write(_ *schemas.Table, rec arrow.RecordBatch) error {
	s.rows += rec.NumRows()
	return nil
}

// BenchmarkExport loads every fixture export per iteration and reports
// event rows per second (one goroutine).
func BenchmarkExport(b *testing.B) {
	dir := b.TempDir()
	var paths []string
	for _, f := range fixtures(b) {
		paths = append(paths, copyFixture(b, dir, f))
	}
	ctx := context.Background()
	var events int64
	b.ResetTimer()
	for b.Loop() {
		for _, p := range paths {
			res, err := Export(ctx, p, RunKey{"b", "r"}, Options{TempDir: dir}, &countSink{})
			if err != nil {
				b.Fatal(err)
			}
			events += res.Events()
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkExportLarge loads one large export, made by replicating the
// tables of the H100 fixture (shifted in time and correlation id), and
// reports event rows per second; when the sqlite3 CLI is installed it also
// reports the CLI's rows per second scanning the same tables
// (SELECT * … > /dev/null) and the ratio.
func BenchmarkExportLarge(b *testing.B) {
	path := largeExport(b, 400)
	ctx := context.Background()
	var events int64
	b.ResetTimer()
	for b.Loop() {
		res, err := Export(ctx, path, RunKey{"b", "r"}, Options{TempDir: b.TempDir()}, &countSink{})
		if err != nil {
			b.Fatal(err)
		}
		events += res.Events()
	}
	rate := float64(events) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "rows/s")
	if cli, err := cliRate(path); err == nil {
		b.ReportMetric(cli, "cli_rows/s")
		b.ReportMetric(rate/cli, "x_cli")
	}
}

// largeExport copies the H100 fixture and appends copies-1 more copies of
// its event rows, each shifted by 10 s and 10^6 correlation ids.
func largeExport(b testing.TB, copies int) string {
	b.Helper()
	path := copyFixture(b, b.TempDir(), smallFixture)
	const shift, corr = int64(10_000_000_000), int64(1_000_000)
	rep := func(table, cols, shifted string) string {
		return fmt.Sprintf(`INSERT INTO %[1]s (%[2]s) SELECT %[3]s FROM %[1]s, n`, table, cols, shifted)
	}
	gpu := func(table, extra string) string {
		cols := "start, end, deviceId, contextId, streamId, correlationId, globalPid, " + extra
		shifted := fmt.Sprintf("start + i*%d, end + i*%d, deviceId, contextId, streamId, correlationId + i*%d, globalPid, %s", shift, shift, corr, extra)
		return rep(table, cols, shifted)
	}
	kernelCols := "demangledName, shortName, mangledName, launchType, cacheConfig, registersPerThread, gridX, gridY, gridZ, " +
		"blockX, blockY, blockZ, staticSharedMemory, dynamicSharedMemory, localMemoryPerThread, localMemoryTotal, gridId, " +
		"sharedMemoryExecuted, graphNodeId, sharedMemoryLimitConfig"
	stmts := []string{
		fmt.Sprintf("CREATE TABLE n AS WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < %d) SELECT i FROM c", copies-1),
		gpu("CUPTI_ACTIVITY_KIND_KERNEL", kernelCols),
		gpu("CUPTI_ACTIVITY_KIND_MEMCPY", "bytes, copyKind, srcKind, dstKind, srcDeviceId, dstDeviceId, copyCount"),
		gpu("CUPTI_ACTIVITY_KIND_MEMSET", "value, bytes, memKind"),
		rep("CUPTI_ACTIVITY_KIND_RUNTIME", "start, end, eventClass, globalTid, correlationId, nameId, returnValue, callchainId",
			fmt.Sprintf("start + i*%d, end + i*%d, eventClass, globalTid, correlationId + i*%d, nameId, returnValue, callchainId", shift, shift, corr)),
		rep("NVTX_EVENTS", "start, end, eventType, text, globalTid, endGlobalTid, textId, domainId",
			fmt.Sprintf("start + i*%d, end + i*%d, eventType, text, globalTid, endGlobalTid, textId, domainId", shift, shift)),
		"DROP TABLE n",
	}
	if err := nsysdbtest.Exec(path, stmts...); err != nil {
		b.Fatal(err)
	}
	return path
}

// cliRate times the sqlite3 CLI reading every row of the event tables.
func cliRate(path string) (float64, error) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		return 0, err
	}
	var rows int64
	var took time.Duration
	for _, t := range nsysdb.EventSources {
		n, err := nsysdbtest.Int64s(path, "SELECT count(*) FROM "+t)
		if err != nil {
			return 0, err
		}
		start := time.Now()
		cmd := exec.Command("sqlite3", "-readonly", path, "SELECT * FROM "+t)
		if err := cmd.Run(); err != nil {
			return 0, err
		}
		took += time.Since(start)
		rows += n[0]
	}
	return float64(rows) / took.Seconds(), nil
}

// TestLargeExport checks the replicated export the benchmark uses: every
// copy of the rows loads, and each copy gets the same projection.
func TestLargeExport(t *testing.T) {
	ctx := context.Background()
	one := newCollectSink()
	defer one.Release()
	if _, err := Export(ctx, smallFixture, RunKey{"b", "r"}, Options{TempDir: t.TempDir()}, one); err != nil {
		t.Fatal(err)
	}
	three := newCollectSink()
	defer three.Release()
	res, err := Export(ctx, largeExport(t, 3), RunKey{"b", "r"}, Options{TempDir: t.TempDir()}, three)
	if err != nil {
		t.Fatal(err)
	}
	for _, tbl := range schemas.EventTables {
		if got, want := res.Rows[tbl.Name], int64(len(one.rows(tbl.Name))); got != 3*want {
			t.Errorf("%s: %d rows, want 3 × %d", tbl.Name, got, want)
		}
	}
	sum := func(s *collectSink) (ops, proj int64) {
		for _, r := range s.rows(schemas.NVTX.Name) {
			n, _ := i64(r["gpu_ops"])
			gs, _ := i64(r["gpu_start"])
			ge, _ := i64(r["gpu_end"])
			ops, proj = ops+n, proj+ge-gs
		}
		return
	}
	ops1, proj1 := sum(one)
	ops3, proj3 := sum(three)
	if ops1 == 0 || ops3 != 3*ops1 || proj3 != 3*proj1 {
		t.Errorf("gpu ops %d, projected time %d; want 3 × %d, 3 × %d", ops3, proj3, ops1, proj1)
	}
}
