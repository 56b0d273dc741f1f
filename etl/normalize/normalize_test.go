package normalize

import (
	"context"
	"encoding/csv"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"vitlab/etl/nsysdb"
	"vitlab/schemas"
)

// fixtureInfo is what each fixture says about itself (SOURCES.md and its
// metadata table).
var fixtureInfo = map[string]struct{ version, schema, host string }{
	"h100_tiny_conv_nvtx":                     {"2025.3.2.0", "3.20.3", "vm"},
	"quasiben_nvtx-examples_cudf":             {"", "", ""},
	"MohanadOdema_DLProf_nsys_profile":        {"2022.1.3.3", "2.9.1", "mohanadodema"},
	"Lianhang666_gpu4_report2":                {"2022.4.2.1", "3.0.0", ""},
	"mariamiiiiii_my_clue_report3":            {"2023.2.3.1004", "3.1.7", ""},
	"danae-pan_hpc_assignment3_report2":       {"2024.6.1.90", "3.15.0", "n-62-12-81"},
	"cestwc_balinski-and-gomory-cuda_report1": {"2025.5.1.121", "3.23.3", "lava"},
}

// TestFixtures loads every real export, checks the rows against the source
// tables, checks that a zstd-compressed copy gives identical records, and
// recomputes nsys's own nvtx_gpu_proj_sum and cuda_gpu_kern_sum from the
// rows to compare them with the CSV files nsys wrote.
func TestFixtures(t *testing.T) {
	ctx := context.Background()
	for _, fixture := range fixtures(t) {
		name := strings.TrimSuffix(filepath.Base(fixture), ".sqlite")
		t.Run(name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			dir := t.TempDir()
			path := copyFixture(t, dir, fixture)
			key := RunKey{BatchID: "b1", RunID: name}
			// Small records so that every table spans several of them.
			opts := Options{TempDir: dir, BatchRows: 97, Allocator: mem}

			sink := newCollectSink()
			defer sink.Release()
			res, err := Export(ctx, path, key, opts, sink)
			if err != nil {
				t.Fatal(err)
			}
			if want, ok := fixtureInfo[name]; ok {
				got := res.Info
				if got.NsysVersion != want.version || got.ExportSchema != want.schema || (want.host != "" && got.Host != want.host) {
					t.Errorf("info = %+v, want version %q schema %q host %q", got, want.version, want.schema, want.host)
				}
			}
			if st, _ := os.Stat(path); res.Info.SQLiteBytes != st.Size() {
				t.Errorf("SQLiteBytes = %d, want %d", res.Info.SQLiteBytes, st.Size())
			}
			if res.Events() == 0 || len(res.Warnings) != 0 {
				t.Errorf("events %d, warnings %q", res.Events(), res.Warnings)
			}

			checkAgainstSource(t, path, res, sink)
			checkBatchKeys(t, sink, key)
			checkZstdCopy(t, dir, path, key, opts, res, sink)
			checkProjSum(t, name, sink)
			checkKernSum(t, name, sink)
		})
	}
}

