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

import gc
import io
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

# RESIZE_MODES maps the `resize` setting to F.interpolate arguments.
RESIZE_MODES = {"bilinear-antialias": ("bilinear", True),
                "bilinear": ("bilinear", False),
                "bicubic-antialias": ("bicubic", True)}

# POOL_IMAGES is the most distinct source images encoded at start-up; image
# i of batch N is pool image (N * batch_size + i) % pool size.
POOL_IMAGES = 64


class WorkloadError(RuntimeError):
    """WorkloadError is a run that cannot give honest numbers (the message
    says why); it is not a bug."""

    plain = True


def _tvio():
    try:
        import torchvision.io as tio
        return tio
    except Exception:  # noqa: BLE001 - torchvision missing or broken: not available
        return None


def _pil():
    try:
        from PIL import Image
        return Image
    except Exception:  # noqa: BLE001
        return None


def available_decoders():
    """available_decoders lists the JPEG decoders this host has, in the
    registry's names: torchvision-cpu and nvjpeg (torchvision.io.decode_jpeg
    on the CPU / on a CUDA device) and pil (Pillow)."""
    out = []
    tio = _tvio()
    if tio is not None and hasattr(tio, "decode_jpeg"):
        out.append("torchvision-cpu")
        if DEVICE_TYPE == "cuda" and torch.cuda.is_available():
            out.append("nvjpeg")
    if _pil() is not None:
        out.append("pil")
    return out


