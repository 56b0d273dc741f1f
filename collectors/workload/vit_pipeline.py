"""The bf16 ViT inference pipeline the collector profiles (torch).

Imports torch at module level: vit_workload.py imports this module only
after torch imported. README.md documents what every NVTX range covers; the
summary is in run_phase() and Pipeline.

Tensor rules that keep the pipeline correct:
- Everything on the main thread after the model is built runs inside one
  grad-mode block (torch.inference_mode(), or torch.no_grad() with
  --grad-mode no_grad), and every CPU worker job enters the same mode itself
  (grad modes are per thread), so every buffer is created and written in
  that mode (inference tensors may only be written inside inference mode).
- Buffers of batch k live in slot k % Q. A slot is reused only after its
  previous batch retired (the host synchronised that batch's D2H event, which
  follows its H2D and forward on the GPU), see vit_sched.async_schedule.
- The model output of a batch is referenced until that batch retired, so the
  caching allocator cannot hand its memory to a later batch while the D2H
  stream still reads it. Under CUDA-graph modes the output lives in the
  graph's static pool and the next replay overwrites it, so it is cloned on
  the compute stream right after the call.
"""

import math
import time
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F

import vit_model
import vit_nvtx
import vit_sched
import vit_settings
import vit_stats
from vit_nvtx import indexed

# DEVICE_TYPE and PIN_MEMORY are test hooks: test_pipeline_logic.py runs the
# pipeline on CPU tensors with fake CUDA events and streams (the control flow,
# buffer reuse, NVTX nesting and bookkeeping are device-independent).
DEVICE_TYPE = "cuda"
PIN_MEMORY = True

GRAD_MODES = {"inference": torch.inference_mode, "no_grad": torch.no_grad}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WorkloadError(RuntimeError):
    """WorkloadError is a run that cannot give honest numbers (the message
    says why); it is not a bug."""

    plain = True


def norm_constants(device):
    """norm_constants returns (scale, bias), float32 (1,3,1,1) tensors on
    device, with x_norm = x_uint8 * scale + bias == (x/255 - mean) / std."""
    scale = torch.tensor([1.0 / (255.0 * s) for s in IMAGENET_STD], dtype=torch.float32,
                         device=device).view(1, 3, 1, 1)
    bias = torch.tensor([-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)],
                        dtype=torch.float32, device=device).view(1, 3, 1, 1)
    return scale, bias


def transform(src, out, scale, bias, resolution):
    """transform preprocesses uint8 NHWC images `src` into `out` (N,3,R,R) in
    out's dtype, on src's device: to float32 NCHW (a channels-last view, no
    copy of the layout), bilinear resize to R x R (align_corners=False, no
    antialias; skipped when the source already is R x R), ImageNet
    normalisation, then one copy that casts and makes `out` NCHW-contiguous."""
    x = src.permute(0, 3, 1, 2).float()
    if x.shape[-2] != resolution or x.shape[-1] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear",
                          align_corners=False, antialias=False)
    out.copy_(torch.addcmul(bias, x, scale))


