#!/usr/bin/env python3
"""Forward-only throughput of a ViT shape: the bound a full pipeline is
compared with (no preprocessing, no copies, no per-batch sync).

    python3 collectors/workload/forward_bound.py --patch 16 --depth 12 \\
        --hidden 768 --resolution 224 --batch-size 256 --modes eager,default

A random input of the model dtype already lives on the GPU. Per mode: the
model is (compiled and) called once (compile_s), `--warmup` calls follow,
then `--repeats` windows of `--iters` back-to-back calls, each timed with CUDA
events around the whole window (one sync at its end). Throughput =
batch * iters / window time; the median over the windows is reported. The
model is built exactly as vit_workload.py builds it (vit_model.build from the
resolved settings), or with --timm-name from timm.create_model, to check the
shape-built model against timm's named one (GPU.md: vit_base_patch16_224
bs256 ~ 10,300 img/s eager on an H100). One JSON line per mode on stdout;
--json also writes them all to a file. Exit status 1 if any mode failed.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import vit_settings  # noqa: E402
import vit_stats  # noqa: E402
import vit_workload  # noqa: E402  (pure helpers: compile cache, errors, cpus)


def build_parser():
    p = argparse.ArgumentParser(prog="forward_bound.py",
                                description="Forward-only ViT throughput on one GPU.")
    p.add_argument("--patch", type=int, default=0)
    p.add_argument("--depth", type=int, default=0)
    p.add_argument("--hidden", type=int, default=0)
    p.add_argument("--heads", type=int, default=0, help="default hidden/64")
    p.add_argument("--mlp", type=int, default=0, help="default 4*hidden")
    p.add_argument("--resolution", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=0)
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--model", default="", help="timm_vit (default) or vitlab_vit")
    p.add_argument("--timm-name", default="",
                   help="build timm.create_model(NAME, pretrained=False) instead of the shape")
    p.add_argument("--modes", default="eager",
                   help="comma-separated compile modes: eager,default,reduce-overhead,max-autotune")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compile-cache", default="fresh", metavar="fresh|default|DIR")
    p.add_argument("--grad-mode", default="inference", choices=("inference", "no_grad"))
    p.add_argument("--patch-embed", default="", metavar="KIND",
                   help="patch_embed setting (conv-cudnn, conv-channels-last, unfold-linear); "
                        "default: the registry's")
    p.add_argument("--json", default="", metavar="FILE", help="also write the results here")
    return p


def requested_settings(args):
    """requested_settings turns the shape arguments into workload request
    settings (an argument left at 0 or "" is absent: the registry default)."""
    req = {"patch": args.patch, "depth": args.depth, "hidden": args.hidden,
           "heads": args.heads, "mlp": args.mlp, "resolution": args.resolution,
           "batch_size": args.batch_size, "dtype": args.dtype, "model": args.model,
           "patch_embed": getattr(args, "patch_embed", "")}
    return {k: v for k, v in req.items() if v not in (0, "", None)}


def modes_of(text):
    modes = []
    for m in text.split(","):
        m = m.strip()
        if not m:
            continue
        modes.append(vit_settings.canonical("compile_mode", m))
    if not modes:
        raise vit_settings.SettingsError("--modes is empty")
    return modes


def measure(torch, vit_run, vit_nvtx, model, mode, x, planned, args):
    """measure returns the result dict of one compile mode."""
    dtype = x.dtype
    batch = x.shape[0]
    if mode != "eager":
        torch._dynamo.reset()
    torch.cuda.reset_peak_memory_stats()
    fwd, compile_s = vit_run.compile_model(model, mode, x, batch, dtype,
                                                vit_nvtx.Tracer(None), vit_workload.log)
    for _ in range(args.warmup):
        fwd(x)
    torch.cuda.synchronize()
    runs = []
    for _ in range(args.repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(args.iters):
            fwd(x)
        end.record()
        end.synchronize()
        ms = start.elapsed_time(end)
        runs.append(batch * args.iters / (ms / 1e3))
    return {"mode": mode, "compile_s": compile_s, "img_per_s": vit_stats.median(runs),
            "runs": runs, "peak_mem_bytes": int(torch.cuda.max_memory_allocated())}


def main(argv=None):
    args = build_parser().parse_args(argv)
    for name in ("warmup", "iters", "repeats"):
        if getattr(args, name) < (0 if name == "warmup" else 1):
            sys.stderr.write("forward_bound.py: --%s is too small\n" % name)
            return 2
    try:
        modes = modes_of(args.modes)
        requested = requested_settings(args)
        cpus = vit_workload.available_cpus()
        vit_settings.resolve(requested, cpus)
    except vit_settings.SettingsError as e:
        sys.stderr.write("forward_bound.py: %s\n" % e)
        return 2
    _, remove = vit_workload.setup_compile_cache(args.compile_cache)
    try:
        return _run(args, modes, requested, cpus)
    finally:
        if remove:
            import shutil
            shutil.rmtree(remove, ignore_errors=True)


def _run(args, modes, requested, cpus):
    torch = vit_workload.import_torch()
    timm_ok, _ = vit_workload.probe_timm()
    planned, _ = vit_settings.resolve(requested, cpus, timm_available=timm_ok)
    import vit_model
    import vit_nvtx
    import vit_device
    import vit_gpu_prep
    import vit_run
    if not torch.cuda.is_available():
        sys.stderr.write("forward_bound.py: no CUDA GPU is visible\n")
        return 1
    torch.cuda.set_device(args.device)
    device = torch.device(vit_device.DEVICE_TYPE, args.device)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.benchmark = True
    dtype = vit_model.TORCH_DTYPES[planned["dtype"]]
    if args.timm_name:
        import timm
        model = timm.create_model(args.timm_name, pretrained=False, num_classes=1000)
        model = model.to(device=device, dtype=dtype).eval().requires_grad_(False)
    else:
        model, _ = vit_model.build(planned, device)
    arch = vit_model.describe(model)
    r = arch["resolution"]
    head = {"model": args.timm_name or planned["model"], "patch": arch["patch"],
            "depth": arch["depth"], "hidden": arch["hidden"], "heads": arch["heads"],
            "mlp": arch["mlp"], "resolution": r, "batch_size": planned["batch_size"],
            "dtype": arch["dtype"], "params": arch["params"],
            "gpu": torch.cuda.get_device_name(args.device), "torch": torch.__version__,
            "grad_mode": args.grad_mode,
            "warmup": args.warmup, "iters": args.iters, "repeats": args.repeats}
    results = []
    status = 0
    with vit_run.GRAD_MODES[args.grad_mode]():
        x = torch.randn((planned["batch_size"], 3, r, r), device=device, dtype=dtype).contiguous(
            memory_format=vit_gpu_prep.memory_format(planned["patch_embed"]))
        for mode in modes:
            t = time.time()
            try:
                res = measure(torch, vit_run, vit_nvtx, model, mode, x, planned, args)
                res["ok"] = True
            except Exception as e:  # noqa: BLE001 - reported, next mode runs
                res = {"mode": mode, "ok": False, "error": vit_settings.error_message(e)}
                status = 1
                torch.cuda.empty_cache()
            res["wall_s"] = time.time() - t
            out = dict(head, **res)
            results.append(out)
            print(json.dumps(vit_settings.sanitize(out)), flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(vit_settings.sanitize(results), f, indent=2)
            f.write("\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
