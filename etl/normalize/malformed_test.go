package normalize

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"vitlab/etl/nsysdb"
	"vitlab/etl/nsysdb/nsysdbtest"
	"vitlab/schemas"

	"vitlab/internal/testfixtures"
)

// smallFixture is the export the malformed-input cases start from.
var smallFixture = testfixtures.Export("h100_tiny_conv_nvtx.sqlite")

// TestMalformed feeds inputs vitlab must set aside: each gives an error
// that wraps ErrMalformedExport, names the file and says what is wrong.
func TestMalformed(t *testing.T) {
	cases := []struct {
		name string
		file string // base name of the input
		make func(t *testing.T, path string)
		want string // in the message
	}{
		{"empty", "empty.sqlite", func(t *testing.T, p string) { write(t, p, nil) }, "empty file"},
		{"truncated", "half.sqlite", func(t *testing.T, p string) {
			data := read(t, smallFixture)
			write(t, p, data[:len(data)/2])
		}, "truncated"},
		{"truncated-size-not-declared", "half2.sqlite", func(t *testing.T, p string) {
			// Without a valid in-header size (bytes 92–95 disagree with
			// the change counter) only SQLite itself can notice.
			data := read(t, smallFixture)
			data = data[:len(data)/2]
			copy(data[92:96], []byte{0xde, 0xad, 0xbe, 0xef})
			write(t, p, data)
		}, "malformed"},
		{"truncated-header", "tiny.sqlite", func(t *testing.T, p string) {
			write(t, p, read(t, smallFixture)[:60])
		}, "truncated SQLite header"},
		{"random-bytes", "random.sqlite", func(t *testing.T, p string) {
			r := rand.New(rand.NewPCG(1, 2))
			data := make([]byte, 64<<10)
			for i := range data {
				data[i] = byte(r.Uint32())
			}
			write(t, p, data)
		}, "not a SQLite database"},
		{"unrelated-sqlite", "other.sqlite", func(t *testing.T, p string) {
			execSQL(t, p, "CREATE TABLE users(id INTEGER, name TEXT)", "INSERT INTO users VALUES (1, 'a')")
		}, "not an nsys export"},
		{"sqlite-without-tables", "blank.sqlite", func(t *testing.T, p string) {
			execSQL(t, p, "PRAGMA user_version = 7")
		}, "not an nsys export"},
		{"corrupt-zst", "trace.sqlite.zst", func(t *testing.T, p string) {
			compress(t, p, smallFixture)
			data := read(t, p)
			for i := len(data) / 2; i < len(data)/2+256; i++ {
				data[i] ^= 0x5A
			}
			write(t, p, data)
		}, "zstd"},
		{"truncated-zst", "cut.sqlite.zst", func(t *testing.T, p string) {
			compress(t, p, smallFixture)
			data := read(t, p)
			write(t, p, data[:len(data)/3])
		}, "zstd"},
		{"not-zst", "plain.sqlite.zst", func(t *testing.T, p string) {
			write(t, p, read(t, smallFixture))
		}, "not zstd-compressed"},
		{"zst-of-garbage", "garbage.sqlite.zst", func(t *testing.T, p string) {
			tmp := p + ".raw"
			write(t, tmp, []byte("this is not a database, only text"))
			compress(t, p, tmp)
		}, "not a SQLite database"},
		{"damaged-kernel-page", "damaged.sqlite", func(t *testing.T, p string) {
			copyTo(t, p, smallFixture)
			pageSize, pages, err := nsysdbtest.Pages(p, "CUPTI_ACTIVITY_KIND_KERNEL")
			if err != nil {
				t.Fatal(err)
			}
			// Damage every page of the table: whichever SQLite reads
			// first, it finds garbage.
			for _, pg := range pages {
				if err := nsysdbtest.OverwritePage(p, pageSize, pg); err != nil {
					t.Fatal(err)
				}
			}
		}, "CUPTI_ACTIVITY_KIND_KERNEL"},
		{"kernels-without-start", "nostart.sqlite", func(t *testing.T, p string) {
			copyTo(t, p, smallFixture)
			execSQL(t, p, "ALTER TABLE CUPTI_ACTIVITY_KIND_KERNEL DROP COLUMN start")
		}, "CUPTI_ACTIVITY_KIND_KERNEL lacks column start"},
		{"text-in-integer-column", "text.sqlite", func(t *testing.T, p string) {
			copyTo(t, p, smallFixture)
			execSQL(t, p, "UPDATE CUPTI_ACTIVITY_KIND_MEMCPY SET bytes = 'lots' WHERE rowid = 3")
		}, "CUPTI_ACTIVITY_KIND_MEMCPY row 3: column bytes"},
		{"null-in-required-column", "null.sqlite", func(t *testing.T, p string) {
			copyTo(t, p, smallFixture)
			// CREATE TABLE … AS drops nsys's NOT NULL constraints.
			execSQL(t, p, "CREATE TABLE r AS SELECT * FROM CUPTI_ACTIVITY_KIND_RUNTIME ORDER BY rowid",
				"DROP TABLE CUPTI_ACTIVITY_KIND_RUNTIME", "ALTER TABLE r RENAME TO CUPTI_ACTIVITY_KIND_RUNTIME",
				"UPDATE CUPTI_ACTIVITY_KIND_RUNTIME SET start = NULL WHERE rowid = 5")
		}, "CUPTI_ACTIVITY_KIND_RUNTIME row 5: column start"},
		{"dangling-string-id", "dangling.sqlite", func(t *testing.T, p string) {
			copyTo(t, p, smallFixture)
			execSQL(t, p, "UPDATE CUPTI_ACTIVITY_KIND_KERNEL SET demangledName = 987654 WHERE rowid = 2")
		}, "string id 987654 is not in StringIds"},
		{"events-without-StringIds", "nostrings.sqlite", func(t *testing.T, p string) {
			copyTo(t, p, smallFixture)
			execSQL(t, p, "DROP TABLE StringIds")
		}, "refers to StringIds"},
		{"grid-out-of-range", "grid.sqlite", func(t *testing.T, p string) {
			copyTo(t, p, smallFixture)
			execSQL(t, p, "UPDATE CUPTI_ACTIVITY_KIND_KERNEL SET gridX = 1 << 32 WHERE rowid = 1")
		}, "out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			dir := t.TempDir()
			path := filepath.Join(dir, c.file)
			c.make(t, path)
			tmp := t.TempDir()
			_, err := Export(context.Background(), path, RunKey{"b", "r"}, Options{TempDir: tmp, Allocator: mem}, &discardSink{})
			if !errors.Is(err, ErrMalformedExport) || !errors.Is(err, nsysdb.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformedExport", err)
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.Contains(msg, c.file) || !strings.Contains(msg, c.want) {
				t.Errorf("error %q should name %s and say %q", msg, c.file, c.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("files left in the temp dir: %v", left)
			}
		})
	}
}

// TestMissingFile is not bad input but an error of the caller: it does not
// wrap ErrMalformedExport.
func TestMissingFile(t *testing.T) {
	_, err := Export(context.Background(), filepath.Join(t.TempDir(), "none.sqlite"), RunKey{"b", "r"}, Options{}, &discardSink{})
	if err == nil || errors.Is(err, ErrMalformedExport) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want a not-exist error", err)
	}
}

