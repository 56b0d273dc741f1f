#!/usr/bin/env python3
"""The peer: the plain pipeline a user would write with torch's DataLoader
and timm, run on the same data, model and batch as vitlab's variants, so
that vitlab's numbers can be shown beside it (issue 21).

    python3 collectors/workload/peer_bench.py --batch-size 32 --workers 8,15 \\
        --json peer.json

What it runs (nothing vitlab-specific in the loop):
- data: the workload's own synthetic source JPEGs (vit_sources.SourcePool,
  same seed, size and quality as a run: 256² → 224² by default), served by a
  map-style Dataset whose __getitem__ decodes one JPEG
  (torchvision.io.decode_jpeg) and resizes it (torchvision's
  transforms.v2.functional.resize, bilinear antialiased, uint8) — the usual
  ImageNet-eval preprocessing, minus the crop;
- DataLoader(num_workers=N, batch_size=B, pin_memory=True,
  persistent_workers=True, prefetch_factor=2, drop_last=True);
- per batch: x.cuda(non_blocking=True), normalise in float32 and cast to
  bf16 on the GPU, timm's vit_base_patch16_224 (random weights, bf16, eval,
  inference_mode), logits.cpu() (the host has every batch's logits, as in
  vitlab's pipelines).
Throughput: images / seconds of a window of at least --min-s, from the first
batch handed out after warm-up to the last logits on the host; --repeats
windows, median reported. One JSON object per worker count.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", default="8,15", help="comma-separated DataLoader num_workers")
    p.add_argument("--resolution", type=int, default=224)
    p.add_argument("--source-resolution", type=int, default=256)
    p.add_argument("--jpeg-quality", type=int, default=90)
    p.add_argument("--timm-name", default="vit_base_patch16_224")
    p.add_argument("--min-s", type=float, default=2.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=10, help="warm-up batches")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the results (a JSON list) here")
    args = p.parse_args(argv)

    import timm
    import torch
    import torchvision
    from torch.utils.data import DataLoader, Dataset
    from torchvision.io import ImageReadMode, decode_jpeg
    from torchvision.transforms.v2 import functional as TF

    import vit_sources

    pool = vit_sources.SourcePool(min(64, args.batch_size), args.source_resolution,
                                  args.jpeg_quality, args.seed)
    R = args.resolution

    class Jpegs(Dataset):
        def __len__(self):
            return 1 << 30

        def __getitem__(self, i):
            img = decode_jpeg(pool.jpegs[i % len(pool.jpegs)], mode=ImageReadMode.RGB)
            return TF.resize(img, [R, R], antialias=True)

    dev = torch.device("cuda")
    torch.manual_seed(args.seed)
    model = timm.create_model(args.timm_name, pretrained=False, num_classes=1000,
                              img_size=R).to(dev, torch.bfloat16).eval()
    mean = torch.tensor([0.485, 0.456, 0.406], device=dev).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225], device=dev).view(1, 3, 1, 1) * 255
    results = []
    for nw in [int(x) for x in args.workers.split(",") if x]:
        loader = DataLoader(Jpegs(), batch_size=args.batch_size, num_workers=nw,
                            pin_memory=True, persistent_workers=nw > 0,
                            prefetch_factor=2 if nw > 0 else None, drop_last=True)
        it = iter(loader)
        windows = []
        with torch.inference_mode():
            def step(it):
                x = next(it).to(dev, non_blocking=True)
                x = ((x.float() - mean) / std).to(torch.bfloat16)
                return model(x).cpu()
            for _ in range(args.warmup):
                step(it)
            for _ in range(args.repeats):
                n = 0
                t0 = time.perf_counter()
                while True:
                    step(it)
                    n += 1
                    el = time.perf_counter() - t0
                    if el >= args.min_s:
                        break
                windows.append(n * args.batch_size / el)
        del it, loader
        r = {"kind": "peer-dataloader-timm", "model": args.timm_name,
             "batch_size": args.batch_size, "num_workers": nw, "resolution": R,
             "source_resolution": args.source_resolution, "jpeg_quality": args.jpeg_quality,
             "dtype": "bfloat16", "pin_memory": True, "persistent_workers": nw > 0,
             "prefetch_factor": 2, "img_per_s": statistics.median(windows),
             "windows_img_per_s": windows, "min_s": args.min_s,
             "cpus_allowed": len(os.sched_getaffinity(0)),
             "gpu": torch.cuda.get_device_name(dev), "torch": torch.__version__,
             "torchvision": torchvision.__version__, "timm": timm.__version__,
             "python": platform.python_version()}
        print(json.dumps(r), flush=True)
        results.append(r)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
