package warehouse

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"vitlab/queries/duck"
	"vitlab/schemas"
)

// skipWithoutRename skips a test of the layout migration while
// schemas.PartitionDir still is the legacy prefix (nothing to migrate).
func skipWithoutRename(t *testing.T) {
	t.Helper()
	if schemas.PartitionDir == LegacyPartitionDir {
		t.Skip("schemas.PartitionDir is the legacy " + LegacyPartitionDir + ": no layout to migrate")
	}
}

// legacyWarehouse commits two batches to a new warehouse and turns it into
// the layout of older vitlab versions: every <table>/batch_id=<id>/
// renamed to <table>/batch=<id>/ and the manifest's paths with it. It
// returns the warehouse directory.
func legacyWarehouse(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	wh := filepath.Join(t.TempDir(), "wh")
	s, err := NewStaging(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"b1", "20261201"} {
		if _, err := CommitBatch(ctx, wh, stageBatch(t, memory.DefaultAllocator, s, id, uint64(i+1), 2)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	m, err := ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	for id, b := range m.Batches {
		for name, tf := range b.Tables {
			if err := os.Rename(filepath.Join(wh, name, schemas.PartitionDir+id), filepath.Join(wh, name, LegacyPartitionDir+id)); err != nil {
				t.Fatal(err)
			}
			for i, f := range tf.Files {
				tf.Files[i] = name + "/" + LegacyPartitionDir + id + "/" + path.Base(f)
			}
			b.Tables[name] = tf
		}
	}
	if err := writeManifest(wh, m); err != nil {
		t.Fatal(err)
	}
	checkWarehouse(t, wh, false)
	return wh
}

// layoutOf returns "legacy" when every listed file of m lies in a legacy
// partition directory, "current" when every one lies in its current one,
// and "mixed" otherwise.
func layoutOf(m *Manifest) string {
	legacy, current := 0, 0
	for id, b := range m.Batches {
		for name, tf := range b.Tables {
			for _, f := range tf.Files {
				switch path.Dir(f) {
				case partitionOf(name, id):
					current++
				case name + "/" + LegacyPartitionDir + id:
					legacy++
				}
			}
		}
	}
	switch {
	case current == 0 && legacy > 0:
		return "legacy"
	case legacy == 0 && current > 0:
		return "current"
	}
	return "mixed"
}

// withoutPaths returns m's batches with each file reduced to its base name,
// which a migration must not change.
func withoutPaths(m *Manifest) map[string]*Batch {
	out := map[string]*Batch{}
	for id, b := range m.Batches {
		nb := *b
		nb.Tables = map[string]TableFiles{}
		for name, tf := range b.Tables {
			ntf := TableFiles{Rows: tf.Rows}
			for _, f := range tf.Files {
				ntf.Files = append(ntf.Files, path.Base(f))
			}
			nb.Tables[name] = ntf
		}
		out[id] = &nb
	}
	return out
}

// legacyDirs returns the legacy partition directories left in wh.
func legacyDirs(t *testing.T, wh string) []string {
	t.Helper()
	var dirs []string
	for _, tbl := range schemas.All() {
		m, err := filepath.Glob(filepath.Join(wh, tbl.Name, LegacyPartitionDir+"*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range m {
			dirs = append(dirs, rel(wh, d))
		}
	}
	return dirs
}

// TestMigrate moves a legacy warehouse to the current layout, keeps every
// batch's files, rows and hashes, and does nothing the second time.
func TestMigrate(t *testing.T) {
	skipWithoutRename(t)
	ctx := context.Background()
	wh := legacyWarehouse(t)
	before, err := ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Migrate(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"20261201", "b1"}; !reflect.DeepEqual(rec.Migrated, want) {
		t.Fatalf("migrated %v, want %v", rec.Migrated, want)
	}
	after := checkWarehouse(t, wh, false)
	if got := layoutOf(after); got != "current" {
		t.Fatalf("layout after migration: %s", got)
	}
	if !reflect.DeepEqual(withoutPaths(before), withoutPaths(after)) {
		t.Fatal("migration changed more than the paths of the manifest")
	}
	if left := legacyDirs(t, wh); len(left) > 0 {
		t.Fatalf("legacy directories left: %v", left)
	}

	times := modTimes(t, wh)
	rec, err = Migrate(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Migrated) > 0 || !reflect.DeepEqual(times, modTimes(t, wh)) {
		t.Fatalf("second migration changed the warehouse (migrated %v)", rec.Migrated)
	}
}

// TestCommitMigratesFirst: a commit into a legacy warehouse migrates it
// before adding its batch, so the warehouse never mixes layouts.
func TestCommitMigratesFirst(t *testing.T) {
	skipWithoutRename(t)
	ctx := context.Background()
	wh := legacyWarehouse(t)
	s, err := NewStaging(ctx, wh)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := CommitBatch(ctx, wh, stageBatch(t, memory.DefaultAllocator, s, "b3", 3, 2))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Recovery.Migrated) != 2 {
		t.Fatalf("commit migrated %v, want both earlier batches", res.Recovery.Migrated)
	}
	m := checkWarehouse(t, wh, false)
	if got := layoutOf(m); got != "current" || len(m.Batches) != 3 {
		t.Fatalf("after the commit: layout %s, %d batches", got, len(m.Batches))
	}
}

// Environment of TestMigrateHelper.
const helperMigrate = "VITLAB_TEST_HELPER_MIGRATE"

// TestMigrateHelper is not a test: run by TestMigrateKilledAtEveryStep in a
// subprocess, it migrates a warehouse (and may be killed on the way).
func TestMigrateHelper(t *testing.T) {
	wh := os.Getenv(helperMigrate)
	if wh == "" {
		t.Skip("subprocess helper")
	}
	rec, err := Migrate(context.Background(), wh)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("migrated %v\n", rec.Migrated)
}

// TestMigrateKilledAtEveryStep kills a migrating process with SIGKILL at
// every step and checks after each kill that the manifest parses, every
// listed file reads with its rows, the warehouse is wholly in one layout
// (the manifest is the old or the new one) with the same batches, and that
// the next migration finishes: current layout, no legacy directory, no
// unlisted file.
func TestMigrateKilledAtEveryStep(t *testing.T) {
	skipWithoutRename(t)
	if testing.Short() {
		t.Skip("spawns a process per step")
	}
	base := legacyWarehouse(t)
	baseline, err := ReadManifest(base)
	if err != nil {
		t.Fatal(err)
	}
	want := withoutPaths(baseline)
	run := func(wh string, killAt int) (bool, string) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMigrateHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperMigrate+"="+wh, CrashEnv+"="+strconv.Itoa(killAt))
		b, err := cmd.CombinedOutput()
		if err != nil && strings.Contains(string(b), "vitlab: killed at step") {
			return true, string(b)
		}
		if err != nil {
			t.Fatalf("helper: %v\n%s", err, b)
		}
		return false, string(b)
	}
	for n := 1; ; n++ {
		wh := filepath.Join(t.TempDir(), "wh")
		copyDir(t, base, wh)
		killed, out := run(wh, n)
		if !killed {
			if n < 20 {
				t.Fatalf("only %d steps before the migration finished:\n%s", n-1, out)
			}
			t.Logf("%d steps, killed at each", n-1)
			return
		}
		step := strings.TrimSpace(out[strings.LastIndex(out, "vitlab: killed at step"):])
		step = step[:strings.IndexByte(step+"\n", '\n')]
		m := checkWarehouse(t, wh, true)
		if l := layoutOf(m); l == "mixed" {
			t.Fatalf("%s: the manifest mixes layouts", step)
		}
		if !reflect.DeepEqual(withoutPaths(m), want) {
			t.Fatalf("%s: the batches changed", step)
		}
		if killed, out := run(wh, 0); killed {
			t.Fatalf("rerun killed: %s", out)
		}
		m = checkWarehouse(t, wh, false)
		if l := layoutOf(m); l != "current" {
			t.Fatalf("after %s and a rerun: layout %s", step, l)
		}
		if left := legacyDirs(t, wh); len(left) > 0 {
			t.Fatalf("after %s and a rerun: legacy directories %v", step, left)
		}
		if !reflect.DeepEqual(withoutPaths(m), want) {
			t.Fatalf("after %s and a rerun: the batches changed", step)
		}
	}
}

