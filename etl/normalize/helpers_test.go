package normalize

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/klauspost/compress/zstd"

	"vitlab/etl/nsysdb/nsysdbtest"
	"vitlab/schemas"

	"vitlab/internal/testfixtures"
)

// fixtureDir holds the real nsys exports (read-only), fixtureStats nsys's
// own `nsys stats` CSV output for each.
var (
	fixtureDir   = testfixtures.Nsys()
	fixtureStats = testfixtures.Stats()
)

func fixtures(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fixtureDir, "*.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("no fixtures in %s", fixtureDir)
	}
	sort.Strings(paths)
	return paths
}

// copyFixture copies an export into dir (fixtures are read-only).
func copyFixture(t testing.TB, dir, src string) string {
	t.Helper()
	dst := filepath.Join(dir, filepath.Base(src))
	if err := nsysdbtest.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	return dst
}

// compress writes a zstd-compressed copy of src as dst.
func compress(t testing.TB, dst, src string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, enc.EncodeAll(data, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	enc.Close()
}

// checkRecord verifies that a record a Sink receives has its table's
// schema and no nulls in non-nullable columns.
func checkRecord(tbl *schemas.Table, rec arrow.RecordBatch) error {
	if !rec.Schema().Equal(tbl.Schema()) {
		return fmt.Errorf("%s: record schema %v differs from the table's", tbl.Name, rec.Schema())
	}
	for i, c := range tbl.Columns {
		if !c.Nullable && rec.Column(i).NullN() > 0 {
			return fmt.Errorf("%s: %d nulls in non-nullable column %s", tbl.Name, rec.Column(i).NullN(), c.Name)
		}
		if rec.Column(i).Len() != int(rec.NumRows()) {
			return fmt.Errorf("%s: column %s has %d values for %d rows", tbl.Name, c.Name, rec.Column(i).Len(), rec.NumRows())
		}
	}
	return nil
}

// collectSink keeps every record it receives (retained), per table.
type collectSink struct {
	recs map[string][]arrow.RecordBatch
}

func newCollectSink() *collectSink { return &collectSink{recs: map[string][]arrow.RecordBatch{}} }

func (s *collectSink) Write(t *schemas.Table, rec arrow.RecordBatch) error {
	if err := checkRecord(t, rec); err != nil {
		return err
	}
	rec.Retain()
	s.recs[t.Name] = append(s.recs[t.Name], rec)
	return nil
}

func (s *collectSink) Release() {
	for _, recs := range s.recs {
		for _, r := range recs {
			r.Release()
		}
	}
	s.recs = nil
}

// discardSink checks and drops records.
type discardSink struct{ rows int64 }

func (s *discardSink) Write(t *schemas.Table, rec arrow.RecordBatch) error {
	s.rows += rec.NumRows()
	return checkRecord(t, rec)
}

// rows flattens a table's records into maps keyed by column name (values
// are nil for nulls) — fine for the small fixtures.
func (s *collectSink) rows(table string) []map[string]any {
	var out []map[string]any
	for _, rec := range s.recs[table] {
		for i := 0; i < int(rec.NumRows()); i++ {
			row := map[string]any{}
			for j, f := range rec.Schema().Fields() {
				row[f.Name] = value(rec.Column(j), i)
			}
			out = append(out, row)
		}
	}
	return out
}

func value(a arrow.Array, i int) any {
	if a.IsNull(i) {
		return nil
	}
	switch a := a.(type) {
	case *array.Int64:
		return a.Value(i)
	case *array.Int32:
		return int64(a.Value(i))
	case *array.Float64:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	}
	return a.ValueStr(i)
}

func i64(v any) (int64, bool) {
	n, ok := v.(int64)
	return n, ok
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
