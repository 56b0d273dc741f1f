package parquetout

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"vitlab/schemas"
)

// randomRecord returns n rows of table t with values of every column type the
// schemas use, nulls in nullable columns, and repeated strings.
func randomRecord(t testing.TB, mem memory.Allocator, tbl *schemas.Table, n int, rng *rand.Rand) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(mem, tbl.Schema())
	defer b.Release()
	for i, f := range tbl.Schema().Fields() {
		fb := b.Field(i)
		for range n {
			if f.Nullable && rng.IntN(5) == 0 {
				fb.AppendNull()
				continue
			}
			switch fb := fb.(type) {
			case *array.StringBuilder:
				fb.Append(fmt.Sprintf("%s-%d", f.Name, rng.IntN(7)))
			case *array.Int32Builder:
				fb.Append(rng.Int32())
			case *array.Int64Builder:
				fb.Append(rng.Int64() - rng.Int64())
			case *array.Float64Builder:
				fb.Append(rng.NormFloat64())
			case *array.BooleanBuilder:
				fb.Append(rng.IntN(2) == 0)
			case *array.TimestampBuilder:
				fb.Append(arrow.Timestamp(rng.Int64N(4e15)))
			default:
				t.Fatalf("column %s: no generator for %s", f.Name, f.Type)
			}
		}
	}
	return b.NewRecordBatch()
}