def synthetic_image(size, seed):
    """synthetic_image returns a (3, size, size) uint8 picture: smooth
    colour gradients and waves (a different mix per seed) plus mild noise,
    so JPEG coding, decoding and resizing do real work (not a constant)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0.0, 1.0, size)
    y, x = t.view(size, 1), t.view(1, size)
    chans = []
    for _ in range(3):
        a, b, c, d = (torch.rand(4, generator=g) * torch.tensor([6.0, 6.0, 6.28, 0.5])).tolist()
        chans.append(0.5 + 0.3 * torch.sin(a * 3.14 * x + b * 3.14 * y + c) + d * (x - y))
    img = torch.stack(chans) + 0.05 * torch.randn(3, size, size, generator=g)
    return (img.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


def encode_jpeg(img, quality):
    """encode_jpeg encodes a (3, H, W) uint8 image; returns (bytes as a 1-D
    uint8 tensor, encoder name): torchvision.io.encode_jpeg, else Pillow."""
    tio = _tvio()
    if tio is not None and hasattr(tio, "encode_jpeg"):
        return tio.encode_jpeg(img, quality=quality), "torchvision"
    Image = _pil()
    if Image is None:
        raise WorkloadError("no JPEG encoder: neither torchvision.io.encode_jpeg nor Pillow "
                            "can be imported")
    h, w = img.shape[1:]
    im = Image.frombytes("RGB", (w, h), img.permute(1, 2, 0).contiguous().numpy().tobytes()
                         if hasattr(img, "numpy") else bytes(img.permute(1, 2, 0).flatten().tolist()))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality)
    return torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8), "pil"


class SourcePool:
    """SourcePool holds the JPEG-encoded synthetic source images, made once
    at start-up at source_resolution with jpeg_quality."""

    def __init__(self, images, size, quality, seed):
        self.size = size
        self.quality = quality
        self.jpegs = []
        self.encoder = None
        for i in range(images):
            data, self.encoder = encode_jpeg(synthetic_image(size, seed * 100003 + i), quality)
            self.jpegs.append(data)
        self.bytes = sum(int(j.numel()) for j in self.jpegs)

    def batch(self, seq, batch_size):
        """batch is the list of JPEG byte tensors of batch seq."""
        n = len(self.jpegs)
        return [self.jpegs[(seq * batch_size + i) % n] for i in range(batch_size)]


def decode_cpu(data, decoder):
    """decode_cpu decodes one JPEG (1-D uint8 tensor) on the CPU into a
    (3, H, W) uint8 tensor with the named decoder."""
    if decoder == "torchvision-cpu":
        tio = _tvio()
        return tio.decode_jpeg(data, mode=tio.ImageReadMode.RGB)
    if decoder == "pil":
        Image = _pil()
        im = Image.open(io.BytesIO(data.numpy().tobytes())).convert("RGB")
        w, h = im.size
        return torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(h, w, 3).permute(2, 0, 1)
    raise ValueError("decoder %r does not run on the CPU" % decoder)


def resize(x, resolution, mode):
    """resize resizes (N, 3, H, W) images to resolution² with the `resize`
    setting's filter (align_corners False); an identity size is skipped (a
    real pipeline skips it too). uint8 input stays uint8 where torch
    supports it (its CPU kernels do, with antialias), else it is resized
    as float32."""
    if x.shape[-2] == resolution and x.shape[-1] == resolution:
        return x
    kind, aa = RESIZE_MODES[mode]
    if x.dtype == torch.uint8 and x.device.type != "cpu":
        x = x.float()
    return F.interpolate(x, size=(resolution, resolution), mode=kind, align_corners=False,
                         antialias=aa)


def norm_constants(device):
    """norm_constants returns (scale, bias), float32 (1,3,1,1) tensors on
    device, with x_norm = x_uint8 * scale + bias == (x/255 - mean) / std."""
    scale = torch.tensor([1.0 / (255.0 * s) for s in IMAGENET_STD], dtype=torch.float32,
                         device=device).view(1, 3, 1, 1)
    bias = torch.tensor([-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)],
                        dtype=torch.float32, device=device).view(1, 3, 1, 1)
    return scale, bias


def transform(src, out, scale, bias, resolution, mode="bilinear"):
    """transform preprocesses uint8 NCHW images `src` (N,3,S,S) into `out`
    (N,3,R,R) in out's dtype and memory format, on src's device: resize to
    R x R with filter `mode` (the resize setting; skipped when S == R),
    ImageNet normalisation in float32, one copy that casts into `out`."""
    x = resize(src, resolution, mode)
    out.copy_(torch.addcmul(bias, x.float(), scale))


class CpuPreprocessor:
    """CpuPreprocessor runs the CPU side of preprocessing on a pool of
    worker threads: a batch is split into `workers` contiguous image ranges,
    one job each. A job decodes its JPEGs (decoder), and either (full=True)
    resizes, normalises and casts each image straight into the pinned model
    input buffer, or (full=False, GPU preprocessing with a CPU decoder)
    writes the decoded uint8 images into a pinned buffer for the GPU to
    resize. Each job pushes NVTX range "preprocess_worker <seq>" on its
    thread. torch ops release the GIL; each worker thread sets its own
    intra-op thread count (torch.set_num_threads is per thread for OpenMP)."""

    def __init__(self, workers, threads, resolution, source_resolution, decoder, resize_mode,
                 full, tracer, grad_mode=torch.inference_mode):
        self.workers = workers
        self.threads = threads
        self.grad_mode = grad_mode
        self.resolution = resolution
        self.decoder = decoder
        self.resize_mode = resize_mode
        self.full = full
        self.tracer = tracer
        self.sub = vit_sched.sub_chunk_images(resolution, source_resolution)
        self.scale, self.bias = norm_constants("cpu")
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vitlab-pre",
                                        initializer=torch.set_num_threads, initargs=(threads,))

    def submit(self, seq, jpegs, out):
        """submit queues the jobs that fill `out` from the JPEGs; returns their futures."""
        return [self._pool.submit(self._job, seq, jpegs, out, lo, hi)
                for lo, hi in vit_sched.split_range(len(jpegs), self.workers)]

    @staticmethod
    def wait(futures):
        """wait blocks until every job finished; a job's exception is raised here."""
        for f in futures:
            f.result()

    def _job(self, seq, jpegs, out, lo, hi):
        # decode image by image, then resize/normalise/cast a sub-chunk at a
        # time (few torch calls per image: Python overhead and the GIL stay small)
        with self.grad_mode(), self.tracer.range(indexed(vit_nvtx.WORKER, seq)):
            for a in range(lo, hi, self.sub):
                b = min(hi, a + self.sub)
                imgs = [decode_cpu(jpegs[i], self.decoder) for i in range(a, b)]
                if self.full:
                    transform(torch.stack(imgs), out[a:b], self.scale, self.bias,
                              self.resolution, self.resize_mode)
                else:
                    for i, img in zip(range(a, b), imgs):
                        out[i].copy_(img)

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)


