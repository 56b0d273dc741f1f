package nvsmi

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"vitlab/collectors/batchdir"
	"vitlab/collectors/numa"
)

// MaxText bounds the text of `nvidia-smi topo -m` kept in batch.json. An
// 8-GPU host with 12 NICs prints about 4 KiB, legends included.
const MaxText = 16 << 10

// Column names of the affinity columns, as nvidia-smi prints them.
const (
	ColCPUAffinity  = "CPU Affinity"
	ColNUMAAffinity = "NUMA Affinity"
	ColGPUNUMAID    = "GPU NUMA ID"
)

// Topo is the GPU rows of `nvidia-smi topo -m`.
type Topo struct {
	// Columns are the header's columns, in order (GPU0…, NICs, the
	// affinity columns).
	Columns []string
	GPUs    []GPU
}

// GPU is one GPU row.
type GPU struct {
	// Index is n of the row's label GPUn: nvidia-smi's index, which is
	// NVML's.
	Index int
	// CPUAffinity is the "CPU Affinity" cell as a cpulist; "" for N/A or
	// where the table has no such column.
	CPUAffinity string
	// NUMAAffinity is the "NUMA Affinity" cell as a list of nodes ("1",
	// or "0-1" where the GPU is local to several); "" for N/A or where the
	// table has no such column.
	NUMAAffinity string
	// GPUNUMAID is the "GPU NUMA ID" cell: the NUMA node of the GPU's own
	// memory; nil for N/A or where the table has no such column.
	GPUNUMAID *int
}

var (
	ansiRE   = regexp.MustCompile("\x1b\\[[0-9;]*m")
	gpuRowRE = regexp.MustCompile(`^GPU([0-9]+)$`)
)

// Parse reads the GPU rows of the text of `nvidia-smi topo -m`. Errors say
// which line is wrong and how.
func Parse(text string) (Topo, error) {
	text = ansiRE.ReplaceAllString(strings.ReplaceAll(text, "\r", ""), "")
	lines := strings.Split(text, "\n")
	head := slices.IndexFunc(lines, func(l string) bool { return strings.TrimSpace(l) != "" })
	if head < 0 {
		return Topo{}, fmt.Errorf("nvsmi: nvidia-smi topo -m printed nothing")
	}
	// The affinity columns' names hold spaces; every other header cell and
	// every cell of a GPU row is one word, so the rows split on white space
	// whether the text has its tabs or was copied with spaces.
	h := lines[head]
	multi := []string{ColGPUNUMAID, ColCPUAffinity, ColNUMAAffinity}
	for _, c := range multi {
		h = strings.ReplaceAll(h, c, strings.ReplaceAll(c, " ", "\x00"))
	}
	var t Topo
	for _, c := range strings.Fields(h) {
		t.Columns = append(t.Columns, strings.ReplaceAll(c, "\x00", " "))
	}
	if !slices.Contains(t.Columns, "GPU0") {
		return Topo{}, fmt.Errorf("nvsmi: nvidia-smi topo -m line %d: header %q has no GPU0 column", head+1, strings.TrimSpace(lines[head]))
	}
	col := func(name string) int { return slices.Index(t.Columns, name) }
	cpuCol, numaCol, idCol := col(ColCPUAffinity), col(ColNUMAAffinity), col(ColGPUNUMAID)
	for i := head + 1; i < len(lines); i++ {
		cells := strings.Fields(lines[i])
		if len(cells) == 0 || strings.HasSuffix(cells[0], ":") {
			break // the blank line or "Legend:" after the table
		}
		m := gpuRowRE.FindStringSubmatch(cells[0])
		if m == nil {
			continue // a NIC row
		}
		cells = cells[1:]
		if len(cells) != len(t.Columns) {
			return Topo{}, fmt.Errorf("nvsmi: nvidia-smi topo -m line %d: %d cells for the header's %d columns", i+1, len(cells), len(t.Columns))
		}
		g := GPU{}
		g.Index, _ = strconv.Atoi(m[1])
		cell := func(c int) string {
			if c < 0 || cells[c] == "N/A" {
				return ""
			}
			return cells[c]
		}
		if s := cell(cpuCol); s != "" {
			if _, err := numa.ParseCPUList(s); err != nil {
				return Topo{}, fmt.Errorf("nvsmi: nvidia-smi topo -m line %d: GPU%d %s: %w", i+1, g.Index, ColCPUAffinity, err)
			}
			g.CPUAffinity = s
		}
		if s := cell(numaCol); s != "" {
			if _, err := numa.ParseCPUList(s); err != nil {
				return Topo{}, fmt.Errorf("nvsmi: nvidia-smi topo -m line %d: GPU%d %s %q: want a node or a list of nodes", i+1, g.Index, ColNUMAAffinity, s)
			}
			g.NUMAAffinity = s
		}
		if s := cell(idCol); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return Topo{}, fmt.Errorf("nvsmi: nvidia-smi topo -m line %d: GPU%d %s %q: want a node or N/A", i+1, g.Index, ColGPUNUMAID, s)
			}
			g.GPUNUMAID = &n
		}
		t.GPUs = append(t.GPUs, g)
	}
	if len(t.GPUs) == 0 {
		return Topo{}, fmt.Errorf("nvsmi: nvidia-smi topo -m: no GPU rows under the header (line %d)", head+1)
	}
	return t, nil
}

