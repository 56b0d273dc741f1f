package queries

import (
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"vitlab/etl/ingest"
	"vitlab/etl/nsysdb"
	"vitlab/queries/duck"

	"vitlab/internal/testfixtures"
)

// fixtureDir holds real nsys exports; statsDir holds NVIDIA's own
// `nsys stats --format csv` output for each (and a .log of the run).
var (
	fixtureDir = testfixtures.Nsys()
	statsDir   = testfixtures.Stats()
)

// reports pairs each saved query with the nsys report it reproduces.
var reports = []struct{ query, report string }{
	{"nsys_kern_sum", "cuda_gpu_kern_sum"},
	{"nsys_mem_time_sum", "cuda_gpu_mem_time_sum"},
	{"nsys_mem_size_sum", "cuda_gpu_mem_size_sum"},
	{"nsys_nvtx_sum", "nvtx_sum"},
	{"nsys_nvtx_gpu_proj_sum", "nvtx_gpu_proj_sum"},
	{"nsys_api_sum", "cuda_api_sum"},
	{"nsys_nvtx_kern_sum", "nvtx_kern_sum"},
}

// fixtureWarehouse ingests every fixture export, with the real ETL, as one
// batch of bare exports (run id = file name without .sqlite), once per test
// binary.
var fixtureWarehouse = sync.OnceValues(func() (string, error) {
	exports, err := filepath.Glob(filepath.Join(fixtureDir, "*.sqlite"))
	if err != nil {
		return "", err
	}
	if len(exports) == 0 {
		return "", fmt.Errorf("no exports in %s", fixtureDir)
	}
	wh, err := os.MkdirTemp("", "vitlab-queries-fixtures-")
	if err != nil {
		return "", err
	}
	fixtureWarehouseDir = wh
	sum, err := ingest.Run(context.Background(), ingest.Request{Warehouse: wh, Paths: exports, BatchID: "fixtures", Jobs: 2})
	if err != nil {
		return "", fmt.Errorf("ingest %s: %w", fixtureDir, err)
	}
	if len(sum.Failed) > 0 || sum.Runs != len(exports) {
		return "", fmt.Errorf("ingest: %d of %d runs landed, failed: %v", sum.Runs, len(exports), sum.Failed)
	}
	return wh, nil
})

// fixtureWarehouseDir is the fixture warehouse once made; TestMain removes it.
var fixtureWarehouseDir string

func TestMain(m *testing.M) {
	code := m.Run()
	if fixtureWarehouseDir != "" {
		os.RemoveAll(fixtureWarehouseDir)
	}
	os.Exit(code)
}

func openFixtures(t *testing.T) *Warehouse {
	t.Helper()
	if _, err := os.Stat(fixtureDir); err != nil {
		t.Fatalf("no fixtures: %v", err)
	}
	wh, err := fixtureWarehouse()
	if err != nil {
		t.Fatal(err)
	}
	w, err := Open(context.Background(), wh)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// TestNsysStats compares every saved nsys query, for every fixture export,
// with NVIDIA's `nsys stats` CSV of the same report: same rows in the same
// order, integer columns exactly, rounded columns within half a unit of
// nsys's last printed digit, names exactly. Where nsys skipped a memory
// report because the export predates ENUM_CUDA_MEMCPY_OPER, the numbers are
// checked against the export itself (the sqlite3 CLI) instead.
func TestNsysStats(t *testing.T) {
	w := openFixtures(t)
	ctx := context.Background()
	exports, _ := filepath.Glob(filepath.Join(fixtureDir, "*.sqlite"))
	for _, rep := range reports {
		q, ok := w.Catalog().Query(rep.query)
		if !ok {
			t.Fatalf("no query %s", rep.query)
		}
		start := time.Now()
		res, err := w.Run(ctx, q, nil)
		if err != nil {
			t.Fatalf("%s: %v", rep.query, err)
		}
		t.Logf("%s: %d rows over %d runs in %v", rep.query, len(res.Rows), len(exports), time.Since(start).Round(time.Millisecond))
		byRun := map[string][][]string{}
		for _, row := range res.Rows {
			if row[0] != "fixtures" {
				t.Fatalf("%s: batch %v", rep.query, row[0])
			}
			cells := make([]string, len(row)-2)
			for i, v := range row[2:] {
				cells[i] = FormatValue(v)
			}
			run := row[1].(string)
			byRun[run] = append(byRun[run], cells)
		}
		header := make([]string, len(res.Columns)-2)
		for i, c := range res.Columns[2:] {
			header[i] = c.Name
		}
		for _, export := range exports {
			run := strings.TrimSuffix(filepath.Base(export), ".sqlite")
			t.Run(run+"/"+rep.report, func(t *testing.T) {
				compareReport(t, statsDir, export, run, rep.report, header, byRun[run])
			})
			delete(byRun, run)
		}
		for run := range byRun {
			t.Errorf("%s: rows for run %s, which is no fixture", rep.query, run)
		}
	}
}

func compareReport(t *testing.T, statsDir, export, run, report string, header []string, got [][]string) {
	file := filepath.Join(statsDir, run+"_"+report+".csv")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		log, err := os.ReadFile(filepath.Join(statsDir, run+".log"))
		if err != nil {
			t.Fatal(err)
		}
		if skippedNoEnum(string(log), report) {
			compareWithExport(t, export, report, header, got)
			return
		}
		if len(got) != 0 {
			t.Errorf("nsys reports nothing, vitlab %d rows:\n%v", len(got), got)
		}
		t.Logf("nsys and vitlab: no rows")
		return
	}
	// nsys leaves a field with quotes but no comma unquoted.
	r := csv.NewReader(strings.NewReader(string(b)))
	r.LazyQuotes = true
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if !slices.Equal(recs[0], header) {
		t.Fatalf("columns:\n got %q\nwant %q", header, recs[0])
	}
	compareRows(t, header, recs[1:], got)
}