// checkAgainstSource compares row counts and Σ(end − start) per table with
// what SQL over the source tables says.
func checkAgainstSource(t *testing.T, path string, res Result, sink *collectSink) {
	t.Helper()
	ctx := context.Background()
	db, err := nsysdb.Open(ctx, path, nsysdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tbl := range append([]*schemas.Table{schemas.Devices}, schemas.EventTables...) {
		src, err := db.Stats(ctx, nsysdb.SourceTable(tbl))
		if err != nil {
			t.Fatal(err)
		}
		var rows, dur int64
		for _, rec := range sink.recs[tbl.Name] {
			rows += rec.NumRows()
			if tbl == schemas.Devices {
				continue
			}
			st := rec.Column(tbl.MustIndex("start")).(*array.Int64)
			en := rec.Column(tbl.MustIndex("end")).(*array.Int64)
			for i := 0; i < st.Len(); i++ {
				if !en.IsNull(i) {
					dur += en.Value(i) - st.Value(i)
				}
			}
		}
		if rows != src.Rows || res.Rows[tbl.Name] != src.Rows {
			t.Errorf("%s: %d rows written, Result says %d, source %s has %d", tbl.Name, rows, res.Rows[tbl.Name], nsysdb.SourceTable(tbl), src.Rows)
		}
		if dur != src.Duration {
			t.Errorf("%s: Σ(end-start) = %d, source has %d", tbl.Name, dur, src.Duration)
		}
	}
}

func checkBatchKeys(t *testing.T, sink *collectSink, key RunKey) {
	t.Helper()
	for table, recs := range sink.recs {
		for _, rec := range recs {
			b := rec.Column(0).(*array.String)
			r := rec.Column(1).(*array.String)
			for i := 0; i < b.Len(); i++ {
				if b.Value(i) != key.BatchID || r.Value(i) != key.RunID {
					t.Fatalf("%s: row with batch %q run %q", table, b.Value(i), r.Value(i))
				}
			}
		}
	}
}

// checkZstdCopy loads a .sqlite.zst of the export and expects the very
// same records, and no decompressed copy left behind.
func checkZstdCopy(t *testing.T, dir, path string, key RunKey, opts Options, res Result, sink *collectSink) {
	t.Helper()
	zdir := t.TempDir()
	zpath := filepath.Join(zdir, filepath.Base(path)+".zst")
	compress(t, zpath, path)
	opts.TempDir = zdir
	zsink := newCollectSink()
	defer zsink.Release()
	zres, err := Export(context.Background(), zpath, key, opts, zsink)
	if err != nil {
		t.Fatal(err)
	}
	if zres.Info != res.Info || !mapsEqual(zres.Rows, res.Rows) || !slices.Equal(zres.Warnings, res.Warnings) {
		t.Errorf("zstd result %+v differs from %+v", zres, res)
	}
	for table, recs := range sink.recs {
		zrecs := zsink.recs[table]
		if len(zrecs) != len(recs) {
			t.Fatalf("%s: %d records from the .zst, %d from the .sqlite", table, len(zrecs), len(recs))
		}
		for i := range recs {
			if !array.RecordEqual(recs[i], zrecs[i]) {
				t.Fatalf("%s: record %d differs between .zst and .sqlite", table, i)
			}
		}
	}
	left, _ := os.ReadDir(zdir)
	if len(left) != 1 {
		t.Errorf("files left in the temp dir: %v", left)
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// readCSV reads one of nsys's CSV reports as rows keyed by header.
func readCSV(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(recs) == 0 {
		return nil
	}
	var out []map[string]string
	for _, r := range recs[1:] {
		m := map[string]string{}
		for i, h := range recs[0] {
			m[h] = r[i]
		}
		out = append(out, m)
	}
	return out
}

// stats is what nsys's summaries report of a set of durations.
type stats struct {
	n, total, min, max int64
	avg, med, std      float64
}

func summarize(xs []int64) stats {
	s := stats{n: int64(len(xs))}
	if len(xs) == 0 {
		return s
	}
	ys := slices.Clone(xs)
	slices.Sort(ys)
	s.min, s.max = ys[0], ys[len(ys)-1]
	for _, x := range ys {
		s.total += x
	}
	s.avg = float64(s.total) / float64(len(ys))
	if m := len(ys) / 2; len(ys)%2 == 1 {
		s.med = float64(ys[m])
	} else {
		s.med = (float64(ys[m-1]) + float64(ys[m])) / 2
	}
	if len(ys) > 1 {
		var ss float64
		for _, x := range ys {
			d := float64(x) - s.avg
			ss += d * d
		}
		s.std = math.Sqrt(ss / float64(len(ys)-1))
	}
	return s
}

// round1 rounds like the SQLite of nsys stats does round(x, 1): the exact
// decimal value of the binary double rounded half away from zero at the
// first decimal (so 91365.65, which is 91365.6499999… in binary, gives
// 91365.6, while 0.25 gives 0.3); formatted with one decimal as in nsys's CSV.
func round1(x float64) string {
	exact := new(big.Float).SetFloat64(x).Text('f', 80) // exact for these magnitudes
	neg := strings.HasPrefix(exact, "-")
	exact = strings.TrimPrefix(exact, "-")
	dot := strings.IndexByte(exact, '.')
	digits := []byte(exact[:dot] + exact[dot+1:dot+2])
	if exact[dot+2] >= '5' {
		i := len(digits) - 1
		for ; i >= 0 && digits[i] == '9'; i-- {
			digits[i] = '0'
		}
		if i < 0 {
			digits = append([]byte{'1'}, digits...)
		} else {
			digits[i]++
		}
	}
	out := string(digits[:len(digits)-1]) + "." + string(digits[len(digits)-1])
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return out
}

func csvRound1(t *testing.T, s string) string {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("CSV value %q: %v", s, err)
	}
	return strconv.FormatFloat(f, 'f', 1, 64)
}

func csvInt(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("CSV value %q: %v", s, err)
	}
	return n
}

type projGroup struct {
	proj, rangeDur, ops []int64
	level, child        []int64
}

// projSum recomputes nvtx_gpu_proj_sum from nvtx rows: ranges of the same
// thread with ≥ 1 GPU op, grouped by (domain:name, style); an open range
// ends at the latest start or end of any range.
func projSum(nvtx []map[string]any) map[[2]string]*projGroup {
	var maxTS int64 = math.MinInt64
	children := map[int64]int64{}
	for _, r := range nvtx {
		et, _ := i64(r["event_type"])
		if !schemas.IsNVTXRange(et) {
			continue
		}
		st, _ := i64(r["start"])
		maxTS = max(maxTS, st)
		if en, ok := i64(r["end"]); ok {
			maxTS = max(maxTS, en)
		}
		if ops, _ := i64(r["gpu_ops"]); ops > 0 {
			if p, ok := i64(r["parent_id"]); ok {
				children[p]++
			}
		}
	}
	groups := map[[2]string]*projGroup{}
	for _, r := range nvtx {
		ops, ok := i64(r["gpu_ops"])
		if !ok || ops == 0 {
			continue
		}
		k := [2]string{str(r["domain"]) + ":" + str(r["name"]), str(r["style"])}
		g := groups[k]
		if g == nil {
			g = &projGroup{}
			groups[k] = g
		}
		st, _ := i64(r["start"])
		en, ok := i64(r["end"])
		if !ok {
			en = maxTS
		}
		gs, _ := i64(r["gpu_start"])
		ge, _ := i64(r["gpu_end"])
		id, _ := i64(r["range_id"])
		depth, _ := i64(r["depth"])
		g.proj = append(g.proj, ge-gs)
		g.rangeDur = append(g.rangeDur, en-st)
		g.ops = append(g.ops, ops)
		g.level = append(g.level, depth)
		g.child = append(g.child, children[id])
	}
	return groups
}

func mean(xs []int64) float64 {
	var s int64
	for _, x := range xs {
		s += x
	}
	return float64(s) / float64(len(xs))
}

func checkProjSum(t *testing.T, name string, sink *collectSink) {
	t.Helper()
	want := readCSV(t, filepath.Join(fixtureStats, name+"_nvtx_gpu_proj_sum.csv"))
	got := projSum(sink.rows(schemas.NVTX.Name))
	if len(got) != len(want) {
		t.Errorf("nvtx_gpu_proj_sum: %d groups, nsys has %d", len(got), len(want))
	}
	for _, w := range want {
		k := [2]string{w["Range"], w["Style"]}
		g := got[k]
		if g == nil {
			t.Errorf("nvtx_gpu_proj_sum: no group %q", k)
			continue
		}
		p, r, o := summarize(g.proj), summarize(g.rangeDur), summarize(g.ops)
		ints := []struct {
			col string
			got int64
		}{
			{"Total Proj Time (ns)", p.total}, {"Total Range Time (ns)", r.total}, {"Range Instances", p.n},
			{"Proj Min (ns)", p.min}, {"Proj Max (ns)", p.max}, {"Total GPU Ops", o.total},
		}
		for _, c := range ints {
			if want := csvInt(t, w[c.col]); c.got != want {
				t.Errorf("nvtx_gpu_proj_sum %q %s = %d, nsys %d", k[0], c.col, c.got, want)
			}
		}
		floats := []struct {
			col string
			got float64
		}{
			{"Proj Avg (ns)", p.avg}, {"Proj Med (ns)", p.med}, {"Proj StdDev (ns)", p.std},
			{"Avg GPU Ops", o.avg}, {"Avg Range Lvl", mean(g.level)}, {"Avg Num Child", mean(g.child)},
		}
		for _, c := range floats {
			if got, want := round1(c.got), csvRound1(t, w[c.col]); got != want {
				t.Errorf("nvtx_gpu_proj_sum %q %s = %s, nsys %s", k[0], c.col, got, want)
			}
		}
	}
}

func checkKernSum(t *testing.T, name string, sink *collectSink) {
	t.Helper()
	want := readCSV(t, filepath.Join(fixtureStats, name+"_cuda_gpu_kern_sum.csv"))
	durs := map[string][]int64{}
	for _, r := range sink.rows(schemas.Kernels.Name) {
		st, _ := i64(r["start"])
		en, _ := i64(r["end"])
		n := str(r["demangled_name"])
		durs[n] = append(durs[n], en-st)
	}
	if len(durs) != len(want) {
		t.Errorf("cuda_gpu_kern_sum: %d kernel names, nsys has %d", len(durs), len(want))
	}
	for _, w := range want {
		xs, ok := durs[w["Name"]]
		if !ok {
			t.Errorf("cuda_gpu_kern_sum: no kernel %q", w["Name"])
			continue
		}
		s := summarize(xs)
		if s.total != csvInt(t, w["Total Time (ns)"]) || s.n != csvInt(t, w["Instances"]) ||
			s.min != csvInt(t, w["Min (ns)"]) || s.max != csvInt(t, w["Max (ns)"]) {
			t.Errorf("cuda_gpu_kern_sum %q: total %d n %d min %d max %d, nsys %v", w["Name"], s.total, s.n, s.min, s.max, w)
		}
		for _, c := range []struct {
			col string
			got float64
		}{{"Avg (ns)", s.avg}, {"Med (ns)", s.med}, {"StdDev (ns)", s.std}} {
			if got, want := round1(c.got), csvRound1(t, w[c.col]); got != want {
				t.Errorf("cuda_gpu_kern_sum %q %s = %s, nsys %s", w["Name"], c.col, got, want)
			}
		}
	}
}

func TestRound1(t *testing.T) {
	for x, want := range map[float64]string{
		91365.65: "91365.6", 0.25: "0.3", 0.35: "0.3", 2429: "2429.0", 99.95: "100.0", 0: "0.0",
		4736.849: "4736.8", 1296.5: "1296.5", -0.25: "-0.3", 9.96: "10.0",
	} {
		if got := round1(x); got != want {
			t.Errorf("round1(%v) = %s, want %s", x, got, want)
		}
	}
}

// TestConcurrent loads every fixture at once, as ingest --jobs does, and
// expects the rows of a lone load.
func TestConcurrent(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	paths := fixtures(t)
	type out struct {
		res Result
		err error
	}
	outs := make([]out, len(paths)*2)
	done := make(chan struct{})
	for i := range outs {
		go func() {
			defer func() { done <- struct{}{} }()
			s := &discardSink{}
			outs[i].res, outs[i].err = Export(context.Background(), paths[i%len(paths)], RunKey{"b", "r"},
				Options{TempDir: t.TempDir(), BatchRows: 50, Allocator: mem}, s)
		}()
	}
	for range outs {
		<-done
	}
	for i, o := range outs {
		if o.err != nil {
			t.Fatalf("%s: %v", paths[i%len(paths)], o.err)
		}
		if !mapsEqual(o.res.Rows, outs[i%len(paths)].res.Rows) || o.res.Events() == 0 {
			t.Errorf("%s: rows %v vs %v", paths[i%len(paths)], o.res.Rows, outs[i%len(paths)].res.Rows)
		}
	}
}