def memory_format(patch_embed):
    """memory_format of the model input buffers for a patch_embed setting."""
    return torch.channels_last if patch_embed == "conv-channels-last" else torch.contiguous_format


class Slot:
    """Slot holds the buffers and events of one batch in flight."""

    def __init__(self, batch, resolution, source_resolution, dtype, device, mode, fmt):
        b, r, s = batch, resolution, source_resolution
        self.host_in = (torch.empty((b, 3, r, r), dtype=dtype, pin_memory=PIN_MEMORY)
                        .contiguous(memory_format=fmt) if mode == "cpu" else None)
        self.host_src = (torch.empty((b, 3, s, s), dtype=torch.uint8, pin_memory=PIN_MEMORY)
                         if mode == "gpu-upload" else None)
        self.dev_src = (torch.empty((b, 3, s, s), dtype=torch.uint8, device=device)
                        if mode == "gpu-upload" else None)
        self.dev_in = torch.empty((b, 3, r, r), dtype=dtype, device=device).contiguous(
            memory_format=fmt)
        self.host_out = torch.empty((b, vit_settings.NUM_CLASSES), dtype=dtype,
                                    pin_memory=PIN_MEMORY)
        self.ev_h2d = torch.cuda.Event()
        self.ev_pre = torch.cuda.Event()
        self.ev_fwd = torch.cuda.Event()
        # blocking: the completion thread sleeps in its synchronize instead of spinning a CPU
        self.ev_d2h = torch.cuda.Event(enable_timing=True, blocking=True)


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


def window_marker(edge, index):
    """window_marker prints the line the Go runner reads at a window edge
    (it then reads NVML's energy counter): VITLAB_WINDOW begin|end <index>
    <unix_ns>; returns unix_ns."""
    ns = time.time_ns()
    print("VITLAB_WINDOW %s %d %d" % (edge, index, ns), flush=True)
    return ns


