package queries

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"vitlab/queries/duck"
)

// run_busy's interval unions computed in Go at derive time.
//
// run_busy (metrics/run_busy.sql) sums, per run and set of GPU operations
// (kernel, h2d, d2h, copy, kernel_copy, any), the length of the union of
// the operations clipped to the run's timed window: gpu_intervals makes
// one row per (operation, set), gpu_interval_union a window over each set
// in (start, end) order for the max end before each row. That was the
// second most costly derived statement (1.9 s of ~12 s on the ingest
// bench's batch, 10 groups). Here DuckDB reads each operation's run (a
// hash), set bits, start and end as Arrow; Go clips them to the window
// (run_window, already derived), sorts each run's operations once by
// (start, end) and sweeps the six sets together, each with its own max end
// so far: new_ns = max(0, end - max(start, prev_end)), summed exactly in
// integers. The sums replace the set_ns step of run_busy.sql, whose other
// steps (the join with the window and the ratios) run as they are, cut
// from the file (runBusyFinal), so the numbers after the sums stay SQL.
//
// As for nsys_nvtx_kern_sum (nvtx_kern_sum_go.go), the Go side is pinned
// to the SQL it reproduces (runBusyPin: run_busy, gpu_interval_union and
// gpu_intervals); when one changes, derive runs the SQL and
// TestRunBusyGoPinned fails until the Go code is checked and the pin
// updated.

// runBusyPin is runBusyHash of the SQL the Go code reproduces.
const runBusyPin = "b2e5663e"

// runBusyFiles are the metric files whose SQL the Go code reproduces.
var runBusyFiles = []string{"run_busy", "gpu_interval_union", "gpu_intervals"}

