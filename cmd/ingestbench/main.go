package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"vitlab/etl/nsysdb/nsysdbtest"
	"vitlab/internal/testfixtures"
)

// eventTables are the nsys tables whose rows count as events; vitlab also
// reads StringIds (names) and the small TARGET_INFO/META tables.
var eventTables = []string{
	"CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET",
	"CUPTI_ACTIVITY_KIND_RUNTIME", "NVTX_EVENTS",
}

func main() {
	vitlab := flag.String("vitlab", "bin/vitlab", "vitlab binary to measure")
	n := flag.Int("exports", 224, "exports in the benchmark batch")
	srcs := flag.String("src", testfixtures.Nsys()+",data/sample", "comma-separated folders searched (recursively) for *.sqlite and *.sqlite.zst exports to replicate")
	repeats := flag.Int("repeats", 3, "timed repeats of each measurement (the median is reported)")
	jobsFlag := flag.String("jobs", "1,"+strconv.Itoa(runtime.NumCPU()), "comma-separated --jobs values to measure")
	scale := flag.Bool("scale", true, "also ingest a batch twice as large to compare peak memory")
	keep := flag.Bool("keep", false, "keep the temporary folder")
	large := flag.Int("large", 8, "also ingest this many large exports (the seed with most events grown to about --large-events events each); 0 skips")
	largeEvents := flag.Int("large-events", 1_000_000, "events per large export")
	largeJobs := flag.String("large-jobs", "1,"+strconv.Itoa(runtime.NumCPU())+",16", "comma-separated --jobs values for the large exports (16: the most vitlab uses by default, for its peak memory)")
	pythons := flag.String("pandas-python", "python3,/usr/bin/python3", "comma-separated Pythons to try for the pandas reference (the first that imports pandas)")
	flag.Parse()

	cfg := config{vitlab: *vitlab, exports: *n, srcs: strings.Split(*srcs, ","), repeats: *repeats, jobs: *jobsFlag,
		scale: *scale, keep: *keep, pythons: strings.Split(*pythons, ","), large: *large, largeEvents: *largeEvents, largeJobs: *largeJobs}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "ingestbench:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	vitlab             string
	exports            int
	srcs               []string
	repeats            int
	jobs               string
	scale, keep        bool
	pythons            []string
	large, largeEvents int
	largeJobs          string
}

func run(cfg config) error {
	vitlab, n, srcs, repeats, jobsFlag, scale, keep, pythons := cfg.vitlab, cfg.exports, cfg.srcs, cfg.repeats, cfg.jobs, cfg.scale, cfg.keep, cfg.pythons
	if _, err := exec.LookPath("sqlite3"); err != nil {
		return fmt.Errorf("the sqlite3 CLI is the reference and is not installed (make bench installs it)")
	}
	vitlab, err := filepath.Abs(vitlab)
	if err != nil {
		return err
	}
	jobs, err := parseJobs(jobsFlag)
	if err != nil {
		return err
	}
	largeJobs, err := parseJobs(cfg.largeJobs)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "vitlab-bench-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("keeping", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}

	seeds, err := collectSeeds(srcs, filepath.Join(tmp, "seeds"))
	if err != nil {
		return err
	}
	if len(seeds) == 0 {
		return fmt.Errorf("no exports found in %v", srcs)
	}
	in := filepath.Join(tmp, "in")
	files, err := replicate(seeds, in, n)
	if err != nil {
		return err
	}
	events, bytesIn, err := countEvents(files)
	if err != nil {
		return err
	}
	fmt.Printf("input: %d exports replicated from %d distinct ones, %d events, %.1f MB of SQLite\n",
		len(files), len(seeds), events, float64(bytesIn)/1e6)
	fmt.Printf("machine: %d CPUs (%s/%s), repeats %d, medians reported\n\n", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, repeats)

	refRate, err := benchSQLite(files, events, repeats, "sqlite3 CLI scan (1 process/export)")
	if err != nil {
		return err
	}
	if py := pandasPython(pythons); py == "" {
		fmt.Printf("%-34s (no Python with pandas found: skipped)\n", "pandas read_sql_query")
	} else {
		pd := median(repeatTimes(repeats, func() (time.Duration, int64, error) {
			d, err := pandasScan(py, files)
			return d, 0, err
		}))
		if pd.err != nil {
			return pd.err
		}
		fmt.Printf("%-34s %8.2f s %12.0f events/s\n", "pandas read_sql_query (1 process)", pd.d.Seconds(), float64(events)/pd.d.Seconds())
	}

	if err := benchIngest(vitlab, in, filepath.Join(tmp, "wh"), events, refRate, repeats, jobs); err != nil {
		return err
	}
	if scale {
		in2 := filepath.Join(tmp, "in2")
		if _, err := replicate(seeds, in2, 2*n); err != nil {
			return err
		}
		j := jobs[len(jobs)-1]
		m := median(repeatTimes(1, func() (time.Duration, int64, error) {
			return ingest(vitlab, in2, filepath.Join(tmp, "wh2"), j)
		}))
		if m.err != nil {
			return m.err
		}
		fmt.Printf("%-34s %8.2f s  peak RSS %d MB (batch of %d exports)\n",
			fmt.Sprintf("vitlab ingest --jobs %d, 2× batch", j), m.d.Seconds(), m.rssKB/1024, 2*n)
	}
	if cfg.large > 0 {
		return benchLarge(vitlab, seeds, filepath.Join(tmp, "large"), cfg.large, cfg.largeEvents, repeats, largeJobs)
	}
	return nil
}