// skippedNoEnum reports whether nsys's log says it skipped report because
// the export has no ENUM_CUDA_MEMCPY_OPER table.
func skippedNoEnum(log, report string) bool {
	i := strings.Index(log, "with ["+report+".py]")
	if i < 0 {
		return false
	}
	rest := log[i:]
	if j := strings.Index(rest[1:], "Processing ["); j >= 0 {
		rest = rest[:j+1]
	}
	return regexp.MustCompile(`SKIPPED: .* does not contain ENUM_CUDA_MEMCPY_OPER`).MatchString(rest)
}

// stringColumns hold names, compared exactly; every other column is a
// number.
var stringColumns = map[string]bool{"Name": true, "Operation": true, "Range": true, "Style": true, "NVTX Range": true, "Kernel Name": true}

func compareRows(t *testing.T, header []string, want, got [][]string) {
	t.Helper()
	n := max(len(want), len(got))
	bad, inexact := 0, 0
	for r := 0; r < n; r++ {
		if r >= len(got) || r >= len(want) {
			t.Errorf("row %d: got %d rows, nsys %d", r+1, len(got), len(want))
			return
		}
		for c, h := range header {
			if msg := compareCell(h, want[r][c], got[r][c]); msg != "" {
				t.Errorf("row %d (%s) column %q: %s", r+1, want[r][len(want[r])-1], h, msg)
				bad++
			} else if want[r][c] != got[r][c] {
				inexact++
			}
		}
		if bad > 10 {
			t.Fatal("too many differences")
		}
	}
	if bad == 0 {
		t.Logf("%d rows match nsys; %d cells not textually identical", len(want), inexact)
	}
}

// compareCell compares one value: names exactly, integers exactly, and a
// value nsys printed with d decimals within half a unit of the last one
// (0.05 for 1 decimal, 0.0005 for 3).
func compareCell(col, want, got string) string {
	if stringColumns[col] {
		if want != got {
			return fmt.Sprintf("got %q, nsys %q", got, want)
		}
		return ""
	}
	w, err1 := strconv.ParseFloat(want, 64)
	g, err2 := strconv.ParseFloat(got, 64)
	if err1 != nil || err2 != nil {
		if want != got {
			return fmt.Sprintf("got %q, nsys %q", got, want)
		}
		return ""
	}
	tol := 0.0
	if i := strings.IndexByte(want, '.'); i >= 0 {
		tol = 0.5*math.Pow(10, -float64(len(want)-i-1)) + 1e-9
	}
	if math.Abs(w-g) > tol {
		return fmt.Sprintf("got %s, nsys %s", got, want)
	}
	return ""
}

// nsysCopyLabels are nsys's memcpy operation labels by copy kind id.
var nsysCopyLabels = map[int64]string{
	0: "Unknown", 1: "Host-to-Device", 2: "Device-to-Host", 3: "Host-to-Array", 4: "Array-to-Host",
	5: "Array-to-Array", 6: "Array-to-Device", 7: "Device-to-Array", 8: "Device-to-Device", 9: "Host-to-Host",
	10: "Peer-to-Peer", 11: "Unified Host-to-Device", 12: "Unified Device-to-Host", 13: "Unified Device-to-Device",
}