def make_source_pool(images, source_resolution, seed, chunk_bytes=64 << 20):
    """make_source_pool returns `images` random uint8 NHWC source images in
    pinned host memory, generated once from `seed`."""
    s = source_resolution
    pool = torch.empty((images, s, s, 3), dtype=torch.uint8, pin_memory=PIN_MEMORY)
    g = torch.Generator().manual_seed(seed)
    step = max(1, chunk_bytes // (s * s * 3))
    for a in range(0, images, step):
        b = min(images, a + step)
        pool[a:b].copy_(torch.randint(0, 256, (b - a, s, s, 3), generator=g, dtype=torch.uint8))
    return pool


class CpuPreprocessor:
    """CpuPreprocessor preprocesses a batch on a pool of worker threads: the
    batch is split into `workers` contiguous image ranges, one job each; a
    job converts its images in sub-chunks (bounded float32 intermediates)
    straight into the pinned output buffer. Each job pushes NVTX range
    "preprocess_worker <seq>" on its thread. torch ops release the GIL; each
    worker thread sets its own intra-op thread count (torch.set_num_threads
    is per thread for OpenMP), so workers x threads ~ the process's CPUs."""

    def __init__(self, workers, threads, resolution, source_resolution, tracer,
                 grad_mode=torch.inference_mode):
        self.workers = workers
        self.grad_mode = grad_mode
        self.threads = threads
        self.resolution = resolution
        self.sub = vit_sched.sub_chunk_images(resolution, source_resolution)
        self.tracer = tracer
        self.scale, self.bias = norm_constants("cpu")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vitlab-pre",
                                        initializer=torch.set_num_threads, initargs=(threads,))

    def submit(self, seq, src, out):
        """submit queues the jobs that fill `out` from `src`; returns their futures."""
        return [self._pool.submit(self._job, seq, src, out, lo, hi)
                for lo, hi in vit_sched.split_range(src.shape[0], self.workers)]

    @staticmethod
    def wait(futures):
        """wait blocks until every job finished; a job's exception is raised here."""
        for f in futures:
            f.result()

    def _job(self, seq, src, out, lo, hi):
        with self.grad_mode(), self.tracer.range(indexed(vit_nvtx.WORKER, seq)):
            for a in range(lo, hi, self.sub):
                b = min(hi, a + self.sub)
                transform(src[a:b], out[a:b], self.scale, self.bias, self.resolution)

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)


class Slot:
    """Slot holds the buffers and events of one batch in flight."""

    def __init__(self, batch, resolution, source_resolution, dtype, device, cpu_pre):
        b, r, s = batch, resolution, source_resolution
        self.host_in = (torch.empty((b, 3, r, r), dtype=dtype, pin_memory=PIN_MEMORY)
                        if cpu_pre else None)
        self.dev_src = (None if cpu_pre else
                        torch.empty((b, s, s, 3), dtype=torch.uint8, device=device))
        self.dev_in = torch.empty((b, 3, r, r), dtype=dtype, device=device)
        self.host_out = torch.empty((b, vit_settings.NUM_CLASSES), dtype=dtype,
                                    pin_memory=PIN_MEMORY)
        self.ev_h2d = torch.cuda.Event()
        self.ev_fwd = torch.cuda.Event()
        self.ev_d2h = torch.cuda.Event(enable_timing=True)


def clock_point():
    """clock_point records a timing event on the idle GPU and returns
    (event, host_ns, uncertainty_ns): host_ns is the midpoint of
    perf_counter_ns just before the record and just after the event's
    synchronize (see vit_sched.ClockMap)."""
    ev = torch.cuda.Event(enable_timing=True)
    a = time.perf_counter_ns()
    ev.record()
    ev.synchronize()
    b = time.perf_counter_ns()
    return ev, (a + b) // 2, b - a


