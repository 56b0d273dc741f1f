#!/usr/bin/env python3
"""Preprocessing-only throughput of the workload's own preprocessing paths,
alone (no model): where a pipeline's preprocessing bound comes from.

    python3 collectors/workload/preprocess_bench.py --source-resolution 256 \\
        --resolution 224 --batch-size 32 --workers 1,2,4,8,15 --seconds 1.5

It builds the workload's SourcePool (synthetic JPEGs, as a run does) and times:

- stages, one thread, image by image: JPEG decode with each CPU decoder and
  the uint8 resize (the plan's filter, channels-last as the workers run it);
- vit_cpu_prep.CpuPreprocessor — the very class a run uses: worker
  processes decoding and resizing into shared (pinned, with a GPU) uint8
  buffers — for each worker count, with `--in-flight` batches queued, no GPU
  work: img/s and the speed-up over one worker;
- with a CUDA GPU: vit_gpu_prep.NvjpegPreprocessor (batched nvJPEG decode +
  resize + normalise + cast into a bf16 buffer) back to back on one stream,
  timed to the final synchronize.

One JSON object on stdout (and --json FILE). Medians over --repeats.
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import torch  # noqa: E402

import vit_cpu_prep  # noqa: E402
import vit_device  # noqa: E402
import vit_gpu_prep  # noqa: E402
import vit_sources  # noqa: E402


def _rate(fn, images, seconds, repeats, sync=None):
    """median images per second of fn (which handles `images` images) over
    repeats windows of about `seconds` each, after one warm-up call."""
    fn()
    if sync:
        sync()
    rates = []
    for _ in range(repeats):
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            fn()
            n += 1
        if sync:
            sync()
        rates.append(n * images / (time.perf_counter() - t0))
    return statistics.median(rates)


def stage_rates(pool, args, decoders):
    torch.set_num_threads(1)
    out = {}
    jpegs = pool.jpegs
    for dec in decoders:
        out["decode_" + dec] = _rate(lambda: [vit_sources.decode_cpu(j, dec) for j in jpegs],
                                     len(jpegs), args.seconds, args.repeats)
    imgs = torch.stack([vit_sources.decode_cpu(j, decoders[0]).permute(1, 2, 0)
                        for j in jpegs]).permute(0, 3, 1, 2)
    out["resize_uint8"] = _rate(lambda: vit_gpu_prep.resize(imgs, args.resolution, args.resize),
                                len(jpegs), args.seconds, args.repeats)
    return out


def worker_rates(pool, args, decoder, workers_list, in_flight):
    out = {}
    for w in workers_list:
        pre = vit_cpu_prep.CpuPreprocessor(w, 1, pool, args.batch_size, args.source_resolution,
                                           args.resolution, decoder, args.resize, True,
                                           in_flight)
        state = {"next": 0, "done": 0}

        def fill():
            # keep in_flight batches queued, wait for the oldest
            while state["next"] < state["done"] + in_flight:
                pre.submit(state["next"])
                state["next"] += 1
            pre.wait(state["done"])
            state["done"] += 1
        try:
            out[str(w)] = _rate(fill, args.batch_size, args.seconds, args.repeats)
        finally:
            while state["done"] < state["next"]:
                pre.wait(state["done"])
                state["done"] += 1
            pre.close()
    return out


def nvjpeg_rate(pool, args):
    dev = torch.device("cuda")
    pre = vit_gpu_prep.NvjpegPreprocessor(dev, args.resolution, args.resize)
    out = torch.empty((args.batch_size, 3, args.resolution, args.resolution),
                      dtype=torch.bfloat16, device=dev)
    state = {"seq": 0}

    def run():
        pre.run(pool.batch(state["seq"], args.batch_size), out)
        state["seq"] += 1
    return _rate(run, args.batch_size, args.seconds, args.repeats, sync=torch.cuda.synchronize)


def main(argv=None):
    p = argparse.ArgumentParser(prog="preprocess_bench.py", description=__doc__.split("\n")[0])
    p.add_argument("--source-resolution", type=int, default=256)
    p.add_argument("--resolution", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--resize", default="bilinear-antialias",
                   choices=sorted(vit_gpu_prep.RESIZE_MODES))
    p.add_argument("--quality", type=int, default=90)
    p.add_argument("--workers", default="1,2,4,8,15")
    p.add_argument("--in-flight", type=int, default=2)
    p.add_argument("--decoders", default="torchvision-cpu")
    p.add_argument("--seconds", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-gpu", action="store_true")
    p.add_argument("--json", default="")
    args = p.parse_args(argv)
    workers_list = [int(x) for x in args.workers.split(",") if x]
    avail = vit_sources.available_decoders()
    decoders = [d for d in args.decoders.split(",") if d in avail and d != "nvjpeg"]
    if not decoders:
        print("no CPU decoder available (%s)" % ", ".join(avail), file=sys.stderr)
        return 1
    gpu = torch.cuda.is_available() and not args.no_gpu
    vit_device.PIN_MEMORY = gpu
    t = time.perf_counter()
    pool = vit_sources.SourcePool(max(1, min(vit_sources.POOL_IMAGES, args.batch_size)),
                                  args.source_resolution, args.quality, 0)
    res = {
        "source_resolution": args.source_resolution, "resolution": args.resolution,
        "batch_size": args.batch_size, "resize": args.resize, "quality": args.quality,
        "jpeg_bytes_mean": pool.bytes / len(pool.jpegs), "encoder": pool.encoder,
        "pool_s": time.perf_counter() - t, "cpus": len(os.sched_getaffinity(0)),
        "torch": torch.__version__, "decoders": decoders, "in_flight": args.in_flight,
        "gpu": torch.cuda.get_device_name() if gpu else None,
    }
    with torch.inference_mode():
        res["stage_img_per_s_1thread"] = stage_rates(pool, args, decoders)
        res["worker_processes_img_per_s"] = {
            d: worker_rates(pool, args, d, workers_list, args.in_flight) for d in decoders}
        if gpu and "nvjpeg" in avail:
            res["nvjpeg_img_per_s"] = nvjpeg_rate(pool, args)
    line = json.dumps(res)
    print(line)
    if args.json:
        with open(args.json, "w") as f:
            f.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
