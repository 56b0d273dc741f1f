package runner

// host.go: what the runner learns about the host and checks before a batch —
// the host name, GPU inventory, NUMA topology and the GPU's node
// (hostFacts), the GPUs' locality against `nvidia-smi topo -m`
// (checkTopology), each run's placement and its run-ID word (placeRuns,
// placementWord), the tools the runs need (preflight) and the OS text.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"vitlab/collectors/batchdir"
	"vitlab/collectors/nsys"
	"vitlab/collectors/numa"
	"vitlab/collectors/nvsmi"
	"vitlab/collectors/plan"
)

// hostFacts gathers the host name, GPUs, the chosen GPU's NUMA node and
// the NUMA topology, and checks the GPUs' locality against `nvidia-smi
// topo -m` (checkTopology). Missing NVML, sysfs or nvidia-smi are
// warnings, not errors.
func (r *runner) hostFacts(ctx context.Context) error {
	r.host = r.cfg.Host
	if r.host == "" {
		h, err := os.Hostname()
		if err != nil {
			h = "unknown-host"
		}
		r.host = h
	}
	r.host = sanitize(r.host)
	r.gpu = batchdir.GPU{Index: r.cfg.GPU}
	if r.cfg.GPUs != nil {
		gpus, err := r.cfg.GPUs()
		switch {
		case err != nil:
			r.warnings = append(r.warnings, fmt.Sprintf("GPU inventory: %v", err))
		case r.cfg.GPU < 0 || r.cfg.GPU >= len(gpus):
			return fmt.Errorf("runner: --gpu %d: the host has %d GPU(s) (NVML indices 0-%d)", r.cfg.GPU, len(gpus), len(gpus)-1)
		default:
			r.gpus = gpus
			r.gpu = gpus[r.cfg.GPU]
		}
	}
	if bus := r.cfg.GPUBusID; bus != "" {
		if r.gpu.BusID != "" && numa.NormalizeBusID(r.gpu.BusID) != numa.NormalizeBusID(bus) {
			return fmt.Errorf("runner: --gpu-bus %s: NVML says GPU %d is at %s", bus, r.cfg.GPU, r.gpu.BusID)
		}
		r.gpu.BusID = numa.NormalizeBusID(bus)
	}
	r.numactl = r.cfg.Numactl
	if r.numactl == "" {
		if p, err := exec.LookPath("numactl"); err == nil {
			r.numactl = p
		}
	}
	topo, err := numa.Host(ctx, r.cfg.SysRoot, r.numactl)
	if err != nil {
		r.warnings = append(r.warnings, fmt.Sprintf("NUMA topology unknown: %v", err))
	}
	r.topo = topo
	r.gpuNode = r.gpu.NUMANode
	if r.gpuNode == nil && r.gpu.BusID != "" {
		pci, err := numa.ReadPCI(r.cfg.SysRoot, r.gpu.BusID)
		if err != nil {
			r.warnings = append(r.warnings, fmt.Sprintf("GPU %d NUMA node: %v", r.cfg.GPU, err))
		}
		r.gpuNode = pci.Node
		if r.gpu.CPUAffinity == "" {
			r.gpu.CPUAffinity = pci.LocalCPUs
		}
	}
	if r.gpuNode != nil {
		n := *r.gpuNode
		r.gpu.NUMANode = &n
	}
	if r.cfg.GPU < len(r.gpus) {
		r.gpus[r.cfg.GPU] = r.gpu
	}
	// The other GPUs' locality, where NVML gives none, from sysfs as for
	// the chosen one: batch.json then says where every GPU of the host
	// sits, and a batch sharded over them (--gpus) is checked whole.
	for i, g := range r.gpus {
		if i == r.cfg.GPU || g.BusID == "" || (g.NUMANode != nil && g.CPUAffinity != "") {
			continue
		}
		if pci, err := numa.ReadPCI(r.cfg.SysRoot, g.BusID); err == nil {
			if g.NUMANode == nil {
				r.gpus[i].NUMANode = pci.Node
			}
			if g.CPUAffinity == "" {
				r.gpus[i].CPUAffinity = pci.LocalCPUs
			}
		}
	}
	r.checkTopology(ctx)
	return nil
}