class Pipeline:
    """Pipeline runs windows of batches through preprocess, H2D, forward and
    D2H, in the sync or the async design (see README.md for the NVTX ranges).

    sync:  everything on the current (default) stream; per batch the host
           preprocesses, copies, runs the model, copies the logits back and
           waits for that copy (event synchronize) before the next batch.
    async: three streams (H2D copies, compute, D2H copies) ordered by events;
           batches are admitted, launched and retired in the order of
           vit_sched.async_schedule with at most Q in flight. Separate H2D and
           D2H streams: on one copy stream the next batch's upload would queue
           behind this batch's download, which waits for this batch's forward.
    """

    def __init__(self, planned, device, tracer, cpu_count, seed, mem_total,
                 grad_mode=torch.inference_mode):
        self.planned = planned
        self.device = device
        self.tracer = tracer
        self.kind = planned["pipeline"]
        self.batch = planned["batch_size"]
        self.resolution = planned["resolution"]
        self.dtype = vit_model.TORCH_DTYPES[planned["dtype"]]
        self.forward = None
        self.seq = 0
        self.cpu = None
        depth = planned["queue_depth"] if self.kind == "async" else 1
        self.pool_batches = vit_sched.pool_batches(self.batch, planned["source_resolution"])
        sized = dict(planned, queue_depth=depth)
        self.memory = vit_sched.memory_plan(sized, self.pool_batches)
        problem = vit_sched.check_pinned(self.memory["pinned"], mem_total)
        if problem:
            raise WorkloadError(problem)
        self.pool = make_source_pool(self.pool_batches * self.batch,
                                     planned["source_resolution"], seed)
        cpu_pre = planned["preprocess"] == "cpu"
        self.slots = [Slot(self.batch, self.resolution, planned["source_resolution"],
                           self.dtype, device, cpu_pre) for _ in range(depth)]
        if PIN_MEMORY:
            host = [self.pool] + [t for s in self.slots for t in (s.host_in, s.host_out)
                                  if t is not None]
            if not all(t.is_pinned() for t in host):
                raise WorkloadError("host buffers are not page-locked: copies would not be async")
        if self.kind == "async":
            self.s_h2d = torch.cuda.Stream(device)
            self.s_comp = torch.cuda.Stream(device)
            self.s_d2h = torch.cuda.Stream(device)
        if cpu_pre:
            workers = planned["cpu_workers"]
            self.cpu = CpuPreprocessor(workers, vit_settings.threads_per_worker(cpu_count, workers),
                                       self.resolution, planned["source_resolution"], tracer,
                                       grad_mode)
        else:
            self.gscale, self.gbias = norm_constants(device)

    def close(self):
        if self.cpu is not None:
            self.cpu.close()

    def src_batch(self, seq):
        """src_batch is the pinned uint8 source batch of batch `seq` (a view)."""
        k = seq % self.pool_batches
        return self.pool[k * self.batch:(k + 1) * self.batch]

    def window(self, n, label):
        """window runs n batches inside NVTX range `label` (warmup or timed)
        and returns its measurements. The range starts with an idle GPU and
        ends after all n batches retired and a device synchronize."""
        torch.cuda.synchronize(self.device)
        ev0, host0, unc0 = clock_point()
        first = self.seq
        with self.tracer.range(label):
            t0 = time.perf_counter_ns()
            if self.kind == "sync":
                recs = self._run_sync(n, ev0)
            else:
                recs = self._run_async(n, ev0)
            torch.cuda.synchronize(self.device)
            t1 = time.perf_counter_ns()
        ev1, host1, unc1 = clock_point()
        clock = vit_sched.ClockMap(host0, host1, ev0.elapsed_time(ev1))
        lat = [vit_sched.latency_ms(a, g, clock) for a, g in recs]
        if lat and min(lat) < -0.05:
            raise WorkloadError("latency clock mapping gave a negative latency (%.3f ms): the "
                                "CUDA event and host clocks disagree" % min(lat))
        last = self.slots[(n - 1) % len(self.slots)].host_out if n else None
        finite = bool(torch.isfinite(last).all()) if last is not None else None
        if finite is False:
            raise WorkloadError("the model output (logits) of batch %d is not finite" % (self.seq - 1))
        seconds = (t1 - t0) / 1e9
        images = n * self.batch
        out = {
            "label": label,
            "first_batch": first,
            "batches": n,
            "images": images,
            "seconds": seconds,
            "throughput": images / seconds if seconds > 0 else None,
            "latencies_ms": lat,
            "clock_scale": clock.scale,
            "clock_uncertainty_us": max(unc0, unc1) / 2e3,
            "output_finite": finite,
        }
        if clock.note:
            out["clock_note"] = clock.note
        return out

    def _next_seq(self):
        s = self.seq
        self.seq += 1
        return s

    def _run_sync(self, n, ev0):
        tr = self.tracer
        slot = self.slots[0]
        recs = []
        for _ in range(n):
            seq = self._next_seq()
            src = self.src_batch(seq)
            t_admit = time.perf_counter_ns()
            with tr.range(indexed(vit_nvtx.BATCH, seq)):
                if self.cpu is not None:
                    with tr.range(vit_nvtx.PREPROCESS):
                        self.cpu.wait(self.cpu.submit(seq, src, slot.host_in))
                    with tr.range(vit_nvtx.H2D):
                        slot.dev_in.copy_(slot.host_in, non_blocking=True)
                else:
                    with tr.range(vit_nvtx.H2D):
                        slot.dev_src.copy_(src, non_blocking=True)
                    with tr.range(vit_nvtx.PREPROCESS):
                        transform(slot.dev_src, slot.dev_in, self.gscale, self.gbias,
                                  self.resolution)
                with tr.range(vit_nvtx.FORWARD):
                    logits = self.forward(slot.dev_in)
                with tr.range(vit_nvtx.D2H):
                    slot.host_out.copy_(logits, non_blocking=True)
                    slot.ev_d2h.record()
                with tr.range(indexed(vit_nvtx.RETIRE, seq)):
                    slot.ev_d2h.synchronize()
                    gpu_ms = ev0.elapsed_time(slot.ev_d2h)
                del logits
            recs.append((t_admit, gpu_ms))
        return recs

    def _run_async(self, n, ev0):
        tr = self.tracer
        q = len(self.slots)
        base = self.seq
        self.seq += n
        pending = {}
        recs = [None] * n
        for op, k in vit_sched.async_schedule(n, q):
            seq = base + k
            slot = self.slots[k % q]
            if op == vit_sched.ADMIT:
                with tr.range(indexed(vit_nvtx.ADMIT, seq)):
                    t_admit = time.perf_counter_ns()
                    futures = None
                    if self.cpu is not None:
                        futures = self.cpu.submit(seq, self.src_batch(seq), slot.host_in)
                pending[k] = {"admit": t_admit, "futures": futures, "logits": None}
            elif op == vit_sched.LAUNCH:
                rec = pending[k]
                with tr.range(indexed(vit_nvtx.BATCH, seq)):
                    if self.cpu is not None:
                        with tr.range(vit_nvtx.PREPROCESS):
                            self.cpu.wait(rec["futures"])
                            rec["futures"] = None
                        with tr.range(vit_nvtx.H2D):
                            with torch.cuda.stream(self.s_h2d):
                                slot.dev_in.copy_(slot.host_in, non_blocking=True)
                                slot.ev_h2d.record(self.s_h2d)
                        with tr.range(vit_nvtx.FORWARD):
                            with torch.cuda.stream(self.s_comp):
                                self.s_comp.wait_event(slot.ev_h2d)
                                logits = self.forward(slot.dev_in)
                                slot.ev_fwd.record(self.s_comp)
                    else:
                        with tr.range(vit_nvtx.H2D):
                            with torch.cuda.stream(self.s_h2d):
                                slot.dev_src.copy_(self.src_batch(seq), non_blocking=True)
                                slot.ev_h2d.record(self.s_h2d)
                        with tr.range(vit_nvtx.PREPROCESS):
                            with torch.cuda.stream(self.s_comp):
                                self.s_comp.wait_event(slot.ev_h2d)
                                transform(slot.dev_src, slot.dev_in, self.gscale, self.gbias,
                                          self.resolution)
                        with tr.range(vit_nvtx.FORWARD):
                            with torch.cuda.stream(self.s_comp):
                                logits = self.forward(slot.dev_in)
                                slot.ev_fwd.record(self.s_comp)
                    with tr.range(vit_nvtx.D2H):
                        with torch.cuda.stream(self.s_d2h):
                            self.s_d2h.wait_event(slot.ev_fwd)
                            slot.host_out.copy_(logits, non_blocking=True)
                            slot.ev_d2h.record(self.s_d2h)
                rec["logits"] = logits  # alive until retired (read by the D2H stream)
                del logits
            else:
                rec = pending.pop(k)
                with tr.range(indexed(vit_nvtx.RETIRE, seq)):
                    slot.ev_d2h.synchronize()
                    gpu_ms = ev0.elapsed_time(slot.ev_d2h)
                rec["logits"] = None
                recs[k] = (rec["admit"], gpu_ms)
        return recs


