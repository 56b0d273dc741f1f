// Command scalebench builds warehouses of N times the shipped sample and
// prints what ingest, derive and every saved query cost at each size:
// ingest and derive time, peak RSS, warehouse bytes per event, and each
// saved query's time per process (`vitlab query NAME`), as a Markdown
// table (make bench-scale).
//
// Copy k of the sample (k = 1 … N-1; copy 0 is the sample itself) is each
// sample batch under batch id <id>-s<kkk>, each run under run id
// <run>-s<kkk>, and each export perturbed: every kernel ends 1-3 ns later
// (sqlite3 UPDATE, so the export's bytes and SHA-256 differ) and every
// NVML power sample moves by a few mW, so no duplicate check takes a copy
// for the sample. Copies are generated, ingested and deleted a few at a
// time (disk holds one group), reproducibly (the perturbation depends on k
// only). Sizes are cumulative: the 10x warehouse is the 1x one plus 9
// copies, and so on.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/zstd"

	"vitlab/etl/nsysdb/nsysdbtest"
)

func main() {
	sample := flag.String("sample", "data/sample", "folder of sample batch directories")
	vitlab := flag.String("vitlab", "bin/vitlab", "vitlab binary")
	dir := flag.String("dir", "/tmp/vitlab-bench-scale", "work folder (warehouse and copies; removed first)")
	scales := flag.String("scales", "1,10", "comma-separated sizes, in copies of the sample (e.g. 1,10,100)")
	jobs := flag.Int("jobs", 2, "ingest --jobs")
	runs := flag.Int("runs", 3, "timed runs of each query (median reported)")
	group := flag.Int("group", 10, "copies generated and ingested per vitlab ingest")
	buildOnly := flag.Bool("build-only", false, "build the largest size and stop, leaving its last ingest underived (to measure that `vitlab derive` by hand) and --dir in place")
	flag.Parse()
	if err := run(*sample, *vitlab, *dir, *scales, *jobs, *runs, *group, *buildOnly); err != nil {
		fmt.Fprintln(os.Stderr, "scalebench:", err)
		os.Exit(1)
	}
}

// measure is one process's wall time and peak RSS.
type measure struct {
	wall time.Duration
	rss  int64 // bytes
	// failed is the error of a query or report that did not complete
	// (its cell says "failed"; the bench goes on and exits 1 at the end).
	failed string
}

func (m measure) String() string {
	return fmt.Sprintf("%.2f s, %d MB", m.wall.Seconds(), m.rss>>20)
}

// proc runs a command and returns its wall time and peak RSS (getrusage's
// ru_maxrss of the child).
func proc(stdout io.Writer, name string, args ...string) (measure, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdout = stdout
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	err := cmd.Run()
	m := measure{wall: time.Since(t0)}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			m.rss = ru.Maxrss << 10
		}
	}
	if err != nil {
		return m, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return m, nil
}

// row is one size's results.
type row struct {
	scale, batches, runs int
	events, bytes        int64
	ingest, derive       time.Duration // total to reach this size
	ingestRSS, deriveRSS int64         // peak over the ingests/derives so far
	views                measure       // writing the view database (a query after a change)
	report               measure
	queries              map[string]measure // median wall; peak RSS of the runs
}

