#!/usr/bin/env python3
"""CPU preprocessing throughput of the pipeline's own code, by stage and by
worker count: where the CPU-preprocessing pipeline's time goes.

    python3 collectors/workload/preprocess_bench.py --source-resolution 256 \\
        --resolution 224 --batch-size 32 --workers 1,2,4,8,15 --seconds 1.5

It builds the pipeline's SourcePool (synthetic images JPEG-encoded at start-
up, as a run does) and times, on the CPU only (no GPU needed):

- stages, one thread, image by image: JPEG decode with each CPU decoder,
  the resize (uint8, the plan's filter), normalise-and-cast to bf16;
- the pipeline's CpuPreprocessor (the very class a run uses: worker
  threads, one job per worker per batch) filling a batch buffer, for each
  worker count, with each decoder: img/s and the speed-up over one worker.
  A speed-up far below the worker count means the workers serialise (the
  GIL, or memory bandwidth), not that a core is slow;
- the same work in worker processes (multiprocessing, one batch slice per
  process, results discarded) as the reference for what the cores can do
  without a shared interpreter.

One JSON object on stdout (and --json FILE). Medians over --repeats.
"""

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import torch  # noqa: E402

import vit_pipeline as vp  # noqa: E402


class _NoTrace:
    def range(self, name):  # noqa: ARG002
        return _Null()


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _rate(fn, images, seconds, repeats):
    """median images per second of fn (which handles `images` images) over
    repeats windows of about `seconds` each, after one warm-up call."""
    fn()
    rates = []
    for _ in range(repeats):
        n = 0
        t0 = time.perf_counter()
        while True:
            fn()
            n += images
            dt = time.perf_counter() - t0
            if dt >= seconds:
                break
        rates.append(n / dt)
    return statistics.median(rates)


def stage_rates(pool, args, decoders):
    """per-image rates of each stage on one thread."""
    torch.set_num_threads(1)
    out = {}
    jpegs = pool.batch(0, args.batch_size)
    for dec in decoders:
        out["decode_" + dec] = _rate(lambda: [vp.decode_cpu(j, dec) for j in jpegs],
                                     len(jpegs), args.seconds, args.repeats)
    imgs = torch.stack([vp.decode_cpu(j, decoders[0]) for j in jpegs])
    out["resize_uint8"] = _rate(lambda: vp.resize(imgs, args.resolution, args.resize),
                                len(jpegs), args.seconds, args.repeats)
    small = vp.resize(imgs, args.resolution, args.resize)
    scale, bias = vp.norm_constants("cpu")
    buf = torch.empty(len(jpegs), 3, args.resolution, args.resolution, dtype=torch.bfloat16)
    out["normalise_cast"] = _rate(lambda: buf.copy_(torch.addcmul(bias, small.float(), scale)),
                                  len(jpegs), args.seconds, args.repeats)
    return out


def pool_rates(pool, args, decoders, workers_list):
    """img/s of the pipeline's CpuPreprocessor filling one batch buffer."""
    out = {}
    buf = torch.empty(args.batch_size, 3, args.resolution, args.resolution, dtype=torch.bfloat16)
    for dec in decoders:
        row = {}
        for w in workers_list:
            cp = vp.CpuPreprocessor(w, 1, args.resolution, args.source_resolution, dec,
                                    args.resize, True, _NoTrace(), torch.inference_mode)
            seq = [0]

            def one():
                cp.wait(cp.submit(seq[0], pool.batch(seq[0], args.batch_size), buf))
                seq[0] += 1
            with torch.inference_mode():
                row[str(w)] = _rate(one, args.batch_size, args.seconds, args.repeats)
            cp.close()
        out[dec] = row
    return out


def _proc_worker(conn, source_resolution, resolution, resize, decoder, quality, images, seconds):
    torch.set_num_threads(1)
    pool = vp.SourcePool(images, source_resolution, quality, 1)
    scale, bias = vp.norm_constants("cpu")
    buf = torch.empty(images, 3, resolution, resolution, dtype=torch.bfloat16)
    conn.recv()  # start together
    n = 0
    t0 = time.perf_counter()
    with torch.inference_mode():
        while time.perf_counter() - t0 < seconds:
            imgs = torch.stack([vp.decode_cpu(j, decoder) for j in pool.jpegs])
            buf.copy_(torch.addcmul(bias, vp.resize(imgs, resolution, resize).float(), scale))
            n += images
    conn.send((n, time.perf_counter() - t0))


def process_rates(args, decoder, workers_list):
    """img/s of W processes doing the same work independently (no GIL shared)."""
    ctx = mp.get_context("spawn")
    out = {}
    per = max(1, args.batch_size // 4)
    for w in workers_list:
        pipes, procs = [], []
        for _ in range(w):
            a, b = ctx.Pipe()
            p = ctx.Process(target=_proc_worker, args=(b, args.source_resolution, args.resolution,
                                                       args.resize, decoder, args.quality, per,
                                                       args.seconds))
            p.start()
            pipes.append(a)
            procs.append(p)
        for a in pipes:
            a.send("go")
        total = 0.0
        for a in pipes:
            n, dt = a.recv()
            total += n / dt
        for p in procs:
            p.join()
        out[str(w)] = total
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="preprocess_bench.py", description=__doc__.split("\n")[0])
    p.add_argument("--source-resolution", type=int, default=256)
    p.add_argument("--resolution", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--resize", default="bilinear-antialias", choices=sorted(vp.RESIZE_MODES))
    p.add_argument("--quality", type=int, default=90)
    p.add_argument("--workers", default="1,2,4,8,15")
    p.add_argument("--decoders", default="torchvision-cpu,pil")
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--processes", action="store_true", help="also time worker processes")
    p.add_argument("--json", default="")
    args = p.parse_args(argv)
    workers_list = [int(x) for x in args.workers.split(",") if x]
    avail = vp.available_decoders()
    decoders = [d for d in args.decoders.split(",") if d in avail and d != "nvjpeg"]
    if not decoders:
        print("no CPU decoder available (%s)" % ", ".join(avail), file=sys.stderr)
        return 1
    t = time.perf_counter()
    pool = vp.SourcePool(max(1, min(vp.POOL_IMAGES, args.batch_size)), args.source_resolution,
                         args.quality, 1)
    res = {
        "source_resolution": args.source_resolution, "resolution": args.resolution,
        "batch_size": args.batch_size, "resize": args.resize, "quality": args.quality,
        "jpeg_bytes_mean": pool.bytes / len(pool.jpegs), "encoder": pool.encoder,
        "pool_s": time.perf_counter() - t, "cpus": len(os.sched_getaffinity(0)),
        "torch": torch.__version__, "decoders": decoders,
    }
    with torch.inference_mode():
        res["stage_img_per_s_1thread"] = stage_rates(pool, args, decoders)
    torch.set_num_threads(1)
    res["cpu_preprocessor_img_per_s"] = pool_rates(pool, args, decoders, workers_list)
    if args.processes:
        res["processes_img_per_s"] = {d: process_rates(args, d, workers_list) for d in decoders}
    line = json.dumps(res)
    print(line)
    if args.json:
        with open(args.json, "w") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
