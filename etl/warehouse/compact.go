package warehouse

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"vitlab/etl/parquetout"
	"vitlab/schemas"
)

// StagedFile is one complete (closed, fsynced) Parquet file of one table in
// a staging directory, and its rows.
type StagedFile struct {
	Path string
	Rows int64
}

// Defaults of CompactOptions.
const (
	DefaultMoveRows = parquetout.DefaultMaxRowGroupRows
	DefaultPartRows = 16 << 20
)

// CompactOptions tune Compact. The zero value is the default.
type CompactOptions struct {
	// Parquet are the writer options of rewritten parts.
	Parquet parquetout.Options
	// MoveRows: a staged file of at least this many rows already has full
	// row groups and becomes a part as is, without a rewrite (default 1M).
	MoveRows int64
	// PartRows: a rewritten part takes no more staged files once it holds
	// this many rows (default 16M).
	PartRows int64
}

// Compact turns the staged files of one table of a batch, in order, into
// few part files under <staging>/parts/<table>/: runs of small files are
// concatenated (streamed, one record at a time) into one part, a big file or
// a lone small one is moved as is. The staged files are consumed. With no
// files it writes one empty part, so every committed batch has every table
// with its schema. It returns the parts in row order.
func (s *Staging) Compact(ctx context.Context, t *schemas.Table, files []StagedFile, opts CompactOptions) ([]StagedFile, error) {
	if opts.MoveRows <= 0 {
		opts.MoveRows = DefaultMoveRows
	}
	if opts.PartRows <= 0 {
		opts.PartRows = DefaultPartRows
	}
	dir := filepath.Join(s.dir, "parts", t.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	var parts []StagedFile
	next := func() string { return filepath.Join(dir, fmt.Sprintf("part-%04d.parquet", len(parts)+1)) }

	if len(files) == 0 {
		p := next()
		w, err := parquetout.Create(p, t, opts.Parquet)
		if err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			w.Abort()
			return nil, err
		}
		return []StagedFile{{Path: p}}, nil
	}

	var group []StagedFile
	var groupRows int64
	flush := func() error {
		switch len(group) {
		case 0:
			return nil
		case 1:
			p := next()
			if err := os.Rename(group[0].Path, p); err != nil {
				return fmt.Errorf("warehouse: compact %s: %w", t.Name, err)
			}
			parts = append(parts, StagedFile{Path: p, Rows: group[0].Rows})
		default:
			p := next()
			srcs := make([]string, len(group))
			for i, f := range group {
				srcs[i] = f.Path
			}
			n, err := parquetout.Concat(ctx, p, t, srcs, opts.Parquet)
			if err != nil {
				return fmt.Errorf("warehouse: compact %s: %w", t.Name, err)
			}
			if n != groupRows {
				os.Remove(p)
				return fmt.Errorf("warehouse: compact %s: wrote %d rows, staged files hold %d", t.Name, n, groupRows)
			}
			for _, src := range srcs {
				if err := os.Remove(src); err != nil {
					return fmt.Errorf("warehouse: compact %s: %w", t.Name, err)
				}
			}
			parts = append(parts, StagedFile{Path: p, Rows: n})
		}
		group, groupRows = group[:0], 0
		return nil
	}
	for _, f := range files {
		if f.Rows >= opts.MoveRows {
			if err := flush(); err != nil {
				return nil, err
			}
			group = append(group, f)
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		group = append(group, f)
		groupRows += f.Rows
		if groupRows >= opts.PartRows {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return parts, nil
}
