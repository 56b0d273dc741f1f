"""The schedule of the bf16 ViT inference pipeline (torch): buffers of the
batches in flight (Slot), and the sync and async designs that move batches
through preprocess → H2D → forward → D2H (Pipeline). README.md documents
every NVTX range; the stages themselves live in vit_sources (source
images), vit_cpu_prep (CPU worker processes), vit_gpu_prep (GPU
preprocessing), and the measurement around them in vit_measure / vit_run.

Imports torch at module level: vit_workload.py imports the torch modules
only after torch imported.

Tensor rules that keep the pipeline correct:
- Everything on the main thread after the model is built runs inside one
  grad-mode block (torch.inference_mode(), or torch.no_grad() with
  --grad-mode no_grad); the completion thread enters the same mode.
- Buffers of batch k live in slot k % n_slots (CPU modes: also the workers'
  shared buffer k % n_slots). A slot is reused only after its previous batch
  retired (the host synchronised that batch's D2H event, which follows its
  H2D and forward on the GPU), see vit_sched.async_schedule.
- The model output of a batch is referenced until that batch retired, so the
  caching allocator cannot hand its memory to a later batch while the D2H
  stream still reads it. Under CUDA-graph modes the output lives in the
  graph's static pool and the next replay overwrites it, so it is cloned on
  the compute stream right after the call.
"""

import time

import torch

import vit_cpu_prep
import vit_device
import vit_gpu_prep
import vit_measure
import vit_model
import vit_nvtx
import vit_sched
import vit_settings
import vit_sources
from vit_device import WorkloadError
from vit_nvtx import indexed

GRAD_MODES = {"inference": torch.inference_mode, "no_grad": torch.no_grad}

# for callers of the module before the split (forward_bound.py, benches, tests)
memory_format = vit_gpu_prep.memory_format
available_decoders = vit_sources.available_decoders


class Slot:
    """Slot holds the device buffers and events of one batch in flight (the
    uint8 host buffer of CPU modes is the workers' shared buffer of the same
    index)."""

    def __init__(self, batch, resolution, src_size, dtype, device, mode, fmt):
        b, r = batch, resolution
        # uint8 images on the GPU before the transform: CPU modes upload
        # them (channels-last, as the workers wrote them); nvjpeg decodes
        # into torch's own tensors
        self.dev_src = (torch.empty((b, src_size, src_size, 3), dtype=torch.uint8,
                                    device=device).permute(0, 3, 1, 2)
                        if mode != "nvjpeg" else None)
        self.dev_in = torch.empty((b, 3, r, r), dtype=dtype, device=device).contiguous(
            memory_format=fmt)
        self.host_out = torch.empty((b, vit_settings.NUM_CLASSES), dtype=dtype,
                                    pin_memory=vit_device.PIN_MEMORY)
        self.ev_h2d = torch.cuda.Event()
        self.ev_pre = torch.cuda.Event()
        self.ev_fwd = torch.cuda.Event()
        # blocking: the completion thread sleeps in its synchronize instead of spinning a CPU
        self.ev_d2h = torch.cuda.Event(enable_timing=True, blocking=True)


