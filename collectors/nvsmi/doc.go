// Package nvsmi is the only code in vitlab that runs nvidia-smi: it reads
// `nvidia-smi topo -m`, the driver's own account of where each GPU sits,
// and checks it against what the collector recorded from NVML and sysfs.
//
// In: the text of `nvidia-smi topo -m` (Run runs it; tests give the text).
// Its shape varies across driver versions: the header's first cell is
// empty and its columns are GPU0…GPUn, then NIC columns on hosts with
// network cards (NIC0… on recent drivers, mlx5_0… on older ones), then
// "CPU Affinity", "NUMA Affinity" (absent from older drivers) and "GPU NUMA
// ID" (recent drivers only; a node of its own only where the GPU's memory
// is a NUMA node, e.g. Grace Hopper, else N/A). Cells are separated
// by tabs, padded with extra tabs where a header is wide; the header may be
// underlined with ANSI escapes; NIC rows follow the GPU rows; a blank line
// and the legends ("Legend:", "NIC Legend:") end the table. A cell says
// N/A where the driver does not know (a VM whose GPU has numa_node -1).
//
// Out: Parse gives each GPU row's CPU affinity (a cpulist such as
// "0-47,96-143") and NUMA affinity; Check compares them with the
// batch.json GPUs (NVML's numa_node and cpu_affinity, else sysfs's
// numa_node and local_cpulist) and returns one warning per disagreement,
// naming the GPU and both values. The collector records the text itself
// in batch.json (Cut bounds it) and the warnings in batch.json's
// warnings.
//
// A cell that says N/A is no claim, so it is never a disagreement. NVML's
// CPU affinity (nvmlDeviceGetCpuAffinity: the CPUs of the GPU's node) and
// nvidia-smi's come from the same driver, so on a healthy host they agree;
// where they do not, either the driver and the kernel disagree about the
// GPU's node (a BIOS or VM that hides the SLIT), or the collector read
// another GPU than nvidia-smi numbers so (CUDA_VISIBLE_DEVICES does not
// change NVML's or nvidia-smi's numbering; both are PCI bus order).
package nvsmi
