#!/usr/bin/env python3
"""patch_embed_bench.py: times the ViT patch-embedding projection in each
way the workload can compute it (the `patch_embed` setting), on the GPU.

    python3 collectors/workload/patch_embed_bench.py [--batch-size 64] [--resolution 224]
        [--patches 8,16,32] [--hiddens 384,768] [--json OUT.json]

For each (patch, hidden) it times, in bf16 with CUDA events (median of
repeats), the projection of a (B, 3, R, R) image batch to (B, N, hidden)
tokens:
  conv-cudnn          nn.Conv2d(kernel=stride=patch), NCHW input, cudnn.benchmark off
  conv-cudnn-bench    the same with cudnn.benchmark on
  conv-channels-last  channels_last weights and input, cudnn.benchmark on
  unfold-linear       patches gathered by a reshape/permute copy, then one GEMM
                      (vit_model.LinearPatchProj, numerically the same projection)
and the CUDA kernels each one launched (torch.profiler). TFLOP/s counts the
projection's 2*B*N*hidden*3*patch^2 FLOPs. README.md quotes the results.
"""

import argparse
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vit_model  # noqa: E402


def time_ms(fn, iters=50, repeats=7):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(repeats):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(iters):
            fn()
        b.record()
        b.synchronize()
        out.append(a.elapsed_time(b) / iters)
    out.sort()
    return out[len(out) // 2]


def kernels(fn):
    from torch.profiler import ProfilerActivity, profile
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    names = []
    for e in prof.events():
        if e.device_type.name == "CUDA" and e.name not in names:
            names.append(e.name)
    return [n[:90] for n in names]


def variants(patch, hidden, bs, res):
    conv = torch.nn.Conv2d(3, hidden, kernel_size=patch, stride=patch).cuda().to(torch.bfloat16)
    x = torch.randn(bs, 3, res, res, device="cuda", dtype=torch.bfloat16)
    lin = vit_model.LinearPatchProj(conv)
    conv_cl = torch.nn.Conv2d(3, hidden, kernel_size=patch, stride=patch).cuda().to(torch.bfloat16)
    conv_cl.load_state_dict(conv.state_dict())
    conv_cl = conv_cl.to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    tok = lambda y: y.flatten(2).transpose(1, 2)  # noqa: E731 - what timm's PatchEmbed does next
    ref = tok(conv(x)).float()
    for name, fn in (("unfold-linear", lambda: tok(lin(x))),
                     ("conv-channels-last", lambda: tok(conv_cl(x_cl)))):
        err = (fn().float() - ref).abs().max().item()
        scale = ref.abs().max().item()
        yield name + ":maxabs_err_vs_conv", err / scale
    yield "conv-cudnn", (False, lambda: tok(conv(x)))
    yield "conv-cudnn-bench", (True, lambda: tok(conv(x)))
    yield "conv-channels-last", (True, lambda: tok(conv_cl(x_cl)))
    yield "conv-channels-last-nobench", (False, lambda: tok(conv_cl(x_cl)))
    yield "unfold-linear", (True, lambda: tok(lin(x)))
    patches = lin.patches(x)
    yield "unfold-linear-gemm-only", (True, lambda: torch.nn.functional.linear(
        patches, lin.weight, lin.bias))
    yield "unfold-linear-channels-last", (True, lambda: tok(lin(x_cl)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--patches", default="8,16,32")
    ap.add_argument("--hiddens", default="384,768")
    ap.add_argument("--models", default="",
                    help="also time whole timm ViT forwards with each variant: "
                         "comma-separated PATCHxHIDDENxDEPTH, e.g. 16x768x12")
    ap.add_argument("--json")
    a = ap.parse_args()
    rows = []
    with torch.inference_mode():
        for p in [int(v) for v in a.patches.split(",")]:
            for h in [int(v) for v in a.hiddens.split(",")]:
                n = (a.resolution // p) ** 2
                flops = 2.0 * a.batch_size * n * h * 3 * p * p
                errs = {}
                for name, v in variants(p, h, a.batch_size, a.resolution):
                    if name.endswith("_err_vs_conv"):
                        errs[name] = v
                        continue
                    bench, fn = v
                    torch.backends.cudnn.benchmark = bench
                    ms = time_ms(fn)
                    row = {"patch": p, "hidden": h, "batch_size": a.batch_size,
                           "resolution": a.resolution, "variant": name,
                           "cudnn_benchmark": bench, "ms": ms, "tflops": flops / ms / 1e9,
                           "kernels": kernels(fn)}
                    rows.append(row)
                    print("p%-2d h%-4d %-28s %8.4f ms %7.1f TFLOP/s  %s" % (
                        p, h, name, ms, row["tflops"], " | ".join(row["kernels"])), flush=True)
                print("   relative max error vs conv: %s" % errs, flush=True)
    models = []
    if a.models:
        from timm.models.vision_transformer import VisionTransformer
        for spec in a.models.split(","):
            p, h, d = [int(v) for v in spec.split("x")]
            for variant in ("conv-cudnn", "conv-channels-last", "unfold-linear"):
                torch.backends.cudnn.benchmark = True
                with torch.device("cuda"):
                    m = VisionTransformer(img_size=a.resolution, patch_size=p, embed_dim=h, depth=d,
                                          num_heads=h // 64, num_classes=1000)
                m = m.to(torch.bfloat16).eval().requires_grad_(False)
                x = torch.randn(a.batch_size, 3, a.resolution, a.resolution, device="cuda",
                                dtype=torch.bfloat16)
                if variant == "conv-channels-last":
                    m.patch_embed.proj = m.patch_embed.proj.to(memory_format=torch.channels_last)
                    x = x.contiguous(memory_format=torch.channels_last)
                elif variant == "unfold-linear":
                    m.patch_embed.proj = vit_model.LinearPatchProj(m.patch_embed.proj)
                with torch.inference_mode():
                    ms = time_ms(lambda: m(x), iters=10, repeats=5)
                models.append({"patch": p, "hidden": h, "depth": d, "variant": variant, "forward_ms": ms,
                               "img_s": a.batch_size / ms * 1e3})
                print("model p%d h%d d%d %-20s forward %.3f ms  %.0f img/s" % (
                    p, h, d, variant, ms, a.batch_size / ms * 1e3), flush=True)
    out = {"models": models, "gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "cudnn": torch.backends.cudnn.version(), "rows": rows}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