// parseJobs parses a comma-separated list of --jobs values, dropping
// repeats.
func parseJobs(list string) ([]int, error) {
	var jobs []int
	for _, s := range strings.Split(list, ",") {
		j, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || j < 1 {
			return nil, fmt.Errorf("bad --jobs value %q", s)
		}
		if !slices.Contains(jobs, j) {
			jobs = append(jobs, j)
		}
	}
	return jobs, nil
}

// benchLarge grows the seed with the most events into count exports of
// about events events each and measures the sqlite3 scan and vitlab ingest
// on them: the same ratio, and the peak memory when every job holds a big
// export.
func benchLarge(vitlab string, seeds []string, dir string, count, events, repeats int, jobs []int) error {
	var seed string
	var seedEvents int64
	for _, s := range seeds {
		e, err := eventsIn(s)
		if err != nil {
			return err
		}
		if e > seedEvents {
			seed, seedEvents = s, e
		}
	}
	if seedEvents == 0 {
		return fmt.Errorf("large exports: no seed has events")
	}
	copies := max(1, int((int64(events)+seedEvents-1)/seedEvents))
	in := filepath.Join(dir, "in")
	grown := filepath.Join(dir, "grown.sqlite")
	if err := os.MkdirAll(in, 0o755); err != nil {
		return err
	}
	if err := growExport(seed, grown, copies); err != nil {
		return err
	}
	files, err := replicate([]string{grown}, in, count)
	if err != nil {
		return err
	}
	total, size, err := countEvents(files)
	if err != nil {
		return err
	}
	fmt.Printf("\nlarge exports: %d × %d events (%s grown %d×), %.1f MB of SQLite\n",
		count, total/int64(count), filepath.Base(seed), copies, float64(size)/1e6)
	refRate, err := benchSQLite(files, total, repeats, "sqlite3 CLI scan")
	if err != nil {
		return err
	}
	return benchIngest(vitlab, in, filepath.Join(dir, "wh"), total, refRate, repeats, jobs)
}

// benchSQLite times the reference scan of files and prints its line;
// it returns the reference rate in events per second.
func benchSQLite(files []string, events int64, repeats int, label string) (float64, error) {
	ref := median(repeatTimes(repeats, func() (time.Duration, int64, error) {
		d, err := sqliteScan(files)
		return d, 0, err
	}))
	if ref.err != nil {
		return 0, ref.err
	}
	rate := float64(events) / ref.d.Seconds()
	fmt.Printf("%-34s %8.2f s %12.0f events/s\n", label, ref.d.Seconds(), rate)
	return rate, nil
}

// benchIngest times vitlab ingest of the exports in folder in, into
// warehouse wh, for each --jobs value, and prints a line each: events/s,
// the ratio to refRate, the speed-up over the first value, peak RSS.
func benchIngest(vitlab, in, wh string, events int64, refRate float64, repeats int, jobs []int) error {
	var base float64
	for _, j := range jobs {
		m := median(repeatTimes(repeats, func() (time.Duration, int64, error) {
			return ingest(vitlab, in, wh, j)
		}))
		if m.err != nil {
			return m.err
		}
		rate := float64(events) / m.d.Seconds()
		if j == jobs[0] {
			base = rate
		}
		fmt.Printf("%-34s %8.2f s %12.0f events/s  ratio %.2f× sqlite3  speed-up %.2f×  peak RSS %d MB\n",
			fmt.Sprintf("vitlab ingest --jobs %d", j), m.d.Seconds(), rate, rate/refRate, rate/base, m.rssKB/1024)
	}
	return nil
}