func run(sample, vitlab, dir, scalesArg string, jobs, runs, group int, buildOnly bool) error {
	var failures []string // queries and reports that did not complete
	var scales []int
	for _, s := range strings.Split(scalesArg, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("--scales %q: want sizes >= 1", scalesArg)
		}
		scales = append(scales, n)
	}
	sort.Ints(scales)
	metas, err := filepath.Glob(filepath.Join(sample, "*", "batch.json"))
	if err != nil || len(metas) == 0 {
		return fmt.Errorf("no batch directories in %s", sample)
	}
	var batches []string
	for _, m := range metas {
		batches = append(batches, filepath.Dir(m))
	}
	if _, err := exec.LookPath("sqlite3"); err != nil {
		return fmt.Errorf("sqlite3 not found (apt-get install sqlite3): it perturbs the copies' exports")
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	wh := filepath.Join(dir, "warehouse")
	copies := filepath.Join(dir, "copies")
	names, err := queryNames(vitlab)
	if err != nil {
		return err
	}
	var rows []row
	cur := row{}
	done := 0 // copies ingested
	for _, scale := range scales {
		for done < scale {
			n := min(group, scale-done)
			var paths []string
			if done == 0 {
				paths, n = batches, 1
			} else {
				if err := os.RemoveAll(copies); err != nil {
					return err
				}
				for k := done; k < done+n; k++ {
					for _, b := range batches {
						p, err := makeCopy(b, copies, k)
						if err != nil {
							return err
						}
						paths = append(paths, p)
					}
				}
			}
			args := append([]string{"ingest", "--no-derive", "--warehouse", wh, "--jobs", strconv.Itoa(jobs)}, paths...)
			m, err := proc(io.Discard, vitlab, args...)
			if err != nil {
				return err
			}
			cur.ingest += m.wall
			cur.ingestRSS = max(cur.ingestRSS, m.rss)
			if buildOnly && scale == scales[len(scales)-1] && done+n >= scale {
				fmt.Fprintf(os.Stderr, "scalebench: %d copies ingested; the last %d left underived (--build-only): %s\n", done+n, n, wh)
				return nil
			}
			m, err = proc(io.Discard, vitlab, "derive", "--warehouse", wh, "--jobs", strconv.Itoa(jobs))
			if err != nil {
				return err
			}
			cur.derive += m.wall
			cur.deriveRSS = max(cur.deriveRSS, m.rss)
			done += n
			fmt.Fprintf(os.Stderr, "scalebench: %d copies ingested (ingest %s, derive %s so far; this derive %s)\n", done, cur.ingest.Round(time.Second), cur.derive.Round(time.Second), m)
		}
		os.RemoveAll(copies)
		r := cur
		r.scale = scale
		if err := census(wh, &r); err != nil {
			return err
		}
		// The view database as a query after a change finds it: missing.
		os.Remove(filepath.Join(wh, "_views.duckdb"))
		if r.views, err = proc(io.Discard, vitlab, "query", "--warehouse", wh, "--format", "csv", names[0]); err != nil {
			return err
		}
		// What was built, before the queries: a query that fails loses
		// neither these figures nor the other queries' (30 minutes at 100x).
		fmt.Fprintf(os.Stderr, "scalebench: %dx built: ingest %.1f s, peak %d MB; derive %.1f s, peak %d MB\n",
			scale, r.ingest.Seconds(), r.ingestRSS>>20, r.derive.Seconds(), r.deriveRSS>>20)
		r.queries = map[string]measure{}
		for _, q := range names {
			var walls []time.Duration
			var peak int64
			var failed string
			for range runs {
				m, err := proc(io.Discard, vitlab, "query", "--warehouse", wh, "--format", "csv", q)
				if err != nil {
					failed = err.Error()
					failures = append(failures, fmt.Sprintf("%dx: query %s: %v", scale, q, err))
					fmt.Fprintf(os.Stderr, "scalebench: %dx: query %s: %v\n", scale, q, err)
					break
				}
				walls = append(walls, m.wall)
				peak = max(peak, m.rss)
			}
			if failed != "" {
				r.queries[q] = measure{failed: failed}
				continue
			}
			slices.Sort(walls)
			r.queries[q] = measure{wall: walls[len(walls)/2], rss: peak}
		}
		if r.report, err = proc(io.Discard, vitlab, "report", "--warehouse", wh, "--out", filepath.Join(dir, "report")); err != nil {
			r.report.failed = err.Error()
			failures = append(failures, fmt.Sprintf("%dx: report: %v", scale, err))
			fmt.Fprintf(os.Stderr, "scalebench: %dx: report: %v\n", scale, err)
		}
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "scalebench: %dx measured\n", scale)
		// The table so far after each size: a long run cut short keeps
		// what it measured.
		print(os.Stdout, rows, names, jobs)
		fmt.Println()
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d failures:\n%s", len(failures), strings.Join(failures, "\n"))
	}
	return nil
}