// TestHiveReadersSeeOneBatchID reads the warehouse's directories the way
// hive-partitioning readers do (DuckDB read_parquet with
// hive_partitioning=true, as pyarrow's "hive" partitioning and Spark do):
// the partition key is the batch_id column itself, so the readers get one
// batch_id column, of the file's type (VARCHAR) and with each file's own
// values, and no second "batch" column. A batch id that looks like a number
// stays text when the partition type is given, as the notebooks do.
func TestHiveReadersSeeOneBatchID(t *testing.T) {
	skipWithoutRename(t)
	ctx := context.Background()
	wh := legacyWarehouse(t)
	if _, err := Migrate(ctx, wh); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(wh)
	if err != nil {
		t.Fatal(err)
	}
	db, err := duck.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tbl := range []string{"kernels", "memcpys", "nvtx", "runs"} {
		glob := duck.Quote(filepath.Join(wh, tbl, "*", "*.parquet"))
		for _, opts := range []string{
			"hive_partitioning = true, hive_types = {'batch_id': varchar}",
			"hive_partitioning = true",
		} {
			src := "read_parquet(" + glob + ", " + opts + ")"
			desc, err := db.Query(ctx, "select column_name, column_type from (describe select * from "+src+")")
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range desc.Rows {
				if name := r[0].(string); name == "batch" || name == "batch_id" {
					ids = append(ids, name+" "+r[1].(string))
				}
			}
			if !reflect.DeepEqual(ids, []string{"batch_id VARCHAR"}) {
				t.Errorf("%s (%s): batch columns %v, want [batch_id VARCHAR]", tbl, opts, ids)
				continue
			}
			res, err := db.Query(ctx, "select batch_id, count(*) from "+src+" group by batch_id order by batch_id")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			for _, r := range res.Rows {
				got[fmt.Sprint(r[0])] = r[1].(int64)
			}
			wantRows := map[string]int64{}
			for id, b := range m.Batches {
				wantRows[id] = b.Tables[tbl].Rows
			}
			if !reflect.DeepEqual(got, wantRows) {
				t.Errorf("%s (%s): rows per batch_id %v, want %v", tbl, opts, got, wantRows)
			}
			// A filter on the partition column reads only that partition.
			res, err = db.Query(ctx, "select count(*) from "+src+" where batch_id = '20261201'")
			if err != nil {
				t.Fatal(err)
			}
			if n := res.Rows[0][0].(int64); n != wantRows["20261201"] {
				t.Errorf("%s (%s): filtered count %d, want %d", tbl, opts, n, wantRows["20261201"])
			}
		}
	}
}
