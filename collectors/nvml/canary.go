package nvml

import "time"

// CanaryIterations is the fixed amount of work of the CPU canary: rounds of
// a xorshift64 step (three dependent shift-xors) with a multiply-add of its
// state into an accumulator. It never changes, so that cpu_canary_ns
// compares across runs, batches and hosts: a host whose cores run the same
// integer work slower shows a larger value. At 20,000 rounds the canary takes
// ~28 µs on the development machine's AMD EPYC (median of 2,001: 28,412 ns,
// ~1.4 ns a round, the shift-xor chain's latency) and would take ~40 µs on
// a 3 GHz core without boost: under 0.1 % of one core at the default 50 ms
// interval.
const CanaryIterations = 20000

// canarySink keeps the canary's result alive, so that the compiler cannot
// drop the loop.
var canarySink uint64

// canaryWork runs n rounds of the canary's integer work and returns its
// accumulator. It touches no memory but registers and does not allocate.
func canaryWork(n int) uint64 {
	x, acc := uint64(0x9e3779b97f4a7c15), uint64(0)
	for i := 0; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		acc += x * 0xff51afd7ed558ccd
	}
	return acc
}

// timeCanary runs n rounds of the canary and returns their wall time in ns
// (the monotonic clock): time the host took to run a constant amount of
// CPU work on the sampler's thread, whatever it was doing meanwhile
// (another tenant on the same physical core, a throttled core, the guest
// descheduled), none of which CPU steal need show.
func timeCanary(n int) int64 {
	start := time.Now()
	canarySink += canaryWork(n)
	return max(time.Since(start).Nanoseconds(), 1)
}
