package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"vitlab/collectors/batchdir"
	"vitlab/collectors/nvsmi"
)

// twoSocket224 writes the sysfs of a two-socket host with 224 CPUs (node 0:
// 0-55,112-167; node 1: 56-111,168-223) and a GPU on each node at
// 0000:18:00.0 and 0000:9a:00.0; node1 overrides the second GPU's
// numa_node (e.g. "-1").
func twoSocket224(t *testing.T, node1 string) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"sys/devices/system/node/node0/cpulist":          "0-55,112-167",
		"sys/devices/system/node/node0/distance":         "10 21",
		"sys/devices/system/node/node1/cpulist":          "56-111,168-223",
		"sys/devices/system/node/node1/distance":         "21 10",
		"sys/bus/pci/devices/0000:18:00.0/numa_node":     "0",
		"sys/bus/pci/devices/0000:18:00.0/local_cpulist": "0-55,112-167",
		"sys/bus/pci/devices/0000:9a:00.0/numa_node":     node1,
		"sys/bus/pci/devices/0000:9a:00.0/local_cpulist": "56-111,168-223",
	}
	if node1 == "-1" {
		files["sys/bus/pci/devices/0000:9a:00.0/local_cpulist"] = "0-223"
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// smiText is `nvidia-smi topo -m` of two GPUs with the given CPU and NUMA
// affinity cells.
func smiText(cpu0, node0, cpu1, node1 string) string {
	return "\tGPU0\tGPU1\tCPU Affinity\tNUMA Affinity\tGPU NUMA ID\n" +
		"GPU0\t X \tSYS\t" + cpu0 + "\t" + node0 + "\t\tN/A\n" +
		"GPU1\tSYS\t X \t" + cpu1 + "\t" + node1 + "\t\tN/A\n\nLegend:\n\n  X    = Self\n"
}

// TestCheckTopology runs hostFacts on a two-socket host of 224 CPUs whose
// NVML gives bus ids but no NUMA node (a driver without
// nvmlDeviceGetNumaNodeId) and checks what batch.json would record (every
// GPU's node and CPUs from sysfs, the nvidia-smi text) and the warnings.
func TestCheckTopology(t *testing.T) {
	agree := smiText("0-55,112-167", "0", "56-111,168-223", "1")
	inventory := func() ([]batchdir.GPU, error) {
		return []batchdir.GPU{
			{Index: 0, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-a", BusID: "0000:18:00.0"},
			{Index: 1, Name: "NVIDIA H100 80GB HBM3", UUID: "GPU-b", BusID: "0000:9a:00.0"},
		}, nil
	}
	for _, tc := range []struct {
		name     string
		gpu      int
		node1    string // sysfs numa_node of GPU 1
		nvml     bool   // NVML inventory; else --gpu-bus of GPU 1 in NVML's form
		topo     string
		topoErr  error
		wantGPUs string // index:node:cpus of each recorded GPU
		want     []string
	}{
		{name: "agree", node1: "1", nvml: true, topo: agree,
			wantGPUs: "0:0:0-55,112-167 1:1:56-111,168-223"},
		{name: "agree, shard of GPU 1", gpu: 1, node1: "1", nvml: true, topo: agree,
			wantGPUs: "0:0:0-55,112-167 1:1:56-111,168-223"},
		{name: "node disagrees", node1: "0", nvml: true, topo: agree,
			wantGPUs: "0:0:0-55,112-167 1:0:56-111,168-223",
			want:     []string{"GPU 1 (0000:9a:00.0): nvidia-smi topo -m says NUMA affinity 1, NVML/sysfs numa_node 0"}},
		{name: "CPUs disagree", node1: "1", nvml: true, topo: smiText("0-55,112-167", "0", "0-55,112-167", "1"),
			wantGPUs: "0:0:0-55,112-167 1:1:56-111,168-223",
			want:     []string{"GPU 1 (0000:9a:00.0): nvidia-smi topo -m says CPU affinity 0-55,112-167, NVML/sysfs cpu_affinity 56-111,168-223"}},
		{name: "sysfs -1, nvidia-smi N/A", node1: "-1", nvml: true, topo: smiText("0-55,112-167", "0", "0-223", "N/A"),
			wantGPUs: "0:0:0-55,112-167 1:unknown:0-223"},
		{name: "sysfs -1, nvidia-smi knows", node1: "-1", nvml: true, topo: smiText("0-55,112-167", "0", "0-223", "1"),
			wantGPUs: "0:0:0-55,112-167 1:unknown:0-223",
			want:     []string{"GPU 1 (0000:9a:00.0): nvidia-smi topo -m says NUMA affinity 1, but NVML and sysfs gave no node"}},
		{name: "no NVML, --gpu-bus in NVML form", gpu: 1, node1: "1", topo: smiText("N/A", "N/A", "56-111,168-223", "1"),
			wantGPUs: "",
			want:     nil},
		{name: "no NVML, --gpu-bus, node disagrees", gpu: 1, node1: "1", topo: smiText("N/A", "N/A", "56-111,168-223", "0"),
			wantGPUs: "",
			want:     []string{"GPU 1 (0000:9a:00.0): nvidia-smi topo -m says NUMA affinity 0, NVML/sysfs numa_node 1"}},
		{name: "nvidia-smi fails", node1: "1", nvml: true, topoErr: errors.New("nvsmi: nvidia-smi topo -m: exit status 9: Driver/library version mismatch"),
			wantGPUs: "0:0:0-55,112-167 1:1:56-111,168-223",
			want:     []string{"GPU topology not checked: nvsmi: nvidia-smi topo -m: exit status 9: Driver/library version mismatch"}},
		{name: "not a table", node1: "1", nvml: true, topo: "No devices were found\n",
			wantGPUs: "0:0:0-55,112-167 1:1:56-111,168-223",
			want:     []string{"GPU topology not checked: nvsmi: nvidia-smi topo -m line 1: header \"No devices were found\" has no GPU0 column"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{GPU: tc.gpu, SysRoot: twoSocket224(t, tc.node1), Numactl: "numactl", Host: "h"}
			if tc.nvml {
				cfg.GPUs = inventory
			} else {
				cfg.GPUBusID = "00000000:9A:00.0"
			}
			cfg.TopoMatrix = func(context.Context) (string, error) { return tc.topo, tc.topoErr }
			r := &runner{cfg: cfg}
			if err := r.hostFacts(context.Background()); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, g := range r.gpus {
				node := "unknown"
				if g.NUMANode != nil {
					node = fmt.Sprint(*g.NUMANode)
				}
				got = append(got, fmt.Sprintf("%d:%s:%s", g.Index, node, g.CPUAffinity))
			}
			if s := strings.Join(got, " "); s != tc.wantGPUs {
				t.Errorf("GPUs %q, want %q", s, tc.wantGPUs)
			}
			if len(r.warnings) != len(tc.want) {
				t.Fatalf("warnings %q, want %d starting %q", r.warnings, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(r.warnings[i], w) {
					t.Errorf("warning %d: %q, want it to start %q", i, r.warnings[i], w)
				}
			}
			if tc.topoErr == nil && r.smiTopo != tc.topo {
				t.Errorf("recorded topology %q", r.smiTopo)
			}
			if !tc.nvml && (r.gpu.BusID != "0000:9a:00.0" || r.gpu.NUMANode == nil || *r.gpu.NUMANode != 1) {
				t.Errorf("--gpu-bus GPU: %+v", r.gpu)
			}
		})
	}
}

// TestCheckTopologyRecorded checks that batch.json gets the text, cut to
// nvsmi.MaxText, from the batch's creator and from a shard that joins a
// batch without it.
func TestCheckTopologyRecorded(t *testing.T) {
	long := smiText("0-55,112-167", "0", "56-111,168-223", "1") + strings.Repeat("  NIC9: mlx5_bond_9 (a legend line)\n", 1000)
	r := &runner{cfg: Config{SysRoot: twoSocket224(t, "1"), Numactl: "numactl", Host: "h",
		TopoMatrix: func(context.Context) (string, error) { return long, nil }}}
	if err := r.hostFacts(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(r.smiTopo) > nvsmi.MaxText+64 || !strings.HasPrefix(r.smiTopo, "\tGPU0\tGPU1") || !strings.Contains(r.smiTopo, "[cut: ") {
		t.Errorf("recorded %d bytes: %q…", len(r.smiTopo), r.smiTopo[:80])
	}
}
