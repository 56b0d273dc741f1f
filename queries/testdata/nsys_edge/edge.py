"""Small CUDA/NVTX programs whose nsys exports cover what the public
fixtures and the ViT sample do not (see README.md). Usage: edge.py MODE.

Modes:
  nvtx    NVTX only (traced with -t nvtx): nested push/pop ranges on two
          threads, start/end ranges that end on another thread, marks,
          a range in a named domain when the nvtx package exists.
  none    imports torch and exits: a capture with no CUDA and no NVTX events.
  graph   a CUDA graph captured and replayed 20 times (traced with
          --cuda-graph-trace=graph: whole-graph rows, not kernels).
  copies  every copy kind torch can make on one GPU (pageable and pinned
          H2D and D2H, D2D, async on two streams), memsets, kernels on two
          streams under nested NVTX ranges on two threads.
  um      unified memory (cudaMallocManaged through ctypes) touched in turn
          by the GPU (cudaMemset) and the CPU: page-fault migrations, which
          are copies without a CUDA API row (traced with
          --cuda-um-cpu-page-faults=true --cuda-um-gpu-page-faults=true).
"""
import sys
import threading

import torch
import torch.cuda.nvtx as nvtx


def nvtx_only():
    def worker(name, handle):
        for i in range(50):
            nvtx.range_push(f"{name} outer {i % 3}")
            nvtx.range_push(f"{name} inner")
            nvtx.mark(f"{name} mark")
            nvtx.range_pop()
            nvtx.range_pop()
        if handle is not None:
            nvtx.range_end(handle)  # a start/end range ended on another thread

    h = nvtx.range_start("crosses threads")
    t = threading.Thread(target=worker, args=("worker", h))
    t.start()
    worker("main", None)
    t.join()
    try:
        import nvtx as nv  # optional: named domains and categories
        dom = nv.get_domain("vitlab-edge")
        for i in range(10):
            with nv.annotate(f"domain range {i % 2}", domain="vitlab-edge", color="blue"):
                pass
        del dom
    except Exception as e:  # not installed
        print("no nvtx package:", e)


def graph():
    dev = torch.device("cuda")
    model = torch.nn.Sequential(torch.nn.Linear(512, 1024), torch.nn.GELU(), torch.nn.Linear(1024, 512)).to(dev)
    x = torch.randn(64, 512, device=dev)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            model(x)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with nvtx.range("capture"):
        with torch.cuda.graph(g):
            y = model(x)
    for i in range(20):
        with nvtx.range(f"replay {i % 2}"):
            g.replay()
    with nvtx.range("eager"):
        model(x)
    torch.cuda.synchronize()
    print(float(y.sum()))


def copies():
    dev = torch.device("cuda")
    n = 1 << 20
    pageable = torch.randn(n)
    pinned = torch.randn(n).pin_memory()
    s1, s2 = torch.cuda.Stream(), torch.cuda.Stream()

    def work(name, stream):
        with torch.cuda.stream(stream):
            for i in range(5):
                with nvtx.range(f"{name} step"):
                    with nvtx.range(f"{name} h2d"):
                        a = pageable.to(dev)              # pageable H2D (sync)
                        b = pinned.to(dev, non_blocking=True)  # pinned H2D (async)
                    with nvtx.range(f"{name} compute"):
                        c = torch.empty_like(a)
                        c.zero_()                           # memset
                        c.copy_(a)                          # D2D
                        d = (a * b + c).relu()              # kernels
                    with nvtx.range(f"{name} d2h"):
                        out = torch.empty(n, pin_memory=True)
                        out.copy_(d, non_blocking=True)     # pinned D2H
                        _ = d[:1024].cpu()                  # pageable D2H
            stream.synchronize()

    t = threading.Thread(target=work, args=("side", s2))
    t.start()
    work("main", s1)
    t.join()
    torch.cuda.synchronize()


def unified():
    import ctypes
    import glob
    import os

    torch.cuda.init()
    torch.zeros(1, device="cuda")  # a context, and torch's libcudart loaded
    lib = None
    names = ["libcudart.so.13", "libcudart.so.12", "libcudart.so"]
    site = os.path.dirname(os.path.dirname(torch.__file__))
    names += glob.glob(os.path.join(site, "nvidia", "**", "libcudart.so*"), recursive=True)
    for name in names:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None:
        raise SystemExit("no libcudart found")
    n = 64 << 20
    ptr = ctypes.c_void_p()
    rc = lib.cudaMallocManaged(ctypes.byref(ptr), ctypes.c_size_t(n), ctypes.c_uint(1))
    if rc != 0:
        raise SystemExit(f"cudaMallocManaged: error {rc}")
    ctypes.memset(ptr, 1, n)  # first touch on the CPU
    for i in range(3):
        with nvtx.range(f"gpu touch {i}"):
            lib.cudaMemset(ptr, ctypes.c_int(0), ctypes.c_size_t(n))
            lib.cudaDeviceSynchronize()
        with nvtx.range(f"cpu touch {i}"):
            ctypes.memset(ptr, 2, n)
    lib.cudaFree(ptr)


if __name__ == "__main__":
    mode = sys.argv[1]
    {"nvtx": nvtx_only, "none": lambda: None, "graph": graph, "copies": copies, "um": unified}[mode]()
