#!/usr/bin/env python3
"""vitlab collector workload: one bf16 ViT inference run, one phase.

    python3 collectors/workload/vit_workload.py --request REQ.json \\
        --result RES.json --phase clean|traced

REQ.json: {"run_id": "...", "settings": {...}} with the keys of
collectors/batchdir Settings (absent or 0 means the documented default).
RES.json is written in every case where --result was given, also when the run
fails (ok false, error set). Exit status: 0 ok, 1 the run failed, 2 bad
command line, 130/143 interrupted (SIGINT/SIGTERM). stdout gets the
VITLAB_WINDOW begin|end <index> <unix_ns> marker lines of the timed windows
(the Go runner reads NVML's energy counter on each) and one summary line at
the end; progress goes to stderr. README.md documents everything.

This module imports only the standard library at load time; torch is
imported after the request validated, so request and usage errors are
reported on machines without torch.
"""

import argparse
import importlib
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import vit_sched  # noqa: E402
import vit_settings  # noqa: E402
from vit_settings import RequestError, SettingsError  # noqa: E402

PROG = "vit_workload.py"


class UsageError(Exception):
    """UsageError is a bad command line (exit status 2)."""


class RunError(RuntimeError):
    """RunError is a failure whose message says all (no exception type is
    prefixed in RES.json)."""

    plain = True


class Terminated(BaseException):
    """Terminated is raised by the SIGTERM handler so that RES.json is still
    written when the runner stops the workload (e.g. on its timeout)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def build_parser():
    """build_parser returns the command-line parser (errors raise UsageError)."""
    p = _Parser(prog=PROG, description="Run one phase of the vitlab ViT inference workload.")
    p.add_argument("--request", required=True, metavar="REQ.json",
                   help="request file: {run_id, settings}")
    p.add_argument("--result", required=True, metavar="RES.json",
                   help="result file to write (atomically), also on failure")
    p.add_argument("--phase", required=True, choices=vit_settings.PHASES,
                   help="clean: untraced repeats; traced: one timed window for nsys")
    p.add_argument("--device", type=int, default=0,
                   help="CUDA device index as torch sees it (default 0)")
    p.add_argument("--seed", type=int, default=0, help="RNG seed (default 0)")
    p.add_argument("--compile-cache", default="fresh", metavar="fresh|default|DIR",
                   help="torch.compile caches: fresh (default: a new empty inductor and "
                        "triton cache, removed at exit, so compile_s is a cold compile), "
                        "default (torch's shared caches), or a directory to use and keep")
    p.add_argument("--grad-mode", default="inference", choices=("inference", "no_grad"),
                   help="autograd mode of the whole run: torch.inference_mode() (default) or "
                        "torch.no_grad() (a fallback should torch.compile trip over "
                        "inference tensors)")
    p.add_argument("--cuda-profiler-range", action="store_true",
                   help="call cudaProfilerStart before the warm-up window and "
                        "cudaProfilerStop after the timed window(s), for nsys "
                        "--capture-range=cudaProfilerApi")
    return p


def parse_args(argv):
    """parse_args parses argv (without the program name); raises UsageError."""
    args = build_parser().parse_args(argv)
    if args.device < 0:
        raise UsageError("--device must not be negative")
    if not args.compile_cache:
        raise UsageError("--compile-cache must not be empty")
    return args


def _argv_value(argv, flag):
    """_argv_value finds `flag VALUE` or `flag=VALUE` in argv (for writing a
    result even when the command line is otherwise bad)."""
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(flag + "="):
            return a[len(flag) + 1:]
    return None


_DRIVER_RE = re.compile(r"Kernel Module(?: for [^ ]+)?\s+([0-9]+(?:\.[0-9]+)+)")


def parse_driver_version(text):
    """parse_driver_version reads the driver version from the text of
    /proc/driver/nvidia/version (None when it is not there)."""
    m = _DRIVER_RE.search(text or "")
    return m.group(1) if m else None


def driver_version():
    """driver_version is the NVIDIA driver version: /proc/driver/nvidia/version,
    else nvidia-smi; None when neither answers."""
    try:
        with open("/proc/driver/nvidia/version", "r", encoding="utf-8", errors="replace") as f:
            v = parse_driver_version(f.read())
        if v:
            return v
    except OSError:
        pass
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=False)
        line = out.stdout.strip().splitlines()[0].strip() if out.stdout.strip() else ""
        if out.returncode == 0 and re.fullmatch(r"[0-9]+(\.[0-9]+)+", line):
            return line
    except (OSError, subprocess.SubprocessError, IndexError):
        pass
    return None


def available_cpus():
    """available_cpus is the number of CPUs this process may run on (honours
    numactl/taskset binding)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def host_mem_total():
    """host_mem_total is MemTotal of /proc/meminfo in bytes (None if unknown)."""
    try:
        with open("/proc/meminfo", "r", encoding="utf-8") as f:
            return vit_sched.mem_total_bytes(f.read())
    except OSError:
        return None


CACHE_ENV = ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")


def setup_compile_cache(spec):
    """setup_compile_cache points inductor's and triton's caches at the
    chosen place (before torch is imported) and returns (description,
    directory to remove at exit or None)."""
    if spec == "default":
        return "default (torch's shared caches)", None
    if spec == "fresh":
        d = tempfile.mkdtemp(prefix="vitlab-compile-")
        remove = d
        desc = "fresh (cold compile; %s, removed at exit)" % d
    else:
        d = os.path.abspath(spec)
        os.makedirs(d, exist_ok=True)
        remove = None
        desc = "directory %s" % d
    os.environ[CACHE_ENV[0]] = os.path.join(d, "inductor")
    os.environ[CACHE_ENV[1]] = os.path.join(d, "triton")
    return desc, remove