class Pipeline:
    """Pipeline runs windows of batches through preprocess, H2D, forward and
    D2H, in the sync or the async design (see README.md for the NVTX ranges).

    Preprocessing modes (self.mode):
      cpu         CPU worker processes decode and resize into shared pinned
                  uint8 buffers; H2D copies them; the GPU normalises and
                  casts (on the copy's stream, right after it).
      gpu-upload  CPU worker processes only decode; H2D copies the uint8
                  sources; the GPU resizes, normalises and casts (decoder
                  pil or torchvision-cpu with preprocess gpu).
      nvjpeg      the GPU decodes (one batched torchvision.io.decode_jpeg
                  call: it uploads the JPEG bytes itself), resizes,
                  normalises, casts.

    sync:  everything on the current (default) stream; per batch the host
           preprocesses, copies, runs the model, copies the logits back and
           waits for that copy before the next batch.
    async: streams for H2D copies, preprocessing (nvjpeg, gpu-upload),
           compute and D2H copies, ordered by events. The launching (main)
           thread launches batches in order; a completion thread waits for
           each batch's D2H event in order, retires it the moment it
           completes and admits batch k+Q at once
           (vit_sched.admit_after_retire), so later batches are
           preprocessed while the GPU runs earlier forwards.

    There are max(2, Q) slots (and worker buffers) whatever the design, so
    that vit_measure.prep_rate can run the preprocessing path alone with
    two batches in flight; the pipeline itself uses Q of them (self.depth).
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
        self.fmt = vit_gpu_prep.memory_format(planned["patch_embed"])
        self.forward = None
        self.seq = 0
        self.cpu = None
        self.nvjpeg = None
        if planned["preprocess"] == "cpu":
            self.mode = "cpu"
        elif self.decoder == "nvjpeg":
            self.mode = "nvjpeg"
        else:
            self.mode = "gpu-upload"
        self.depth = planned["queue_depth"] if self.kind == "async" else 1
        n_slots = max(2, self.depth)
        sized = dict(planned, queue_depth=n_slots)
        self.memory = vit_sched.memory_plan(sized, 0)
        problem = vit_sched.check_pinned(self.memory["pinned"], mem_total)
        if problem:
            raise WorkloadError(problem)
        self.pool, self.pool_s = vit_sources.run_pool(planned, seed)
        src_size = self.resolution if self.mode == "cpu" else planned["source_resolution"]
        self.slots = [Slot(self.batch, self.resolution, src_size, self.dtype, device,
                           self.mode, self.fmt) for _ in range(n_slots)]
        self.gscale, self.gbias = vit_gpu_prep.norm_constants(device)
        if self.kind == "async":
            self._make_streams()
        if self.mode == "nvjpeg":
            self.nvjpeg = vit_gpu_prep.NvjpegPreprocessor(device, self.resolution,
                                                          self.resize_mode)
        else:
            self.cpu = vit_cpu_prep.CpuPreprocessor(
                planned["cpu_workers"], planned["cpu_threads_per_worker"], self.pool,
                self.batch, planned["source_resolution"], self.resolution, self.decoder,
                self.resize_mode, self.mode == "cpu", n_slots, grad_mode)
        if vit_device.PIN_MEMORY:
            # the workers' shared buffers were registered (cudaHostRegister
            # checked its status); is_pinned() on them is recorded in details
            if not all(s.host_out.is_pinned() for s in self.slots):
                self.close()
                raise WorkloadError("host buffers are not page-locked: copies would not be async")

    def _make_streams(self):
        if getattr(self, "s_h2d", None) is None:
            self.s_h2d = torch.cuda.Stream(self.device)
            self.s_pre = torch.cuda.Stream(self.device)
            self.s_comp = torch.cuda.Stream(self.device)
            self.s_d2h = torch.cuda.Stream(self.device)

    def close(self):
        if self.cpu is not None:
            self.cpu.close()
            self.cpu = None

    def window(self, n, label, marker=None, min_s=0.0, kind=None, depth=None):
        """window runs at least n batches inside NVTX range `label` (warmup
        or timed), and keeps admitting batches while it has lasted less than
        min_s (vit_sched.WindowStop), and returns its measurements. The range
        starts with an idle GPU and ends after every batch retired and a
        device synchronize. With marker = index, VITLAB_WINDOW begin/end
        lines are printed right after the synchronizes at its edges. Python's
        cyclic garbage collector is collected before and paused inside the
        window (reference counting still frees every batch's objects), as
        timeit does: a collection pause inside a host-bound window is noise.
        kind and depth override the design for this window (vit_measure's
        preprocessing-only rate runs the async design on every slot)."""
        kind = kind or self.kind
        depth = depth or self.depth
        first = self.seq
        with vit_measure.TimedWindow(self.device, self.tracer, label, marker) as tw:
            stop = vit_sched.WindowStop(n, min_s)
            if kind == "sync":
                recs = self._run_sync(stop, tw.ev0)
            else:
                recs = self._run_async(stop, tw.ev0, depth)
        n = len(recs)
        last = self.slots[(first + n - 1) % len(self.slots)].host_out if n else None
        return tw.result(recs, self.batch, first, last)

    def _next_seq(self):
        s = self.seq
        self.seq += 1
        return s

    def slot_of(self, seq):
        return self.slots[seq % len(self.slots)]

    def _upload(self, seq, slot, stream=None):
        """_upload launches the H2D copy of batch seq's uint8 images (the
        workers' buffer) into slot.dev_src; in cpu mode (images already at
        the model resolution) the normalise + cast into slot.dev_in follows
        on the same stream."""
        slot.dev_src.copy_(self.cpu.buffer(seq), non_blocking=True)
        if self.mode == "cpu":
            vit_gpu_prep.transform(slot.dev_src, slot.dev_in, self.gscale, self.gbias,
                                   self.resolution, self.resize_mode)
        if stream is not None:
            slot.ev_h2d.record(stream)

    def _gpu_transform(self, slot):
        vit_gpu_prep.transform(slot.dev_src, slot.dev_in, self.gscale, self.gbias,
                               self.resolution, self.resize_mode)

    def _run_sync(self, stop, ev0):
        tr = self.tracer
        recs = []
        while stop.admit(len(recs)):
            seq = self._next_seq()
            slot = self.slot_of(seq)
            t_admit = time.perf_counter_ns()
            with tr.range(indexed(vit_nvtx.BATCH, seq)):
                if self.mode == "cpu":
                    with tr.range(vit_nvtx.PREPROCESS):
                        self.cpu.submit(seq)
                        self.cpu.wait(seq)
                    with tr.range(vit_nvtx.H2D):
                        self._upload(seq, slot)
                elif self.mode == "gpu-upload":
                    with tr.range(vit_nvtx.H2D):
                        self.cpu.submit(seq)
                        self.cpu.wait(seq)
                        self._upload(seq, slot)
                    with tr.range(vit_nvtx.PREPROCESS):
                        self._gpu_transform(slot)
                else:
                    with tr.range(vit_nvtx.PREPROCESS):
                        self.nvjpeg.run(self.pool.batch(seq, self.batch), slot.dev_in)
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
        """_admit admits batch k (completion thread): CPU modes submit it
        to the workers; nvjpeg enqueues its decode and transform on the
        preprocessing stream and records slot.ev_pre."""
        tr = self.tracer
        with tr.range(indexed(vit_nvtx.ADMIT, seq)):
            rec = {"admit": time.perf_counter_ns(), "logits": None}
            if self.cpu is not None:
                self.cpu.submit(seq)
            else:
                with tr.range(vit_nvtx.PREPROCESS), torch.cuda.stream(self.s_pre):
                    self.nvjpeg.run(self.pool.batch(seq, self.batch), slot.dev_in)
                    slot.ev_pre.record(self.s_pre)
        recs[k] = rec

    def _launch(self, seq, slot, rec):
        """_launch launches batch seq (main thread): the H2D copy (CPU
        modes; cpu: with the normalise + cast), the GPU resize
        (gpu-upload), the forward and the D2H."""
        tr = self.tracer
        with tr.range(indexed(vit_nvtx.BATCH, seq)):
            if self.mode == "cpu":
                with tr.range(vit_nvtx.PREPROCESS):
                    self.cpu.wait(seq)
                with tr.range(vit_nvtx.H2D), torch.cuda.stream(self.s_h2d):
                    self._upload(seq, slot, self.s_h2d)
                ready = slot.ev_h2d
            elif self.mode == "gpu-upload":
                with tr.range(vit_nvtx.H2D):
                    self.cpu.wait(seq)
                    with torch.cuda.stream(self.s_h2d):
                        self._upload(seq, slot, self.s_h2d)
                with tr.range(vit_nvtx.PREPROCESS), torch.cuda.stream(self.s_pre):
                    self.s_pre.wait_event(slot.ev_h2d)
                    self._gpu_transform(slot)
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

    def _run_async(self, stop, ev0, depth):
        """_run_async runs the batches `stop` (vit_sched.WindowStop) admits,
        with vit_sched.run_async_window's rule and `depth` batches in
        flight: the main thread launches batch k once it is admitted (and,
        CPU modes, preprocessed); the completion thread primes the queue,
        then retires each launched batch as soon as its D2H completes and
        admits k+Q right away. Batch seq uses slot seq % n_slots: with Q
        below n_slots a slot is still free when its next batch comes."""
        self._make_streams()
        base = self.seq
        recs = {}
        done = []

        def on_thread():
            if vit_device.DEVICE_TYPE == "cuda":
                torch.cuda.set_device(self.device)
            return self.grad_mode()

        def admit(k):
            self._admit(k, base + k, self.slot_of(base + k), recs)

        def launch(k):
            self._launch(base + k, self.slot_of(base + k), recs[k])

        def retire(k):
            slot = self.slot_of(base + k)
            with self.tracer.range(indexed(vit_nvtx.RETIRE, base + k)):
                slot.ev_d2h.synchronize()
                gpu_ms = ev0.elapsed_time(slot.ev_d2h)
            recs[k]["logits"] = None
            done.append((recs[k]["admit"], gpu_ms))

        try:
            n = vit_sched.run_async_window(stop, depth, admit, launch, retire, on_thread)
        finally:
            self.seq = base + len(recs)
        assert n == len(done), (n, len(done))
        return done
