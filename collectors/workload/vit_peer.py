"""The peer pipeline (`pipeline: peer`): what a user writes with torch's
DataLoader, run by the workload like any other design so that it is
collected, traced and ingested as a run of its own, beside vitlab's
pipelines on the same host, data, model and batch.

Per batch, nothing vitlab-specific:
- a map-style Dataset whose __getitem__ decodes one of the run's source
  JPEGs (torchvision.io.decode_jpeg) and resizes it to the model resolution
  (torchvision.transforms.v2.functional.resize, bilinear, antialiased,
  uint8);
- DataLoader(num_workers=cpu_workers, batch_size, pin_memory=True,
  persistent_workers=True, prefetch_factor=queue_depth, drop_last=True)
  (its default collate, its pin-memory thread, fork-started workers with one
  intra-op thread each);
- x.to(device, non_blocking=True), normalise in float32 and cast on the GPU,
  the model, logits copied to the host and waited for.

The model is the run's own (the same settings as vitlab's variants beside
it, patch_embed included), so the comparison is of the pipelines alone;
peer_bench.py runs timm's stock model with the same loop.

Latency of a batch: from the DataLoader handing it over to its logits on the
host (the DataLoader's own queueing is not visible from the loop).
Headroom's preprocessing-only rate is the same loop with the model replaced
by a constant (vit_measure.prep_rate), i.e. the DataLoader's rate with its
upload and normalisation.

The class has the attributes and window() of vit_pipeline.Pipeline that
vit_run and vit_measure use. Imports torch at module level.
"""

import time

import torch

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

# The resize the peer's Dataset does (TF.resize(antialias=True)).
PEER_RESIZE = "bilinear-antialias"
PEER_DECODER = "torchvision-cpu"


class _Jpegs(torch.utils.data.Dataset):
    """_Jpegs serves decoded, resized uint8 CHW images, endlessly, from the
    run's source JPEGs."""

    def __init__(self, jpegs, resolution):
        self.jpegs = jpegs
        self.resolution = resolution

    def __len__(self):
        return 1 << 30

    def __getitem__(self, i):
        from torchvision.io import ImageReadMode, decode_jpeg
        from torchvision.transforms.v2 import functional as TF
        img = decode_jpeg(self.jpegs[i % len(self.jpegs)], mode=ImageReadMode.RGB)
        return TF.resize(img, [self.resolution, self.resolution], antialias=True)


class _Slot:
    """_Slot: the example input buffer (shape, dtype, memory format checks
    and torch.compile's example) and the logits' host copy."""

    def __init__(self, batch, resolution, dtype, device, fmt):
        self.dev_in = torch.empty((batch, 3, resolution, resolution), dtype=dtype,
                                  device=device).contiguous(memory_format=fmt)
        self.host_out = torch.empty((batch, vit_settings.NUM_CLASSES), dtype=dtype,
                                    pin_memory=vit_device.PIN_MEMORY)
        self.ev_d2h = torch.cuda.Event(enable_timing=True, blocking=True)