// checkTopology records `nvidia-smi topo -m` and checks the GPUs' NUMA
// node and CPU affinity against it (collectors/nvsmi): each disagreement,
// and a topology that cannot be read, is a batch warning.
func (r *runner) checkTopology(ctx context.Context) {
	if r.cfg.TopoMatrix == nil {
		return
	}
	text, err := r.cfg.TopoMatrix(ctx)
	if err != nil {
		r.warnings = append(r.warnings, fmt.Sprintf("GPU topology not checked: %v", err))
		return
	}
	r.smiTopo = nvsmi.Cut(text)
	t, err := nvsmi.Parse(text)
	if err != nil {
		r.warnings = append(r.warnings, fmt.Sprintf("GPU topology not checked: %v", err))
		return
	}
	gpus := r.gpus
	if len(gpus) == 0 {
		if r.gpu.BusID == "" && r.gpu.NUMANode == nil {
			return // nothing known to check
		}
		// No NVML: the one GPU of --gpu-bus, from sysfs, against its row.
		gpus = []batchdir.GPU{r.gpu}
		t.GPUs = slices.DeleteFunc(t.GPUs, func(g nvsmi.GPU) bool { return g.Index != r.gpu.Index })
	}
	r.warnings = append(r.warnings, nvsmi.Check(t, gpus, len(r.topo.Nodes))...)
}

func sanitize(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "host"
	}
	return b.String()
}

// placeRuns resolves every run's NUMA placement on this host and names the
// run after it: the ID's numa token says what really happened — nlocal or
// nremote when bound, nnone when unbound (asked for none, or for local
// where the GPU's node is unknown), nunavailable when the host cannot give
// the placement (the run is recorded, not run). Two runs that become the
// same run on this host (none and an unbindable local) are merged, with a
// batch warning.
func (r *runner) placeRuns() {
	var runs []plan.Run
	seen := map[string]string{}
	for _, run := range r.x.Runs {
		b, err := numa.Resolve(r.topo, r.gpuNode, run.NUMA)
		b.Placement.Requested = run.NUMA
		named := run.WithPlacement(placementWord(b, err))
		if first, dup := seen[named.ID]; dup {
			if named.Repeat == 1 {
				r.warnings = append(r.warnings, fmt.Sprintf("run %s (numa %s) is the same as %s on this host: not run twice", run.ID, run.NUMA, first))
			}
			continue
		}
		seen[named.ID] = run.ID
		runs = append(runs, named)
		r.allBinds = append(r.allBinds, b)
		r.allBindErrs = append(r.allBindErrs, err)
	}
	r.x.Runs = runs
}

// placementWord is the run-ID word of a resolved placement.
func placementWord(b numa.Binding, err error) string {
	switch {
	case err != nil:
		return "unavailable"
	case b.Node >= 0:
		return b.Placement.Placement
	}
	return "none"
}

// preflight checks, before anything is written, that every tool the runs
// need is there.
func (r *runner) preflight(ctx context.Context) error {
	if r.cfg.Nsys == nil {
		return fmt.Errorf("runner: %w", nsys.ErrNotFound)
	}
	v, err := r.cfg.Nsys.Version(ctx)
	if err != nil {
		return err
	}
	r.nsysVer = v
	if _, err := exec.LookPath(r.cfg.Python); err != nil {
		return fmt.Errorf("runner: python %q: %w (give --python)", r.cfg.Python, err)
	}
	for i, b := range r.binds {
		if r.bindErrs[i] == nil && b.Node >= 0 && r.numactl == "" {
			return fmt.Errorf("runner: run %s needs numactl (NUMA %s), which is not on PATH", r.runs[i].ID, r.runs[i].NUMA)
		}
	}
	return nil
}

func osText(root string) string {
	rel, err := os.ReadFile(filepath.Join(root, "proc", "sys", "kernel", "osrelease"))
	if err != nil {
		return "linux"
	}
	return "linux " + strings.TrimSpace(string(rel))
}
