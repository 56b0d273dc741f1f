package nvsmi

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"vitlab/collectors/batchdir"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the want sections of testdata/*.txtar")

// TestTopo reads each testdata/*.txtar: topo holds the text of
// `nvidia-smi topo -m` (shapes of several driver versions, written after
// real output), gpus the GPUs as batch.json records them (NVML, sysfs), and
// want what Parse reads and the warnings Check gives (or Parse's error).
func TestTopo(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.txtar")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sec := map[string][]byte{}
			wantIdx := -1
			for i, f := range ar.Files {
				sec[f.Name] = f.Data
				if f.Name == "want" {
					wantIdx = i
				}
			}
			if wantIdx < 0 || sec["topo"] == nil || sec["gpus"] == nil {
				t.Fatal("want sections topo, gpus and want")
			}
			var gpus []batchdir.GPU
			if err := json.Unmarshal(sec["gpus"], &gpus); err != nil {
				t.Fatalf("gpus: %v", err)
			}
			nodes := 0 // the host's NUMA nodes: unknown unless the file says
			if n := strings.TrimSpace(string(sec["nodes"])); n != "" {
				var err error
				if nodes, err = strconv.Atoi(n); err != nil {
					t.Fatalf("nodes: %v", err)
				}
			}
			got := report(string(sec["topo"]), gpus, nodes)
			if got != string(sec["want"]) {
				if *rewrite {
					ar.Files[wantIdx].Data = []byte(got)
					if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				t.Errorf("got:\n%s\nwant:\n%s", got, sec["want"])
			}
		})
	}
}

func report(text string, gpus []batchdir.GPU, nodes int) string {
	var b strings.Builder
	topo, err := Parse(text)
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
		return b.String()
	}
	fmt.Fprintf(&b, "columns: %q\n", topo.Columns)
	for _, g := range topo.GPUs {
		id := "n/a"
		if g.GPUNUMAID != nil {
			id = fmt.Sprint(*g.GPUNUMAID)
		}
		fmt.Fprintf(&b, "GPU%d: cpu_affinity=%q numa_affinity=%q gpu_numa_id=%s\n", g.Index, g.CPUAffinity, g.NUMAAffinity, id)
	}
	ws := Check(topo, gpus, nodes)
	if len(ws) == 0 {
		b.WriteString("warnings: none\n")
	}
	for _, w := range ws {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

func TestCut(t *testing.T) {
	short := "\tGPU0\n"
	if Cut(short) != short {
		t.Error("short text changed")
	}
	long := strings.Repeat(strings.Repeat("x", 99)+"\n", 200) // 20,000 bytes
	got := Cut(long)
	if len(got) > MaxText+64 || !strings.HasSuffix(got, "[cut: 16300 of 20000 bytes kept]\n") {
		t.Errorf("cut to %d bytes, ending %q", len(got), got[len(got)-40:])
	}
}

// TestRun runs a stand-in nvidia-smi: its output, and a failure's stderr
// in the error.
func TestRun(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	ok := filepath.Join(dir, "nvidia-smi")
	os.WriteFile(ok, []byte("#!/bin/sh\n[ \"$1 $2\" = 'topo -m' ] || exit 2\nprintf '\\tGPU0\\tCPU Affinity\\tNUMA Affinity\\nGPU0\\t X \\t0-7\\t0\\n'\n"), 0o755)
	out, err := Run(context.Background(), ok)
	if err != nil {
		t.Fatal(err)
	}
	if topo, err := Parse(out); err != nil || len(topo.GPUs) != 1 || topo.GPUs[0].CPUAffinity != "0-7" {
		t.Errorf("parsed %+v %v", topo, err)
	}
	bad := filepath.Join(dir, "broken-smi")
	os.WriteFile(bad, []byte("#!/bin/sh\necho 'Failed to initialize NVML: Driver/library version mismatch' >&2\nexit 9\n"), 0o755)
	if _, err := Run(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "version mismatch") {
		t.Errorf("failing nvidia-smi: %v", err)
	}
}
