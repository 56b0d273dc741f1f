package nsysdb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"vitlab/schemas"
)

// ReadOptions say what a Read produces.
type ReadOptions struct {
	// BatchID and RunID fill the batch_id and run_id columns.
	BatchID, RunID string
	// Columns, when not empty, restricts the records to these warehouse
	// columns (in the table's order); the records' schema is then the
	// matching part of the table's schema. Used to read only what a
	// computation needs; such records are not meant for the warehouse.
	// Devices, a small table, ignores it.
	Columns []string
}

// SourceTable returns the nsys table a warehouse table is read from, or ""
// for tables that do not come from exports.
func SourceTable(t *schemas.Table) string {
	if t == schemas.Devices {
		return "TARGET_INFO_GPU"
	}
	if s, ok := sources[t.Name]; ok {
		return s.table
	}
	return ""
}

// EventSources are the nsys tables whose rows are events vitlab loads.
var EventSources = []string{
	"CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET",
	"CUPTI_ACTIVITY_KIND_RUNTIME", "NVTX_EVENTS",
}

// Read streams the rows of warehouse table t (devices, kernels, memcpys,
// memsets, cuda_api or nvtx) to fn as Arrow records of at most
// Options.BatchRows rows, and returns the number of rows read. fn must not
// keep a record after it returns unless it retains it. When the export
// lacks the source table, Read returns 0 and never calls fn. Errors from fn
// are returned as they are; errors about the export wrap ErrMalformed.
func (d *DB) Read(ctx context.Context, t *schemas.Table, ro ReadOptions, fn func(arrow.RecordBatch) error) (int64, error) {
	if t == schemas.Devices {
		return d.readDevices(ctx, ro, fn)
	}
	src, ok := sources[t.Name]
	if !ok {
		return 0, fmt.Errorf("nsysdb: table %s is not read from nsys exports", t.Name)
	}
	l, err := d.layout(ctx, src.table)
	if err != nil || l == nil {
		return 0, err
	}
	p, err := d.compile(ctx, t, src, l, ro)
	if err != nil {
		return 0, err
	}
	return d.scan(ctx, p, fn)
}

// fn says how a warehouse column is derived from its source columns.
type fn uint8

const (
	fInt        fn = iota // integer column as is
	fFloat                // floating-point column as is
	fText                 // text column as is
	fStringID             // StringIds[src]
	fPid                  // (src >> 24) & 0xFFFFFF of a global id
	fTid                  // src & 0xFFFFFF of a global thread id
	fProcOf               // src with the thread bits cleared: the global pid of a global tid
	fCopyKind             // schemas.CopyKind(src)
	fMemKind              // schemas.MemKind(src)
	fAPIClass             // schemas.APIClass(src); "other" when unknown
	fStyle                // schemas.NVTXStyle(src)
	fNVTXName             // COALESCE(StringIds[src0], src1)
	fDomain               // domain name of (domainId src0, globalTid src1)
	fFirstInt             // first non-null of the src columns
	fFirstFloat           // first non-null of the src columns
	fRowid                // the row's rowid
	fBatch                // ReadOptions.BatchID
	fRun                  // ReadOptions.RunID
	fNull                 // always null (filled by a later stage)
)

// spec derives one warehouse column. For single-input functions src lists
// alternative names of the one source column (the first the table has
// wins); for fNVTXName, fDomain and fFirst* each entry is one input.
type spec struct {
	col string
	fn  fn
	src []string
}

type source struct {
	table string
	specs []spec
}

func s(col string, f fn, src ...string) spec { return spec{col, f, src} }

var keySpecs = []spec{s("batch_id", fBatch), s("run_id", fRun)}

func gpuSpecs() []spec {
	return append(keySpecs[:2:2],
		s("start", fInt, "start"),
		s("end", fInt, "end"),
		s("device_id", fInt, "deviceId"),
		s("context_id", fInt, "contextId"),
		s("stream_id", fInt, "streamId"),
		s("correlation_id", fInt, "correlationId"),
		s("global_pid", fInt, "globalPid"),
		s("pid", fPid, "globalPid"),
		s("graph_node_id", fInt, "graphNodeId"),
	)
}