class Pipeline:
    """Pipeline runs windows of batches through preprocess, H2D, forward and
    D2H, in the sync or the async design (see README.md for the NVTX ranges).

    Preprocessing modes (self.mode):
      cpu         CPU workers decode, resize, normalise, cast into pinned
                  host_in; H2D copies the model input.
      gpu-upload  CPU workers decode into pinned uint8 host_src; H2D copies
                  it; the GPU resizes/normalises/casts (decoder pil or
                  torchvision-cpu with preprocess gpu).
      nvjpeg      the GPU decodes (torchvision.io.decode_jpeg on the device:
                  it uploads the JPEG bytes itself), resizes, normalises, casts.

    sync:  everything on the current (default) stream; per batch the host
           preprocesses, copies, runs the model, copies the logits back and
           waits for that copy before the next batch.
    async: streams for H2D copies, preprocessing (nvjpeg), compute and D2H
           copies, ordered by events. The launching (main) thread launches
           batches in order; a completion thread waits for each batch's D2H
           event in order, retires it the moment it completes and admits
           batch k+Q at once (vit_sched.admit_after_retire), so later
           batches are preprocessed while the GPU runs earlier forwards.
    """

    def __init__(self, planned, device, tracer, seed, mem_total,
                 grad_mode=torch.inference_mode):
        self.planned = planned
        self.device = device
        self.tracer = tracer
        self.grad_mode = grad_mode
        self.kind = planned["pipeline"]
        self.batch = planned["batch_size"]
        self.resolution = planned["resolution"]
        self.resize_mode = planned["resize"]
        self.decoder = planned["decoder"]
        self.dtype = vit_model.TORCH_DTYPES[planned["dtype"]]
        self.fmt = memory_format(planned["patch_embed"])
        self.forward = None
        self.seq = 0
        self.cpu = None
        if planned["preprocess"] == "cpu":
            self.mode = "cpu"
        elif self.decoder == "nvjpeg":
            self.mode = "nvjpeg"
        else:
            self.mode = "gpu-upload"
        depth = planned["queue_depth"] if self.kind == "async" else 1
        sized = dict(planned, queue_depth=depth)
        self.memory = vit_sched.memory_plan(sized, 0)
        problem = vit_sched.check_pinned(self.memory["pinned"], mem_total)
        if problem:
            raise WorkloadError(problem)
        t = time.perf_counter()
        self.pool = SourcePool(max(1, min(POOL_IMAGES, self.batch)),
                               planned["source_resolution"], planned["jpeg_quality"], seed)
        self.pool_s = time.perf_counter() - t
        self.slots = [Slot(self.batch, self.resolution, planned["source_resolution"],
                           self.dtype, device, self.mode, self.fmt) for _ in range(depth)]
        if PIN_MEMORY:
            host = [t for s in self.slots for t in (s.host_in, s.host_src, s.host_out)
                    if t is not None]
            if not all(t.is_pinned() for t in host):
                raise WorkloadError("host buffers are not page-locked: copies would not be async")
        if self.kind == "async":
            self.s_h2d = torch.cuda.Stream(device)
            self.s_pre = torch.cuda.Stream(device)
            self.s_comp = torch.cuda.Stream(device)
            self.s_d2h = torch.cuda.Stream(device)
        if self.mode != "nvjpeg":
            workers = planned["cpu_workers"]
            self.cpu = CpuPreprocessor(workers, planned["cpu_threads_per_worker"],
                                       self.resolution, planned["source_resolution"],
                                       self.decoder, self.resize_mode,
                                       self.mode == "cpu", tracer, grad_mode)
        if self.mode != "cpu":
            self.gscale, self.gbias = norm_constants(device)

    def close(self):
        if self.cpu is not None:
            self.cpu.close()

    def window(self, n, label, marker=None, min_s=0.0):
        """window runs at least n batches inside NVTX range `label` (warmup
        or timed), and keeps admitting batches while it has lasted less than
        min_s (vit_sched.WindowStop), and returns its measurements. The range
        starts with an idle GPU and ends after every batch retired and a
        device synchronize. With marker = index, VITLAB_WINDOW begin/end
        lines are printed right after the synchronizes at its edges. Python's
        cyclic garbage collector is collected before and paused inside the
        window (reference counting still frees every batch's objects), as
        timeit does: a collection pause inside a host-bound window is noise."""
        torch.cuda.synchronize(self.device)
        gc.collect()
        gc_was = gc.isenabled()
        gc.disable()
        try:
            ev0, host0, unc0 = clock_point()
            first = self.seq
            start_ns = window_marker("begin", marker) if marker is not None else None
            with self.tracer.range(label):
                t0 = time.perf_counter_ns()
                stop = vit_sched.WindowStop(n, min_s)
                if self.kind == "sync":
                    recs = self._run_sync(stop, ev0)
                else:
                    recs = self._run_async(stop, ev0)
                torch.cuda.synchronize(self.device)
                t1 = time.perf_counter_ns()
                end_ns = window_marker("end", marker) if marker is not None else None
            ev1, host1, unc1 = clock_point()
        finally:
            if gc_was:
                gc.enable()
        n = len(recs)
        clock = vit_sched.ClockMap(host0, host1, ev0.elapsed_time(ev1))
        lat = [vit_sched.latency_ms(a, g, clock) for a, g in recs]
        done_ms = [g for _, g in recs]
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
            "index": marker,
            "start_unix_ns": start_ns,
            "end_unix_ns": end_ns,
            "first_batch": first,
            "batches": n,
            "images": images,
            "seconds": seconds,
            "throughput": images / seconds if seconds > 0 else None,
            "latencies_ms": lat,
            "steady_batch_s": vit_sched.steady_batch_s(done_ms),
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

    def _gpu_preprocess(self, seq, slot):
        """_gpu_preprocess enqueues nvjpeg decoding of batch seq and its
        resize/normalise/cast into slot.dev_in on the current stream."""
        tio = _tvio()
        imgs = tio.decode_jpeg(self.pool.batch(seq, self.batch), device=self.device,
                               mode=tio.ImageReadMode.RGB)
        transform(torch.stack(imgs), slot.dev_in, self.gscale, self.gbias, self.resolution,
                  self.resize_mode)

    def _run_sync(self, stop, ev0):
        tr = self.tracer
        slot = self.slots[0]
        recs = []
        while stop.admit(len(recs)):
            seq = self._next_seq()
            t_admit = time.perf_counter_ns()
            with tr.range(indexed(vit_nvtx.BATCH, seq)):
                if self.mode == "cpu":
                    with tr.range(vit_nvtx.PREPROCESS):
                        self.cpu.wait(self.cpu.submit(seq, self.pool.batch(seq, self.batch),
                                                      slot.host_in))
                    with tr.range(vit_nvtx.H2D):
                        slot.dev_in.copy_(slot.host_in, non_blocking=True)
                elif self.mode == "gpu-upload":
                    with tr.range(vit_nvtx.H2D):
                        self.cpu.wait(self.cpu.submit(seq, self.pool.batch(seq, self.batch),
                                                      slot.host_src))
                        slot.dev_src.copy_(slot.host_src, non_blocking=True)
                    with tr.range(vit_nvtx.PREPROCESS):
                        transform(slot.dev_src, slot.dev_in, self.gscale, self.gbias,
                                  self.resolution, self.resize_mode)
                else:
                    with tr.range(vit_nvtx.PREPROCESS):
                        self._gpu_preprocess(seq, slot)
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

    def _admit(self, k, seq, slot, recs):
        """_admit admits batch k (completion thread): CPU modes submit its
        jobs to the workers; nvjpeg enqueues its decode and transform on the
        preprocessing stream and records slot.ev_pre."""
        tr = self.tracer
        with tr.range(indexed(vit_nvtx.ADMIT, seq)):
            rec = {"admit": time.perf_counter_ns(), "futures": None, "logits": None}
            if self.mode == "cpu":
                rec["futures"] = self.cpu.submit(seq, self.pool.batch(seq, self.batch),
                                                 slot.host_in)
            elif self.mode == "gpu-upload":
                rec["futures"] = self.cpu.submit(seq, self.pool.batch(seq, self.batch),
                                                 slot.host_src)
            else:
                with tr.range(vit_nvtx.PREPROCESS), torch.cuda.stream(self.s_pre):
                    self._gpu_preprocess(seq, slot)
                    slot.ev_pre.record(self.s_pre)
        recs[k] = rec

    def _launch(self, seq, slot, rec):
        """_launch launches batch seq (main thread): the H2D copy (CPU
        modes), the GPU preprocessing (gpu-upload), the forward and the D2H."""
        tr = self.tracer
        with tr.range(indexed(vit_nvtx.BATCH, seq)):
            if self.mode == "cpu":
                with tr.range(vit_nvtx.PREPROCESS):
                    self.cpu.wait(rec["futures"])
                    rec["futures"] = None
                with tr.range(vit_nvtx.H2D), torch.cuda.stream(self.s_h2d):
                    slot.dev_in.copy_(slot.host_in, non_blocking=True)
                    slot.ev_h2d.record(self.s_h2d)
                ready = slot.ev_h2d
            elif self.mode == "gpu-upload":
                with tr.range(vit_nvtx.H2D):
                    self.cpu.wait(rec["futures"])
                    rec["futures"] = None
                    with torch.cuda.stream(self.s_h2d):
                        slot.dev_src.copy_(slot.host_src, non_blocking=True)
                        slot.ev_h2d.record(self.s_h2d)
                with tr.range(vit_nvtx.PREPROCESS), torch.cuda.stream(self.s_pre):
                    self.s_pre.wait_event(slot.ev_h2d)
                    transform(slot.dev_src, slot.dev_in, self.gscale, self.gbias,
                              self.resolution, self.resize_mode)
                    slot.ev_pre.record(self.s_pre)
                ready = slot.ev_pre
            else:
                ready = slot.ev_pre
            with tr.range(vit_nvtx.FORWARD), torch.cuda.stream(self.s_comp):
                self.s_comp.wait_event(ready)
                logits = self.forward(slot.dev_in)
                slot.ev_fwd.record(self.s_comp)
            with tr.range(vit_nvtx.D2H), torch.cuda.stream(self.s_d2h):
                self.s_d2h.wait_event(slot.ev_fwd)
                slot.host_out.copy_(logits, non_blocking=True)
                slot.ev_d2h.record(self.s_d2h)
        rec["logits"] = logits  # alive until retired (read by the D2H stream)

    def _run_async(self, stop, ev0):
        """_run_async runs the batches `stop` (vit_sched.WindowStop) admits,
        with vit_sched.run_async_window's rule: the main thread launches
        batch k once it is admitted (and, CPU modes, preprocessed); the
        completion thread primes the queue, then retires each launched batch
        as soon as its D2H completes and admits k+Q right away."""
        q = len(self.slots)
        base = self.seq
        recs = {}
        done = []

        def on_thread():
            if DEVICE_TYPE == "cuda":
                torch.cuda.set_device(self.device)
            return self.grad_mode()

        def admit(k):
            self._admit(k, base + k, self.slots[k % q], recs)

        def launch(k):
            self._launch(base + k, self.slots[k % q], recs[k])

        def retire(k):
            slot = self.slots[k % q]
            with self.tracer.range(indexed(vit_nvtx.RETIRE, base + k)):
                slot.ev_d2h.synchronize()
                gpu_ms = ev0.elapsed_time(slot.ev_d2h)
            recs[k]["logits"] = None
            done.append((recs[k]["admit"], gpu_ms))

        try:
            n = vit_sched.run_async_window(stop, q, admit, launch, retire, on_thread)
        finally:
            self.seq = base + len(recs)
        assert n == len(done), (n, len(done))
        return done


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


