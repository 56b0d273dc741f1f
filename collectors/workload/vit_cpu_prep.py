"""CPU preprocessing in worker processes (torch).

CpuPreprocessor forks min(cpu_workers, batch_size) worker processes
(vit_workers.WorkerPool) once per run. Batch seq goes to buffer slot
seq % n_buffers; worker i decodes its contiguous image range of the batch
(decoder torchvision-cpu or pil) and, with resize_to set (preprocess cpu),
resizes it to the model resolution in uint8 with torch's CPU kernels — as
a DataLoader worker running torchvision's transforms does — writing
straight into the slot's shared uint8 buffer. The buffers are shared
memory (the workers write them in place, no pickling, no collate copy) and
page-locked in the launching process (cudaHostRegister), so the H2D copy
is asynchronous and reads them directly; normalise + cast to the model
dtype run on the GPU (vit_gpu_prep.transform).

Buffers are channels-last uint8 (N, 3, H, W) views of (N, H, W, 3) memory:
the layout the decoders produce and the one torch's uint8 antialiased
resize is fastest in. Workers inherit the launcher's CPU affinity (fork),
so NUMA binding holds for them; each runs cpu_threads_per_worker intra-op
threads. Workers push no NVTX ranges: nsys does not follow processes that
fork without exec (tracing them is undefined behaviour by its own docs),
so in a trace a CPU batch's preprocessing is the launching thread's wait
for it (`preprocess`) and the GPU work that follows.
"""

import torch

import vit_device
import vit_gpu_prep
import vit_sched
import vit_sources
import vit_workers


def register_pinned(t):
    """register_pinned page-locks t's memory for the GPU (cudaHostRegister);
    raises WorkloadError when the driver refuses."""
    cudart = torch.cuda.cudart()
    nbytes = t.numel() * t.element_size()
    err = cudart.cudaHostRegister(t.data_ptr(), nbytes, 0)
    code = int(getattr(err, "value", err))
    if code != 0:
        raise vit_device.WorkloadError("cudaHostRegister of a %d-byte shared preprocessing "
                                       "buffer failed (error %d)" % (nbytes, code))


def unregister_pinned(t):
    try:
        torch.cuda.cudart().cudaHostUnregister(t.data_ptr())
    except Exception:  # noqa: BLE001 - at shutdown, nothing to do about it
        pass


def shared_batch_buffer(batch, size):
    """shared_batch_buffer is a (batch, 3, size, size) uint8 tensor in shared
    memory, channels-last."""
    base = torch.empty((batch, size, size, 3), dtype=torch.uint8).share_memory_()
    return base.permute(0, 3, 1, 2)


class CpuPreprocessor:
    """CpuPreprocessor: worker processes decode (and resize) batches into
    shared, pinned, reusable uint8 buffers (see the module doc).

    submit(seq) queues batch seq into buffer seq % len(buffers); wait(seq)
    blocks until it is filled (a worker error or death raises
    vit_workers.WorkerError naming the worker). Batches are waited for in
    submission order; a buffer is submitted again only after the GPU copy
    that read it completed (the pipeline's slot rule)."""

    def __init__(self, workers, threads, pool, batch, source_resolution, resolution, decoder,
                 resize_mode, resize, n_buffers, grad_mode=torch.inference_mode):
        self.workers = workers
        self.threads = threads
        self.batch = batch
        self.decoder = decoder
        self.size = resolution if resize else source_resolution
        self.processes = min(workers, batch)
        self.ranges = vit_sched.split_range(batch, self.processes)
        self.buffers = [shared_batch_buffer(batch, self.size) for _ in range(n_buffers)]
        self.pinned = False
        sub = vit_sched.sub_chunk_images(resolution, source_resolution)
        buffers, ranges = self.buffers, self.ranges
        size = self.size

        def init(i):
            torch.set_num_threads(threads)

        def job(i, seq, slot):
            lo, hi = ranges[i]
            out = buffers[slot]
            jpegs = pool.batch(seq, batch)
            with grad_mode():
                for a in range(lo, hi, sub):
                    b = min(hi, a + sub)
                    # decoders return CHW views of HWC memory: stacking the HWC
                    # views gives an NHWC batch, i.e. NCHW channels-last
                    hwc = [vit_sources.decode_cpu(jpegs[k], decoder).permute(1, 2, 0)
                           for k in range(a, b)]
                    x = torch.stack(hwc).permute(0, 3, 1, 2)
                    if resize:
                        x = vit_gpu_prep.resize(x, size, resize_mode)
                    out[a:b].copy_(x)

        self.pool = vit_workers.WorkerPool(self.processes, job, init)
        try:
            if vit_device.PIN_MEMORY:
                for t in self.buffers:
                    # after the fork: the driver marks page-locked memory
                    # MADV_DONTFORK, which would unmap it in the workers
                    register_pinned(t)
                self.pinned = True
        except BaseException:
            self.close()
            raise

    def buffer(self, seq):
        return self.buffers[seq % len(self.buffers)]

    def submit(self, seq):
        try:
            self.pool.submit(seq, seq % len(self.buffers))
        except vit_workers.WorkerError as e:
            raise vit_device.WorkloadError(str(e)) from e

    def wait(self, seq):
        try:
            self.pool.wait(seq)
        except vit_workers.WorkerError as e:
            raise vit_device.WorkloadError(str(e)) from e

    def close(self):
        self.pool.close()
        if self.pinned:
            for t in self.buffers:
                unregister_pinned(t)
            self.pinned = False