class PeerPipeline:
    """PeerPipeline runs windows of batches from a torch DataLoader (see the
    module doc)."""

    def __init__(self, planned, device, tracer, seed, mem_total,
                 grad_mode=torch.inference_mode):
        if planned["preprocess"] != "cpu":
            raise WorkloadError("pipeline peer preprocesses in DataLoader workers: it needs "
                                "preprocess cpu, not %s" % planned["preprocess"])
        if planned["resize"] != PEER_RESIZE or planned["decoder"] != PEER_DECODER:
            raise WorkloadError("pipeline peer decodes with %s and resizes %s; the run asked "
                                "decoder %s, resize %s" % (PEER_DECODER, PEER_RESIZE,
                                                           planned["decoder"], planned["resize"]))
        self.planned = planned
        self.device = device
        self.tracer = tracer
        self.grad_mode = grad_mode
        self.kind = "peer"
        self.mode = "cpu"
        self.batch = planned["batch_size"]
        self.resolution = planned["resolution"]
        self.resize_mode = planned["resize"]
        self.decoder = planned["decoder"]
        self.dtype = vit_model.TORCH_DTYPES[planned["dtype"]]
        self.fmt = vit_gpu_prep.memory_format(planned["patch_embed"])
        self.depth = planned["queue_depth"]
        self.workers = planned["cpu_workers"]
        self.forward = None
        self.seq = 0
        self.cpu = None
        self.nvjpeg = None
        img = 3 * self.resolution * self.resolution
        # pinned: the batches the DataLoader holds (prefetch_factor a worker,
        # pinned by its thread) and the logits' copies
        self.memory = {"pinned": self.workers * self.depth * self.batch * img
                       + 2 * self.batch * vit_settings.NUM_CLASSES * vit_settings.DTYPE_BYTES[planned["dtype"]],
                       "device": 2 * self.batch * img * vit_settings.DTYPE_BYTES[planned["dtype"]]}
        problem = vit_sched.check_pinned(self.memory["pinned"], mem_total)
        if problem:
            raise WorkloadError(problem)
        self.pool, self.pool_s = vit_sources.run_pool(planned, seed)
        self.slots = [_Slot(self.batch, self.resolution, self.dtype, device, self.fmt)
                      for _ in range(2)]
        # the loop a user writes: (x - 255·mean) / (255·std) in float32
        self.mean = torch.tensor(vit_gpu_prep.IMAGENET_MEAN, device=device).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(vit_gpu_prep.IMAGENET_STD, device=device).view(1, 3, 1, 1) * 255
        self.loader = torch.utils.data.DataLoader(
            _Jpegs(self.pool.jpegs, self.resolution), batch_size=self.batch,
            num_workers=self.workers, pin_memory=vit_device.PIN_MEMORY, persistent_workers=True,
            prefetch_factor=self.depth, drop_last=True)
        self.it = iter(self.loader)

    def details(self):
        """details is what the run records of the DataLoader."""
        return {"dataloader": {"num_workers": self.workers, "prefetch_factor": self.depth,
                               "pin_memory": vit_device.PIN_MEMORY, "persistent_workers": True,
                               "worker_pids": [int(p.pid) for p in getattr(self.it, "_workers", [])]}}

    def close(self):
        it, self.it = getattr(self, "it", None), None
        shutdown = getattr(it, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()

    def window(self, n, label, marker=None, min_s=0.0, kind=None, depth=None):
        """window runs at least n batches (and more while it has lasted less
        than min_s) inside NVTX range `label`, as Pipeline.window does, and
        returns the same measurements. kind and depth are ignored: the
        DataLoader is the design."""
        dev = self.device
        tr = self.tracer
        first = self.seq
        recs = []
        with vit_measure.TimedWindow(dev, tr, label, marker) as tw:
            stop = vit_sched.WindowStop(n, min_s)
            while stop.admit(len(recs)):
                seq = self.seq
                self.seq += 1
                slot = self.slots[seq % len(self.slots)]
                with tr.range(indexed(vit_nvtx.BATCH, seq)):
                    with tr.range(vit_nvtx.PREPROCESS):
                        x = next(self.it)
                    t_admit = time.perf_counter_ns()
                    with tr.range(vit_nvtx.H2D):
                        x = x.to(dev, non_blocking=True)
                        x = ((x.float() - self.mean) / self.std).to(
                            self.dtype, memory_format=self.fmt)
                    with tr.range(vit_nvtx.FORWARD):
                        logits = self.forward(x)
                    with tr.range(vit_nvtx.D2H):
                        slot.host_out.copy_(logits, non_blocking=True)
                        slot.ev_d2h.record()
                    with tr.range(indexed(vit_nvtx.RETIRE, seq)):
                        slot.ev_d2h.synchronize()
                        gpu_ms = tw.ev0.elapsed_time(slot.ev_d2h)
                    del logits, x
                recs.append((t_admit, gpu_ms))
        n = len(recs)
        last = self.slots[(first + n - 1) % len(self.slots)].host_out if n else None
        return tw.result(recs, self.batch, first, last)