// growExport copies src to dst and appends copies-1 copies of the rows of
// every event table, each shifted by 1000 s in time and by 10^7 in
// correlation id (so CUDA API rows still pair with their GPU rows), with
// the sqlite3 CLI. Integer primary keys are left to SQLite.
func growExport(src, dst string, copies int) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return err
	}
	if copies <= 1 {
		return nil
	}
	ts, err := existing(dst)
	if err != nil {
		return err
	}
	const shift, corr = "1000000000000", "10000000"
	var script strings.Builder
	fmt.Fprintf(&script, "CREATE TEMP TABLE n AS WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < %d) SELECT i FROM c;\n", copies-1)
	for _, t := range ts {
		if t == "StringIds" {
			continue
		}
		out, err := exec.Command("sqlite3", "-readonly", "-separator", "|", dst, "PRAGMA table_info("+t+")").Output()
		if err != nil {
			return fmt.Errorf("sqlite3 %s: %w", dst, err)
		}
		var cols, exprs []string
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Split(line, "|") // cid|name|type|notnull|dflt_value|pk
			if len(f) < 6 || f[5] != "0" {
				continue
			}
			name := f[1]
			q := `"` + name + `"`
			cols = append(cols, q)
			switch name {
			case "start", "end":
				exprs = append(exprs, q+" + i*"+shift)
			case "correlationId":
				exprs = append(exprs, q+" + i*"+corr)
			default:
				exprs = append(exprs, q)
			}
		}
		fmt.Fprintf(&script, "INSERT INTO %s (%s) SELECT %s FROM %s, n;\n", t, strings.Join(cols, ", "), strings.Join(exprs, ", "), t)
	}
	cmd := exec.Command("sqlite3", dst)
	cmd.Stdin = strings.NewReader(script.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("growing %s: %v: %s", dst, err, out)
	}
	return nil
}

// collectSeeds finds exports under srcs; compressed ones are decompressed
// into dir so that both sides read the same uncompressed SQLite files.
func collectSeeds(srcs []string, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var seeds []string
	for _, src := range srcs {
		src = strings.TrimSpace(src)
		if src == "" {
			continue
		}
		if _, err := os.Stat(src); err != nil {
			continue // an optional source (e.g. no sample yet)
		}
		err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			switch {
			case strings.HasSuffix(p, ".sqlite"):
				seeds = append(seeds, p)
			case strings.HasSuffix(p, ".sqlite.zst"):
				out := filepath.Join(dir, fmt.Sprintf("z%03d.sqlite", len(seeds)))
				if err := nsysdbtest.Decompress(out, p); err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				seeds = append(seeds, out)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(seeds)
	return seeds, nil
}

func replicate(seeds []string, dir string, n int) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	files := make([]string, n)
	for i := range n {
		src := seeds[i%len(seeds)]
		dst := filepath.Join(dir, fmt.Sprintf("e%04d-%s", i, filepath.Base(src)))
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return nil, err
		}
		files[i] = dst
	}
	return files, nil
}

// existing returns the event tables (plus StringIds) that a file has.
func existing(file string) ([]string, error) {
	out, err := exec.Command("sqlite3", "-readonly", file,
		"select name from sqlite_master where type='table'").Output()
	if err != nil {
		return nil, fmt.Errorf("sqlite3 %s: %w", file, err)
	}
	have := map[string]bool{}
	for _, l := range strings.Fields(string(out)) {
		have[l] = true
	}
	var ts []string
	for _, t := range append(eventTables, "StringIds") {
		if have[t] {
			ts = append(ts, t)
		}
	}
	return ts, nil
}

func countEvents(files []string) (events, size int64, err error) {
	cache := map[string][2]int64{} // by seed content size+name is enough: files are copies
	for _, f := range files {
		key := strings.SplitN(filepath.Base(f), "-", 2)[1]
		st, err := os.Stat(f)
		if err != nil {
			return 0, 0, err
		}
		size += st.Size()
		if c, ok := cache[key]; ok {
			events += c[0]
			continue
		}
		n, err := eventsIn(f)
		if err != nil {
			return 0, 0, err
		}
		cache[key] = [2]int64{n}
		events += n
	}
	return events, size, nil
}

