package nsysdb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestRawRowsEqualDriver: the raw connection (raw.go) gives every value of
// every table of every fixture export as the database/sql driver does
// (same Go types, same values, same order).
func TestRawRowsEqualDriver(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*.sqlite"))
	if len(files) == 0 {
		t.Skip("no fixture exports")
	}
	ctx := context.Background()
	for _, f := range files {
		db := openT(t, f, nil)
		raw, err := openRaw(db.file)
		if err != nil {
			t.Fatal(err)
		}
		for _, table := range db.tables {
			q := "SELECT *, rowid FROM " + quoteIdent(table) + " ORDER BY rowid"
			if table == "sqlite_sequence" {
				continue
			}
			want := collect(t, func() (driver.Rows, error) { return db.q.QueryContext(ctx, q, nil) })
			got := collect(t, func() (driver.Rows, error) { return raw.query(ctx, q) })
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s: raw rows differ from the driver's (%d vs %d rows)", filepath.Base(f), table, len(got), len(want))
			}
		}
		raw.Close()
	}
}

func collect(t *testing.T, open func() (driver.Rows, error)) []string {
	t.Helper()
	rows, err := open()
	if err != nil {
		return []string{"error: " + err.Error()}
	}
	defer rows.Close()
	v := make([]driver.Value, len(rows.Columns()))
	var out []string
	for {
		if err := rows.Next(v); err != nil {
			if !errors.Is(err, io.EOF) {
				out = append(out, "error: "+err.Error())
			}
			return out
		}
		out = append(out, fmt.Sprintf("%#v", v))
	}
}

// TestRawCancelled: a cancelled context stops a raw query.
func TestRawCancelled(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*.sqlite"))
	if len(files) == 0 {
		t.Skip("no fixture exports")
	}
	db := openT(t, files[0], nil)
	raw, err := openRaw(db.file)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	// A query long enough to still be running when the interrupt lands.
	rows, err := raw.query(ctx, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	// (after the step has begun: an interrupt while no statement runs is
	// forgotten by SQLite)
	time.AfterFunc(50*time.Millisecond, cancel)
	err = rows.Next(make([]driver.Value, 1))
	var re *rawError
	if !errors.As(err, &re) || re.Code()&0xff != 9 { // SQLITE_INTERRUPT
		t.Fatalf("cancelled query: %v, want SQLITE_INTERRUPT", err)
	}
}