// Cut bounds text to MaxText bytes (at a line end where it can), saying so.
func Cut(text string) string {
	if len(text) <= MaxText {
		return text
	}
	cut := text[:MaxText]
	if i := strings.LastIndexByte(cut, '\n'); i > 0 {
		cut = cut[:i+1]
	}
	return cut + fmt.Sprintf("[cut: %d of %d bytes kept]\n", len(cut), len(text))
}

// Run runs `exe topo -m` and returns what it printed.
func Run(ctx context.Context, exe string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, exe, "topo", "-m")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(string(out))
		}
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		if msg != "" {
			return "", fmt.Errorf("nvsmi: %s topo -m: %w: %s", exe, err, msg)
		}
		return "", fmt.Errorf("nvsmi: %s topo -m: %w", exe, err)
	}
	return string(out), nil
}

// Check compares the topology with the GPUs the collector recorded (NVML's
// inventory, each GPU's numa_node and cpu_affinity completed from sysfs)
// and returns one warning per disagreement, naming the GPU and both
// values. A GPU of one list missing from the other is a disagreement too;
// N/A, or a value the collector does not have, is none. hostNodes is the
// number of NUMA nodes the host has (sysfs or numactl; 0 when unknown): on
// a one-node host a GPU whose node NVML and sysfs leave unknown (the usual
// numa_node -1 of a virtual machine) while nvidia-smi names that one node
// is no disagreement, since there is no other place to put its runs.
func Check(t Topo, gpus []batchdir.GPU, hostNodes int) []string {
	var out []string
	seen := map[int]bool{}
	for _, tg := range t.GPUs {
		seen[tg.Index] = true
		i := slices.IndexFunc(gpus, func(g batchdir.GPU) bool { return g.Index == tg.Index })
		if i < 0 {
			if len(gpus) > 0 {
				out = append(out, fmt.Sprintf("nvidia-smi topo -m lists GPU%d, which the GPU inventory (NVML) does not", tg.Index))
			}
			continue
		}
		g := gpus[i]
		name := fmt.Sprintf("GPU %d", g.Index)
		if g.BusID != "" {
			name += " (" + g.BusID + ")"
		}
		if tg.NUMAAffinity != "" {
			nodes, _ := numa.ParseCPUList(tg.NUMAAffinity)
			switch {
			case g.NUMANode == nil && hostNodes == 1 && len(nodes) == 1:
				// one node: nothing to place
			case g.NUMANode == nil:
				out = append(out, fmt.Sprintf("%s: nvidia-smi topo -m says NUMA affinity %s, but NVML and sysfs gave no node (numa_node -1): its runs are placed as unknown",
					name, tg.NUMAAffinity))
			case !slices.Contains(nodes, *g.NUMANode):
				out = append(out, fmt.Sprintf("%s: nvidia-smi topo -m says NUMA affinity %s, NVML/sysfs numa_node %d: its local and remote runs are bound by numa_node %d",
					name, tg.NUMAAffinity, *g.NUMANode, *g.NUMANode))
			}
		}
		if tg.CPUAffinity != "" && g.CPUAffinity != "" {
			a, _ := numa.ParseCPUList(tg.CPUAffinity)
			b, err := numa.ParseCPUList(g.CPUAffinity)
			switch {
			case err != nil:
				out = append(out, fmt.Sprintf("%s: cpu_affinity %q recorded from NVML/sysfs is not a cpulist (nvidia-smi topo -m says %s)", name, g.CPUAffinity, tg.CPUAffinity))
			case numa.FormatCPUList(a) != numa.FormatCPUList(b):
				out = append(out, fmt.Sprintf("%s: nvidia-smi topo -m says CPU affinity %s, NVML/sysfs cpu_affinity %s",
					name, tg.CPUAffinity, g.CPUAffinity))
			}
		}
	}
	for _, g := range gpus {
		if !seen[g.Index] {
			out = append(out, fmt.Sprintf("GPU %d is in the GPU inventory (NVML) but not in nvidia-smi topo -m", g.Index))
		}
	}
	return out
}