# WINDOW_MARGIN: clean windows are sized to last min_window_s × this from the
# latest measured batch time; the H200 smoke run's window-to-window rate
# changed by up to 10 % in async runs, so 5 % left some windows short.
WINDOW_MARGIN = 1.15


def pipe_depth(planned):
    """pipe_depth is the number of batches in flight (1 for sync)."""
    return planned["queue_depth"] if planned["pipeline"] == "async" else 1


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
    torch.backends.cudnn.benchmark = bool(planned["cudnn_benchmark"])
    details["cpus_allowed"] = opts["cpu_count"]

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
            pipe = Pipeline(planned, device, tracer, opts["seed"], opts["mem_total"], grad_mode)
            details["pipeline"] = {
                "preprocess_mode": pipe.mode,
                "pool_images": len(pipe.pool.jpegs), "pool_jpeg_bytes": pipe.pool.bytes,
                "jpeg_encoder": pipe.pool.encoder, "pool_encode_s": pipe.pool_s,
                "pinned_bytes": pipe.memory["pinned"], "buffer_device_bytes": pipe.memory["device"],
                "streams": "default" if pipe.kind == "sync" else "h2d,preprocess,compute,d2h",
                "completion_thread": pipe.kind == "async",
                "cpus_allowed": opts["cpu_count"],
                "cpu_threads_total": ((pipe.cpu.workers * pipe.cpu.threads if pipe.cpu else 0)
                                      + 1),
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
            # the batch time that sizes the clean windows: from warm-up (its
            # first batch excluded when it has several), else from the first window
            batch_s = warm["steady_batch_s"]
            details["window_sizing"] = {"min_window_s": planned["min_window_s"],
                                        "batch_s_from_warmup": batch_s, "batch_s_used": [],
                                        "margin": WINDOW_MARGIN}
            if phase == "clean" and planned["min_window_s"] > 0:
                # A short warm-up (a few batches, the queue still filling)
                # misjudges the steady rate of an async pipeline by up to 1.5x
                # (H200 smoke run: windows of 1.4 s for 2 s asked). A
                # calibration pass of about a quarter of a window, inside
                # NVTX `warmup` and without markers, measures it first.
                n_cal = vit_sched.window_batches(max(2 * pipe_depth(planned), 4),
                                                 planned["min_window_s"] / 4, batch_s, margin=1.0)
                cal = pipe.window(n_cal, vit_nvtx.WARMUP)
                details["windows"].append(dict(_window_summary(cal), label="calibration"))
                if cal["batches"] and cal["seconds"] > 0:
                    batch_s = cal["seconds"] / cal["batches"]
                details["window_sizing"]["batch_s_from_calibration"] = batch_s
            windows = []
            for i in range(repeats):
                if phase == "clean":
                    n = vit_sched.window_batches(planned["timed_batches"],
                                                 planned["min_window_s"], batch_s,
                                                 margin=WINDOW_MARGIN)
                else:
                    n = planned["timed_batches"]
                details["window_sizing"]["batch_s_used"].append(batch_s)
                w = pipe.window(n, vit_nvtx.TIMED, marker=i,
                                min_s=planned["min_window_s"] if phase == "clean" else 0.0)
                if w["batches"]:
                    # the next window is sized from this one's real rate
                    batch_s = w["seconds"] / w["batches"]
                if phase == "clean" and w["seconds"] < planned["min_window_s"]:
                    details.setdefault("short_windows", []).append(
                        {"index": i, "seconds": w["seconds"], "batches": w["batches"]})
                windows.append(w)
                details["windows"].append(_window_summary(w))
                log("timed %d/%d: %s img/s (%d batches, %d images in %.3f s)"
                    % (i + 1, repeats, w["throughput"], w["batches"], w["images"], w["seconds"]))
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
    short = [w["batches"] for w in windows if w["batches"] < planned["timed_batches"]]
    if short:
        raise WorkloadError("a timed window ran %d batches, fewer than timed_batches %d"
                            % (min(short), planned["timed_batches"]))
    effective = {
        "model": built,
        "patch": arch["patch"],
        "depth": arch["depth"],
        "hidden": arch["hidden"],
        "heads": arch["heads"],
        "mlp": arch["mlp"],
        "resolution": int(dev_in.shape[-1]),
        "source_resolution": int(pipe.pool.size),
        "batch_size": int(dev_in.shape[0]),
        "dtype": arch["dtype"],
        "compile_mode": mode,
        "pipeline": pipe.kind,
        "queue_depth": len(pipe.slots),
        "preprocess": "cpu" if pipe.mode == "cpu" else "gpu",
        "cpu_workers": pipe.cpu.workers if pipe.cpu is not None else 0,
        "cpu_threads_per_worker": pipe.cpu.threads if pipe.cpu is not None else 0,
        "warmup_batches": warm["batches"],
        # the least batches of a window (clean windows may run more to fill min_window_s)
        "timed_batches": min(w["batches"] for w in windows) if phase == "traced"
        else planned["timed_batches"],
        "jpeg_quality": pipe.pool.quality,
        "decoder": pipe.decoder,
        "resize": pipe.resize_mode,
        "patch_embed": vit_model.patch_embed_kind(model),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }
    if phase == "clean":
        effective["clean_repeats"] = len(windows)
        effective["min_window_s"] = planned["min_window_s"]
        result["windows"] = [_contract_window(w) for w in windows]

    runs = [w["throughput"] for w in windows]
    timings = {"compile_s": compile_s, "timed_images": windows[0]["images"]}
    details["traced_window" if phase == "traced" else "clean_windows"] = [
        _contract_window(w) for w in windows]
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


def _contract_window(w):
    """_contract_window is one entry of RES.json "windows" (contract §2)."""
    lat = w["latencies_ms"]
    return {
        "index": w["index"], "start_unix_ns": w["start_unix_ns"], "end_unix_ns": w["end_unix_ns"],
        "batches": w["batches"], "images": w["images"], "seconds": w["seconds"],
        "throughput": w["throughput"],
        "latency_p50_ms": vit_stats.percentile(lat, 50) if lat else None,
        "latency_p90_ms": vit_stats.percentile(lat, 90) if lat else None,
        "latency_p99_ms": vit_stats.percentile(lat, 99) if lat else None,
    }


def _window_summary(w):
    lat = w["latencies_ms"]
    out = {k: v for k, v in w.items() if k != "latencies_ms"}
    if lat:
        out["latency_p50_ms"] = vit_stats.percentile(lat, 50)
        out["latency_max_ms"] = max(lat)
    if out.get("throughput") is not None and not math.isfinite(out["throughput"]):
        out["throughput"] = None
    return out