var sources = map[string]*source{
	schemas.Kernels.Name: {"CUPTI_ACTIVITY_KIND_KERNEL", append(gpuSpecs(),
		s("short_name", fStringID, "shortName"),
		s("demangled_name", fStringID, "demangledName"),
		s("mangled_name", fStringID, "mangledName"),
		s("grid_x", fInt, "gridX"),
		s("grid_y", fInt, "gridY"),
		s("grid_z", fInt, "gridZ"),
		s("block_x", fInt, "blockX"),
		s("block_y", fInt, "blockY"),
		s("block_z", fInt, "blockZ"),
		s("registers_per_thread", fInt, "registersPerThread"),
		s("static_shared_bytes", fInt, "staticSharedMemory"),
		s("dynamic_shared_bytes", fInt, "dynamicSharedMemory"),
		s("local_bytes_per_thread", fInt, "localMemoryPerThread"),
		s("launch_type", fInt, "launchType"),
		s("graph_id", fInt, "graphId"),
	)},
	schemas.Memcpys.Name: {"CUPTI_ACTIVITY_KIND_MEMCPY", append(gpuSpecs(),
		s("bytes", fInt, "bytes"),
		s("copy_kind_id", fInt, "copyKind"),
		s("kind", fCopyKind, "copyKind"),
		s("src_kind_id", fInt, "srcKind"),
		s("src_mem", fMemKind, "srcKind"),
		s("dst_kind_id", fInt, "dstKind"),
		s("dst_mem", fMemKind, "dstKind"),
		s("src_device_id", fInt, "srcDeviceId"),
		s("dst_device_id", fInt, "dstDeviceId"),
		s("migration_cause", fInt, "migrationCause"),
		s("copy_count", fInt, "copyCount"),
	)},
	schemas.Memsets.Name: {"CUPTI_ACTIVITY_KIND_MEMSET", append(gpuSpecs(),
		s("bytes", fInt, "bytes"),
		s("value", fInt, "value"),
		s("mem_kind_id", fInt, "memKind"),
		s("mem_kind", fMemKind, "memKind"),
	)},
	schemas.CudaAPI.Name: {"CUPTI_ACTIVITY_KIND_RUNTIME", append(keySpecs[:2:2],
		s("start", fInt, "start"),
		s("end", fInt, "end"),
		s("global_tid", fInt, "globalTid"),
		s("global_pid", fProcOf, "globalTid"),
		s("pid", fPid, "globalTid"),
		s("tid", fTid, "globalTid"),
		s("name", fStringID, "nameId"),
		s("correlation_id", fInt, "correlationId"),
		s("return_value", fInt, "returnValue"),
		s("event_class", fInt, "eventClass"),
		s("api", fAPIClass, "eventClass"),
	)},
	schemas.NVTX.Name: {"NVTX_EVENTS", append(keySpecs[:2:2],
		s("range_id", fRowid),
		s("event_type", fInt, "eventType"),
		s("style", fStyle, "eventType"),
		s("start", fInt, "start"),
		s("end", fInt, "end"),
		s("global_tid", fInt, "globalTid"),
		s("pid", fPid, "globalTid"),
		s("tid", fTid, "globalTid"),
		s("end_global_tid", fInt, "endGlobalTid"),
		s("domain_id", fInt, "domainId"),
		s("domain", fDomain, "domainId", "globalTid"),
		s("name", fNVTXName, "textId", "text"),
		s("category", fInt, "category"),
		s("payload_int", fFirstInt, "int64Value", "uint64Value", "int32Value", "uint32Value"),
		s("payload_double", fFirstFloat, "doubleValue", "floatValue"),
		s("depth", fNull),
		s("parent_id", fNull),
		s("gpu_start", fNull),
		s("gpu_end", fNull),
		s("gpu_ops", fNull),
	)},
}

// rowidCol stands for the rowid in a plan's select list.
const rowidCol = "\x00rowid"

// column is one compiled warehouse column: how to get its value from a row
// of the select list.
type column struct {
	name     string // warehouse column
	from     string // source column(s), for messages
	required bool
	fn       fn
	getInt   func(v []driver.Value) (int64, bool, error)
	getFloat func(v []driver.Value) (float64, bool, error)
	getText  func(v []driver.Value) (string, bool, error)
}

type plan struct {
	table  *schemas.Table
	source string
	schema *arrow.Schema
	query  string
	width  int // columns of the select list
	cols   []column
}

