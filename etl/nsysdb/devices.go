package nsysdb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"vitlab/schemas"
)

// device is one GPU of an export; nil fields are unknown.
type device struct {
	id                     int64
	name, uuid, bus, chip  *string
	sm, mem, bw, clock, l2 *int64
	major, minor, cuda     *int64
}

// gpuColumns maps the device fields to TARGET_INFO_GPU columns (nsys ≥
// 2021). The 2020 layout has only vmId, deviceId, name, busLocation and
// isDiscrete; the rest comes from TARGET_INFO_CUDA_GPU there.
var gpuColumns = []struct {
	col  string
	text func(*device) **string
	num  func(*device) **int64
}{
	{col: "name", text: func(d *device) **string { return &d.name }},
	{col: "uuid", text: func(d *device) **string { return &d.uuid }},
	{col: "busLocation", text: func(d *device) **string { return &d.bus }},
	{col: "chipName", text: func(d *device) **string { return &d.chip }},
	{col: "smCount", num: func(d *device) **int64 { return &d.sm }},
	{col: "totalMemory", num: func(d *device) **int64 { return &d.mem }},
	{col: "memoryBandwidth", num: func(d *device) **int64 { return &d.bw }},
	{col: "clockRate", num: func(d *device) **int64 { return &d.clock }},
	{col: "l2CacheSize", num: func(d *device) **int64 { return &d.l2 }},
	{col: "computeMajor", num: func(d *device) **int64 { return &d.major }},
	{col: "computeMinor", num: func(d *device) **int64 { return &d.minor }},
	{col: "cuDevice", num: func(d *device) **int64 { return &d.cuda }},
}

// cudaGPUColumns maps TARGET_INFO_CUDA_GPU (nsys 2020) to device fields,
// with the factor that converts the 2020 unit to the warehouse's:
// globalMemorySize is in MiB and coreClockRate in kHz there.
var cudaGPUColumns = []struct {
	col    string
	num    func(*device) **int64
	factor int64
}{
	{"numMultiprocessors", func(d *device) **int64 { return &d.sm }, 1},
	{"globalMemorySize", func(d *device) **int64 { return &d.mem }, 1 << 20},
	{"coreClockRate", func(d *device) **int64 { return &d.clock }, 1000},
	{"l2CacheSize", func(d *device) **int64 { return &d.l2 }, 1},
	{"computeCapabilityMajor", func(d *device) **int64 { return &d.major }, 1},
	{"computeCapabilityMinor", func(d *device) **int64 { return &d.minor }, 1},
}

// readDevices reads the GPUs of the export: TARGET_INFO_GPU (keyed by id,
// or by deviceId in nsys 2020), completed from TARGET_INFO_CUDA_GPU (2020)
// and TARGET_INFO_CUDA_DEVICE (CUDA ordinal, 2025).
func (d *DB) readDevices(ctx context.Context, ro ReadOptions, fn func(arrow.RecordBatch) error) (int64, error) {
	var devs []*device
	byID := map[int64]*device{}
	l, err := d.layout(ctx, "TARGET_INFO_GPU")
	if err != nil {
		return 0, err
	}
	if l != nil {
		idCol, ok := l.has("id")
		if !ok {
			idCol, ok = l.has("deviceId")
		}
		if !ok {
			return 0, d.malformed("table %s lacks column id (or deviceId)", l.table)
		}
		sel := []string{quoteIdent(idCol)}
		var cols []int // index into gpuColumns per selected column after the id
		for i, g := range gpuColumns {
			if c, ok := l.has(g.col); ok {
				sel = append(sel, quoteIdent(c))
				cols = append(cols, i)
			}
		}
		row := 0
		q := "SELECT " + strings.Join(sel, ", ") + " FROM " + quoteIdent(l.table) + " ORDER BY rowid"
		err := d.query(ctx, q, func(v []driver.Value) error {
			row++
			id, ok, err := toInt(v[0])
			if err != nil || !ok {
				if err == nil {
					err = errNull
				}
				return dataError{fmt.Errorf("row %d: column %s: %w", row, idCol, err)}
			}
			dev := &device{id: id}
			for j, gi := range cols {
				g := gpuColumns[gi]
				if g.text != nil {
					s, ok, err := toText(v[j+1])
					if err != nil {
						return dataError{fmt.Errorf("row %d: column %s: %w", row, g.col, err)}
					}
					if ok {
						*g.text(dev) = &s
					}
					continue
				}
				n, ok, err := toInt(v[j+1])
				if err != nil {
					return dataError{fmt.Errorf("row %d: column %s: %w", row, g.col, err)}
				}
				if ok {
					*g.num(dev) = &n
				}
			}
			devs = append(devs, dev)
			if _, dup := byID[id]; !dup {
				byID[id] = dev
			}
			return nil
		})
		if err != nil {
			return 0, d.wrapReadErr(ctx, l.table, err)
		}
	}
	if err := d.completeFromCUDAGPU(ctx, &devs, byID); err != nil {
		return 0, err
	}
	if err := d.completeCUDAOrdinal(ctx, byID); err != nil {
		return 0, err
	}
	if len(devs) == 0 {
		return 0, nil
	}
	return int64(len(devs)), d.buildDevices(devs, ro, fn)
}

