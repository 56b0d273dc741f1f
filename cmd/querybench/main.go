package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"vitlab/queries"
	"vitlab/queries/duck"
)

func main() {
	dir := flag.String("warehouse", "", "warehouse to query (built from --sample when --replicate > 0)")
	runs := flag.Int("runs", 5, "timed runs of each query (the median is reported), after one warm-up run")
	target := flag.Duration("target", 100*time.Millisecond, "time each query should stay under")
	replicate := flag.Int("replicate", 0, "build the warehouse from --sample ingested this many times under distinct batch ids")
	sample := flag.String("sample", "data/sample", "folder of sample batch directories (with --replicate)")
	vitlab := flag.String("vitlab", "bin/vitlab", "vitlab binary that ingests the replicas (with --replicate)")
	jobs := flag.Int("jobs", runtime.NumCPU(), "ingest --jobs (with --replicate)")
	only := flag.String("only", "", "comma-separated query names to time (default every saved query and check)")
	flag.Parse()
	if *dir == "" {
		fail(fmt.Errorf("--warehouse is required"))
	}
	if *replicate > 0 {
		if err := build(*dir, *sample, *vitlab, *replicate, *jobs); err != nil {
			fail(err)
		}
	}
	if err := bench(*dir, *runs, *target, *only); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "querybench:", err)
	os.Exit(1)
}

// build ingests every batch directory of sample k times into dir, batch ids
// suffixed -x001 … -xK. Each replica is a folder holding a rewritten
// batch.json and a symlink to the original runs/ folder.
func build(dir, sample, vitlab string, k, jobs int) error {
	metas, err := filepath.Glob(filepath.Join(sample, "*", "batch.json"))
	if err != nil || len(metas) == 0 {
		return fmt.Errorf("no batch directories in %s", sample)
	}
	tmp, err := os.MkdirTemp("", "querybench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var paths []string
	for _, meta := range metas {
		src, _ := filepath.Abs(filepath.Dir(meta))
		b, err := os.ReadFile(meta)
		if err != nil {
			return err
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			return fmt.Errorf("%s: %w", meta, err)
		}
		id, _ := doc["id"].(string)
		for i := 1; i <= k; i++ {
			doc["id"] = fmt.Sprintf("%s-x%03d", id, i)
			rep := filepath.Join(tmp, doc["id"].(string))
			if err := os.MkdirAll(rep, 0o755); err != nil {
				return err
			}
			out, _ := json.MarshalIndent(doc, "", "  ")
			if err := os.WriteFile(filepath.Join(rep, "batch.json"), out, 0o644); err != nil {
				return err
			}
			entries, _ := os.ReadDir(src)
			for _, e := range entries {
				if e.Name() != "batch.json" {
					if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(rep, e.Name())); err != nil {
						return err
					}
				}
			}
			paths = append(paths, rep)
		}
	}
	start := time.Now()
	// One ingest per chunk of replicas keeps the command line short.
	for len(paths) > 0 {
		n := min(len(paths), 50)
		args := append([]string{"ingest", "--warehouse", dir, "--jobs", strconv.Itoa(jobs)}, paths[:n]...)
		cmd := exec.Command(vitlab, args...)
		cmd.Stderr = os.Stderr
		if out, err := cmd.Output(); err != nil {
			return fmt.Errorf("%s ingest: %w\n%s", vitlab, err, out)
		}
		paths = paths[n:]
	}
	fmt.Printf("built %s: %d sample batches × %d in %s\n\n", dir, len(metas), k, time.Since(start).Round(time.Second))
	return nil
}

func bench(dir string, runs int, target time.Duration, only string) error {
	ctx := context.Background()
	t0 := time.Now()
	w, err := queries.Open(ctx, dir)
	if err != nil {
		return err
	}
	defer w.Close()
	open := time.Since(t0)
	res, err := w.SQL(ctx, "select count(*), count(distinct batch_id) from runs")
	if err != nil {
		return err
	}
	fmt.Printf("warehouse %s: %v runs in %v batches; open (base views, views/, metrics/) %s; %d CPUs\n\n",
		dir, res.Rows[0][0], res.Rows[0][1], open.Round(time.Millisecond), runtime.NumCPU())
	// As vitlab report does: the per-run and per-configuration metric views
	// computed once in this process, then every query timed over them.
	mat, err := w.MaterializeMetrics(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("metric views computed once (MaterializeMetrics): %s\n\n", mat.Round(time.Millisecond))
	cat := w.Catalog()
	qs := append(slices.Clone(cat.Queries), cat.Checks...)
	// Three times per query: the whole answer handed to Go as rows
	// (Warehouse.Run, what `vitlab query` prints), the whole answer handed
	// to Go as Arrow record batches (Warehouse.RunArrow; builds with the
	// duckdb_arrow tag, as make does), and the answer computed inside DuckDB
	// into a temporary table (Warehouse.RunInto, what the report does before
	// it shows the first rows and lets DuckDB write the CSV). They differ
	// only for results of many rows: database/sql boxes every cell.
	arrowHead := "to Go as Arrow, median ms"
	if !duck.ArrowAvailable {
		arrowHead = "to Go as Arrow (build without duckdb_arrow)"
	}
	fmt.Printf("| query | layer | rows | median ms | min ms | × %s target | %s | in DuckDB, median ms |\n|---|---|---|---|---|---|---|---|\n", target, arrowHead)
	var total time.Duration
	for _, q := range qs {
		if only != "" && !slices.Contains(strings.Split(only, ","), q.Name) {
			continue
		}
		// one warm-up run (it warms the Parquet metadata cache), then the timed ones
		r, err := w.Run(ctx, q, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", q.Name, err)
		}
		rows := len(r.Rows)
		times, err := timed(runs, func() error { _, err := w.Run(ctx, q, nil); return err })
		if err != nil {
			return fmt.Errorf("%s: %w", q.Name, err)
		}
		med := times[len(times)/2]
		total += med
		inDB, err := timed(runs, func() error { return w.RunInto(ctx, q, nil, "_querybench") })
		if err != nil {
			return fmt.Errorf("%s: %w", q.Name, err)
		}
		arrowCell := "–"
		if duck.ArrowAvailable {
			asArrow, err := timed(runs, func() error {
				n := int64(0)
				if _, err := w.RunArrow(ctx, q, nil, func(rec arrow.RecordBatch) error { n += rec.NumRows(); return nil }); err != nil {
					return err
				}
				if n != int64(rows) {
					return fmt.Errorf("%d rows as Arrow, %d as rows", n, rows)
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("%s: %w", q.Name, err)
			}
			arrowCell = fmt.Sprintf("%.1f", ms(asArrow[len(asArrow)/2]))
		}
		fmt.Printf("| %s | %s | %d | %.1f | %.1f | %.2f | %s | %.1f |\n", q.Name, q.Layer, rows,
			ms(med), ms(times[0]), float64(med)/float64(target), arrowCell, ms(inDB[len(inDB)/2]))
	}
	fmt.Printf("\nall queries: %.0f ms (sum of medians), plus %.0f ms computing the metric views once\n", ms(total), ms(mat))
	return nil
}

// timed runs f n times and returns the durations, sorted.
func timed(n int, f func() error) ([]time.Duration, error) {
	ds := make([]time.Duration, 0, n)
	for range n {
		t := time.Now()
		if err := f(); err != nil {
			return nil, err
		}
		ds = append(ds, time.Since(t))
	}
	slices.Sort(ds)
	return ds, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