// readAll reads a file with pqarrow directly (not through Reader), so the
// writer is checked by an independent path.
func readAll(t *testing.T, mem memory.Allocator, path string) arrow.Table {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tbl, err := pqarrow.ReadTable(context.Background(), f, nil, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return tbl
}

// tableOf makes a table of recs, which it releases.
func tableOf(schema *arrow.Schema, recs []arrow.RecordBatch) arrow.Table {
	tbl := array.NewTableFromRecords(schema, recs)
	for _, r := range recs {
		r.Release()
	}
	return tbl
}

// tablesEqual compares column names, types, nullability and values; the
// Parquet reader adds field metadata (PARQUET:field_id) that is not compared.
func tablesEqual(t *testing.T, want, got arrow.Table) {
	t.Helper()
	if got.NumRows() != want.NumRows() || got.NumCols() != want.NumCols() {
		t.Fatalf("got %d rows × %d columns, want %d × %d", got.NumRows(), got.NumCols(), want.NumRows(), want.NumCols())
	}
	for i := range int(want.NumCols()) {
		wf, gf := want.Schema().Field(i), got.Schema().Field(i)
		if wf.Name != gf.Name || !arrow.TypeEqual(wf.Type, gf.Type) || wf.Nullable != gf.Nullable {
			t.Fatalf("column %d: got %s, want %s", i, gf, wf)
		}
		wc, gc := want.Column(i).Data(), got.Column(i).Data()
		if !array.ChunkedEqual(wc, gc) {
			t.Fatalf("column %s: values differ", wf.Name)
		}
	}
}

func TestWriterRoundTrip(t *testing.T) {
	for _, tbl := range schemas.All() {
		t.Run(tbl.Name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			rng := rand.New(rand.NewPCG(1, uint64(len(tbl.Name))))
			path := filepath.Join(t.TempDir(), tbl.Name+".parquet")
			w, err := Create(path, tbl, Options{Allocator: mem, MaxRowGroupRows: 1000})
			if err != nil {
				t.Fatal(err)
			}
			var recs []arrow.RecordBatch
			for _, n := range []int{700, 0, 900, 1, 1500} {
				rec := randomRecord(t, mem, tbl, n, rng)
				recs = append(recs, rec)
				if err := w.Write(rec); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if w.Rows() != 3101 {
				t.Fatalf("Rows() = %d, want 3101", w.Rows())
			}
			want := tableOf(tbl.Schema(), recs)
			defer want.Release()
			got := readAll(t, mem, path)
			defer got.Release()
			tablesEqual(t, want, got)
			checkFileLayout(t, mem, path, tbl, 1000)
		})
	}
}

// checkFileLayout checks the footer: the stored Arrow schema equals the
// table's, every column is zstd, only string columns carry dictionaries, and
// no row group exceeds maxRows.
func checkFileLayout(t *testing.T, mem memory.Allocator, path string, tbl *schemas.Table, maxRows int64) {
	t.Helper()
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	kv := pf.MetaData().KeyValueMetadata()
	enc := kv.FindValue("ARROW:schema")
	if enc == nil {
		t.Fatal("no ARROW:schema in the footer")
	}
	raw, err := base64.StdEncoding.DecodeString(*enc)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := flight.DeserializeSchema(raw, mem)
	if err != nil {
		t.Fatal(err)
	}
	if !stored.Equal(tbl.Schema()) || !stored.Metadata().Equal(tbl.Schema().Metadata()) {
		t.Fatalf("stored schema:\n%s\nwant:\n%s", stored, tbl.Schema())
	}
	if v := kv.FindValue(schemas.MetaTable); v == nil || *v != tbl.Name {
		t.Fatalf("footer %s = %v, want %s", schemas.MetaTable, v, tbl.Name)
	}
	if pf.NumRowGroups() < 2 {
		t.Fatalf("%d row groups, want several", pf.NumRowGroups())
	}
	for rg := range pf.NumRowGroups() {
		rgm := pf.MetaData().RowGroup(rg)
		if rgm.NumRows() > maxRows {
			t.Errorf("row group %d has %d rows > %d", rg, rgm.NumRows(), maxRows)
		}
		for i, c := range tbl.Columns {
			cc, err := rgm.ColumnChunk(i)
			if err != nil {
				t.Fatal(err)
			}
			if got := cc.Compression().String(); got != "ZSTD" {
				t.Errorf("column %s: compression %s", c.Name, got)
			}
			if isString := c.Type.ID() == arrow.STRING; cc.HasDictionaryPage() != isString {
				t.Errorf("column %s (%s): dictionary page %v", c.Name, c.Type, cc.HasDictionaryPage())
			}
		}
	}
}

// TestWriterGathersSmallRecords writes many tiny records around a big one
// (which Write gathers, then hands over as one): the file holds every row
// in order, and the retained records are released by Close and by Abort.
func TestWriterGathersSmallRecords(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	rng := rand.New(rand.NewPCG(5, 6))
	dir := t.TempDir()
	var sizes []int
	for i := range 700 {
		sizes = append(sizes, 1+i%13)
		if i == 300 {
			sizes = append(sizes, 5000)
		}
	}
	path := filepath.Join(dir, "k.parquet")
	w, err := Create(path, schemas.Kernels, Options{Allocator: mem, MaxRowGroupRows: 3000})
	if err != nil {
		t.Fatal(err)
	}
	var recs []arrow.RecordBatch
	var n int64
	for _, k := range sizes {
		rec := randomRecord(t, mem, schemas.Kernels, k, rng)
		recs = append(recs, rec)
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		n += int64(k)
		if w.Rows() != n {
			t.Fatalf("Rows() = %d after %d rows", w.Rows(), n)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := tableOf(schemas.Kernels.Schema(), recs)
	defer want.Release()
	got := readAll(t, mem, path)
	defer got.Release()
	tablesEqual(t, want, got)
	checkFileLayout(t, mem, path, schemas.Kernels, 3000)

	// Abort with records still gathered releases them and removes the file.
	w, err = Create(filepath.Join(dir, "a.parquet"), schemas.Kernels, Options{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	rec := randomRecord(t, mem, schemas.Kernels, 3, rng)
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	rec.Release()
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
}

func TestWriterRejectsOtherSchema(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	path := filepath.Join(t.TempDir(), "k.parquet")
	w, err := Create(path, schemas.Kernels, Options{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	rec := randomRecord(t, mem, schemas.Memsets, 3, rand.New(rand.NewPCG(1, 2)))
	defer rec.Release()
	err = w.Write(rec)
	if err == nil {
		t.Fatal("Write of a memsets record into a kernels file succeeded")
	}
	if cerr := w.Close(); cerr == nil {
		t.Fatal("Close after a failed Write succeeded")
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("Abort left %s: %v", path, err)
	}
}

func TestEmptyFileReads(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	path := filepath.Join(t.TempDir(), "empty.parquet")
	w, err := Create(path, schemas.Memsets, Options{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, ReadOptions{Allocator: mem})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.NumRows() != 0 || !r.Schema().Equal(schemas.Memsets.Schema()) {
		t.Fatalf("rows %d schema %s", r.NumRows(), r.Schema())
	}
	for rec, err := range r.Records(context.Background()) {
		t.Fatalf("empty file yielded %v, %v", rec, err)
	}
}

// TestReader writes records of several sizes (one empty) into one file of
// 2000-row row groups and reads them back through Reader in records of
// BatchRows rows.
func TestReader(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	ctx := context.Background()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	dst := filepath.Join(dir, "all.parquet")
	w, err := Create(dst, schemas.NVTX, Options{Allocator: mem, MaxRowGroupRows: 2000})
	if err != nil {
		t.Fatal(err)
	}
	var recs []arrow.RecordBatch
	for _, n := range []int{10, 0, 2500, 333} {
		rec := randomRecord(t, mem, schemas.NVTX, n, rng)
		recs = append(recs, rec)
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Rows() != 2843 {
		t.Fatalf("wrote %d rows, want 2843", w.Rows())
	}
	want := tableOf(schemas.NVTX.Schema(), recs)
	defer want.Release()
	got := readAll(t, mem, dst)
	defer got.Release()
	tablesEqual(t, want, got)

	// Reader yields the same rows in records of BatchRows.
	r, err := Open(dst, ReadOptions{Allocator: mem, BatchRows: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.NumRowGroups() != 2 || r.RowGroupRows(0) != 2000 || r.NumRows() != 2843 {
		t.Fatalf("row groups %d, first %d rows, %d rows", r.NumRowGroups(), r.RowGroupRows(0), r.NumRows())
	}
	var got2 []arrow.RecordBatch
	for rec, err := range r.Records(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.NumRows() > 1000 {
			t.Fatalf("record of %d rows > BatchRows", rec.NumRows())
		}
		rec.Retain()
		got2 = append(got2, rec)
	}
	tbl2 := tableOf(r.Schema(), got2)
	defer tbl2.Release()
	if !tbl2.Schema().Equal(schemas.NVTX.Schema()) {
		t.Fatalf("Reader schema %s", tbl2.Schema())
	}
	tablesEqual(t, want, tbl2)
}

func TestOpenRejectsNonParquet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.parquet")
	if err := os.WriteFile(path, bytes.Repeat([]byte("not parquet "), 10), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path, ReadOptions{})
	if err == nil {
		t.Fatal("Open of a text file succeeded")
	}
	if !bytes.Contains([]byte(err.Error()), []byte(path)) {
		t.Fatalf("error does not name the file: %v", err)
	}
}
