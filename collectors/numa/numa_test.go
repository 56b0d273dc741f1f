package numa

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"vitlab/collectors/batchdir"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the want sections of testdata/*.txtar")

// TestSysfs builds each testdata/*.txtar as a sysfs tree in a temporary
// directory (gpu holds the NVML bus id of the GPU, want the expected
// report) and checks topology, GPU locality and every placement.
func TestSysfs(t *testing.T) {
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
			root := t.TempDir()
			var bus string
			wantIdx := -1
			for i, f := range ar.Files {
				switch f.Name {
				case "gpu":
					bus = strings.TrimSpace(string(f.Data))
				case "want":
					wantIdx = i
				default:
					p := filepath.Join(root, f.Name)
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			if wantIdx < 0 {
				t.Fatal("no want section")
			}
			got := report(root, bus)
			if got != string(ar.Files[wantIdx].Data) {
				if *rewrite {
					ar.Files[wantIdx].Data = []byte(got)
					if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				t.Errorf("got:\n%s\nwant:\n%s", got, ar.Files[wantIdx].Data)
			}
		})
	}
}

func report(root, bus string) string {
	var b strings.Builder
	topo, err := ReadTopology(root)
	if err != nil {
		fmt.Fprintf(&b, "topology: error: %s\n", strings.ReplaceAll(err.Error(), root, "$ROOT"))
	} else {
		fmt.Fprintf(&b, "topology: source=%s", topo.Source)
		for _, n := range topo.Nodes {
			fmt.Fprintf(&b, " node%d[cpus=%s mem=%d]", n.ID, n.CPUs, n.MemoryBytes)
		}
		fmt.Fprintf(&b, " distances=%v\n", topo.Distances)
	}
	pci, err := ReadPCI(root, bus)
	if err != nil {
		fmt.Fprintf(&b, "gpu %s: error: %s\n", bus, strings.ReplaceAll(err.Error(), root, "$ROOT"))
	} else {
		fmt.Fprintf(&b, "gpu %s: node=%s local_cpus=%s\n", bus, nodeText(pci.Node), pci.LocalCPUs)
	}
	for _, mode := range []string{"none", "local", "remote"} {
		bd, err := Resolve(topo, pci.Node, mode)
		fmt.Fprintf(&b, "%s: ", mode)
		if err != nil {
			fmt.Fprintf(&b, "unavailable=%v: %v\n", errors.Is(err, ErrUnavailable), err)
			continue
		}
		p := bd.Placement
		fmt.Fprintf(&b, "placement=%s cpu=%q mem=%q gpu_node=%s prefix=%q\n", p.Placement, p.CPUNodes, p.MemNodes, nodeText(p.GPUNode), bd.Prefix("numactl"))
	}
	return b.String()
}

func nodeText(n *int) string {
	if n == nil {
		return "unknown"
	}
	return fmt.Sprint(*n)
}

func TestParseHardware(t *testing.T) {
	// Output of numactl 2.0.16 on a two-socket host (trimmed CPU lists).
	text := `available: 2 nodes (0-1)
node 0 cpus: 0 1 2 3 8 9 10 11
node 0 size: 257508 MB
node 0 free: 250000 MB
node 1 cpus: 4 5 6 7 12 13 14 15
node 1 size: 258040 MB
node 1 free: 251000 MB
node distances:
node   0   1 
  0:  10  21 
  1:  21  10 
`
	topo, err := ParseHardware(text)
	if err != nil {
		t.Fatal(err)
	}
	want := batchdir.NUMA{
		Source: "numactl",
		Nodes: []batchdir.NUMANode{
			{ID: 0, CPUs: "0-3,8-11", MemoryBytes: 257508 << 20},
			{ID: 1, CPUs: "4-7,12-15", MemoryBytes: 258040 << 20},
		},
		Distances: [][]int{{10, 21}, {21, 10}},
	}
	if fmt.Sprint(topo) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", topo, want)
	}
	one := 1
	bd, err := Resolve(topo, &one, "remote")
	if err != nil || bd.Node != 0 {
		t.Errorf("remote of node 1: %+v %v", bd, err)
	}

	if _, err := ParseHardware("No NUMA available on this system\n"); err == nil {
		t.Error("no nodes: want an error")
	}
	if _, err := ParseHardware("node 0 cpus: 0 1\nnode distances:\nnode 0\n  0: 10 20\n"); err == nil {
		t.Error("ragged distance row: want an error")
	}
}

func TestCPUList(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{"0-3,8,10-11", "0-3,8,10-11"},
		{"5", "5"},
		{"", ""},
		{"3,1,2", "1-3"},
	} {
		c, err := ParseCPUList(tc.in)
		if err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		if got := FormatCPUList(c); got != tc.out {
			t.Errorf("%q: got %q want %q", tc.in, got, tc.out)
		}
	}
	for _, bad := range []string{"a", "3-1", "1-", "-1"} {
		if _, err := ParseCPUList(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestNormalizeBusID(t *testing.T) {
	for in, want := range map[string]string{
		"00000000:17:00.0":   "0000:17:00.0", // NVML's form
		"00000000:18:00.0\n": "0000:18:00.0", // as read from a file
		"0000:18:00.0":       "0000:18:00.0", // sysfs's form, unchanged
		"0000:CA:00.0":       "0000:ca:00.0",
		"00000000:9A:00.0":   "0000:9a:00.0",
		"1:02:00.0":          "0001:02:00.0",
		"00010000:01:00.0":   "10000:01:00.0", // a domain above 0xffff (VMD) stays whole
		"10000:01:00.0":      "10000:01:00.0",
		"00000009:01:00.0":   "0009:01:00.0", // Grace Hopper's domain 9
		"weird":              "weird",
		"18:00.0":            "18:00.0", // no domain: not ours to guess
	} {
		if got := NormalizeBusID(in); got != want {
			t.Errorf("%s: got %s want %s", in, got, want)
		}
	}
}

// TestHostFallback checks that Host uses numactl --hardware when sysfs has
// no nodes, with a stand-in numactl.
func TestHostFallback(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "numactl")
	script := "#!/bin/sh\n[ \"$1\" = --hardware ] || exit 2\nprintf 'available: 1 nodes (0)\\nnode 0 cpus: 0 1\\nnode 0 size: 100 MB\\nnode distances:\\nnode   0\\n  0:  10\\n'\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	topo, err := Host(context.Background(), dir, fake)
	if err != nil {
		t.Fatal(err)
	}
	if topo.Source != "numactl" || len(topo.Nodes) != 1 || topo.Nodes[0].CPUs != "0-1" {
		t.Errorf("got %+v", topo)
	}
	if _, err := Host(context.Background(), dir, ""); !errors.Is(err, ErrNoSysfs) {
		t.Errorf("no numactl: got %v, want ErrNoSysfs", err)
	}
}
