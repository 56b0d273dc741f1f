package warehouse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Environment of TestCrashHelper, the subprocess that commits one batch.
const (
	helperWH      = "VITLAB_TEST_HELPER_WAREHOUSE"
	helperBatch   = "VITLAB_TEST_HELPER_BATCH"
	helperSeed    = "VITLAB_TEST_HELPER_SEED"
	helperReplace = "VITLAB_TEST_HELPER_REPLACE"
)

// TestCrashHelper is not a test: run by TestCommitKilledAtEveryStep in a
// subprocess, it stages and commits one batch (and may be killed by
// CrashPoint on the way).
func TestCrashHelper(t *testing.T) {
	wh := os.Getenv(helperWH)
	if wh == "" {
		t.Skip("subprocess helper")
	}
	seed, _ := strconv.ParseUint(os.Getenv(helperSeed), 10, 64)
	s, err := NewStaging(context.Background(), wh)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := stageBatch(t, memory.DefaultAllocator, s, os.Getenv(helperBatch), seed, 2)
	c.Replace = os.Getenv(helperReplace) == "1"
	res, err := CommitBatch(context.Background(), wh, c)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("outcome %d generation %d\n", res.Outcome, res.Batch.Generation)
}

// runHelper commits batch in a subprocess killed at step killAt (0: never).
// It reports whether the process was killed.
func runHelper(t *testing.T, wh, batch string, seed uint64, replace bool, killAt int) (killed bool, out string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		helperWH+"="+wh, helperBatch+"="+batch, helperSeed+"="+strconv.FormatUint(seed, 10),
		CrashEnv+"="+strconv.Itoa(killAt))
	if replace {
		cmd.Env = append(cmd.Env, helperReplace+"=1")
	}
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true, string(b)
		}
	}
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, b)
	}
	return false, string(b)
}

// TestCommitKilledAtEveryStep kills a committing process with SIGKILL at
// every step of the commit (and of the recovery it starts with), for a new
// batch and for a replace, and checks after each kill that the manifest
// parses, every listed file reads with its listed rows, the earlier batch is
// intact, the killed batch is all old or all new, and that the next commit
// recovers: it lands and leaves no unlisted file and no staging behind.
func TestCommitKilledAtEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a hundred processes")
	}
	ctx := context.Background()
	base := filepath.Join(t.TempDir(), "base")
	s, err := NewStaging(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CommitBatch(ctx, base, stageBatch(t, memory.DefaultAllocator, s, "b1", 1, 2)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	baseline := checkWarehouse(t, base, false)

	for _, sc := range []struct {
		name    string
		batch   string
		seed    uint64
		replace bool
	}{
		{"new batch", "b2", 2, false},
		{"replace", "b1", 3, true},
	} {
		t.Run(sc.name, func(t *testing.T) {
			want := fmt.Sprintf("%064x", sc.seed)
			for n := 1; ; n++ {
				wh := filepath.Join(t.TempDir(), "wh")
				copyDir(t, base, wh)
				// Leave a dead ingest's staging behind too, so recovery has
				// work at the first steps.
				if err := os.MkdirAll(filepath.Join(wh, StagingDir, "dead"), 0o755); err != nil {
					t.Fatal(err)
				}
				killed, out := runHelper(t, wh, sc.batch, sc.seed, sc.replace, n)
				if !killed {
					if n < 10 {
						t.Fatalf("only %d steps before the commit finished:\n%s", n-1, out)
					}
					t.Logf("%d steps, killed at each", n-1)
					return
				}
				step := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
				m := checkWarehouse(t, wh, true)
				if sc.batch != "b2" && m.Batches["b2"] != nil {
					t.Fatalf("%s: b2 appeared", step)
				}
				got := m.Batches[sc.batch]
				switch {
				case got == nil && sc.replace:
					t.Fatalf("%s: b1 vanished during its replace", step)
				case got == nil:
					// Killed before the commit point: the batch is simply absent.
				case got.ContentSHA256 == want:
					// Killed after the commit point: checkWarehouse read every file.
				case sc.replace && reflect.DeepEqual(got, baseline.Batches["b1"]):
					// Killed before the commit point of the replace.
				default:
					t.Fatalf("%s: batch %s is neither the old nor the new generation: %+v", step, sc.batch, got)
				}
				if !sc.replace && !reflect.DeepEqual(m.Batches["b1"], baseline.Batches["b1"]) {
					t.Fatalf("%s: earlier batch b1 changed", step)
				}

				// The next commit recovers and lands.
				if killed, out := runHelper(t, wh, sc.batch, sc.seed, sc.replace, 0); killed {
					t.Fatalf("rerun killed: %s", out)
				}
				m = checkWarehouse(t, wh, false)
				if m.Batches[sc.batch] == nil || m.Batches[sc.batch].ContentSHA256 != want {
					t.Fatalf("after %s and a rerun, batch %s is not the new content", step, sc.batch)
				}
				if left, _ := os.ReadDir(filepath.Join(wh, StagingDir)); len(left) != 0 {
					t.Fatalf("after %s and a rerun, staging holds %v", step, left)
				}
				if _, err := os.Stat(filepath.Join(wh, manifestTemp)); !os.IsNotExist(err) {
					t.Fatalf("after %s and a rerun, a temporary manifest is left", step)
				}
			}
		})
	}
}

// copyDir copies the regular files and directories of src to dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(src, p)
		d := filepath.Join(dst, r)
		if fi.IsDir() {
			return os.MkdirAll(d, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(d, b, fi.Mode())
	})
	if err != nil {
		t.Fatal(err)
	}
}
