"""Pure scheduling and sizing logic of the pipeline (no torch), unit-tested.

- first_admissions / admit_after_retire: the async pipeline's admission rule
  (at most Q in flight, a batch admitted the moment batch k-Q retired),
  run_async_window: that rule driven with real threads (the pipeline's
  async window), and simulate_async: the timeline it gives with constant
  stage times, for the schedule tests.
- window_batches: how many batches fill a clean window (the estimate);
  WindowStop: the rule that ends it (at least that many, and at least min_s).
- split_range / sub_chunk_images: how CPU preprocessing splits a batch.
- pool_batches / memory_plan: buffer sizes, checked before allocating.
- ClockMap: maps CUDA event times onto the host's perf_counter_ns clock.
"""

import math

from vit_settings import DTYPE_BYTES, NUM_CLASSES

ADMIT = "admit"
LAUNCH = "launch"
RETIRE = "retire"


def first_admissions(n, q):
    """first_admissions are the batches of a window the async pipeline admits
    before its first launch: 0 .. min(q, n) - 1 (the queue primed)."""
    if n < 0 or q < 1:
        raise ValueError("the async pipeline needs n >= 0 and q >= 1, got n=%r q=%r" % (n, q))
    return list(range(min(q, n)))


def admit_after_retire(k, n, q):
    """admit_after_retire is the batch the async pipeline admits as soon as
    batch k retired (k + q, which reuses k's slot k % q), or None.

    Retirement is not "when the slot is needed": a completion thread waits
    for each launched batch's D2H event in order and retires it the moment
    it completes, then admits k + q at once. So while the GPU runs the
    forward of batch k, batches k+1 .. k+q-1 are admitted (their
    preprocessing runs on the CPU workers, or their decode/upload on the GPU's
    preprocessing stream), and the launching thread finds them ready."""
    return k + q if k + q < n else None


class WindowStop:
    """WindowStop decides how many batches a window runs: at least n_min,
    and more while the window has lasted less than min_s when the next batch
    would be admitted. Batches are asked about in order 0, 1, 2, ... (the
    sync loop, or the async completion thread's admissions); the first
    refusal fixes `final`, the window's batch count, and every later batch
    is refused. min_s = 0 gives exactly n_min (warm-up, calibration and the
    traced window). The window therefore ends after min_s whatever the
    batch-time estimate that sized n_min said (it used to be a prediction,
    and 6 of 42 clean windows came out at 1.77-1.97 s for 2 s asked)."""

    def __init__(self, n_min, min_s=0.0, clock=None):
        if n_min < 0 or min_s < 0:
            raise ValueError("a window needs n_min >= 0 and min_s >= 0")
        import time as _time
        self.n_min = n_min
        self.min_s = min_s
        self.clock = clock or _time.perf_counter
        self.t0 = self.clock()
        self.final = None

    def admit(self, k):
        """admit says whether batch k belongs to the window."""
        if self.final is not None:
            return k < self.final
        if k < self.n_min or (self.min_s > 0 and self.clock() - self.t0 < self.min_s):
            return True
        self.final = k
        return False