// runBusyHash hashes the SQL of runBusyFiles, first 8 hex digits.
func runBusyHash(cat *Catalog) string {
	h := sha256.New()
	for _, name := range runBusyFiles {
		for _, v := range cat.ViewFiles {
			if v.Name == name {
				fmt.Fprintf(h, "view %s\n%s\n", v.File, v.SQL)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:8]
}

// runBusyGo says whether derive computes derived view v in Go: v is
// run_busy, its SQL the pinned one, Arrow available, VITLAB_DERIVE_SQL
// unset.
func runBusyGo(cat *Catalog, v *ViewFile) bool {
	if v.Name != "run_busy" || !duck.ArrowAvailable || os.Getenv("VITLAB_DERIVE_SQL") != "" {
		return false
	}
	return runBusyHash(cat) == runBusyPin
}

// runBusyFinal is run_busy.sql with its unions and set_ns steps replaced
// by the sums Go wrote to file; "" when the file does not have the shape
// cut here.
func runBusyFinal(cat *Catalog, file string) string {
	var sql string
	for _, v := range cat.ViewFiles {
		if v.Name == "run_busy" {
			sql = stripComments(v.SQL)
		}
	}
	const head = "create or replace view run_busy as"
	i := strings.Index(sql, head)
	a := strings.Index(sql, "unions as (")
	b := strings.Index(sql, "windows as (")
	c := strings.Index(sql, "set_ns as (")
	d := strings.Index(sql, "joined as (")
	if i < 0 || a < 0 || b < a || c < b || d < c {
		return ""
	}
	sums := "set_ns as (\n        select batch_id, run_id, kernel_ns::hugeint as kernel_ns, h2d_ns::hugeint as h2d_ns, d2h_ns::hugeint as d2h_ns,\n" +
		"            copy_ns::hugeint as copy_ns, kernel_copy_ns::hugeint as kernel_copy_ns, any_ns::hugeint as any_ns\n" +
		"        from read_parquet(" + duck.Quote(file) + ")\n    ),\n    "
	out := sql[i+len(head):a] + sql[b:c] + sums + sql[d:]
	return strings.TrimRight(strings.TrimSpace(out), ";")
}

// Set bits of an operation (gpu_intervals' set_id 1-6).
const (
	setKernel = 1 << iota
	setH2D
	setD2H
	setCopy
	setKernelCopy
	setAny
	busySets = 6
)

// rbOp is one operation of a run, clipped to its window.
type rbOp struct {
	start, end int64
	sets       uint8
}

// runBusySums computes the per-run set sums of run_busy over the rows the
// base views kernels, memcpys and memsets and the table run_window show
// now, and writes them to file (runBusyFinal reads it).
func (w *Warehouse) runBusySums(ctx context.Context, file string) error {
	type window struct {
		batch, run string
		start, end int64
		ops        []rbOp
	}
	runs := map[uint64]*window{}
	var order []*window
	if err := w.db.Each(ctx, `select hash(batch_id, run_id), batch_id, run_id, w_start, w_end from run_window`, noHead, func(r []any) error {
		h := asUint64(r[0])
		if _, dup := runs[h]; dup {
			return errDeriveSQL // two runs share a hash, or a run two windows
		}
		if r[3] == nil || r[4] == nil {
			return nil // joins no operation
		}
		win := &window{batch: fmt.Sprint(r[1]), run: fmt.Sprint(r[2]), start: asInt64(r[3]), end: asInt64(r[4])}
		runs[h] = win
		order = append(order, win)
		return nil
	}); err != nil {
		return err
	}
	// set bits: kernel 1|16|32, memcpy HtoD 2|8|16|32, DtoH 4|8|16|32,
	// another memcpy 8|16|32, memset 32 (the sets of gpu_intervals)
	const ops = `select hash(batch_id, run_id), 49::utinyint, start, "end" from kernels
union all
select hash(batch_id, run_id), (case kind when 'HtoD' then 2 when 'DtoH' then 4 else 0 end + 56)::utinyint, start, "end" from memcpys
union all
select hash(batch_id, run_id), 32::utinyint, start, "end" from memsets`
	if _, err := w.db.QueryArrow(ctx, ops, func(rec arrow.RecordBatch) error {
		if rec.NumCols() != 4 {
			return fmt.Errorf("run_busy: %d columns", rec.NumCols())
		}
		hs, ok1 := rec.Column(0).(*array.Uint64)
		sets, ok2 := rec.Column(1).(*array.Uint8)
		starts, ok3 := rec.Column(2).(*array.Int64)
		ends, ok4 := rec.Column(3).(*array.Int64)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return fmt.Errorf("run_busy: columns %s", rec.Schema())
		}
		var cur *window
		var curH uint64
		for i := 0; i < int(rec.NumRows()); i++ {
			if hs.IsNull(i) || starts.IsNull(i) || ends.IsNull(i) {
				continue // (start and end are required: a null joins no window)
			}
			h := hs.Value(i)
			if cur == nil || h != curH {
				cur, curH = runs[h], h
			}
			if cur == nil {
				continue
			}
			s, e := starts.Value(i), ends.Value(i)
			if !(s < cur.end && e > cur.start) {
				continue
			}
			cur.ops = append(cur.ops, rbOp{start: max(s, cur.start), end: min(e, cur.end), sets: sets.Value(i)})
		}
		return nil
	}); err != nil {
		return err
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, rbSchema)
	defer b.Release()
	for _, win := range order {
		if len(win.ops) == 0 {
			continue // no row in set_ns
		}
		slices.SortFunc(win.ops, func(x, y rbOp) int {
			if x.start != y.start {
				return compare(x.start, y.start)
			}
			return compare(x.end, y.end)
		})
		var prev [busySets]int64
		var seen [busySets]bool
		var sums [busySets][2]uint64 // 128-bit sums
		for _, op := range win.ops {
			for k := range busySets {
				if op.sets&(1<<k) == 0 {
					continue
				}
				from := op.start
				if seen[k] {
					from = max(op.start, prev[k])
					prev[k] = max(prev[k], op.end)
				} else {
					prev[k], seen[k] = op.end, true
				}
				if op.end > from {
					// end - from fits: both clipped into the window
					n := uint64(op.end) - uint64(from)
					var c uint64
					sums[k][1], c = bits.Add64(sums[k][1], n, 0)
					sums[k][0] += c
				}
			}
		}
		b.Field(0).(*array.StringBuilder).Append(win.batch)
		b.Field(1).(*array.StringBuilder).Append(win.run)
		for k := range busySets {
			if sums[k][0] != 0 || sums[k][1]>>63 != 0 {
				return errDeriveSQL // beyond a BIGINT: the SQL sums in HUGEINT
			}
			appendInt64(b.Field(2+k).(*array.Int64Builder), int64(sums[k][1]), seen[k])
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return writeParquet(file, rec)
}

// rbSchema is runBusySums' file: the set_ns step's columns.
var rbSchema = arrow.NewSchema([]arrow.Field{
	{Name: "batch_id", Type: arrow.BinaryTypes.String},
	{Name: "run_id", Type: arrow.BinaryTypes.String},
	{Name: "kernel_ns", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "h2d_ns", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "d2h_ns", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "copy_ns", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "kernel_copy_ns", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "any_ns", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
}, nil)

func compare(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// writeParquet writes one record to an uncompressed Parquet file (a
// scratch file of a derivation, read once by DuckDB).
func writeParquet(file string, rec arrow.RecordBatch) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	fw, err := pqarrow.NewFileWriter(rec.Schema(), f, parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Uncompressed)), pqarrow.DefaultWriterProps())
	if err != nil {
		f.Close()
		return err
	}
	if err := fw.Write(rec); err != nil {
		fw.Close()
		return err
	}
	return fw.Close() // closes f
}

// errDeriveSQL says that a Go path cannot give its SQL's answer on these
// rows (a hash shared, a sum beyond BIGINT): derive runs the SQL.
var errDeriveSQL = errors.New("queries: derive: computed by its SQL")
