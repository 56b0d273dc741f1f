package numa

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"vitlab/collectors/batchdir"
)

// Placements recorded in run.json.
const (
	Local   = "local"
	Remote  = "remote"
	Unknown = "unknown"
)

// ErrUnavailable marks a placement the host cannot give (one NUMA node, or
// the GPU's node unknown). The run is recorded as unavailable, not run.
var ErrUnavailable = errors.New("placement unavailable on this host")

// ErrNoSysfs says the sysfs tree has no NUMA node directories.
var ErrNoSysfs = errors.New("no NUMA nodes in sysfs")

// ReadTopology reads the NUMA nodes under root/sys/devices/system/node.
func ReadTopology(root string) (batchdir.NUMA, error) {
	dir := filepath.Join(root, "sys", "devices", "system", "node")
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return batchdir.NUMA{}, fmt.Errorf("numa: %s: %w", dir, ErrNoSysfs)
		}
		return batchdir.NUMA{}, fmt.Errorf("numa: %w", err)
	}
	nodeRE := regexp.MustCompile(`^node([0-9]+)$`)
	var ids []int
	for _, e := range ents {
		if m := nodeRE.FindStringSubmatch(e.Name()); m != nil {
			id, _ := strconv.Atoi(m[1])
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return batchdir.NUMA{}, fmt.Errorf("numa: %s: %w", dir, ErrNoSysfs)
	}
	sort.Ints(ids)
	topo := batchdir.NUMA{Source: "sysfs"}
	for _, id := range ids {
		nd := filepath.Join(dir, fmt.Sprintf("node%d", id))
		cpus, err := readTrim(filepath.Join(nd, "cpulist"))
		if err != nil {
			return batchdir.NUMA{}, err
		}
		if _, err := ParseCPUList(cpus); err != nil {
			return batchdir.NUMA{}, fmt.Errorf("numa: %s: %w", filepath.Join(nd, "cpulist"), err)
		}
		mem, err := readMemTotal(filepath.Join(nd, "meminfo"))
		if err != nil {
			return batchdir.NUMA{}, err
		}
		topo.Nodes = append(topo.Nodes, batchdir.NUMANode{ID: id, CPUs: cpus, MemoryBytes: mem})
		dist, err := readTrim(filepath.Join(nd, "distance"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return batchdir.NUMA{}, err
		}
		row, err := parseInts(strings.Fields(dist))
		if err != nil || len(row) != len(ids) {
			return batchdir.NUMA{}, fmt.Errorf("numa: %s: want %d distances, got %q", filepath.Join(nd, "distance"), len(ids), dist)
		}
		topo.Distances = append(topo.Distances, row)
	}
	if len(topo.Distances) != len(topo.Nodes) {
		topo.Distances = nil // partial distance information is no information
	}
	return topo, nil
}

func readTrim(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("numa: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// readMemTotal reads "Node N MemTotal: X kB" from a node's meminfo; a missing
// file gives 0.
func readMemTotal(path string) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("numa: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		// Node 0 MemTotal: 263921868 kB
		if len(fs) >= 4 && fs[2] == "MemTotal:" {
			kb, err := strconv.ParseInt(fs[3], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("numa: %s: bad MemTotal %q", path, fs[3])
			}
			return kb * 1024, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("numa: %s: %w", path, err)
	}
	return 0, nil
}

func parseInts(fs []string) ([]int, error) {
	out := make([]int, len(fs))
	for i, f := range fs {
		v, err := strconv.Atoi(f)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// ParseCPUList parses a kernel cpulist such as "0-3,8,10-11" ("" is empty).
func ParseCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad cpulist %q", s)
		}
		b := a
		if isRange {
			b, err = strconv.Atoi(hi)
			if err != nil || b < a {
				return nil, fmt.Errorf("bad cpulist %q", s)
			}
		}
		for c := a; c <= b; c++ {
			out = append(out, c)
		}
	}
	return out, nil
}

// FormatCPUList formats CPU numbers as a kernel cpulist ("0-3,8").
func FormatCPUList(cpus []int) string {
	c := slices.Clone(cpus)
	slices.Sort(c)
	c = slices.Compact(c)
	var parts []string
	for i := 0; i < len(c); {
		j := i
		for j+1 < len(c) && c[j+1] == c[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(c[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", c[i], c[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// NormalizeBusID turns a PCI bus id as NVML prints it
// ("00000000:17:00.0", upper or lower case) into the sysfs form
// ("0000:17:00.0"): the domain in lower case with at least four hex
// digits, as the kernel prints it (%04x), so a domain above 0xffff (VMD,
// some multi-segment hosts: NVML "00010000:01:00.0") stays whole
// ("10000:01:00.0"). A sysfs-form id is returned as it is; text that is
// not domain:bus:device.function is returned trimmed and in lower case.
func NormalizeBusID(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	dom, rest, ok := strings.Cut(id, ":")
	if !ok || strings.Count(rest, ":") != 1 {
		return id
	}
	dom = strings.TrimLeft(dom, "0")
	for len(dom) < 4 {
		dom = "0" + dom
	}
	return dom + ":" + rest
}

// PCI is what sysfs says about a PCI device's NUMA locality.
type PCI struct {
	// Node is the device's NUMA node; nil when sysfs says -1 (unknown).
	Node *int
	// LocalCPUs is the device's local_cpulist ("" when absent).
	LocalCPUs string
}

// ReadPCI reads root/sys/bus/pci/devices/<bus>/numa_node and local_cpulist.
func ReadPCI(root, busID string) (PCI, error) {
	dir := filepath.Join(root, "sys", "bus", "pci", "devices", NormalizeBusID(busID))
	s, err := readTrim(filepath.Join(dir, "numa_node"))
	if err != nil {
		return PCI{}, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return PCI{}, fmt.Errorf("numa: %s: bad numa_node %q", filepath.Join(dir, "numa_node"), s)
	}
	var out PCI
	if n >= 0 {
		out.Node = &n
	}
	if cpus, err := readTrim(filepath.Join(dir, "local_cpulist")); err == nil {
		out.LocalCPUs = cpus
	}
	return out, nil
}

// Binding is where one run is placed.
type Binding struct {
	// Node is the node CPUs and memory are bound to; -1 when unbound.
	Node      int
	Placement batchdir.Placement
}

// Prefix returns the numactl command prefix for the binding, or nil when the
// run is unbound. numactl is the numactl executable.
func (b Binding) Prefix(numactl string) []string {
	if b.Node < 0 {
		return nil
	}
	n := strconv.Itoa(b.Node)
	return []string{numactl, "--cpunodebind=" + n, "--membind=" + n}
}

// Resolve places a run that asks for mode (none, local or remote) on a host
// with topology topo and a GPU on gpuNode (nil: unknown). A placement the
// host cannot give returns an error wrapping ErrUnavailable with the reason.
func Resolve(topo batchdir.NUMA, gpuNode *int, mode string) (Binding, error) {
	unbound := Binding{Node: -1, Placement: batchdir.Placement{GPUNode: gpuNode, Placement: Unknown}}
	known := gpuNode != nil && hasNode(topo, *gpuNode)
	switch mode {
	case "none", "":
		if known && len(topo.Nodes) == 1 {
			unbound.Placement.Placement = Local
		}
		return unbound, nil
	case "local":
		if !known {
			return unbound, nil
		}
		return bind(*gpuNode, gpuNode, Local), nil
	case "remote":
		switch {
		case len(topo.Nodes) == 0:
			return unbound, fmt.Errorf("remote placement: the host's NUMA topology is unknown: %w", ErrUnavailable)
		case len(topo.Nodes) == 1:
			return unbound, fmt.Errorf("remote placement: the host has one NUMA node: %w", ErrUnavailable)
		case gpuNode == nil:
			return unbound, fmt.Errorf("remote placement: the GPU's NUMA node is unknown (sysfs numa_node -1 and NVML gives none): %w", ErrUnavailable)
		case !known:
			return unbound, fmt.Errorf("remote placement: the GPU's NUMA node %d is not among the host's nodes: %w", *gpuNode, ErrUnavailable)
		}
		far, ok := farthest(topo, *gpuNode)
		if !ok {
			return unbound, fmt.Errorf("remote placement: no NUMA node other than the GPU's node %d has CPUs: %w", *gpuNode, ErrUnavailable)
		}
		return bind(far, gpuNode, Remote), nil
	}
	return unbound, fmt.Errorf("numa: unknown placement %q (want none, local or remote)", mode)
}

func bind(node int, gpuNode *int, placement string) Binding {
	n := strconv.Itoa(node)
	return Binding{Node: node, Placement: batchdir.Placement{CPUNodes: n, MemNodes: n, GPUNode: gpuNode, Placement: placement}}
}

func hasNode(topo batchdir.NUMA, id int) bool {
	return slices.ContainsFunc(topo.Nodes, func(n batchdir.NUMANode) bool { return n.ID == id })
}

// farthest returns the node with CPUs farthest from g (ties: lowest id).
// Without distances every other node is equally far.
func farthest(topo batchdir.NUMA, g int) (int, bool) {
	gi := slices.IndexFunc(topo.Nodes, func(n batchdir.NUMANode) bool { return n.ID == g })
	best, bestD := -1, -1
	for i, n := range topo.Nodes {
		if n.ID == g || strings.TrimSpace(n.CPUs) == "" {
			continue
		}
		d := 0
		if len(topo.Distances) == len(topo.Nodes) && gi >= 0 && i < len(topo.Distances[gi]) {
			d = topo.Distances[gi][i]
		}
		if d > bestD {
			best, bestD = n.ID, d
		}
	}
	return best, best >= 0
}

// ParseHardware parses the output of `numactl --hardware`.
func ParseHardware(text string) (batchdir.NUMA, error) {
	topo := batchdir.NUMA{Source: "numactl"}
	byID := map[int]int{} // node id → index in topo.Nodes
	var distHeader []int
	inDist := false
	cpusRE := regexp.MustCompile(`^node (\d+) cpus:(.*)$`)
	sizeRE := regexp.MustCompile(`^node (\d+) size: (\d+) MB$`)
	rowRE := regexp.MustCompile(`^\s*(\d+):((?:\s+\d+)+)\s*$`)
	for ln, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, " \t\r")
		switch {
		case cpusRE.MatchString(line):
			m := cpusRE.FindStringSubmatch(line)
			id, _ := strconv.Atoi(m[1])
			cpus, err := parseInts(strings.Fields(m[2]))
			if err != nil {
				return batchdir.NUMA{}, fmt.Errorf("numa: numactl --hardware line %d: bad cpus %q", ln+1, m[2])
			}
			byID[id] = len(topo.Nodes)
			topo.Nodes = append(topo.Nodes, batchdir.NUMANode{ID: id, CPUs: FormatCPUList(cpus)})
		case sizeRE.MatchString(line):
			m := sizeRE.FindStringSubmatch(line)
			id, _ := strconv.Atoi(m[1])
			mb, _ := strconv.ParseInt(m[2], 10, 64)
			if i, ok := byID[id]; ok {
				topo.Nodes[i].MemoryBytes = mb << 20
			}
		case strings.HasPrefix(line, "node distances:"):
			inDist = true
		case inDist && strings.HasPrefix(line, "node "):
			h, err := parseInts(strings.Fields(strings.TrimPrefix(line, "node ")))
			if err != nil {
				return batchdir.NUMA{}, fmt.Errorf("numa: numactl --hardware line %d: bad distance header", ln+1)
			}
			distHeader = h
		case inDist && rowRE.MatchString(line):
			m := rowRE.FindStringSubmatch(line)
			row, _ := parseInts(strings.Fields(m[2]))
			if len(row) != len(distHeader) {
				return batchdir.NUMA{}, fmt.Errorf("numa: numactl --hardware line %d: %d distances for %d nodes", ln+1, len(row), len(distHeader))
			}
			topo.Distances = append(topo.Distances, row)
		}
	}
	if len(topo.Nodes) == 0 {
		return batchdir.NUMA{}, errors.New("numa: numactl --hardware lists no nodes")
	}
	if len(topo.Distances) != len(topo.Nodes) || !slices.Equal(distHeader, nodeIDs(topo)) {
		topo.Distances = nil
	}
	return topo, nil
}

func nodeIDs(topo batchdir.NUMA) []int {
	ids := make([]int, len(topo.Nodes))
	for i, n := range topo.Nodes {
		ids[i] = n.ID
	}
	return ids
}

// Hardware runs `numactl --hardware` and parses it.
func Hardware(ctx context.Context, numactl string) (batchdir.NUMA, error) {
	out, err := exec.CommandContext(ctx, numactl, "--hardware").Output()
	if err != nil {
		return batchdir.NUMA{}, fmt.Errorf("numa: %s --hardware: %w", numactl, err)
	}
	return ParseHardware(string(out))
}

// Host reads the topology from sysfs under root, falling back to
// `numactl --hardware` when sysfs has no nodes and numactl is given.
func Host(ctx context.Context, root, numactl string) (batchdir.NUMA, error) {
	topo, err := ReadTopology(root)
	if err == nil || !errors.Is(err, ErrNoSysfs) || numactl == "" {
		return topo, err
	}
	t2, err2 := Hardware(ctx, numactl)
	if err2 != nil {
		return batchdir.NUMA{}, fmt.Errorf("%w; fallback: %w", err, err2)
	}
	return t2, nil
}