// compareWithExport checks a memory report nsys could not make against the
// export's own rows: per operation, the count, total, mean, median, min,
// max and sample standard deviation of the durations (mem_time) or sizes
// (mem_size), computed here in Go from the rows the sqlite3 CLI reads, and
// formatted as nsys would.
func compareWithExport(t *testing.T, export, report string, header []string, got [][]string) {
	t.Helper()
	db, err := nsysdb.Open(context.Background(), export, nsysdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Whatever else is there, the row counts and total time must agree with
	// nsysdb's own counts of the source tables.
	var wantOps, wantNs int64
	for _, tbl := range []string{"CUPTI_ACTIVITY_KIND_MEMCPY", "CUPTI_ACTIVITY_KIND_MEMSET"} {
		st, err := db.Stats(context.Background(), tbl)
		if err != nil {
			t.Fatal(err)
		}
		wantOps += st.Rows
		wantNs += st.Duration
	}
	var gotOps, gotNs int64
	for _, row := range got {
		n, _ := strconv.ParseInt(row[slices.Index(header, "Count")], 10, 64)
		gotOps += n
		if i := slices.Index(header, "Total Time (ns)"); i >= 0 {
			d, _ := strconv.ParseInt(row[i], 10, 64)
			gotNs += d
		}
	}
	if gotOps != wantOps || (report == "cuda_gpu_mem_time_sum" && gotNs != wantNs) {
		t.Errorf("vitlab: %d ops, %d ns; the export: %d ops, %d ns", gotOps, gotNs, wantOps, wantNs)
	}
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Logf("nsys skipped this report (no ENUM_CUDA_MEMCPY_OPER); only totals checked: the sqlite3 CLI is not installed for the per-operation check")
		return
	}
	values := map[string][]float64{}
	field := "\"end\" - start"
	if report == "cuda_gpu_mem_size_sum" {
		field = "bytes"
	}
	for _, q := range []struct{ table, kind string }{
		{"CUPTI_ACTIVITY_KIND_MEMCPY", "copyKind"},
		{"CUPTI_ACTIVITY_KIND_MEMSET", "-1"},
	} {
		if !db.HasTable(q.table) {
			continue
		}
		out, err := exec.Command("sqlite3", "-readonly", "-csv", export,
			"select "+q.kind+", "+field+" from "+q.table).Output()
		if err != nil {
			t.Fatalf("sqlite3 %s: %v", export, err)
		}
		recs, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			kind, _ := strconv.ParseInt(r[0], 10, 64)
			v, _ := strconv.ParseFloat(r[1], 64)
			op := "[CUDA memset]"
			if kind >= 0 {
				op = "[CUDA memcpy " + nsysCopyLabels[kind] + "]"
			}
			values[op] = append(values[op], v)
		}
	}
	var want [][]string
	totals := map[string]float64{}
	var all float64
	for op, vs := range values {
		s := stats(vs)
		totals[op] = s.total
		all += s.total
		if report == "cuda_gpu_mem_size_sum" {
			mb := func(v float64) string { return strconv.FormatFloat(v/1e6, 'f', 3, 64) }
			want = append(want, []string{mb(s.total), strconv.Itoa(len(vs)), mb(s.mean), mb(s.median), mb(s.min), mb(s.max), mb(s.stddev), op})
		} else {
			ns := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
			want = append(want, []string{"", strconv.FormatFloat(s.total, 'f', 0, 64), strconv.Itoa(len(vs)),
				ns(s.mean), ns(s.median), strconv.FormatFloat(s.min, 'f', 0, 64), strconv.FormatFloat(s.max, 'f', 0, 64), ns(s.stddev), op})
		}
	}
	for _, row := range want {
		if report == "cuda_gpu_mem_time_sum" {
			row[0] = strconv.FormatFloat(100*totals[row[len(row)-1]]/all, 'f', 1, 64)
		}
	}
	sort.Slice(want, func(i, j int) bool {
		a, b := totals[want[i][len(want[i])-1]], totals[want[j][len(want[j])-1]]
		if a != b {
			return a > b
		}
		return want[i][len(want[i])-1] < want[j][len(want[j])-1]
	})
	if len(want) == 0 {
		t.Fatal("the export has no memory operations to check against")
	}
	t.Logf("nsys skipped this report (no ENUM_CUDA_MEMCPY_OPER); checked against the export's %d operations", len(want))
	compareRows(t, header, want, got)
}

type summary struct{ total, mean, median, min, max, stddev float64 }

// stats computes what nsys reports of a list of values: median the mean of
// the two middle values of an even count, sample standard deviation (0 for
// one value).
func stats(vs []float64) summary {
	s := slices.Clone(vs)
	slices.Sort(s)
	var sum summary
	for _, v := range s {
		sum.total += v
	}
	n := float64(len(s))
	sum.mean = sum.total / n
	sum.min, sum.max = s[0], s[len(s)-1]
	if len(s)%2 == 1 {
		sum.median = s[len(s)/2]
	} else {
		sum.median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	if len(s) > 1 {
		var ss float64
		for _, v := range s {
			ss += (v - sum.mean) * (v - sum.mean)
		}
		sum.stddev = math.Sqrt(ss / (n - 1))
	}
	return sum
}

// TestChecksOnFixtures runs every check over the fixture warehouse: each
// must return no rows.
func TestChecksOnFixtures(t *testing.T) {
	w := openFixtures(t)
	for _, c := range w.Catalog().Checks {
		res, err := w.Run(context.Background(), c, nil)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		if len(res.Rows) > 0 {
			var b strings.Builder
			WriteCSV(&b, &duck.Result{Columns: res.Columns, Rows: res.Rows[:min(len(res.Rows), 20)]})
			t.Errorf("check %s: %d rows on the fixture warehouse:\n%s", c.Name, len(res.Rows), b.String())
		}
	}
}