// queryNames lists the saved queries (vitlab query --list).
func queryNames(vitlab string) ([]string, error) {
	out, err := exec.Command(vitlab, "query", "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s query --list: %w", vitlab, err)
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		if l != "" && !strings.HasPrefix(l, " ") {
			names = append(names, strings.TrimSpace(l))
		}
	}
	return names, nil
}

// census fills r's batches, runs, events and bytes from the manifest and
// the warehouse's files.
func census(wh string, r *row) error {
	b, err := os.ReadFile(filepath.Join(wh, "_manifest.json"))
	if err != nil {
		return err
	}
	var m struct {
		Batches map[string]struct {
			Runs   int `json:"runs"`
			Tables map[string]struct {
				Rows int64 `json:"rows"`
			} `json:"tables"`
		} `json:"batches"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	r.batches, r.runs, r.events = len(m.Batches), 0, 0
	for _, bt := range m.Batches {
		r.runs += bt.Runs
		for _, t := range []string{"kernels", "memcpys", "memsets", "cuda_api", "nvtx"} {
			r.events += bt.Tables[t].Rows
		}
	}
	r.bytes = 0
	return filepath.Walk(wh, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			r.bytes += fi.Size()
		}
		return err
	})
}

func print(w io.Writer, rows []row, names []string, jobs int) {
	host, _ := os.Hostname()
	fmt.Fprintf(w, "vitlab bench-scale on %s (%d CPUs; ingest and derive --jobs %d; query times: median wall of `vitlab query NAME --format csv` per process, peak RSS over its runs)\n\n", host, numCPU(), jobs)
	fmt.Fprint(w, "| | ")
	for _, r := range rows {
		fmt.Fprintf(w, "%dx | ", r.scale)
	}
	fmt.Fprint(w, "\n|---|")
	for range rows {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprintln(w)
	line := func(label string, f func(r row) string) {
		fmt.Fprintf(w, "| %s | ", label)
		for _, r := range rows {
			fmt.Fprintf(w, "%s | ", f(r))
		}
		fmt.Fprintln(w)
	}
	line("batches / runs", func(r row) string { return fmt.Sprintf("%d / %d", r.batches, r.runs) })
	line("events", func(r row) string { return fmt.Sprintf("%.2fM", float64(r.events)/1e6) })
	line("ingest (--no-derive), total s", func(r row) string { return fmt.Sprintf("%.1f", r.ingest.Seconds()) })
	line("derive, total s", func(r row) string { return fmt.Sprintf("%.1f", r.derive.Seconds()) })
	line("ingest events/s (with derive)", func(r row) string {
		return fmt.Sprintf("%.0fk", float64(r.events)/(r.ingest+r.derive).Seconds()/1e3)
	})
	line("ingest peak RSS, MB", func(r row) string { return fmt.Sprint(r.ingestRSS >> 20) })
	line("derive peak RSS, MB", func(r row) string { return fmt.Sprint(r.deriveRSS >> 20) })
	line("warehouse bytes/event", func(r row) string { return fmt.Sprintf("%.1f", float64(r.bytes)/float64(max(1, r.events))) })
	line("view database written (first query), s / MB", func(r row) string { return fmt.Sprintf("%.2f / %d", r.views.wall.Seconds(), r.views.rss>>20) })
	line("vitlab report, s / MB", func(r row) string {
		if r.report.failed != "" {
			return "failed"
		}
		return fmt.Sprintf("%.1f / %d", r.report.wall.Seconds(), r.report.rss>>20)
	})
	line("query peak RSS (any), MB", func(r row) string {
		var p int64
		for _, m := range r.queries {
			p = max(p, m.rss)
		}
		return fmt.Sprint(p >> 20)
	})
	for _, q := range names {
		line("query "+q+", ms", func(r row) string {
			if r.queries[q].failed != "" {
				return "failed"
			}
			return fmt.Sprintf("%.0f", float64(r.queries[q].wall.Microseconds())/1e3)
		})
	}
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\nprocessor")) + 1
}

// makeCopy writes copy k of batch directory src under root and returns
// its path: new batch and run ids, a perturbed export and NVML samples,
// every other file linked.
func makeCopy(src, root string, k int) (string, error) {
	var meta struct {
		ID string `json:"id"`
	}
	b, err := os.ReadFile(filepath.Join(src, "batch.json"))
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return "", fmt.Errorf("%s: %w", src, err)
	}
	suffix := fmt.Sprintf("-s%03d", k)
	ids := map[string]string{meta.ID: meta.ID + suffix}
	runDirs, _ := os.ReadDir(filepath.Join(src, "runs"))
	for _, d := range runDirs {
		if d.IsDir() {
			ids[d.Name()] = d.Name() + suffix
		}
	}
	// Replace longest ids first, whole tokens only.
	var olds []string
	for o := range ids {
		olds = append(olds, regexp.QuoteMeta(o))
	}
	sort.Slice(olds, func(i, j int) bool { return len(olds[i]) > len(olds[j]) })
	re := regexp.MustCompile(`(` + strings.Join(olds, "|") + `)\b`)
	rename := func(s []byte) []byte {
		return re.ReplaceAllFunc(s, func(m []byte) []byte { return []byte(ids[string(m)]) })
	}
	dst := filepath.Join(root, meta.ID+suffix)
	err = filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		parts := strings.Split(rel, string(filepath.Separator))
		for i, part := range parts {
			if n, ok := ids[part]; ok && i > 0 {
				parts[i] = n
			}
		}
		out := filepath.Join(dst, filepath.Join(parts...))
		if fi.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		name := fi.Name()
		switch {
		case strings.HasSuffix(name, ".sqlite.zst"):
			return perturbExport(p, out, k)
		case name == "nvml.jsonl":
			return perturbNVML(p, out, k)
		case strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".log"):
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(out, rename(b), 0o644)
		default:
			return os.Symlink(p, out)
		}
	})
	return dst, err
}

// perturbExport writes src (a .sqlite.zst export) to dst with every kernel
// ending 1 + k%3 ns later.
func perturbExport(src, dst string, k int) error {
	tmp := strings.TrimSuffix(dst, ".zst")
	if err := nsysdbtest.Decompress(tmp, src); err != nil {
		return err
	}
	defer os.Remove(tmp)
	sql := fmt.Sprintf(`update CUPTI_ACTIVITY_KIND_KERNEL set "end" = "end" + %d;`, 1+k%3)
	if out, err := exec.Command("sqlite3", tmp, sql).CombinedOutput(); err != nil {
		return fmt.Errorf("sqlite3 %s: %w: %s", tmp, err, out)
	}
	raw, err := os.Open(tmp)
	if err != nil {
		return err
	}
	defer raw.Close()
	of, err := os.Create(dst)
	if err != nil {
		return err
	}
	enc, err := zstd.NewWriter(of, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		of.Close()
		return err
	}
	if _, err := io.Copy(enc, raw); err != nil {
		enc.Close()
		of.Close()
		return err
	}
	return errorsJoin(enc.Close(), of.Close())
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// powerRE matches an NVML sample's energy counter (mJ).
var powerRE = regexp.MustCompile(`("energy_mj":\s*)(\d+)`)

// perturbNVML writes src with the energy counter of every sample k mJ
// higher (the energy between samples is unchanged).
func perturbNVML(src, dst string, k int) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	b = powerRE.ReplaceAllFunc(b, func(m []byte) []byte {
		sub := powerRE.FindSubmatch(m)
		v, _ := strconv.Atoi(string(sub[2]))
		return []byte(string(sub[1]) + strconv.Itoa(v+k))
	})
	return os.WriteFile(dst, b, 0o644)
}