def import_torch():
    """import_torch imports torch or fails with a clear message."""
    try:
        return importlib.import_module("torch")
    except Exception as e:  # noqa: BLE001 - ImportError or a broken install
        raise RunError("torch cannot be imported (%s: %s); the workload needs PyTorch with "
                           "CUDA" % (type(e).__name__, e)) from e


def probe_timm():
    """probe_timm returns (True, None) when timm's VisionTransformer imports,
    else (False, reason)."""
    try:
        importlib.import_module("timm.models.vision_transformer")
        return True, None
    except Exception as e:  # noqa: BLE001
        return False, "%s: %s" % (type(e).__name__, e)


def log(msg):
    """log writes one progress line to stderr."""
    sys.stderr.write("[vit_workload %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def summary_line(result):
    """summary_line is the one line printed to stdout at the end."""
    head = "vitlab-workload phase=%s run=%s ok=%s" % (
        result.get("phase"), result.get("run_id") or "-", "true" if result.get("ok") else "false")
    if not result.get("ok"):
        return "%s error=%s" % (head, result.get("error"))
    t = result["timings"]
    parts = [head, vit_settings.describe(result["effective"])]
    if "clean_throughput" in t:
        parts.append("clean %.1f img/s (runs %s)" % (
            t["clean_throughput"], ", ".join("%.1f" % x for x in t["clean_throughput_runs"])))
        parts.append("latency p50 %.2f p90 %.2f p99 %.2f ms" % (
            t["clean_latency_p50_ms"], t["clean_latency_p90_ms"], t["clean_latency_p99_ms"]))
        parts.append("peak %.2f GiB" % (t["peak_mem_bytes"] / 2**30))
    if "traced_throughput" in t:
        parts.append("traced %.1f img/s" % t["traced_throughput"])
    parts.append("compile %.1f s" % t["compile_s"])
    return " | ".join(parts)


def run(args, result):
    """run executes the request into result (raises on failure)."""
    run_id, requested = vit_settings.load_request(args.request)
    result["run_id"] = run_id
    result["requested"] = requested
    cpus = available_cpus()
    vit_settings.resolve(requested, cpus)  # validate before the slow imports
    result["software"]["python"] = platform.python_version()
    result["software"]["driver"] = driver_version()
    saved_env = {k: os.environ.get(k) for k in CACHE_ENV}
    cache_desc, remove = setup_compile_cache(args.compile_cache)
    result["details"]["compile_cache"] = cache_desc
    try:
        import_torch()
        timm_ok, timm_err = probe_timm()
        import vit_run
        import vit_sources
        decoders = vit_sources.available_decoders()
        result["details"]["decoders_available"] = decoders
        planned, notes = vit_settings.resolve(requested, cpus, timm_available=timm_ok,
                                              decoders=decoders)
        if timm_err:
            result["details"]["timm_import_error"] = timm_err
        result["details"]["planned"] = planned
        log("phase %s: %s" % (args.phase, vit_settings.describe(planned)))
        opts = {"device": args.device, "seed": args.seed, "cpu_count": cpus,
                "mem_total": host_mem_total(), "profiler_range": args.cuda_profiler_range,
                "grad_mode": args.grad_mode}
        effective, timings, _ = vit_run.run_phase(args.phase, planned, opts, result, log)
        problems = vit_settings.reconcile(planned, effective, args.phase)
        if problems:
            raise RunError("the workload did not run what it planned: " + "; ".join(problems))
        result["effective"] = effective
        result["timings"] = timings
        result["adjustments"] = vit_settings.adjustments(requested, effective, notes)
        result["ok"] = True
    finally:
        if remove:
            shutil.rmtree(remove, ignore_errors=True)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv=None):
    """main runs the command line and returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    start = time.time()
    try:
        args = parse_args(argv)
    except UsageError as e:
        sys.stderr.write(build_parser().format_usage())
        sys.stderr.write("%s: error: %s\n" % (PROG, e))
        path = _argv_value(argv, "--result")
        if path:
            phase = _argv_value(argv, "--phase")
            res = vit_settings.new_result(phase if phase in vit_settings.PHASES else None)
            res["error"] = "usage: %s" % e
            try:
                vit_settings.write_result(path, res)
            except OSError as we:
                sys.stderr.write("%s: cannot write %s: %s\n" % (PROG, path, we))
        print(summary_line({"phase": None, "ok": False, "error": "usage: %s" % e}))
        return 2

    result = vit_settings.new_result(args.phase)
    status = 1
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        run(args, result)
        status = 0
    except (RequestError, SettingsError) as e:
        result["error"] = str(e)
    except Terminated:
        result["error"] = "terminated (SIGTERM)"
        status = 143
    except KeyboardInterrupt:
        result["error"] = "interrupted (SIGINT)"
        status = 130
    except Exception as e:  # noqa: BLE001 - every failure is reported in RES.json
        result["error"] = vit_settings.error_message(e)
        traceback.print_exc(file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, previous)
    if status != 0:
        result["ok"] = False
        result["effective"] = None
        result["timings"] = {}
    result["details"]["wall_s"] = time.time() - start
    try:
        vit_settings.write_result(args.result, vit_settings.sanitize(result))
    except (OSError, ValueError, TypeError) as e:
        sys.stderr.write("%s: cannot write %s: %s\n" % (PROG, args.result, e))
        status = status or 1
        result["ok"] = False
        result["error"] = result["error"] or "cannot write the result: %s" % e
    print(summary_line(result), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