def run_async_window(stop, q, admit, launch, retire, on_thread=None):
    """run_async_window drives one window of the async pipeline with real
    threads; the pipeline supplies the work, this function the rule (the
    same one simulate_async models, and unit-tested here without a GPU):

    - a completion thread admits batches 0 .. q-1 (the queue primed), then
      for each launched batch k in order calls retire(k) (which waits for
      its D2H) and at once admits k + q;
    - every admission asks stop.admit(k) (WindowStop) first; the first
      refusal fixes the window's batch count, and the batches already
      admitted drain (launched, then retired);
    - the calling (launching) thread launches batch k as soon as it is
      admitted: launch(k) (which, in CPU modes, waits for its preprocessing).

    admit(k), launch(k) and retire(k) are called exactly once per batch of
    the window, admit on the completion thread before launch(k) on the
    caller, retire(k) on the completion thread after launch(k) returned.
    on_thread() runs first on the completion thread (set the CUDA device,
    enter the grad mode: return a context manager, or None). An exception in
    either thread stops both and is raised here. Returns the batch count."""
    import queue as _queue
    import threading as _threading

    cond = _threading.Condition()
    state = {"admitted": -1, "final": None}  # highest admitted k; the batch count once known
    launched = _queue.Queue()
    errors = []

    def try_admit(k):
        if not stop.admit(k):
            with cond:
                state["final"] = k
                cond.notify_all()
            return False
        admit(k)
        with cond:
            state["admitted"] = k
            cond.notify_all()
        return True

    def completer():
        try:
            ctx = on_thread() if on_thread is not None else None
            if ctx is None:
                ctx = _NullContext()
            with ctx:
                for k in range(q):
                    if not try_admit(k):
                        break
                k = 0
                while state["final"] is None or k < state["final"]:
                    if launched.get() is None:
                        return
                    retire(k)
                    if state["final"] is None:
                        try_admit(k + q)
                    k += 1
        except BaseException as e:  # noqa: BLE001 - re-raised on the launching thread
            with cond:
                errors.append(e)
                cond.notify_all()

    th = _threading.Thread(target=completer, name="vitlab-complete", daemon=True)
    th.start()
    ok = False
    k = 0
    try:
        while True:
            with cond:
                while state["admitted"] < k and state["final"] is None and not errors:
                    cond.wait()
                if errors or state["admitted"] < k:
                    break  # an error, or k == final: every batch launched
            launch(k)
            launched.put(k)
            k += 1
        ok = True
    finally:
        if not ok or errors:
            launched.put(None)
        th.join()
    if errors:
        raise errors[0]
    return k


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def simulate_async(n, q, pre_ms, launch_ms, fwd_ms, h2d_ms=0.0, d2h_ms=0.0, workers=1):
    """simulate_async computes the timeline (ms) of one window of the async
    design with constant stage times, following the same rules as
    vit_pipeline's async pipeline:

    - the completion thread admits first_admissions(n, q), then for each
      launched batch k in order waits for its D2H, retires it, and admits
      admit_after_retire(k);
    - preprocessing of an admitted batch takes pre_ms on one of `workers`
      batch-wide lanes (CPU worker pool or GPU preprocessing stream), FIFO;
    - the launching thread launches batches in order, each once it is
      admitted and preprocessed, and is busy launch_ms per batch; the H2D
      copy (h2d_ms) and then the forward (fwd_ms, the compute stream, one at
      a time) start no earlier than the launch call began; the D2H (d2h_ms)
      follows the forward.

    Returns one dict per batch: admit, pre_start, pre_end, launch_start,
    launch_end, fwd_start, fwd_end, d2h_end, retire."""
    b = [dict() for _ in range(n)]
    lanes = [0.0] * max(1, workers)
    launcher = comp = 0.0

    def admit(k, t):
        lane = min(range(len(lanes)), key=lambda i: lanes[i])
        start = max(t, lanes[lane])
        lanes[lane] = start + pre_ms
        b[k].update(admit=t, pre_start=start, pre_end=start + pre_ms)

    for k in first_admissions(n, q):
        admit(k, 0.0)
    for k in range(n):
        # k was admitted by the retirement of k - q (simulated below in order)
        ls = max(launcher, b[k]["pre_end"])
        le = ls + launch_ms
        fs = max(comp, ls + h2d_ms)
        fe = max(fs + fwd_ms, le)  # a forward cannot end before its launch call returns
        comp = fe
        b[k].update(launch_start=ls, launch_end=le, fwd_start=fs, fwd_end=fe,
                    d2h_end=fe + d2h_ms)
        launcher = le
        b[k]["retire"] = max(b[k]["d2h_end"], le)
        nxt = admit_after_retire(k, n, q)
        if nxt is not None:
            admit(nxt, b[k]["retire"])
    return b


def steady_batch_s(done_ms):
    """steady_batch_s estimates the steady-state time per batch (s) from the
    GPU completion times (ms, increasing) of a window's batches, using the
    second half only (the first batches carry one-off costs: cuDNN
    autotuning, nvjpeg and allocator start-up). None with fewer than 4."""
    n = len(done_ms)
    if n < 4:
        return None
    a = n // 2
    span = done_ms[-1] - done_ms[a]
    if span <= 0:
        return None
    return span / (n - 1 - a) / 1e3


def window_batches(min_batches, min_window_s, batch_s, margin=1.05):
    """window_batches is the batch count of a clean window: at least
    min_batches, and enough batches of batch_s seconds (measured during
    warm-up) to last min_window_s, with a small margin. batch_s None or 0
    (nothing measured) gives min_batches."""
    if min_batches < 1:
        raise ValueError("a window needs at least one batch")
    if not batch_s or batch_s <= 0 or min_window_s <= 0:
        return min_batches
    need = min_window_s * margin / batch_s
    return max(min_batches, int(math.ceil(need - 1e-9)))


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
    the model and its activations)}, for queue_depth slots.

    preprocess cpu: the workers' shared uint8 buffers at the model
    resolution (pinned) and their device copies; preprocess gpu with a CPU
    decoder (not nvjpeg): the same at the source resolution; nvjpeg: none
    (torchvision allocates its decoded images). Every slot has the model
    input (model dtype) on the device and the logits (pinned)."""
    b = planned["batch_size"]
    r = planned["resolution"]
    s = planned["source_resolution"]
    q = planned["queue_depth"]
    elt = DTYPE_BYTES[planned["dtype"]]
    in_batch = b * 3 * r * r * elt
    out_batch = b * NUM_CLASSES * elt
    pinned = n_pool_batches * b * s * s * 3 + q * out_batch
    device = q * in_batch
    if planned["preprocess"] == "cpu":
        pinned += q * b * r * r * 3
        device += q * b * r * r * 3
    elif planned.get("decoder") != "nvjpeg":
        pinned += q * b * s * s * 3
        device += q * b * s * s * 3
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