def make_forward(fn, mode, batch, dtype):
    """make_forward wraps the (compiled) model: under CUDA-graph modes it
    marks a new step before each call and clones the output out of the
    graph's static pool; it checks the output is a (batch, 1000) tensor of
    the model dtype (a host-side check, no sync)."""
    graphs = mode in vit_settings.CUDAGRAPH_MODES
    mark = None
    if graphs:
        mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)
        if mark is None:
            raise WorkloadError("torch.compiler.cudagraph_mark_step_begin is missing: cannot "
                                "run compile mode %s safely" % mode)
    expected = (batch, vit_settings.NUM_CLASSES)

    def forward(x):
        if mark is not None:
            mark()
        out = fn(x)
        if not isinstance(out, torch.Tensor):
            raise WorkloadError("the model returned %s, not a tensor" % type(out).__name__)
        if tuple(out.shape) != expected or out.dtype != dtype:
            raise WorkloadError("the model returned %s %s, expected %s %s" % (
                tuple(out.shape), vit_model.dtype_name(out.dtype), expected,
                vit_model.dtype_name(dtype)))
        if graphs:
            out = out.clone()
        return out
    return forward


def dynamo_counter(group, name):
    """dynamo_counter reads torch._dynamo.utils.counters[group][name]; None
    when this torch has no such counter."""
    try:
        from torch._dynamo.utils import counters
        return int(counters[group][name])
    except Exception:  # noqa: BLE001 - an internal API; absent means unknown
        return None