func at(v []driver.Value, i int) driver.Value {
	if i < 0 {
		return nil
	}
	return v[i]
}

// compile builds the query and the column getters of a read of t from the
// layout l of its source table.
func (d *DB) compile(ctx context.Context, t *schemas.Table, src *source, l *layout, ro ReadOptions) (*plan, error) {
	want := map[string]bool{}
	for _, c := range ro.Columns {
		if t.Index(c) < 0 {
			return nil, fmt.Errorf("nsysdb: table %s has no column %q", t.Name, c)
		}
		want[c] = true
	}
	byCol := map[string]spec{}
	for _, sp := range src.specs {
		byCol[sp.col] = sp
	}
	p := &plan{table: t, source: l.table}
	var sel []string
	index := map[string]int{}
	use := func(name string) int {
		if i, ok := index[name]; ok {
			return i
		}
		index[name] = len(sel)
		if name == rowidCol {
			sel = append(sel, "rowid")
		} else {
			sel = append(sel, quoteIdent(name))
		}
		return index[name]
	}
	// first returns the select index of the first alternative the table
	// has, or -1.
	first := func(names []string) (int, string) {
		for _, n := range names {
			if c, ok := l.has(n); ok {
				return use(c), c
			}
		}
		return -1, ""
	}
	var fields []arrow.Field
	for _, wc := range t.Columns {
		if len(want) > 0 && !want[wc.Name] {
			continue
		}
		sp, ok := byCol[wc.Name]
		if !ok {
			return nil, fmt.Errorf("nsysdb: no source for column %s.%s", t.Name, wc.Name)
		}
		fields = append(fields, t.Schema().Field(t.Index(wc.Name)))
		c := column{name: wc.Name, from: strings.Join(sp.src, "|"), required: !wc.Nullable, fn: sp.fn}
		if sp.fn == fRowid {
			c.from = "rowid"
		}
		missing := func() error {
			return d.malformed("table %s lacks column %s, which vitlab requires (warehouse column %s.%s)",
				l.table, strings.Join(sp.src, " or "), t.Name, wc.Name)
		}
		switch sp.fn {
		case fBatch, fRun:
			val := ro.BatchID
			if sp.fn == fRun {
				val = ro.RunID
			}
			c.getText = func([]driver.Value) (string, bool, error) { return val, true, nil }
		case fNull:
			// no getter: always null
		case fRowid:
			i := use(rowidCol)
			c.getInt = func(v []driver.Value) (int64, bool, error) { return toInt(v[i]) }
		case fInt, fPid, fTid, fProcOf:
			i, name := first(sp.src)
			if i < 0 && c.required {
				return nil, missing()
			}
			if name != "" {
				c.from = name
			}
			f := sp.fn
			c.getInt = func(v []driver.Value) (int64, bool, error) {
				n, ok, err := toInt(at(v, i))
				if !ok || err != nil {
					return 0, false, err
				}
				switch f {
				case fPid:
					n = (n >> 24) & 0xFFFFFF
				case fTid:
					n &= 0xFFFFFF
				case fProcOf:
					n &^= 0xFFFFFF
				}
				return n, true, nil
			}
		case fFloat:
			i, name := first(sp.src)
			if i < 0 && c.required {
				return nil, missing()
			}
			if name != "" {
				c.from = name
			}
			c.getFloat = func(v []driver.Value) (float64, bool, error) { return toFloat(at(v, i)) }
		case fText:
			i, name := first(sp.src)
			if i < 0 && c.required {
				return nil, missing()
			}
			if name != "" {
				c.from = name
			}
			c.getText = func(v []driver.Value) (string, bool, error) { return toText(at(v, i)) }
		case fStringID:
			i, name := first(sp.src)
			if i < 0 {
				if c.required {
					return nil, missing()
				}
				c.getText = func([]driver.Value) (string, bool, error) { return "", false, nil }
				break
			}
			c.from = name
			strs, err := d.stringIDs(ctx, l.table)
			if err != nil {
				return nil, err
			}
			required := c.required
			c.getText = func(v []driver.Value) (string, bool, error) {
				id, ok, err := toInt(v[i])
				if !ok || err != nil {
					return "", false, err
				}
				if s, found := strs.get(id); found {
					return s, true, nil
				}
				if required {
					return "", false, fmt.Errorf("string id %d is not in StringIds", id)
				}
				return "", false, nil
			}
		case fCopyKind, fMemKind, fAPIClass, fStyle:
			i, name := first(sp.src)
			if i < 0 && c.required && sp.fn != fAPIClass {
				return nil, missing()
			}
			if name != "" {
				c.from = name
			}
			f := sp.fn
			c.getText = func(v []driver.Value) (string, bool, error) {
				n, ok, err := toInt(at(v, i))
				if err != nil {
					return "", false, err
				}
				if !ok {
					if f == fAPIClass {
						return schemas.APIClass(-1), true, nil
					}
					return "", false, nil
				}
				switch f {
				case fCopyKind:
					return schemas.CopyKind(n), true, nil
				case fMemKind:
					return schemas.MemKind(n), true, nil
				case fAPIClass:
					return schemas.APIClass(n), true, nil
				}
				return schemas.NVTXStyle(n), true, nil
			}
		case fNVTXName:
			iID, _ := first(sp.src[:1])
			iText, _ := first(sp.src[1:])
			var strs *stringIDs
			if iID >= 0 && d.HasTable("StringIds") {
				var err error
				if strs, err = d.stringIDs(ctx, l.table); err != nil {
					return nil, err
				}
			}
			c.getText = func(v []driver.Value) (string, bool, error) {
				return nvtxText(strs, at(v, iID), at(v, iText))
			}
		case fDomain:
			if err := d.loadDomains(ctx, l); err != nil {
				return nil, err
			}
			iDom, _ := first(sp.src[:1])
			iTid, _ := first(sp.src[1:])
			domains := d.domains
			c.getText = func(v []driver.Value) (string, bool, error) {
				if len(domains) == 0 {
					return "", false, nil
				}
				dom, ok1, err := toInt(at(v, iDom))
				if err != nil {
					return "", false, fmt.Errorf("domainId: %w", err)
				}
				tid, ok2, err := toInt(at(v, iTid))
				if err != nil {
					return "", false, fmt.Errorf("globalTid: %w", err)
				}
				if !ok1 || !ok2 {
					return "", false, nil
				}
				n, ok := domains[domainKey{dom, tid & processMask}]
				return n.name, ok, nil
			}
		case fFirstInt, fFirstFloat:
			var idx []int
			for _, n := range sp.src {
				if c, ok := l.has(n); ok {
					idx = append(idx, use(c))
				}
			}
			if sp.fn == fFirstInt {
				c.getInt = func(v []driver.Value) (int64, bool, error) {
					for _, i := range idx {
						if n, ok, err := toInt(v[i]); ok || err != nil {
							return n, ok, err
						}
					}
					return 0, false, nil
				}
			} else {
				c.getFloat = func(v []driver.Value) (float64, bool, error) {
					for _, i := range idx {
						if f, ok, err := toFloat(v[i]); ok || err != nil {
							return f, ok, err
						}
					}
					return 0, false, nil
				}
			}
		default:
			return nil, fmt.Errorf("nsysdb: column %s.%s: unknown derivation %d", t.Name, wc.Name, sp.fn)
		}
		p.cols = append(p.cols, c)
	}
	md := t.Schema().Metadata()
	p.schema = arrow.NewSchema(fields, &md)
	if len(want) == 0 {
		p.schema = t.Schema()
	}
	if len(sel) == 0 {
		sel = append(sel, "NULL")
	}
	p.width = len(sel)
	p.query = "SELECT " + strings.Join(sel, ", ") + " FROM " + quoteIdent(l.table)
	if _, ok := index[rowidCol]; ok {
		p.query += " ORDER BY rowid"
	}
	return p, nil
}