// TestNoEventTables: a genuine export whose CUDA injection failed has no
// event tables; it loads with zero events and a warning.
func TestNoEventTables(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	path := filepath.Join(t.TempDir(), "noevents.sqlite")
	copyTo(t, path, smallFixture)
	var drop []string
	for _, tbl := range nsysdb.EventSources {
		drop = append(drop, "DROP TABLE "+tbl)
	}
	execSQL(t, path, append(drop, "DROP TABLE CUPTI_ACTIVITY_KIND_SYNCHRONIZATION", "DROP TABLE CUPTI_ACTIVITY_KIND_CUDA_EVENT")...)
	sink := newCollectSink()
	defer sink.Release()
	res, err := Export(context.Background(), path, RunKey{"b", "r"}, Options{Allocator: mem}, sink)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events() != 0 || len(sink.recs[schemas.Kernels.Name]) != 0 {
		t.Errorf("events = %d", res.Events())
	}
	if res.Rows[schemas.Devices.Name] != 1 {
		t.Errorf("devices = %d, want the H100", res.Rows[schemas.Devices.Name])
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "no CUDA or NVTX events recorded") {
		t.Errorf("warnings = %q", res.Warnings)
	}
	if res.Info.NsysVersion != "2025.3.2.0" {
		t.Errorf("info = %+v", res.Info)
	}
}

// TestLayoutVariants: exports without PROCESSES (Windows), without metadata
// and ENUM_* tables (before 2022.4) or without a session start time load
// the same events.
func TestLayoutVariants(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	orig := copyFixture(t, dir, smallFixture)
	want := newCollectSink()
	defer want.Release()
	if _, err := Export(ctx, orig, RunKey{"b", "r"}, Options{}, want); err != nil {
		t.Fatal(err)
	}
	variant := filepath.Join(dir, "variant.sqlite")
	copyTo(t, variant, smallFixture)
	enums, err := nsysdbtest.Strings(variant, "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'ENUM\\_%' ESCAPE '\\'")
	if err != nil || len(enums) == 0 {
		t.Fatalf("enums %v: %v", enums, err)
	}
	stmts := []string{"DROP TABLE PROCESSES", "DROP TABLE META_DATA_EXPORT", "DROP TABLE TARGET_INFO_SESSION_START_TIME",
		"DROP TABLE TARGET_INFO_SYSTEM_ENV", "DROP TABLE TARGET_INFO_CUDA_DEVICE",
		// columns of other tools, in the middle of the reading
		"ALTER TABLE CUPTI_ACTIVITY_KIND_KERNEL ADD COLUMN kernel_name TEXT",
		"UPDATE CUPTI_ACTIVITY_KIND_KERNEL SET kernel_name = 'x'"}
	for _, e := range enums {
		stmts = append(stmts, "DROP TABLE "+e)
	}
	execSQL(t, variant, stmts...)
	got := newCollectSink()
	defer got.Release()
	res, err := Export(ctx, variant, RunKey{"b", "r"}, Options{}, got)
	if err != nil {
		t.Fatal(err)
	}
	if res.Info.NsysVersion != "" || res.Info.SessionStartUTCNs != 0 || res.Info.Host != "" {
		t.Errorf("info = %+v, want nothing known", res.Info)
	}
	for _, tbl := range schemas.EventTables {
		if len(got.recs[tbl.Name]) != len(want.recs[tbl.Name]) {
			t.Fatalf("%s: %d records, want %d", tbl.Name, len(got.recs[tbl.Name]), len(want.recs[tbl.Name]))
		}
		for i := range want.recs[tbl.Name] {
			if !array.RecordEqual(got.recs[tbl.Name][i], want.recs[tbl.Name][i]) {
				t.Errorf("%s: record %d differs", tbl.Name, i)
			}
		}
	}
}

func read(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func write(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func execSQL(t *testing.T, p string, stmts ...string) {
	t.Helper()
	if err := nsysdbtest.Exec(p, stmts...); err != nil {
		t.Fatal(err)
	}
}

func copyTo(t *testing.T, dst, src string) {
	t.Helper()
	if err := nsysdbtest.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
}
