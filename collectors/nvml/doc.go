// Package nvml is vitlab's only user of NVIDIA's management library, through
// github.com/NVIDIA/go-nvml, which loads libnvidia-ml.so.1 at run time (no
// build tag; the cgo build prints deprecation warnings, which are harmless).
//
// In: the NVML library of the host, if any. Open fails softly: on a host
// without it (CI, a laptop) it returns an error wrapping ErrUnavailable,
// and the collector goes on without GPU inventory or GPU readings, saying so
// in batch.json; its samples (StartCanarySampler) then carry the CPU canary
// alone.
//
// Out: the GPU inventory as batchdir.GPU values (Lib.Devices: name, UUID,
// PCI bus id in sysfs form, memory, driver, CUDA compute capability, NUMA
// node where NVML reports it, CPU affinity as a cpulist, the enforced power
// limit from nvmlDeviceGetEnforcedPowerLimit in mW), and a Sampler that
// writes one batchdir.Sample per interval (SM and memory clocks, power,
// temperature, GPU and memory utilisation, memory used, the total-energy
// counter, the clocks event (throttle) reasons bitmask, the phase, the CPU
// canary's time) as JSON
// lines to nvml.jsonl until stopped, and
// Lib.EnergyCounter, which reads the total-energy counter
// (nvmlDeviceGetTotalEnergyConsumption, mJ) on demand: the runner reads it
// at each window edge the workload announces. A reading the GPU does not support is left out
// of the sample rather than written as zero.
//
// The clocks event reasons come from nvmlDeviceGetCurrentClocksEventReasons
// where the library has that symbol, else from the older
// nvmlDeviceGetCurrentClocksThrottleReasons (same bitmask), else they are
// not read; a GPU that answers NOT_SUPPORTED gets samples without them.
// They tell a power cap (0x4 SW power cap) from a thermal or hardware
// slowdown (0x8, 0x20, 0x40, 0x80): queries/metrics/run_validity.sql.
//
// The CPU canary: before each sample the sampler times a constant amount of
// integer work (CanaryIterations rounds of xorshift64 and a multiply-add,
// ~28 µs, no memory but registers, no allocation) and records its wall time
// as cpu_canary_ns. On a lent VM whose cores a neighbour slows (SMT
// siblings, shared caches), CPU steal stays near zero while the canary's time
// grows: the launch-bound forward slows with it (queries/metrics/
// run_validity.sql, host_slow).
//
// NVML's power reading (nvmlDeviceGetPowerUsage) is the board's own
// averaged value on recent GPUs, not an instantaneous one.
package nvml
