package warehouse

import (
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"vitlab/schemas"
)

// TestSpool appends records to a spool (plain and LZ4) and reads the file
// back with arrow's own IPC reader: same schema (with the table's
// metadata), same records in order.
func TestSpool(t *testing.T) {
	for _, lz4 := range []bool{false, true} {
		mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
		s := newStaging(t, t.TempDir())
		sp, err := s.CreateSpool(schemas.NVTX, "w0", SpoolOptions{Allocator: mem, LZ4: lz4})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(sp.Path(), s.Dir()) || sp.Table() != schemas.NVTX {
			t.Fatalf("spool %s of %s", sp.Path(), sp.Table().Name)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		var want []string
		for i, n := range []int{5, 0, 300, 1} {
			rec := record(mem, schemas.NVTX, "b", "r", n, rng)
			want = append(want, rowKeys(rec)...)
			k, err := sp.Append(rec)
			rec.Release()
			if err != nil || k != i {
				t.Fatalf("Append %d: %d, %v", i, k, err)
			}
		}
		// Another table's record is refused; the spool goes on.
		other := record(mem, schemas.Memsets, "b", "r", 2, rng)
		if _, err := sp.Append(other); err == nil || !strings.Contains(err.Error(), "does not have the schema of table nvtx") {
			t.Fatalf("Append of a memsets record: %v", err)
		}
		other.Release()
		if sp.Records() != 4 || sp.Rows() != 306 {
			t.Fatalf("%d records, %d rows", sp.Records(), sp.Rows())
		}
		if err := sp.Close(); err != nil {
			t.Fatal(err)
		}
		if err := sp.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		rec := record(mem, schemas.NVTX, "b", "r", 1, rng)
		if _, err := sp.Append(rec); err == nil {
			t.Fatal("Append after Close succeeded")
		}
		rec.Release()
		mem.AssertSize(t, 0)

		f, err := os.Open(sp.Path())
		if err != nil {
			t.Fatal(err)
		}
		r, err := ipc.NewFileReader(f, ipc.WithAllocator(mem))
		if err != nil {
			t.Fatal(err)
		}
		if !r.Schema().Equal(schemas.NVTX.Schema()) || !r.Schema().Metadata().Equal(schemas.NVTX.Schema().Metadata()) {
			t.Fatalf("spool schema %s", r.Schema())
		}
		var got []string
		for i := range r.NumRecords() {
			rec, err := r.RecordBatch(i)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, rowKeys(rec)...)
		}
		if len(got) != len(want) || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("lz4 %v: read back %d rows, want %d in order", lz4, len(got), len(want))
		}
		r.Close()
		f.Close()
		mem.AssertSize(t, 0)
	}
}

func TestCreateSpoolRefuses(t *testing.T) {
	s := newStaging(t, t.TempDir())
	for _, name := range []string{"", ".", "..", "a/b", `a\b`} {
		if _, err := s.CreateSpool(schemas.Kernels, name, SpoolOptions{}); err == nil {
			t.Errorf("CreateSpool(%q) succeeded", name)
		}
	}
	sp, err := s.CreateSpool(schemas.Kernels, "w1", SpoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if _, err := s.CreateSpool(schemas.Kernels, "w1", SpoolOptions{}); err == nil {
		t.Error("a second spool of the same name and table was created")
	}
	if sp2, err := s.CreateSpool(schemas.NVTX, "w1", SpoolOptions{}); err != nil {
		t.Errorf("spool of another table under the same name: %v", err)
	} else {
		sp2.Close()
	}
}