def compile_model(model, mode, example, batch, dtype, tracer, log):
    """compile_model returns (forward, compile_s). For eager it returns the
    model itself and 0. Otherwise torch.compile(model, mode=mode) and its
    first call (which compiles) on `example`, inside NVTX range "compile",
    timed from just before the call to after a device synchronize. A failure
    fails the run: there is no fallback to eager."""
    if mode == "eager":
        return make_forward(model, mode, batch, dtype), 0.0
    try:
        fn = torch.compile(model, mode=mode)
    except Exception as e:
        raise WorkloadError("torch.compile(mode=%r) failed: %s: %s"
                            % (mode, type(e).__name__, e)) from e
    forward = make_forward(fn, mode, batch, dtype)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    try:
        with tracer.range(vit_nvtx.COMPILE):
            out = forward(example)
            torch.cuda.synchronize()
    except WorkloadError:
        raise
    except Exception as e:
        hint = ""
        if torch.is_inference_mode_enabled() and "nference" in str(e):
            hint = " (an inference-mode problem: --grad-mode no_grad runs under torch.no_grad())"
        raise WorkloadError("torch.compile(mode=%r) failed on its first call: %s: %s%s"
                            % (mode, type(e).__name__, e, hint)) from e
    compile_s = time.perf_counter() - t0
    del out
    log("compiled (%s) in %.1f s" % (mode, compile_s))
    return forward, compile_s


def gpu_info(index):
    """gpu_info returns ({"index","name","uuid"}, extra details) of a CUDA device."""
    props = torch.cuda.get_device_properties(index)
    uuid = getattr(props, "uuid", None)
    uuid_s = None
    if uuid is not None:
        uuid_s = str(uuid)
        if not uuid_s.startswith("GPU-"):
            uuid_s = "GPU-" + uuid_s
    extra = {
        "sm_count": getattr(props, "multi_processor_count", None),
        "memory_bytes": getattr(props, "total_memory", None),
        "compute_capability": "%s.%s" % (props.major, props.minor),
    }
    return {"index": index, "name": props.name, "uuid": uuid_s}, extra


def _check_nvtx():
    try:
        torch.cuda.nvtx.range_push("vitlab-nvtx-check")
        torch.cuda.nvtx.range_pop()
    except Exception as e:  # noqa: BLE001
        raise WorkloadError("NVTX is not usable in this torch build: %s: %s"
                            % (type(e).__name__, e)) from e


