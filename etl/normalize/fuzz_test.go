package normalize

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"vitlab/etl/nsysdb/nsysdbtest"
)

// FuzzExport feeds damaged exports to Export: it must never panic or hang,
// and every error must be ErrMalformedExport. The seeds are a real export
// (the smallest fixture) and mutations of it: truncated, with pages
// overwritten in different places (header, schema, tables, string table),
// compressed and damaged after compression. `go test` runs the seeds; `make
// fuzz` fuzzes for FUZZTIME.
func FuzzExport(f *testing.F) {
	base, err := os.ReadFile(smallFixture)
	if err != nil {
		f.Fatal(err)
	}
	const page = 4096
	mut := func(fn func(b []byte) []byte) []byte { return fn(bytes.Clone(base)) }
	f.Add(base)
	f.Add(tinyExport(f))
	f.Add([]byte{})
	f.Add([]byte("SQLite format 3\x00"))
	f.Add(base[:page])
	f.Add(base[:len(base)/3])
	for _, pg := range []int{0, 1, 2, 5, 10, 20, 40, 60, 80, len(base)/page - 1} {
		f.Add(mut(func(b []byte) []byte {
			off := pg * page
			if pg == 0 {
				off = 100 // keep the header, damage the schema page
			}
			for i := off; i < min(off+page/4, len(b)); i++ {
				b[i] ^= byte(i * 31)
			}
			return b
		}))
	}
	f.Add(mut(func(b []byte) []byte { b[16], b[17] = 0x03, 0x00; return b })) // page size 768
	f.Add(mut(func(b []byte) []byte { b[28] = 0x7f; return b }))              // huge declared size
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		f.Fatal(err)
	}
	z := enc.EncodeAll(base, nil)
	enc.Close()
	f.Add(z)
	f.Add(z[:len(z)/2])
	zd := bytes.Clone(z)
	zd[len(zd)/2] ^= 0xff
	f.Add(zd)

	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "fuzz.sqlite")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := Export(ctx, path, RunKey{"b", "r"}, Options{TempDir: dir, BatchRows: 256}, &discardSink{})
		if ctx.Err() != nil {
			t.Fatalf("Export did not finish within a minute (err %v)", err)
		}
		if err != nil && !errors.Is(err, ErrMalformedExport) {
			t.Fatalf("error is not ErrMalformedExport: %v", err)
		}
	})
}

// tinyExport is a synthetic export of a few KB (pages of 512 bytes) with
// every table Export reads: a seed the fuzzer can mutate quickly.
func tinyExport(f *testing.F) []byte {
	path := filepath.Join(f.TempDir(), "tiny.sqlite")
	input := []string{
		"nvtx type=75 start=-5 domain=1 text=dom",
		"nvtx type=59 start=100 end=1000 domain=1 text=outer",
		"nvtx type=60 start=150 end=400 text=inner",
		"nvtx type=59 start=200 text=open",
		"nvtx type=34 start=300 text=mark",
		"api corr=1 start=160 end=170",
		"api corr=2 start=210 end=220 tid=2",
		"kernel corr=1 start=500 end=600",
		"memcpy corr=2 start=700 end=800",
		"memset corr=1 start=650 end=660",
		"memcpy corr=0 start=900 end=950 kind=11",
	}
	if err := nsysdbtest.Exec(path, "PRAGMA page_size = 512"); err != nil {
		f.Fatal(err)
	}
	buildExport(f, path, input)
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	if len(data) > 64<<10 {
		f.Fatalf("tiny export has %d bytes", len(data))
	}
	return data
}