// appender appends one row's value of a column to its builder.
type appender func(v []driver.Value) error

var errNull = errors.New("NULL in a column vitlab requires")

func (c *column) appender(b array.Builder) (appender, error) {
	if c.fn == fNull {
		return func([]driver.Value) error { b.AppendNull(); return nil }, nil
	}
	switch b := b.(type) {
	case *array.Int64Builder:
		if c.getInt == nil {
			break
		}
		get, req := c.getInt, c.required
		return func(v []driver.Value) error {
			n, ok, err := get(v)
			if err != nil {
				return err
			}
			if !ok {
				if req {
					return errNull
				}
				b.AppendNull()
				return nil
			}
			b.Append(n)
			return nil
		}, nil
	case *array.Int32Builder:
		if c.getInt == nil {
			break
		}
		get, req := c.getInt, c.required
		return func(v []driver.Value) error {
			n, ok, err := get(v)
			if err != nil {
				return err
			}
			if !ok {
				if req {
					return errNull
				}
				b.AppendNull()
				return nil
			}
			if n < math.MinInt32 || n > math.MaxUint32 {
				return fmt.Errorf("value %d out of range of a 32-bit integer", n)
			}
			// nsys's unsigned 32-bit values (NVTX categories, memset
			// values) keep their bit pattern.
			b.Append(int32(uint32(n)))
			return nil
		}, nil
	case *array.Float64Builder:
		if c.getFloat == nil {
			break
		}
		get, req := c.getFloat, c.required
		return func(v []driver.Value) error {
			f, ok, err := get(v)
			if err != nil {
				return err
			}
			if !ok {
				if req {
					return errNull
				}
				b.AppendNull()
				return nil
			}
			b.Append(f)
			return nil
		}, nil
	case *array.StringBuilder:
		if c.getText == nil {
			break
		}
		get, req := c.getText, c.required
		return func(v []driver.Value) error {
			s, ok, err := get(v)
			if err != nil {
				return err
			}
			if !ok {
				if req {
					return errNull
				}
				b.AppendNull()
				return nil
			}
			b.Append(s)
			return nil
		}, nil
	}
	return nil, fmt.Errorf("nsysdb: column %s: no conversion to %T", c.name, b)
}

