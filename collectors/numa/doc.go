// Package numa knows the host's NUMA layout and where a run is bound
// relative to its GPU.
//
// In: the sysfs tree (ReadTopology reads <root>/sys/devices/system/node/
// node*/cpulist, meminfo and distance; ReadPCI reads a GPU's
// <root>/sys/bus/pci/devices/<bus>/numa_node and local_cpulist, where -1
// means the host does not say), or, as a fallback, the text of
// `numactl --hardware` (ParseHardware). The root is a parameter so tests use
// sysfs-shaped testdata.
//
// Out: a batchdir.NUMA topology for batch.json, and for each run a Binding
// (Resolve): the numactl command prefix (`numactl --cpunodebind=N
// --membind=N`) and the batchdir.Placement recorded in run.json.
//
// Placement rules, for a GPU on node G:
//   - local binds CPUs and memory to G;
//   - remote binds both to the node farthest from G by the SLIT distance
//     (ties go to the lowest node id), among nodes that have CPUs. One remote
//     run per configuration keeps the run count and run IDs independent of
//     the host; on the usual two-socket host it is the only other node;
//   - none leaves the process unbound.
//
// A host with one NUMA node, or a GPU whose node is unknown, cannot give a
// remote placement: Resolve returns an error wrapping ErrUnavailable with
// the reason, and the run is recorded as unavailable, never faked. Local
// with an unknown GPU node runs unbound and is recorded as placement
// "unknown"; unbound runs are "local" only on a one-node host whose GPU node
// is known, "unknown" otherwise.
//
// It wraps the numactl command line (it builds it and parses its
// --hardware output); nothing else in vitlab spells numactl's flags.
package numa