// eventsIn counts the event rows of one export.
func eventsIn(f string) (int64, error) {
	ts, err := existing(f)
	if err != nil {
		return 0, err
	}
	var q []string
	for _, t := range ts {
		if t != "StringIds" {
			q = append(q, "select count(*) from "+t)
		}
	}
	if len(q) == 0 {
		return 0, nil
	}
	out, err := exec.Command("sqlite3", "-readonly", f, "select sum(c) from ("+strings.Join(wrap(q), " union all ")+")").Output()
	if err != nil {
		return 0, fmt.Errorf("sqlite3 %s: %w", f, err)
	}
	return strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
}

func wrap(qs []string) []string {
	out := make([]string, len(qs))
	for i, q := range qs {
		out[i] = strings.Replace(q, "count(*)", "count(*) as c", 1)
	}
	return out
}

// sqliteScan reads every row of the tables vitlab reads, one sqlite3
// process per export, sequentially.
func sqliteScan(files []string) (time.Duration, error) {
	scripts := make([]string, len(files))
	for i, f := range files {
		ts, err := existing(f)
		if err != nil {
			return 0, err
		}
		var b strings.Builder
		for _, t := range ts {
			fmt.Fprintf(&b, "select * from %s;\n", t)
		}
		scripts[i] = b.String()
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer devnull.Close()
	start := time.Now()
	for i, f := range files {
		cmd := exec.Command("sqlite3", "-readonly", f)
		cmd.Stdin = strings.NewReader(scripts[i])
		cmd.Stdout = devnull
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("sqlite3 %s: %v: %s", f, err, stderr.String())
		}
	}
	return time.Since(start), nil
}

// pandasPython returns the first of pythons that imports pandas, or "".
func pandasPython(pythons []string) string {
	for _, p := range pythons {
		p = strings.TrimSpace(p)
		if p != "" && exec.Command(p, "-c", "import pandas, sqlite3").Run() == nil {
			return p
		}
	}
	return ""
}

const pandasScript = `
import sqlite3, sys, time
import pandas as pd
tables = ("CUPTI_ACTIVITY_KIND_KERNEL", "CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET",
          "CUPTI_ACTIVITY_KIND_RUNTIME", "NVTX_EVENTS", "StringIds")
t0 = time.perf_counter()
rows = 0
for f in sys.argv[1:]:
    con = sqlite3.connect("file:%s?mode=ro" % f, uri=True)
    have = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    for t in tables:
        if t in have:
            rows += len(pd.read_sql_query("select * from %s" % t, con))
    con.close()
print(rows, time.perf_counter() - t0)
`

// pandasScan reads the same tables with pandas.read_sql_query, one Python
// process for all files; the time is measured inside Python, after pandas
// is imported.
func pandasScan(py string, files []string) (time.Duration, error) {
	out, err := exec.Command(py, append([]string{"-c", pandasScript}, files...)...).Output()
	if err != nil {
		return 0, fmt.Errorf("pandas reference: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return 0, fmt.Errorf("pandas reference: unexpected output %q", out)
	}
	sec, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		return 0, fmt.Errorf("pandas reference: %v", err)
	}
	return time.Duration(sec * float64(time.Second)), nil
}

func ingest(vitlab, in, wh string, jobs int) (time.Duration, int64, error) {
	if err := os.RemoveAll(wh); err != nil {
		return 0, 0, err
	}
	cmd := exec.Command(vitlab, "ingest", "--warehouse", wh, "--batch", "bench", "--jobs", strconv.Itoa(jobs), in)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return 0, 0, fmt.Errorf("vitlab ingest: %v\n%s", err, out.String())
	}
	var rss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss // KB on Linux
	}
	return d, rss, nil
}

type sample struct {
	d     time.Duration
	rssKB int64
	err   error
}

func repeatTimes(n int, f func() (time.Duration, int64, error)) []sample {
	var out []sample
	for range n {
		d, rss, err := f()
		out = append(out, sample{d, rss, err})
		if err != nil {
			break
		}
	}
	return out
}

// median returns the sample of median duration; the peak RSS reported is
// the largest seen over the repeats.
func median(s []sample) sample {
	for _, x := range s {
		if x.err != nil {
			return x
		}
	}
	var maxRSS int64
	for _, x := range s {
		maxRSS = max(maxRSS, x.rssKB)
	}
	sort.Slice(s, func(i, j int) bool { return s[i].d < s[j].d })
	m := s[len(s)/2]
	m.rssKB = maxRSS
	return m
}
