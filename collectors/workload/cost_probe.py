"""Where a run's fixed cost goes on a GPU host: the steps every collected run
pays besides its measured windows, each timed as its own process (median of
--repeats). Used to size the collector's per-run overhead (runs per GPU-hour):

    python3 collectors/workload/cost_probe.py --nsys PATH [--nsys-env K=V] [--json OUT]

Steps: interpreter alone; import torch; import torch+timm+torchvision; CUDA
context (first tensor on the GPU); ViT-B/16 built in bf16 on the GPU; the
same under nsys profile (CUDA, NVTX, OS runtime traces as the collector asks);
nsys export of that report to SQLite.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

PY = sys.executable
STEPS = [
    ("python", [PY, "-c", "pass"]),
    ("import torch", [PY, "-c", "import torch"]),
    ("import torch timm torchvision", [PY, "-c", "import torch, timm, torchvision"]),
    ("cuda context", [PY, "-c", "import torch; torch.zeros(1, device='cuda'); torch.cuda.synchronize()"]),
    ("vit-b16 bf16 on gpu", [PY, "-c", "import torch, timm; m = timm.create_model('vit_base_patch16_224').cuda().to(torch.bfloat16).eval()\n"
                             "with torch.no_grad(): m(torch.zeros(8, 3, 224, 224, device='cuda', dtype=torch.bfloat16))\n"
                             "torch.cuda.synchronize()"]),
]


def timed(argv, env=None):
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{argv[:3]}: exit {p.returncode}: {p.stderr.decode()[-400:]}")
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nsys", default="nsys")
    ap.add_argument("--nsys-env", action="append", default=[])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    env = dict(os.environ)
    for kv in a.nsys_env:
        k, v = kv.split("=", 1)
        env[k] = v
    out = {}
    with tempfile.TemporaryDirectory() as d:
        rep = os.path.join(d, "probe")
        steps = list(STEPS) + [
            ("vit-b16 under nsys profile", [a.nsys, "profile", "--trace=cuda,nvtx,osrt", "--sample=none", "--cpuctxsw=none",
                                            "--force-overwrite=true", "-o", rep] + STEPS[-1][1]),
            ("nsys export sqlite", [a.nsys, "export", "--type=sqlite", "--force-overwrite=true", "-o", rep + ".sqlite", rep + ".nsys-rep"]),
        ]
        for name, argv in steps:
            ts = []
            for _ in range(a.repeats):
                try:
                    ts.append(timed(argv, env))
                except RuntimeError as e:
                    out[name] = {"error": str(e)}
                    break
            else:
                out[name] = {"median_s": round(statistics.median(ts), 3), "runs_s": [round(t, 3) for t in ts]}
            print(f"{name:32s} {out[name]}", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
