package duck

import (
	"context"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func open(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestQueryTypes(t *testing.T) {
	db := open(t)
	res, err := db.Query(context.Background(), `select
		1::tinyint as i8, 2::smallint as i16, 3::integer as i32, 4::bigint as i64, 5::ubigint as u64,
		sum(x) as huge, 170141183460469231731687303715884105727::hugeint as bighuge,
		1.5::float as f32, 2.5::double as f64, 12.30::decimal(10, 2) as dec, -0.05::decimal(4, 2) as negdec,
		'a''b' as s, true as b, null::varchar as n,
		timestamptz '2026-01-02 03:04:05.123456+00' as ts
		from (values (10::bigint), (20)) t(x)`)
	if err != nil {
		t.Fatal(err)
	}
	want := []any{int64(1), int64(2), int64(3), int64(4), int64(5), int64(30), mustBig("170141183460469231731687303715884105727"),
		1.5, 2.5, Decimal{Value: big.NewInt(1230), Scale: 2}, Decimal{Value: big.NewInt(-5), Scale: 2},
		"a'b", true, nil, time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)}
	if len(res.Rows) != 1 {
		t.Fatalf("rows: %v", res.Rows)
	}
	for i, w := range want {
		g := res.Rows[0][i]
		if gt, ok := g.(time.Time); ok {
			g = gt.UTC()
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s (%s): got %#v, want %#v", res.Columns[i].Name, res.Columns[i].Type, g, w)
		}
	}
	if res.Columns[9].Type != "DECIMAL(10,2)" || res.Columns[5].Type != "HUGEINT" {
		t.Errorf("types: %+v", res.Columns)
	}
}

func mustBig(s string) *big.Int {
	b, _ := new(big.Int).SetString(s, 10)
	return b
}

func TestDecimal(t *testing.T) {
	for _, tc := range []struct {
		v     int64
		scale int
		want  string
	}{{0, 1, "0.0"}, {5, 3, "0.005"}, {-5, 2, "-0.05"}, {123456, 1, "12345.6"}, {7, 0, "7"}, {-120, 1, "-12.0"},
		{math.MinInt64, 1, "-922337203685477580.8"}, {math.MaxInt64, 3, "9223372036854775.807"}, {math.MinInt64 + 1, 0, "-9223372036854775807"}} {
		d := Decimal{Value: big.NewInt(tc.v), Scale: tc.scale}
		if d.String() != tc.want {
			t.Errorf("%d scale %d: %s, want %s", tc.v, tc.scale, d.String(), tc.want)
		}
	}
	// beyond int64 (HUGEINT-backed decimals)
	if s := (Decimal{Value: mustBig("-123456789012345678901234"), Scale: 4}).String(); s != "-12345678901234567890.1234" {
		t.Errorf("big decimal: %s", s)
	}
	if f := (Decimal{Value: big.NewInt(-125), Scale: 2}).Float64(); f != -1.25 {
		t.Errorf("Float64: %v", f)
	}
}

func TestVariablesAndScripts(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	// One connection: a script's views and variables are seen later.
	if err := db.Exec(ctx, "create view v as select 1 as a; create view w as select a + 1 as b from v;"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		value any
		typ   string
		want  any
	}{{int64(7), "BIGINT", int64(7)}, {"it's", "VARCHAR", "it's"}, {nil, "VARCHAR", nil}, {true, "", true}, {0.25, "DOUBLE", 0.25}} {
		if err := db.SetVariable(ctx, "k", tc.value, tc.typ); err != nil {
			t.Fatal(err)
		}
		res, err := db.Query(ctx, "select getvariable('k'), (select b from w)")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(res.Rows[0], []any{tc.want, int64(2)}) {
			t.Errorf("%v: %v", tc.value, res.Rows[0])
		}
	}
	if err := db.SetVariable(ctx, "k", []int{1}, ""); err == nil || !strings.Contains(err.Error(), "variable k: no SQL literal for []int") {
		t.Errorf("bad value: %v", err)
	}
	if err := db.SetVariable(ctx, "k", "x", "BIGINT"); err == nil || !strings.Contains(err.Error(), "duck: variable k:") {
		t.Errorf("bad cast: %v", err)
	}
	if _, err := db.Query(ctx, "select * from nope"); err == nil || !strings.HasPrefix(err.Error(), "duck: ") {
		t.Errorf("bad query: %v", err)
	}
}

func TestCopyParquet(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "it's.parquet")
	if err := db.CopyParquet(ctx, "select 1 as a, 'x' as \"B c\" -- trailing comment\n;", p); err != nil {
		t.Fatal(err)
	}
	res, err := db.Query(ctx, "select * from read_parquet("+Quote(p)+")")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Rows, [][]any{{int64(1), "x"}}) || res.Columns[1].Name != "B c" {
		t.Errorf("parquet: %+v %v", res.Columns, res.Rows)
	}
	if err := db.CopyParquet(ctx, "select 1", filepath.Join(t.TempDir(), "no", "dir", "x.parquet")); err == nil || !strings.Contains(err.Error(), "duck: write") {
		t.Errorf("bad path: %v", err)
	}
}

func TestQuote(t *testing.T) {
	if Quote("a'b") != "'a''b'" || Ident(`a"b`) != `"a""b"` {
		t.Error(Quote("a'b"), Ident(`a"b`))
	}
}

// TestTempFolderPerDatabase: each database spills into a folder of its
// own (DuckDB's temporary file names would collide between databases), and
// Close removes it. The system's temporary directory is a fresh one, as
// after a reboot: vitlab-duckdb/ does not exist yet (DuckDB makes only the
// last folder of temp_directory).
func TestTempFolderPerDatabase(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	ctx := context.Background()
	a, err := OpenConfig(ctx, Config{Threads: 1, MemoryLimit: 24 << 20})
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenConfig(ctx, Config{Threads: 1, MemoryLimit: 24 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.tmp == "" || a.tmp == b.tmp {
		t.Fatalf("temporary folders %q and %q", a.tmp, b.tmp)
	}
	// a sort of ~100 MB of text outgrows 24 MiB: it spills
	res, err := a.Query(ctx, "select count(*) from (select x from (select random()::varchar || range as x from range(3000000)) order by x)")
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows[0][0] != int64(3000000) {
		t.Fatalf("count %v", res.Rows[0][0])
	}
	if _, err := os.Stat(a.tmp); err != nil {
		t.Fatalf("the sort did not spill into %s: %v", a.tmp, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.tmp); !os.IsNotExist(err) {
		t.Fatalf("%s left after Close: %v", a.tmp, err)
	}
}
