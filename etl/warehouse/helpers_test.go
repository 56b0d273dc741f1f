package warehouse

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"vitlab/etl/parquetout"
	"vitlab/schemas"
)

// record returns n rows of table tbl for batch and run, other columns
// random (nulls in nullable ones).
func record(mem memory.Allocator, tbl *schemas.Table, batch, run string, n int, rng *rand.Rand) arrow.RecordBatch {
	b := array.NewRecordBuilder(mem, tbl.Schema())
	defer b.Release()
	for i, f := range tbl.Schema().Fields() {
		fb := b.Field(i)
		for range n {
			switch {
			case f.Name == "batch_id":
				fb.(*array.StringBuilder).Append(batch)
				continue
			case f.Name == "run_id":
				fb.(*array.StringBuilder).Append(run)
				continue
			case f.Nullable && rng.IntN(4) == 0:
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.StringBuilder:
				fb.Append(fmt.Sprintf("v%d", rng.IntN(9)))
			case *array.Int32Builder:
				fb.Append(rng.Int32N(1000))
			case *array.Int64Builder:
				fb.Append(rng.Int64N(1e12))
			case *array.Float64Builder:
				fb.Append(rng.Float64())
			case *array.BooleanBuilder:
				fb.Append(rng.IntN(2) == 1)
			case *array.TimestampBuilder:
				fb.Append(arrow.Timestamp(rng.Int64N(4e15)))
			default:
				panic("no generator for " + f.Type.String())
			}
		}
	}
	return b.NewRecordBatch()
}

// stage appends one segment per entry of rows (rows of run r<i>, in
// records of at most 7 rows) for table tbl to a new spool of s, closes it
// and returns the segments.
func stage(t testing.TB, mem memory.Allocator, s *Staging, tbl *schemas.Table, batch string, seed uint64, rows ...int) []Segment {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, uint64(len(tbl.Name))))
	sp, err := s.CreateSpool(tbl, fmt.Sprintf("seed%d", seed), SpoolOptions{Allocator: mem, LZ4: seed%2 == 0})
	if err != nil {
		t.Fatal(err)
	}
	var out []Segment
	for i, n := range rows {
		sg := Segment{Spool: sp, First: sp.Records()}
		for done := 0; done < n; {
			k := min(7, n-done)
			rec := record(mem, tbl, batch, fmt.Sprintf("r%d", i), k, rng)
			_, err := sp.Append(rec)
			rec.Release()
			if err != nil {
				t.Fatal(err)
			}
			sg.Count++
			sg.Rows += int64(k)
			done += k
		}
		out = append(out, sg)
	}
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// stageBatch stages and compacts every table of a batch: runs segments
// of rowsPerRun rows each (scaled per table), and returns the Commit.
func stageBatch(t testing.TB, mem memory.Allocator, s *Staging, batch string, seed uint64, runs int) Commit {
	t.Helper()
	c := Commit{
		BatchID:       batch,
		ContentSHA256: fmt.Sprintf("%064x", seed),
		Source:        "exports",
		IngestVersion: "test",
		Runs:          runs,
	}
	segs := map[*schemas.Table][]Segment{}
	for ti, tbl := range schemas.All() {
		rows := make([]int, runs)
		for i := range rows {
			rows[i] = 10*(ti+1) + i + int(seed%7)
		}
		if tbl == schemas.Batches {
			rows = []int{1}
		}
		if tbl == schemas.Memsets {
			continue // a table without rows still gets an (empty) part
		}
		segs[tbl] = stage(t, mem, s, tbl, batch, seed, rows...)
	}
	parts, err := s.Compact(context.Background(), segs, CompactOptions{Parquet: parquetout.Options{Allocator: mem}, Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	c.Parts = parts
	return c
}

// checkWarehouse checks the invariants a reader relies on: the manifest
// parses, every listed file exists, reads with its table's schema, holds the
// listed rows, and only rows of its batch; no file of a partition directory
// is unlisted unless allowUnlisted. It returns the manifest.
func checkWarehouse(t testing.TB, wh string, allowUnlisted bool) *Manifest {
	t.Helper()
	m, err := ReadManifest(wh)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	listed := map[string]bool{}
	for _, id := range m.BatchIDs() {
		b := m.Batches[id]
		if b.ID != id {
			t.Fatalf("batch %s has id %s", id, b.ID)
		}
		for name, tf := range b.Tables {
			tbl, ok := schemas.ByName(name)
			if !ok {
				t.Fatalf("batch %s: unknown table %s", id, name)
			}
			var rows int64
			for _, f := range tf.Files {
				if listed[f] {
					t.Fatalf("%s listed twice", f)
				}
				listed[f] = true
				if !strings.HasPrefix(f, partitionOf(name, id)+"/part-") &&
					!strings.HasPrefix(f, name+"/"+LegacyPartitionDir+id+"/part-") {
					t.Fatalf("batch %s table %s: file %s outside its partition", id, name, f)
				}
				rows += readFile(t, filepath.Join(wh, f), tbl, id)
			}
			if rows != tf.Rows {
				t.Fatalf("batch %s table %s: files hold %d rows, manifest says %d", id, name, rows, tf.Rows)
			}
		}
	}
	if !allowUnlisted {
		if extra := unlisted(t, wh, listed); len(extra) > 0 {
			t.Fatalf("files not in the manifest: %v", extra)
		}
	}
	return m
}

// readFile reads a part completely and returns its rows.
func readFile(t testing.TB, path string, tbl *schemas.Table, batch string) int64 {
	t.Helper()
	r, err := parquetout.Open(path, parquetout.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Schema().Equal(tbl.Schema()) {
		t.Fatalf("%s: schema %s", path, r.Schema())
	}
	var n int64
	for rec, err := range r.Records(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		ids := rec.Column(0).(*array.String)
		for i := range ids.Len() {
			if ids.Value(i) != batch {
				t.Fatalf("%s: row with batch_id %q", path, ids.Value(i))
			}
		}
		n += rec.NumRows()
	}
	if n != r.NumRows() {
		t.Fatalf("%s: read %d rows, footer says %d", path, n, r.NumRows())
	}
	return n
}

// unlisted returns files inside partition directories that are not listed.
func unlisted(t testing.TB, wh string, listed map[string]bool) []string {
	t.Helper()
	var extra []string
	for _, tbl := range schemas.All() {
		current, err := filepath.Glob(filepath.Join(wh, tbl.Name, schemas.PartitionDir+"*", "*"))
		if err != nil {
			t.Fatal(err)
		}
		legacy, err := filepath.Glob(filepath.Join(wh, tbl.Name, LegacyPartitionDir+"*", "*"))
		if err != nil {
			t.Fatal(err)
		}
		if schemas.PartitionDir == LegacyPartitionDir {
			legacy = nil
		}
		for _, p := range append(current, legacy...) {
			r := rel(wh, p)
			if !listed[r] {
				extra = append(extra, r)
			}
		}
	}
	sort.Strings(extra)
	return extra
}

// modTimes returns the modification time of every file under wh.
func modTimes(t testing.TB, wh string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.Walk(wh, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		out[rel(wh, p)] = fi.ModTime().String() + fmt.Sprint(fi.Size())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
