package warehouse

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/ipc"

	"vitlab/etl/parquetout"
	"vitlab/schemas"
)

// StagedFile is one complete Parquet part file of one table in a staging
// directory, and its rows.
type StagedFile struct {
	Path string
	Rows int64
}

// Segment names consecutive records of one closed spool, [First,
// First+Count), holding Rows rows: what one run wrote to one table.
type Segment struct {
	Spool        *Spool
	First, Count int
	Rows         int64
}

// DefaultPartRows is the default of CompactOptions.PartRows.
const DefaultPartRows = 4 << 20

// CompactOptions tune Compact. The zero value is the default.
type CompactOptions struct {
	// Parquet are the writer options of the parts.
	Parquet parquetout.Options
	// PartRows: a part takes no more segments once it holds this many
	// rows (default 4Mi). A segment is never split, so one run's rows of a
	// table are in one part.
	PartRows int64
	// Jobs is how many parts are written at once (default 1). Each holds
	// one Parquet writer (one row group, see parquetout.Options) and one
	// record read from a spool.
	Jobs int
}

// Compact writes the segments of every table of the warehouse
// (schemas.All), in the order given, into Parquet part files under
// <staging>/parts/<table>/, part-0001.parquet and up, each of at most about
// opts.PartRows rows. A table without segments gets one empty part, so
// every committed batch has every table with its schema. Parts are written
// opts.Jobs at a time, the biggest first; the spools are only read. It
// returns the parts of each table in row order; on error it removes what
// it wrote.
func (s *Staging) Compact(ctx context.Context, segs map[*schemas.Table][]Segment, opts CompactOptions) (map[string][]StagedFile, error) {
	if opts.PartRows <= 0 {
		opts.PartRows = DefaultPartRows
	}
	opts.Jobs = max(1, opts.Jobs)
	tables := schemas.All()
	for t, ss := range segs {
		if !slices.Contains(tables, t) {
			return nil, fmt.Errorf("warehouse: compact: %s is not a warehouse table", t.Name)
		}
		for _, sg := range ss {
			if err := sg.check(t); err != nil {
				return nil, err
			}
		}
	}

	var units []*partUnit
	out := map[string][]StagedFile{}
	for _, t := range tables {
		dir := filepath.Join(s.dir, "parts", t.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("warehouse: %w", err)
		}
		groups := planParts(segs[t], opts.PartRows)
		out[t.Name] = make([]StagedFile, len(groups))
		for i, g := range groups {
			u := &partUnit{table: t, segs: g, dst: &out[t.Name][i],
				path: filepath.Join(dir, fmt.Sprintf("part-%04d.parquet", i+1))}
			for _, sg := range g {
				u.rows += sg.Rows
			}
			units = append(units, u)
		}
	}
	// Longest first, so that the big tables do not start last.
	slices.SortStableFunc(units, func(a, b *partUnit) int { return cmp.Compare(b.rows, a.rows) })

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		work = make(chan *partUnit)
	)
	for range min(opts.Jobs, len(units)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work {
				if err := u.write(ctx, opts.Parquet); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					cancel()
				}
			}
		}()
	}
feed:
	for _, u := range units {
		select {
		case work <- u:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if len(errs) == 0 {
		errs = append(errs, ctx.Err())
	}
	if err := errors.Join(errs...); err != nil {
		for _, u := range units {
			os.Remove(u.path)
		}
		return nil, err
	}
	return out, nil
}

// check validates a segment of table t.
func (sg Segment) check(t *schemas.Table) error {
	switch {
	case sg.Spool == nil:
		return fmt.Errorf("warehouse: compact %s: segment without a spool", t.Name)
	case sg.Spool.table != t:
		return fmt.Errorf("warehouse: compact %s: spool %s holds table %s", t.Name, sg.Spool.path, sg.Spool.table.Name)
	case !sg.Spool.readable():
		return fmt.Errorf("warehouse: compact %s: spool %s is not closed", t.Name, sg.Spool.path)
	case sg.First < 0 || sg.Count < 0 || sg.First+sg.Count > sg.Spool.records:
		return fmt.Errorf("warehouse: compact %s: records [%d, %d) outside spool %s of %d records",
			t.Name, sg.First, sg.First+sg.Count, sg.Spool.path, sg.Spool.records)
	}
	return nil
}

// planParts cuts segs, in order, into groups of about partRows rows; no
// segments make one empty group.
func planParts(segs []Segment, partRows int64) [][]Segment {
	var groups [][]Segment
	var cur []Segment
	var rows int64
	for _, sg := range segs {
		cur = append(cur, sg)
		rows += sg.Rows
		if rows >= partRows {
			groups = append(groups, cur)
			cur, rows = nil, 0
		}
	}
	if len(cur) > 0 || len(groups) == 0 {
		groups = append(groups, cur)
	}
	return groups
}

// partUnit is one part to write: segments of one table into one file.
type partUnit struct {
	table *schemas.Table
	segs  []Segment
	rows  int64
	path  string
	dst   *StagedFile
}

// write streams the unit's records, one at a time, into its part file.
func (u *partUnit) write(ctx context.Context, opts parquetout.Options) (err error) {
	w, err := parquetout.Create(u.path, u.table, opts)
	if err != nil {
		return err
	}
	readers := map[*Spool]*spoolReader{}
	defer func() {
		for _, r := range readers {
			err = errors.Join(err, r.close())
		}
		if err != nil {
			err = errors.Join(fmt.Errorf("warehouse: compact %s: %w", u.table.Name, err), w.Abort())
		}
	}()
	for _, sg := range u.segs {
		r := readers[sg.Spool]
		if r == nil {
			if r, err = openSpool(sg.Spool, opts); err != nil {
				return err
			}
			readers[sg.Spool] = r
		}
		var rows int64
		for i := sg.First; i < sg.First+sg.Count; i++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			rec, err := r.fr.RecordBatchAt(i)
			if err != nil {
				return fmt.Errorf("%s: record %d: %w", sg.Spool.path, i, err)
			}
			rows += rec.NumRows()
			err = w.Write(rec)
			rec.Release()
			if err != nil {
				return err
			}
		}
		if rows != sg.Rows {
			return fmt.Errorf("%s: records [%d, %d) hold %d rows, the segment says %d", sg.Spool.path, sg.First, sg.First+sg.Count, rows, sg.Rows)
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if w.Rows() != u.rows {
		return fmt.Errorf("wrote %d rows, the segments hold %d", w.Rows(), u.rows)
	}
	*u.dst = StagedFile{Path: u.path, Rows: w.Rows()}
	return nil
}

// spoolReader reads a closed spool's records by number.
type spoolReader struct {
	f  *os.File
	fr *ipc.FileReader
}

func openSpool(sp *Spool, opts parquetout.Options) (*spoolReader, error) {
	f, err := os.Open(sp.path)
	if err != nil {
		return nil, err
	}
	ipcOpts := []ipc.Option{ipc.WithSchema(sp.table.Schema())}
	if opts.Allocator != nil {
		ipcOpts = append(ipcOpts, ipc.WithAllocator(opts.Allocator))
	}
	fr, err := ipc.NewFileReader(f, ipcOpts...)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", sp.path, err)
	}
	if fr.NumRecords() != sp.records {
		fr.Close()
		f.Close()
		return nil, fmt.Errorf("%s: %d records, %d appended", sp.path, fr.NumRecords(), sp.records)
	}
	return &spoolReader{f: f, fr: fr}, nil
}

func (r *spoolReader) close() error {
	r.fr.Close()
	return r.f.Close()
}
