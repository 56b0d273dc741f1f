"""Pure scheduling and sizing logic of the pipeline (no torch), unit-tested.

- async_schedule: the order in which the async pipeline admits, launches and
  retires batches with at most Q in flight.
- split_range / sub_chunk_images: how CPU preprocessing splits a batch.
- pool_batches / memory_plan: buffer sizes, checked before allocating.
- ClockMap: maps CUDA event times onto the host's perf_counter_ns clock.
"""

from vit_settings import DTYPE_BYTES, NUM_CLASSES

ADMIT = "admit"
LAUNCH = "launch"
RETIRE = "retire"


def async_schedule(n, q):
    """async_schedule yields (op, k) for batches k = 0..n-1 of one window of
    the async pipeline, op in (admit, launch, retire).

    A batch is in flight from its admission (its preprocessing is requested)
    until its retirement (the host has seen its D2H complete). At most q
    batches are in flight; batch k is admitted only after batch k-q retired,
    so batch k may reuse the buffers (slot k % q) of batch k-q. Launches and
    retirements are in batch order. Admission runs ahead of launches as far as
    q allows, so with q >= 2 the preprocessing of later batches overlaps the
    GPU work of earlier ones; with q == 1 the pipeline is serial.
    """
    if n < 0 or q < 1:
        raise ValueError("async_schedule needs n >= 0 and q >= 1, got n=%r q=%r" % (n, q))
    admitted = retired = 0
    for i in range(n):
        while admitted <= i:
            if admitted - retired < q:
                yield ADMIT, admitted
                admitted += 1
            else:
                yield RETIRE, retired
                retired += 1
        while admitted < n and admitted - retired < q:
            yield ADMIT, admitted
            admitted += 1
        yield LAUNCH, i
    while retired < n:
        yield RETIRE, retired
        retired += 1


def split_range(n, parts):
    """split_range splits range(n) into at most `parts` contiguous non-empty
    (lo, hi) pieces whose sizes differ by at most one."""
    if n < 0 or parts < 1:
        raise ValueError("split_range needs n >= 0 and parts >= 1")
    parts = min(parts, n)
    out = []
    lo = 0
    for i in range(parts):
        size = n // parts + (1 if i < n % parts else 0)
        out.append((lo, lo + size))
        lo += size
    return out


# SUB_CHUNK_BYTES bounds the float32 intermediates of one CPU preprocessing
# step per worker (source as float + resized float).
SUB_CHUNK_BYTES = 64 << 20


def sub_chunk_images(resolution, source_resolution, budget=SUB_CHUNK_BYTES):
    """sub_chunk_images is how many images a CPU worker converts per step so
    that its float32 intermediates stay under budget (at least 1)."""
    per_image = 3 * 4 * (source_resolution * source_resolution + resolution * resolution)
    return max(1, budget // per_image)


# POOL_BYTES is the target size of the synthetic source image pool.
POOL_BYTES = 1 << 30
MAX_POOL_BATCHES = 4


def pool_batches(batch_size, source_resolution, budget=POOL_BYTES, most=MAX_POOL_BATCHES):
    """pool_batches is how many batches of distinct source images the pool
    holds: as many as fit the budget, between 1 and `most`. Batch seq uses
    pool batch seq % pool_batches."""
    batch_bytes = batch_size * source_resolution * source_resolution * 3
    return max(1, min(most, budget // max(1, batch_bytes)))


def memory_plan(planned, n_pool_batches):
    """memory_plan returns the bytes the pipeline allocates up front:
    {"pinned": host page-locked bytes, "device": GPU buffer bytes (without
    the model and its activations)}."""
    b = planned["batch_size"]
    r = planned["resolution"]
    s = planned["source_resolution"]
    q = planned["queue_depth"]
    elt = DTYPE_BYTES[planned["dtype"]]
    src_batch = b * s * s * 3
    in_batch = b * 3 * r * r * elt
    out_batch = b * NUM_CLASSES * elt
    pinned = n_pool_batches * src_batch + q * out_batch
    device = q * in_batch
    if planned["preprocess"] == "cpu":
        pinned += q * in_batch
    else:
        device += q * src_batch
    return {"pinned": pinned, "device": device}


def check_pinned(pinned_bytes, mem_total_bytes, fraction=0.5):
    """check_pinned returns an error message when the page-locked buffers
    would take more than `fraction` of the host's memory (None when fine or
    when the host's memory is unknown)."""
    if not mem_total_bytes:
        return None
    if pinned_bytes > fraction * mem_total_bytes:
        return ("the pipeline needs %.1f GiB of pinned host memory, more than %d%% of the "
                "host's %.1f GiB; lower batch_size, queue_depth or source_resolution"
                % (pinned_bytes / 2**30, int(fraction * 100), mem_total_bytes / 2**30))
    return None


def mem_total_bytes(meminfo_text):
    """mem_total_bytes parses MemTotal from /proc/meminfo text (None if absent)."""
    for line in meminfo_text.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                unit = parts[2].lower() if len(parts) > 2 else "kb"
                return int(parts[1]) * (1024 if unit == "kb" else 1)
    return None


class ClockMap:
    """ClockMap maps a CUDA event time, given as milliseconds after a
    reference event ev0 (cudaEventElapsedTime), onto the host's monotonic
    clock (time.perf_counter_ns).

    Two calibration points bracket a window: at each, the GPU is idle, an
    event is recorded and synchronised, and the host time is taken as the
    midpoint of the host timestamps just before the record and just after
    the synchronize (so each point is known to within half that interval,
    typically a few microseconds). host0/host1 are those midpoints (ns) and
    gpu_span_ms the event time from point 0 to point 1. The GPU-to-host rate
    is estimated from the two points when the span is long enough
    (>= min_span_ms) and plausible (within max_skew of 1), else taken as 1.
    """

    def __init__(self, host0_ns, host1_ns, gpu_span_ms, min_span_ms=100.0, max_skew=1e-3):
        self.host0_ns = host0_ns
        self.scale = 1.0
        self.note = None
        host_span_ns = host1_ns - host0_ns
        if gpu_span_ms >= min_span_ms and host_span_ns > 0:
            scale = host_span_ns / (gpu_span_ms * 1e6)
            if abs(scale - 1.0) <= max_skew:
                self.scale = scale
            else:
                self.note = ("GPU/host clock rate %.6f is implausible; used 1.0" % scale)

    def host_ns(self, gpu_ms):
        """host_ns returns the host perf_counter_ns time of an event that
        completed gpu_ms after the reference event."""
        return self.host0_ns + gpu_ms * 1e6 * self.scale


def latency_ms(admit_ns, gpu_ms, clock):
    """latency_ms is a batch's latency: from its admission (host ns) to the
    completion of its D2H copy (event time gpu_ms after the reference)."""
    return (clock.host_ns(gpu_ms) - admit_ns) / 1e6