// completeFromCUDAGPU fills what the 2020 TARGET_INFO_GPU lacks from
// TARGET_INFO_CUDA_GPU (one row per device and process; the first wins).
func (d *DB) completeFromCUDAGPU(ctx context.Context, devs *[]*device, byID map[int64]*device) error {
	l, err := d.layout(ctx, "TARGET_INFO_CUDA_GPU")
	if err != nil || l == nil {
		return err
	}
	idCol, ok := l.has("deviceId")
	if !ok {
		return nil
	}
	sel := []string{quoteIdent(idCol)}
	var cols []int
	for i, g := range cudaGPUColumns {
		if c, ok := l.has(g.col); ok {
			sel = append(sel, quoteIdent(c))
			cols = append(cols, i)
		}
	}
	nameCol, hasName := l.has("name")
	if hasName {
		sel = append(sel, quoteIdent(nameCol))
	}
	seen := map[int64]bool{}
	row := 0
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + quoteIdent(l.table) + " ORDER BY rowid"
	err = d.query(ctx, q, func(v []driver.Value) error {
		row++
		id, ok, err := toInt(v[0])
		if err != nil {
			return dataError{fmt.Errorf("row %d: column %s: %w", row, idCol, err)}
		}
		if !ok || seen[id] {
			return nil
		}
		seen[id] = true
		dev := byID[id]
		if dev == nil {
			dev = &device{id: id}
			byID[id] = dev
			*devs = append(*devs, dev)
		}
		for j, gi := range cols {
			g := cudaGPUColumns[gi]
			n, ok, err := toInt(v[j+1])
			if err != nil {
				return dataError{fmt.Errorf("row %d: column %s: %w", row, g.col, err)}
			}
			if p := g.num(dev); ok && *p == nil {
				if g.factor > 1 && (n > math.MaxInt64/g.factor || n < 0) {
					continue
				}
				n *= g.factor
				*p = &n
			}
		}
		if hasName && dev.name == nil {
			s, ok, err := toText(v[len(v)-1])
			if err != nil {
				return dataError{fmt.Errorf("row %d: column %s: %w", row, nameCol, err)}
			}
			if ok {
				dev.name = &s
			}
		}
		return nil
	})
	if err != nil {
		return d.wrapReadErr(ctx, l.table, err)
	}
	return nil
}

