package normalize

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"vitlab/etl/nsysdb/nsysdbtest"
	"vitlab/schemas"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of the data-driven tests in testdata/")

// TestNVTXProjection runs the data-driven cases of testdata/nvtx/*.txt. Each
// case builds a small synthetic export from its input lines, loads it with
// Export and prints every nvtx row with its tree position and projection:
//
//	case <name>
//	string id=<n> value=<text>
//	nvtx type=<event type> start=<ns> [end=<ns>|null] [pid=<p>] [tid=<t>|none] [endtid=<t>]
//	     [text=<text>] [textid=<n>] [domain=<id>]
//	api [pid=<p>] [tid=<t>] corr=<n> start=<ns> end=<ns> [class=<n>]
//	kernel|memcpy|memset [pid=<p>] corr=<n> start=<ns> end=<ns> [kind=<n>]
//	----
//	<range_id> <style> [<start>,<end>|null] <pid>/<tid> <domain>:<name> depth=… parent=… gpu=[s,e] ops=…
//
// pid and tid default to 1; text values may be Go-quoted. -rewrite writes
// the actual output back (review the diff).
func TestNVTXProjection(t *testing.T) {
	files, err := filepath.Glob("testdata/nvtx/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) { runCaseFile(t, file) })
	}
}

type ddCase struct {
	name     string
	input    []string
	expected []string
	start    int // line index of "case"
	end      int // line index after the expected block
}

func parseCases(t *testing.T, file string) ([]ddCase, []string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var cases []ddCase
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(l, "case ") {
			continue
		}
		c := ddCase{name: strings.TrimSpace(strings.TrimPrefix(l, "case ")), start: i}
		i++
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != "----"; i++ {
			if s := strings.TrimSpace(lines[i]); s != "" && !strings.HasPrefix(s, "#") {
				c.input = append(c.input, s)
			}
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: case %s has no ----", file, c.start+1, c.name)
		}
		i++
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			c.expected = append(c.expected, lines[i])
		}
		c.end = i
		cases = append(cases, c)
	}
	return cases, lines
}