def run_phase(phase, planned, opts, result, log):
    """run_phase runs one phase of the workload and returns (effective,
    timings, details).

    phase "clean": compile (if any), one warm-up window, then
    planned["clean_repeats"] timed windows; no profiler. phase "traced": the
    same code, with one timed window (the one nsys profiles). `result` (the
    RES.json dict) gets software and gpu filled in as soon as they are known,
    so a failed run still reports them. opts: device (CUDA index), seed,
    cpu_count, mem_total (bytes or None), profiler_range (bool), grad_mode
    ("inference" or "no_grad"; absent means "inference").
    """
    grad_name = opts.get("grad_mode", "inference")
    grad_mode = GRAD_MODES[grad_name]
    if not torch.cuda.is_available():
        raise WorkloadError("no CUDA GPU is visible (torch.cuda.is_available() is False)")
    count = torch.cuda.device_count()
    if not 0 <= opts["device"] < count:
        raise WorkloadError("CUDA device %d does not exist (%d visible)" % (opts["device"], count))
    torch.cuda.set_device(opts["device"])
    device = torch.device(DEVICE_TYPE, opts["device"])
    gpu, gpu_extra = gpu_info(opts["device"])
    result["gpu"] = gpu
    sw = result["software"]
    sw["torch"] = torch.__version__
    sw["cuda"] = torch.version.cuda
    details = result["details"]  # filled as the run goes, so a failed run keeps what was known
    details.update({"gpu": gpu_extra, "seed": opts["seed"], "grad_mode": grad_name})
    _check_nvtx()
    tracer = vit_nvtx.Tracer(torch.cuda.nvtx)

    torch.manual_seed(opts["seed"])
    torch.cuda.manual_seed_all(opts["seed"])
    torch.backends.cudnn.benchmark = True
    details["cudnn_benchmark"] = True

    t = time.perf_counter()
    model, built_on = vit_model.build(planned, device)
    arch = vit_model.describe(model)
    if planned["model"] == "timm_vit":
        import timm
        sw["timm"] = getattr(timm, "__version__", None)
        built = "timm_vit" if type(model).__module__.startswith("timm.") else None
    else:
        built = "vitlab_vit" if isinstance(model, vit_model.VitlabViT) else None
    details["model"] = {"class": "%s.%s" % (type(model).__module__, type(model).__name__),
                        "params": arch["params"], "built_on": built_on,
                        "devices": arch["devices"], "class_token": arch["class_token"],
                        "num_classes": arch["num_classes"],
                        "build_s": time.perf_counter() - t}
    if arch["num_classes"] != vit_settings.NUM_CLASSES:
        raise WorkloadError("the model has %d classes, not %d"
                            % (arch["num_classes"], vit_settings.NUM_CLASSES))
    log("built %s: %.1fM parameters, %s, in %.1f s" % (
        details["model"]["class"], arch["params"] / 1e6, arch["dtype"], details["model"]["build_s"]))

    mode = planned["compile_mode"]
    pipe = None
    try:
        with grad_mode():
            pipe = Pipeline(planned, device, tracer, opts["cpu_count"], opts["seed"],
                            opts["mem_total"], grad_mode)
            details["pipeline"] = {
                "pool_images": int(pipe.pool.shape[0]), "pool_batches": pipe.pool_batches,
                "pinned_bytes": pipe.memory["pinned"], "buffer_device_bytes": pipe.memory["device"],
                "streams": "default" if pipe.kind == "sync" else "h2d,compute,d2h",
                "cpu_threads_per_worker": pipe.cpu.threads if pipe.cpu else None,
                "cpu_sub_chunk_images": pipe.cpu.sub if pipe.cpu else None,
                "cpus": opts["cpu_count"],
            }
            example = pipe.slots[0].dev_in
            example.normal_()
            graphs0 = dynamo_counter("stats", "unique_graphs")
            forward, compile_s = compile_model(model, mode, example, pipe.batch, pipe.dtype,
                                               tracer, log)
            pipe.forward = forward
            graphs1 = dynamo_counter("stats", "unique_graphs")
            skips = dynamo_counter("inductor", "cudagraph_skips")
            if mode in vit_settings.CUDAGRAPH_MODES and skips:
                raise WorkloadError("compile mode %s skipped CUDA graphs (%d skip(s) counted by "
                                    "inductor; TORCH_LOGS=perf_hints says why): the run would "
                                    "not be what its label says" % (mode, skips))

            if opts["profiler_range"]:
                torch.cuda.profiler.start()
            details["windows"] = []
            warm = pipe.window(planned["warmup_batches"], vit_nvtx.WARMUP)
            details["windows"].append(_window_summary(warm))
            log("warm-up: %d batches in %.2f s" % (warm["batches"], warm["seconds"]))
            graphs2 = dynamo_counter("stats", "unique_graphs")
            torch.cuda.reset_peak_memory_stats(device)
            repeats = planned["clean_repeats"] if phase == "clean" else 1
            windows = []
            for i in range(repeats):
                w = pipe.window(planned["timed_batches"], vit_nvtx.TIMED)
                windows.append(w)
                details["windows"].append(_window_summary(w))
                log("timed %d/%d: %s img/s (%d images in %.3f s)"
                    % (i + 1, repeats, w["throughput"], w["images"], w["seconds"]))
            if opts["profiler_range"]:
                torch.cuda.profiler.stop()
            peak = int(torch.cuda.max_memory_allocated(device))
            graphs3 = dynamo_counter("stats", "unique_graphs")
            skips = dynamo_counter("inductor", "cudagraph_skips")
    finally:
        if pipe is not None:
            pipe.close()

    if mode in vit_settings.CUDAGRAPH_MODES and skips:
        raise WorkloadError("compile mode %s skipped CUDA graphs after warm-up started (%d skip(s)): "
                            "the run would not be what its label says" % (mode, skips))

    if mode != "eager" and None not in (graphs2, graphs3) and graphs3 > graphs2:
        raise WorkloadError("torch.compile compiled %d more graph(s) during the timed window(s): "
                            "the timing includes compilation" % (graphs3 - graphs2))
    details["compile"] = {"graphs_after_compile": None if None in (graphs0, graphs1) else graphs1 - graphs0,
                          "graphs_compiled_in_warmup": None if None in (graphs1, graphs2) else graphs2 - graphs1,
                          "cudagraph_skips": skips}

    dev_in = pipe.slots[0].dev_in
    if dev_in.shape[-1] != arch["resolution"] or dev_in.shape[-2] != arch["resolution"]:
        raise WorkloadError("fed %dx%d images to a model built for %d"
                            % (dev_in.shape[-2], dev_in.shape[-1], arch["resolution"]))
    if dev_in.dtype != pipe.dtype or vit_model.dtype_name(dev_in.dtype) != arch["dtype"]:
        raise WorkloadError("input dtype %s differs from the model's %s"
                            % (vit_model.dtype_name(dev_in.dtype), arch["dtype"]))
    timed_batches = {w["batches"] for w in windows}
    if len(timed_batches) != 1:
        raise WorkloadError("timed windows ran different batch counts: %s" % sorted(timed_batches))
    effective = {
        "model": built,
        "patch": arch["patch"],
        "depth": arch["depth"],
        "hidden": arch["hidden"],
        "heads": arch["heads"],
        "mlp": arch["mlp"],
        "resolution": int(dev_in.shape[-1]),
        "source_resolution": int(pipe.pool.shape[1]),
        "batch_size": int(dev_in.shape[0]),
        "dtype": arch["dtype"],
        "compile_mode": mode,
        "pipeline": pipe.kind,
        "queue_depth": len(pipe.slots),
        "preprocess": "cpu" if pipe.cpu is not None else "gpu",
        "cpu_workers": pipe.cpu.workers if pipe.cpu is not None else 0,
        "warmup_batches": warm["batches"],
        "timed_batches": timed_batches.pop(),
    }
    if phase == "clean":
        effective["clean_repeats"] = len(windows)

    runs = [w["throughput"] for w in windows]
    timings = {"compile_s": compile_s, "timed_images": windows[0]["images"]}
    if phase == "clean":
        lat = [x for w in windows for x in w["latencies_ms"]]
        timings["clean_throughput"] = vit_stats.median(runs)
        timings["clean_throughput_runs"] = runs
        timings.update(vit_stats.latency_summary(lat))
        timings["peak_mem_bytes"] = peak
    else:
        timings["traced_throughput"] = runs[0]
        lat = windows[0]["latencies_ms"]
        details["traced_latency_ms"] = {"p50": vit_stats.percentile(lat, 50),
                                        "p90": vit_stats.percentile(lat, 90),
                                        "p99": vit_stats.percentile(lat, 99)}
        details["traced_peak_mem_bytes"] = peak
    return effective, timings, details


def _window_summary(w):
    lat = w["latencies_ms"]
    out = {k: v for k, v in w.items() if k != "latencies_ms"}
    if lat:
        out["latency_p50_ms"] = vit_stats.percentile(lat, 50)
        out["latency_max_ms"] = max(lat)
    if out.get("throughput") is not None and not math.isfinite(out["throughput"]):
        out["throughput"] = None
    return out