// completeCUDAOrdinal fills cuda_device from TARGET_INFO_CUDA_DEVICE
// (gpuId → cudaId) where TARGET_INFO_GPU has no cuDevice.
func (d *DB) completeCUDAOrdinal(ctx context.Context, byID map[int64]*device) error {
	l, err := d.layout(ctx, "TARGET_INFO_CUDA_DEVICE")
	if err != nil || l == nil {
		return err
	}
	g, ok1 := l.has("gpuId")
	c, ok2 := l.has("cudaId")
	if !ok1 || !ok2 {
		return nil
	}
	q := "SELECT " + quoteIdent(g) + ", " + quoteIdent(c) + " FROM " + quoteIdent(l.table) + " ORDER BY rowid"
	err = d.query(ctx, q, func(v []driver.Value) error {
		id, ok1, err1 := toInt(v[0])
		cuda, ok2, err2 := toInt(v[1])
		if err := errors.Join(err1, err2); err != nil {
			return dataError{fmt.Errorf("columns %s, %s: %w", g, c, err)}
		}
		if dev := byID[id]; ok1 && ok2 && dev != nil && dev.cuda == nil {
			dev.cuda = &cuda
		}
		return nil
	})
	if err != nil {
		return d.wrapReadErr(ctx, l.table, err)
	}
	return nil
}

func (d *DB) buildDevices(devs []*device, ro ReadOptions, fn func(arrow.RecordBatch) error) error {
	t := schemas.Devices
	b := array.NewRecordBuilder(d.opts.Allocator, t.Schema())
	defer b.Release()
	str := func(col string, f func(*device) *string) {
		bl := b.Field(t.MustIndex(col)).(*array.StringBuilder)
		for _, dev := range devs {
			if p := f(dev); p != nil {
				bl.Append(*p)
			} else {
				bl.AppendNull()
			}
		}
	}
	i64 := func(col string, f func(*device) *int64) {
		bl := b.Field(t.MustIndex(col)).(*array.Int64Builder)
		for _, dev := range devs {
			if p := f(dev); p != nil {
				bl.Append(*p)
			} else {
				bl.AppendNull()
			}
		}
	}
	i32 := func(col string, f func(*device) *int64) error {
		bl := b.Field(t.MustIndex(col)).(*array.Int32Builder)
		for _, dev := range devs {
			p := f(dev)
			switch {
			case p == nil:
				bl.AppendNull()
			case *p < math.MinInt32 || *p > math.MaxInt32:
				return d.malformed("table TARGET_INFO_GPU device %d: %s value %d out of range", dev.id, col, *p)
			default:
				bl.Append(int32(*p))
			}
		}
		return nil
	}
	batch := ro.BatchID
	run := ro.RunID
	str("batch_id", func(*device) *string { return &batch })
	str("run_id", func(*device) *string { return &run })
	if err := i32("device_id", func(dev *device) *int64 { return &dev.id }); err != nil {
		return err
	}
	str("name", func(dev *device) *string { return dev.name })
	str("uuid", func(dev *device) *string { return dev.uuid })
	str("bus_location", func(dev *device) *string { return dev.bus })
	str("chip_name", func(dev *device) *string { return dev.chip })
	i64("total_memory_bytes", func(dev *device) *int64 { return dev.mem })
	i64("memory_bandwidth_bytes_s", func(dev *device) *int64 { return dev.bw })
	i64("clock_rate_hz", func(dev *device) *int64 { return dev.clock })
	i64("l2_cache_bytes", func(dev *device) *int64 { return dev.l2 })
	for col, f := range map[string]func(*device) *int64{
		"sm_count":      func(dev *device) *int64 { return dev.sm },
		"compute_major": func(dev *device) *int64 { return dev.major },
		"compute_minor": func(dev *device) *int64 { return dev.minor },
		"cuda_device":   func(dev *device) *int64 { return dev.cuda },
	} {
		if err := i32(col, f); err != nil {
			return err
		}
	}
	for i := range t.Columns {
		if b.Field(i).Len() != len(devs) {
			return fmt.Errorf("nsysdb: devices: column %s not filled", t.Columns[i].Name)
		}
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	return fn(rec)
}