func runCaseFile(t *testing.T, file string) {
	cases, lines := parseCases(t, file)
	if len(cases) == 0 {
		t.Fatalf("%s: no cases", file)
	}
	var out []string
	prev := 0
	for _, c := range cases {
		got := runCase(t, c)
		if *rewrite {
			out = append(out, lines[prev:c.start]...)
			out = append(out, lines[c.start:c.start+1]...)
			for j := c.start + 1; j < len(lines) && strings.TrimSpace(lines[j]) != "----"; j++ {
				out = append(out, lines[j])
			}
			out = append(out, "----")
			out = append(out, got...)
			prev = c.end
			continue
		}
		if strings.Join(got, "\n") != strings.Join(c.expected, "\n") {
			t.Errorf("%s:%d: case %s:\ngot:\n%s\nwant:\n%s", file, c.start+1, c.name,
				strings.Join(got, "\n"), strings.Join(c.expected, "\n"))
		}
	}
	if *rewrite {
		out = append(out, lines[prev:]...)
		if err := os.WriteFile(file, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// gtid is an nsys serialized global thread id (hardware id 1).
func gtid(pid, tid int64) int64 { return 1<<48 | pid<<24 | tid }

func gpid(pid int64) int64 { return 1<<48 | pid<<24 }

// ddSchema creates the tables of a synthetic export; the columns are in
// nsys's order, with a column of another tool thrown in.
var ddSchema = map[string]string{
	"StringIds": "CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT NOT NULL)",
	"NVTX_EVENTS": `CREATE TABLE NVTX_EVENTS (start INTEGER NOT NULL, end INTEGER, eventType INTEGER NOT NULL,
		rangeId INTEGER, category INTEGER, color INTEGER, text TEXT, globalTid INTEGER, endGlobalTid INTEGER,
		textId INTEGER, domainId INTEGER, uint64Value INTEGER, int64Value INTEGER, doubleValue REAL,
		uint32Value INTEGER, int32Value INTEGER, floatValue REAL, jsonTextId INTEGER, jsonText TEXT)`,
	"CUPTI_ACTIVITY_KIND_RUNTIME": `CREATE TABLE CUPTI_ACTIVITY_KIND_RUNTIME (start INTEGER NOT NULL, end INTEGER NOT NULL,
		eventClass INTEGER NOT NULL, globalTid INTEGER, correlationId INTEGER, nameId INTEGER NOT NULL,
		returnValue INTEGER NOT NULL, callchainId INTEGER, other_tool TEXT)`,
	"CUPTI_ACTIVITY_KIND_KERNEL": `CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (start INTEGER NOT NULL, end INTEGER NOT NULL,
		deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, greenContextId INTEGER, streamId INTEGER NOT NULL,
		correlationId INTEGER, globalPid INTEGER, demangledName INTEGER NOT NULL, shortName INTEGER NOT NULL,
		mangledName INTEGER, launchType INTEGER, cacheConfig INTEGER, registersPerThread INTEGER NOT NULL,
		gridX INTEGER NOT NULL, gridY INTEGER NOT NULL, gridZ INTEGER NOT NULL, blockX INTEGER NOT NULL,
		blockY INTEGER NOT NULL, blockZ INTEGER NOT NULL, staticSharedMemory INTEGER NOT NULL,
		dynamicSharedMemory INTEGER NOT NULL, localMemoryPerThread INTEGER NOT NULL, localMemoryTotal INTEGER NOT NULL,
		gridId INTEGER NOT NULL, sharedMemoryExecuted INTEGER, graphNodeId INTEGER, sharedMemoryLimitConfig INTEGER)`,
	"CUPTI_ACTIVITY_KIND_MEMCPY": `CREATE TABLE CUPTI_ACTIVITY_KIND_MEMCPY (start INTEGER NOT NULL, end INTEGER NOT NULL,
		deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, streamId INTEGER NOT NULL, correlationId INTEGER,
		globalPid INTEGER, bytes INTEGER NOT NULL, copyKind INTEGER NOT NULL, deprecatedSrcId INTEGER,
		srcKind INTEGER, dstKind INTEGER, srcDeviceId INTEGER, srcContextId INTEGER, dstDeviceId INTEGER,
		dstContextId INTEGER, migrationCause INTEGER, graphNodeId INTEGER, virtualAddress INTEGER)`,
	"CUPTI_ACTIVITY_KIND_MEMSET": `CREATE TABLE CUPTI_ACTIVITY_KIND_MEMSET (start INTEGER NOT NULL, end INTEGER NOT NULL,
		deviceId INTEGER NOT NULL, contextId INTEGER NOT NULL, streamId INTEGER NOT NULL, correlationId INTEGER,
		globalPid INTEGER, value INTEGER NOT NULL, bytes INTEGER NOT NULL, graphNodeId INTEGER, memKind INTEGER)`,
}

// fields splits "k=v k2=\"quoted v\"" into a map.
func fields(t testing.TB, s string) (string, map[string]string) {
	t.Helper()
	kind, rest, _ := strings.Cut(s, " ")
	m := map[string]string{}
	rest = strings.TrimSpace(rest)
	for rest != "" {
		k, v, ok := strings.Cut(rest, "=")
		if !ok {
			t.Fatalf("bad field %q in %q", rest, s)
		}
		if strings.HasPrefix(v, `"`) {
			q, err := strconv.QuotedPrefix(v)
			if err != nil {
				t.Fatalf("bad quoted value in %q: %v", s, err)
			}
			m[k], _ = strconv.Unquote(q)
			rest = strings.TrimSpace(v[len(q):])
			continue
		}
		v, rest, _ = strings.Cut(v, " ")
		m[k] = v
		rest = strings.TrimSpace(rest)
	}
	return kind, m
}

func sqlInt(t testing.TB, m map[string]string, k, def string) string {
	t.Helper()
	v, ok := m[k]
	if !ok {
		v = def
	}
	if v == "null" || v == "" {
		return "NULL"
	}
	if _, err := strconv.ParseInt(v, 10, 64); err != nil {
		t.Fatalf("%s=%q is not an integer", k, v)
	}
	return v
}

func sqlText(m map[string]string, k string) string {
	v, ok := m[k]
	if !ok {
		return "NULL"
	}
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

func num(t testing.TB, m map[string]string, k string, def int64) int64 {
	t.Helper()
	v, ok := m[k]
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q is not an integer", k, v)
	}
	return n
}

// buildExport writes the synthetic export of a case.
func buildExport(t testing.TB, path string, input []string) {
	t.Helper()
	stmts := []string{ddSchema["StringIds"], "INSERT INTO StringIds VALUES (0, 'cudaLaunchKernel'), (1, 'kernel')"}
	created := map[string]bool{}
	ensure := func(table string) {
		if !created[table] {
			created[table] = true
			stmts = append(stmts, ddSchema[table])
		}
	}
	for _, line := range input {
		kind, m := fields(t, line)
		pid := num(t, m, "pid", 1)
		switch kind {
		case "string":
			stmts = append(stmts, fmt.Sprintf("INSERT INTO StringIds VALUES (%s, %s)", sqlInt(t, m, "id", ""), sqlText(m, "value")))
		case "nvtx":
			ensure("NVTX_EVENTS")
			tid := "NULL"
			if m["tid"] != "none" {
				tid = strconv.FormatInt(gtid(pid, num(t, m, "tid", 1)), 10)
			}
			endTid := "NULL"
			if _, ok := m["endtid"]; ok {
				endTid = strconv.FormatInt(gtid(pid, num(t, m, "endtid", 0)), 10)
			}
			stmts = append(stmts, fmt.Sprintf(
				"INSERT INTO NVTX_EVENTS (start, end, eventType, text, globalTid, endGlobalTid, textId, domainId) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
				sqlInt(t, m, "start", ""), sqlInt(t, m, "end", "null"), sqlInt(t, m, "type", ""), sqlText(m, "text"),
				tid, endTid, sqlInt(t, m, "textid", "null"), sqlInt(t, m, "domain", "null")))
		case "api":
			ensure("CUPTI_ACTIVITY_KIND_RUNTIME")
			stmts = append(stmts, fmt.Sprintf(
				"INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME (start, end, eventClass, globalTid, correlationId, nameId, returnValue) VALUES (%s, %s, %s, %d, %s, 0, 0)",
				sqlInt(t, m, "start", ""), sqlInt(t, m, "end", ""), sqlInt(t, m, "class", "0"),
				gtid(pid, num(t, m, "tid", 1)), sqlInt(t, m, "corr", "")))
		case "kernel":
			ensure("CUPTI_ACTIVITY_KIND_KERNEL")
			stmts = append(stmts, fmt.Sprintf(
				"INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES (%s, %s, 0, 1, NULL, 7, %s, %d, 1, 1, NULL, 0, 0, 32, 1, 1, 1, 128, 1, 1, 0, 0, 0, 0, 1, NULL, NULL, NULL)",
				sqlInt(t, m, "start", ""), sqlInt(t, m, "end", ""), sqlInt(t, m, "corr", ""), gpid(pid)))
		case "memcpy":
			ensure("CUPTI_ACTIVITY_KIND_MEMCPY")
			stmts = append(stmts, fmt.Sprintf(
				"INSERT INTO CUPTI_ACTIVITY_KIND_MEMCPY (start, end, deviceId, contextId, streamId, correlationId, globalPid, bytes, copyKind, srcKind, dstKind) VALUES (%s, %s, 0, 1, 7, %s, %d, 1024, %s, 0, 2)",
				sqlInt(t, m, "start", ""), sqlInt(t, m, "end", ""), sqlInt(t, m, "corr", ""), gpid(pid), sqlInt(t, m, "kind", "1")))
		case "memset":
			ensure("CUPTI_ACTIVITY_KIND_MEMSET")
			stmts = append(stmts, fmt.Sprintf(
				"INSERT INTO CUPTI_ACTIVITY_KIND_MEMSET (start, end, deviceId, contextId, streamId, correlationId, globalPid, value, bytes, memKind) VALUES (%s, %s, 0, 1, 7, %s, %d, 0, 1024, 2)",
				sqlInt(t, m, "start", ""), sqlInt(t, m, "end", ""), sqlInt(t, m, "corr", ""), gpid(pid)))
		default:
			t.Fatalf("unknown input line %q", line)
		}
	}
	if err := nsysdbtest.Exec(path, stmts...); err != nil {
		t.Fatal(err)
	}
}

func runCase(t *testing.T, c ddCase) []string {
	t.Helper()
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	path := filepath.Join(t.TempDir(), "case.sqlite")
	buildExport(t, path, c.input)
	sink := newCollectSink()
	defer sink.Release()
	// Records of 2 rows: the projection must not depend on batching.
	res, err := Export(context.Background(), path, RunKey{"b", "r"}, Options{BatchRows: 2, Allocator: mem}, sink)
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	var out []string
	for _, r := range sink.rows(schemas.NVTX.Name) {
		out = append(out, formatNVTX(r))
	}
	for _, w := range res.Warnings {
		out = append(out, "warning: "+w)
	}
	return out
}

func formatNVTX(r map[string]any) string {
	opt := func(v any) string {
		if v == nil {
			return "null"
		}
		return fmt.Sprint(v)
	}
	end := opt(r["end"])
	thread := "-"
	if r["pid"] != nil {
		thread = fmt.Sprintf("%v/%v", r["pid"], r["tid"])
	}
	depth, parent, gpu, ops := "null", "null", "null", "null"
	if r["gpu_ops"] != nil {
		depth = opt(r["depth"])
		parent = "-"
		if r["parent_id"] != nil {
			parent = opt(r["parent_id"])
		}
		gpu = "-"
		if r["gpu_start"] != nil {
			gpu = fmt.Sprintf("[%v,%v]", r["gpu_start"], r["gpu_end"])
		}
		ops = opt(r["gpu_ops"])
	}
	return fmt.Sprintf("%v %s [%v,%s] %s %s:%s depth=%s parent=%s gpu=%s ops=%s",
		r["range_id"], r["style"], r["start"], end, thread, str(r["domain"]), str(r["name"]), depth, parent, gpu, ops)
}
