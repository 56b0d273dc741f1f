#!/usr/bin/env python3
"""Stand-in for collectors/workload/vit_workload.py in tests without torch.

It follows the workload contract (collectors/runner/doc.go): it reads
--request, writes --result for --phase clean|traced and exits non-zero on
failure. What it does is chosen by the requested batch_size:

  1  ok
  2  the clean phase fails (exit 1, result ok false) unless FAKE_FIXED is set
  3  the traced phase hangs, with a child process, until killed
  4  the traced phase reports a different effective resolution than the clean one
  5  ok, but reports compile_mode eager whatever was requested
  6  the traced phase exits 0 with ok false
  7  the clean phase exits 0 without writing a result

FAKE_SLEEP="<batch_size>:<seconds>" makes the clean phase of runs with that
batch size sleep first (a long run to kill mid-way in the Slurm test).

In the runs that succeed it marks its windows on stdout as the real one
does (VITLAB_WINDOW begin|end <index> <unix_ns>; one marker is written in
two pieces), three clean windows and the traced phase's timed window, and
reports them in "windows" / details.traced_window.
"""
import argparse
import json
import os
import subprocess
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--request", required=True)
p.add_argument("--result", required=True)
p.add_argument("--phase", required=True, choices=["clean", "traced"])
p.add_argument("--compile-cache")
a = p.parse_args()

with open(a.request) as f:
    req = json.load(f)
s = dict(req["settings"])
b = s["batch_size"]
run_dir = os.path.dirname(a.result)
print("fake workload %s phase %s batch %d" % (req["run_id"], a.phase, b))
sys.stderr.write("fake workload stderr line for %s %s\n" % (req["run_id"], a.phase))
with open(os.path.join(run_dir, "env.%s" % a.phase), "w") as f:
    json.dump({k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER",
                                             "PYTHONUNBUFFERED", "LD_LIBRARY_PATH", "FAKE_EXTRA")}
              | {"compile_cache": a.compile_cache}, f)

slow = os.environ.get("FAKE_SLEEP", "")
if slow and a.phase == "clean" and int(slow.split(":")[0]) == b:
    time.sleep(float(slow.split(":")[1]))

eff = dict(s)
eff["model"] = "fake_vit"
if a.phase == "traced":
    eff.pop("clean_repeats", None)
if b == 4 and a.phase == "traced":
    eff["resolution"] = s["resolution"] * 2
if b == 5:
    eff["compile_mode"] = "eager"

res = {
    "phase": a.phase, "ok": True, "error": None, "effective": eff,
    "software": {"torch": "2.99.0+fake", "cuda": "13.0", "timm": None, "python": "3.11", "driver": None},
    "gpu": {"index": 0, "name": "Fake GPU", "uuid": os.environ.get("CUDA_VISIBLE_DEVICES")},
}
if a.phase == "clean":
    res["timings"] = {"compile_s": 0.0, "timed_images": b * s["timed_batches"],
                      "clean_throughput": 100.0 + b, "clean_throughput_runs": [99.0, 100.0 + b, 101.0],
                      "clean_latency_p50_ms": 1.5, "clean_latency_p90_ms": 2.0,
                      "clean_latency_p99_ms": 3.0, "peak_mem_bytes": 1 << 30}
else:
    res["timings"] = {"compile_s": 0.0, "timed_images": b * s["timed_batches"], "traced_throughput": 90.0 + b}


def write(r):
    with open(a.result, "w") as f:
        json.dump(r, f)


if b == 2 and a.phase == "clean" and not os.environ.get("FAKE_FIXED"):
    sys.stderr.write("RuntimeError: fake failure in the clean phase\n")
    write({"phase": a.phase, "ok": False, "error": "RuntimeError: fake failure", "effective": None,
           "timings": {}, "software": res["software"], "gpu": res["gpu"]})
    sys.exit(1)
if b == 3 and a.phase == "traced":
    child = subprocess.Popen(["sleep", "300"])
    with open(os.path.join(run_dir, "hang.pids"), "w") as f:
        f.write("%d %d\n" % (os.getpid(), child.pid))
    time.sleep(300)
if b == 6 and a.phase == "traced":
    write({"phase": a.phase, "ok": False, "error": "fake: gave up", "effective": None, "timings": {},
           "software": res["software"], "gpu": res["gpu"]})
    sys.exit(0)
if b == 7 and a.phase == "clean":
    sys.exit(0)


def marked_window(index):
    begin = time.time_ns()
    sys.stdout.write("VITLAB_WIN")
    sys.stdout.flush()
    time.sleep(0.01)
    sys.stdout.write("DOW begin %d %d\n" % (index, begin))
    sys.stdout.flush()
    time.sleep(0.02)
    end = time.time_ns()
    print("VITLAB_WINDOW end %d %d" % (index, end), flush=True)
    secs = (end - begin) / 1e9
    imgs = b * s["timed_batches"]
    return {"index": index, "start_unix_ns": begin, "end_unix_ns": end, "batches": s["timed_batches"],
            "images": imgs, "seconds": secs, "throughput": imgs / secs,
            "latency_p50_ms": 1.5, "latency_p90_ms": 2.0, "latency_p99_ms": 3.0}


res["details"] = {"cpus_allowed": len(os.sched_getaffinity(0))}
if a.phase == "clean":
    res["windows"] = [marked_window(i) for i in range(3)]
else:
    res["details"]["traced_window"] = [marked_window(0)]
write(res)