// bulkQuery runs a scan's query on the raw connection (raw.go), or on
// the driver's where a column is declared as a date (the driver's values
// are then time.Time, which the raw rows do not make).
func (d *DB) bulkQuery(ctx context.Context, q string) (driver.Rows, error) {
	if d.raw == nil {
		raw, err := openRaw(d.file)
		if err != nil {
			return nil, err
		}
		d.raw = raw
	}
	rows, err := d.raw.query(ctx, q)
	if err != nil {
		return nil, err
	}
	if !rows.dateDecl() {
		return rows, nil
	}
	rows.Close()
	return d.q.QueryContext(ctx, q, nil)
}

// scan runs a plan and sends its records to fn.
func (d *DB) scan(ctx context.Context, p *plan, fn func(arrow.RecordBatch) error) (int64, error) {
	b := array.NewRecordBuilder(d.opts.Allocator, p.schema)
	defer b.Release()
	apps := make([]appender, len(p.cols))
	for i := range p.cols {
		a, err := p.cols[i].appender(b.Field(i))
		if err != nil {
			return 0, err
		}
		apps[i] = a
	}
	rows, err := d.bulkQuery(ctx, p.query)
	if err != nil {
		return 0, d.sqlErr(ctx, "table "+p.source, err)
	}
	defer rows.Close()
	if n := len(rows.Columns()); n != p.width {
		return 0, fmt.Errorf("nsysdb: table %s: query returned %d columns, want %d", p.source, n, p.width)
	}
	v := make([]driver.Value, p.width)
	var total int64
	inBatch := 0
	flush := func() error {
		if inBatch == 0 {
			return nil
		}
		rec := b.NewRecordBatch()
		inBatch = 0
		err := fn(rec)
		rec.Release()
		return err
	}
	for {
		if err := rows.Next(v); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return total, d.sqlErr(ctx, fmt.Sprintf("table %s row %d", p.source, total+1), err)
		}
		for i, app := range apps {
			if err := app(v); err != nil {
				c := &p.cols[i]
				return total, d.malformed("table %s row %d: column %s (warehouse %s.%s): %w",
					p.source, total+1, c.from, p.table.Name, c.name, err)
			}
		}
		total++
		inBatch++
		if inBatch >= d.opts.BatchRows {
			if err := flush(); err != nil {
				return total, err
			}
			// A table this long likely fills the next record too: size
			// the builders once rather than growing them again.
			b.Reserve(d.opts.BatchRows)
			if err := ctx.Err(); err != nil {
				return total, fmt.Errorf("%s: table %s: %w", d.path, p.source, err)
			}
		}
	}
	if err := flush(); err != nil {
		return total, err
	}
	return total, nil
}
