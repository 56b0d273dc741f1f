package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/klauspost/compress/zstd"

	"vitlab/etl/nsysdb/nsysdbtest"
	"vitlab/etl/parquetout"
	"vitlab/etl/warehouse"
	"vitlab/schemas"

	"vitlab/internal/testfixtures"
)

// fixtureDir holds the real nsys exports (read-only).
var fixtureDir = testfixtures.Nsys()

// fixtures returns the paths of the fixture exports.
func fixtures(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixtureDir, "*.sqlite"))
	if err != nil || len(files) < 7 {
		t.Fatalf("fixtures in %s: %v (%d files)", fixtureDir, err, len(files))
	}
	return files
}

// copyFile copies src to dst (writable).
func copyFile(t testing.TB, dst, src string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := nsysdbtest.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	return dst
}

// compressFile writes src zstd-compressed to dst.
func compressFile(t testing.TB, dst, src string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := zstd.NewWriter(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(enc, in); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

func sha256File(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// sourceTables maps event tables to their nsys source tables.
var sourceTables = map[string]string{
	"kernels":  "CUPTI_ACTIVITY_KIND_KERNEL",
	"memcpys":  "CUPTI_ACTIVITY_KIND_MEMCPY",
	"memsets":  "CUPTI_ACTIVITY_KIND_MEMSET",
	"cuda_api": "CUPTI_ACTIVITY_KIND_RUNTIME",
	"nvtx":     "NVTX_EVENTS",
}

// stats are the row count and the sum of end-start (rows with an end) of
// one table of one run.
type stats struct{ Rows, Dur int64 }

// sourceStats counts rows and sums end-start in the SQLite export itself;
// a missing table has no rows.
func sourceStats(t testing.TB, export, table string) stats {
	t.Helper()
	src := sourceTables[table]
	exists, err := nsysdbtest.Int64s(export, "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name=?", src)
	if err != nil {
		t.Fatal(err)
	}
	if exists[0] == 0 {
		return stats{}
	}
	n, err := nsysdbtest.Int64s(export, fmt.Sprintf(`SELECT COUNT(*) FROM %s`, src))
	if err != nil {
		t.Fatal(err)
	}
	d, err := nsysdbtest.Int64s(export, fmt.Sprintf(`SELECT SUM("end" - start) FROM %s`, src))
	if err != nil {
		t.Fatal(err)
	}
	return stats{n[0], d[0]}
}

// whStats reads every committed file of table in wh (pqarrow through
// parquetout) and returns rows and sum of end-start per run id, checking
// on the way that each file's schema is the table's and its rows belong to
// batch.
func whStats(t testing.TB, wh, batch, table string) map[string]stats {
	t.Helper()
	tbl, _ := schemas.ByName(table)
	m, err := warehouse.ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]stats{}
	b := m.Batches[batch]
	if b == nil {
		t.Fatalf("batch %s not in the manifest", batch)
	}
	for _, f := range b.Tables[table].Files {
		r, err := parquetout.Open(filepath.Join(wh, f), parquetout.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Schema().Equal(tbl.Schema()) || !r.Schema().Metadata().Equal(tbl.Schema().Metadata()) {
			t.Fatalf("%s: stored schema differs from schemas.%s:\n%s", f, table, r.Schema())
		}
		iBatch, iRun := tbl.MustIndex("batch_id"), tbl.Index("run_id")
		iStart, iEnd := tbl.Index("start"), tbl.Index("end")
		for rec, err := range r.Records(context.Background()) {
			if err != nil {
				t.Fatal(err)
			}
			bs := rec.Column(iBatch).(*array.String)
			for i := range int(rec.NumRows()) {
				if bs.Value(i) != batch {
					t.Fatalf("%s: row of batch %q", f, bs.Value(i))
				}
				run := "" // batches has no run_id
				if iRun >= 0 {
					run = rec.Column(iRun).(*array.String).Value(i)
				}
				s := out[run]
				s.Rows++
				if iStart >= 0 && iEnd >= 0 && rec.Column(iEnd).IsValid(i) {
					s.Dur += rec.Column(iEnd).(*array.Int64).Value(i) - rec.Column(iStart).(*array.Int64).Value(i)
				}
				out[run] = s
			}
		}
		r.Close()
	}
	return out
}

// readRows reads a committed table of a batch as rows of column → value
// (nil for null), sorted by run_id.
func readRows(t testing.TB, wh, batch, table string) []map[string]any {
	t.Helper()
	out := orderedRows(t, wh, batch, table)
	sort.SliceStable(out, func(i, j int) bool { return fmt.Sprint(out[i]["run_id"]) < fmt.Sprint(out[j]["run_id"]) })
	return out
}

func value(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.String:
		return a.Value(i)
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Int64:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.Boolean:
		return a.Value(i)
	case *array.Timestamp:
		return a.Value(i).ToTime(arrow.Microsecond)
	}
	return a.ValueStr(i)
}

// listFiles returns every file under dir with its modification time and
// size, relative to dir.
func listFiles(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			r, _ := filepath.Rel(dir, p)
			out[filepath.ToSlash(r)] = fi.ModTime().Format(time.RFC3339Nano) + fmt.Sprintf(" %d", fi.Size())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// tableFiles returns the files of dir that are in table directories.
func tableFiles(files map[string]string) []string {
	var out []string
	for f := range files {
		if !strings.HasPrefix(f, "_") {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// spooledRuns reads every spool of every staging directory of wh (arrow's
// IPC reader) and counts their rows by run_id, whether or not a segment
// names them.
func spooledRuns(t testing.TB, wh string) map[string]int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(wh, warehouse.StagingDir, "*", "spool", "*.arrow"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		r, err := ipc.NewFileReader(f)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		col := r.Schema().FieldIndices("run_id")
		for i := range r.NumRecords() {
			rec, err := r.RecordBatch(i)
			if err != nil {
				t.Fatal(err)
			}
			if len(col) == 0 {
				continue // batches has no run_id
			}
			ids := rec.Column(col[0]).(*array.String)
			for j := range ids.Len() {
				out[ids.Value(j)]++
			}
		}
		r.Close()
		f.Close()
	}
	return out
}

// orderedRows reads a committed table of a batch as rows of column → value
// in file and row order.
func orderedRows(t testing.TB, wh, batch, table string) []map[string]any {
	t.Helper()
	m, err := warehouse.ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, f := range m.Batches[batch].Tables[table].Files {
		r, err := parquetout.Open(filepath.Join(wh, f), parquetout.ReadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for rec, err := range r.Records(context.Background()) {
			if err != nil {
				t.Fatal(err)
			}
			for i := range int(rec.NumRows()) {
				row := map[string]any{}
				for c, f := range rec.Schema().Fields() {
					row[f.Name] = value(rec.Column(c), i)
				}
				out = append(out, row)
			}
		}
		r.Close()
	}
	return out
}
