"""One phase of the workload (torch): build the model, compile it, run the
warm-up and timed windows through the pipeline, measure the run's headroom
(clean phase), and read back what actually ran (effective settings).

Imports torch at module level: vit_workload.py imports this module only
after torch imported.
"""

import time

import torch

import vit_device
import vit_measure
import vit_model
import vit_nvtx
import vit_pipeline
import vit_sched
import vit_settings
import vit_stats
from vit_device import WorkloadError

GRAD_MODES = vit_pipeline.GRAD_MODES

# HEADROOM_MIN_S: each headroom window (forward-only, preprocessing-only)
# lasts at least this long, or min_window_s / 2 when that is shorter.
HEADROOM_MIN_S = 1.0


def make_forward(fn, mode, batch, dtype):
    """make_forward wraps the (compiled) model: under CUDA-graph modes it
    marks a new step before each call and clones the output out of the
    graph's static pool; it checks the output is a (batch, 1000) tensor of
    the model dtype (a host-side check, no sync)."""
    graphs = mode in vit_settings.CUDAGRAPH_MODES
    mark = None
    if graphs:
        mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)
        if mark is None:
            raise WorkloadError("torch.compiler.cudagraph_mark_step_begin is missing: cannot "
                                "run compile mode %s safely" % mode)
    expected = (batch, vit_settings.NUM_CLASSES)

    def forward(x):
        if mark is not None:
            mark()
        out = fn(x)
        if not isinstance(out, torch.Tensor):
            raise WorkloadError("the model returned %s, not a tensor" % type(out).__name__)
        if tuple(out.shape) != expected or out.dtype != dtype:
            raise WorkloadError("the model returned %s %s, expected %s %s" % (
                tuple(out.shape), vit_model.dtype_name(out.dtype), expected,
                vit_model.dtype_name(dtype)))
        if graphs:
            out = out.clone()
        return out
    return forward


def dynamo_counter(group, name):
    """dynamo_counter reads torch._dynamo.utils.counters[group][name]; None
    when this torch has no such counter."""
    try:
        from torch._dynamo.utils import counters
        return int(counters[group][name])
    except Exception:  # noqa: BLE001 - an internal API; absent means unknown
        return None


def compile_model(model, mode, example, batch, dtype, tracer, log):
    """compile_model returns (forward, compile_s). For eager it returns the
    model itself and 0. Otherwise torch.compile(model, mode=mode) and its
    first call (which compiles) on `example`, inside NVTX range "compile",
    timed from just before the call to after a device synchronize. A failure
    fails the run: there is no fallback to eager."""
    if mode == "eager":
        return make_forward(model, mode, batch, dtype), 0.0
    try:
        fn = torch.compile(model, mode=mode)
    except Exception as e:
        raise WorkloadError("torch.compile(mode=%r) failed: %s: %s"
                            % (mode, type(e).__name__, e)) from e
    forward = make_forward(fn, mode, batch, dtype)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    try:
        with tracer.range(vit_nvtx.COMPILE):
            out = forward(example)
            torch.cuda.synchronize()
    except WorkloadError:
        raise
    except Exception as e:
        hint = ""
        if torch.is_inference_mode_enabled() and "nference" in str(e):
            hint = " (an inference-mode problem: --grad-mode no_grad runs under torch.no_grad())"
        raise WorkloadError("torch.compile(mode=%r) failed on its first call: %s: %s%s"
                            % (mode, type(e).__name__, e, hint)) from e
    compile_s = time.perf_counter() - t0
    del out
    log("compiled (%s) in %.1f s" % (mode, compile_s))
    return forward, compile_s


def gpu_info(index):
    """gpu_info returns ({"index","name","uuid"}, extra details) of a CUDA device."""
    props = torch.cuda.get_device_properties(index)
    uuid = getattr(props, "uuid", None)
    uuid_s = None
    if uuid is not None:
        uuid_s = str(uuid)
        if not uuid_s.startswith("GPU-"):
            uuid_s = "GPU-" + uuid_s
    extra = {
        "sm_count": getattr(props, "multi_processor_count", None),
        "memory_bytes": getattr(props, "total_memory", None),
        "compute_capability": "%s.%s" % (props.major, props.minor),
    }
    return {"index": index, "name": props.name, "uuid": uuid_s}, extra


def _check_nvtx():
    try:
        torch.cuda.nvtx.range_push("vitlab-nvtx-check")
        torch.cuda.nvtx.range_pop()
    except Exception as e:  # noqa: BLE001
        raise WorkloadError("NVTX is not usable in this torch build: %s: %s"
                            % (type(e).__name__, e)) from e


# WINDOW_MARGIN: clean windows are sized to last min_window_s × this from the
# latest measured batch time; the H200 smoke run's window-to-window rate
# changed by up to 10 % in async runs, so 5 % left some windows short.
WINDOW_MARGIN = 1.15


def pipe_depth(planned):
    """pipe_depth is the number of batches in flight (1 for sync)."""
    return planned["queue_depth"] if planned["pipeline"] == "async" else 1


def run_phase(phase, planned, opts, result, log):
    """run_phase runs one phase of the workload and returns (effective,
    timings, details).

    phase "clean": compile (if any), one warm-up window, then
    planned["clean_repeats"] timed windows; no profiler. phase "traced": the
    same code, with one timed window (the one nsys profiles). `result` (the
    RES.json dict) gets software and gpu filled in as soon as they are known,
    so a failed run still reports them. opts: device (CUDA index), seed,
    cpu_count, mem_total (bytes or None), profiler_range (bool), grad_mode
    ("inference" or "no_grad"; absent means "inference").
    """
    grad_name = opts.get("grad_mode", "inference")
    grad_mode = GRAD_MODES[grad_name]
    if not torch.cuda.is_available():
        raise WorkloadError("no CUDA GPU is visible (torch.cuda.is_available() is False)")
    count = torch.cuda.device_count()
    if not 0 <= opts["device"] < count:
        raise WorkloadError("CUDA device %d does not exist (%d visible)" % (opts["device"], count))
    torch.cuda.set_device(opts["device"])
    device = torch.device(vit_device.DEVICE_TYPE, opts["device"])
    gpu, gpu_extra = gpu_info(opts["device"])
    result["gpu"] = gpu
    sw = result["software"]
    sw["torch"] = torch.__version__
    sw["cuda"] = torch.version.cuda
    details = result["details"]  # filled as the run goes, so a failed run keeps what was known
    details.update({"gpu": gpu_extra, "seed": opts["seed"], "grad_mode": grad_name})
    _check_nvtx()
    tracer = vit_nvtx.Tracer(torch.cuda.nvtx)

    torch.manual_seed(opts["seed"])
    torch.cuda.manual_seed_all(opts["seed"])
    torch.backends.cudnn.benchmark = bool(planned["cudnn_benchmark"])
    details["cpus_allowed"] = opts["cpu_count"]

    t = time.perf_counter()
    model, built_on = vit_model.build(planned, device)
    arch = vit_model.describe(model)
    if planned["model"] == "timm_vit":
        import timm
        sw["timm"] = getattr(timm, "__version__", None)
        built = "timm_vit" if type(model).__module__.startswith("timm.") else None
    else:
        built = "vitlab_vit" if isinstance(model, vit_model.VitlabViT) else None
    details["model"] = {"class": "%s.%s" % (type(model).__module__, type(model).__name__),
                        "params": arch["params"], "built_on": built_on,
                        "devices": arch["devices"], "class_token": arch["class_token"],
                        "num_classes": arch["num_classes"],
                        "build_s": time.perf_counter() - t}
    if arch["num_classes"] != vit_settings.NUM_CLASSES:
        raise WorkloadError("the model has %d classes, not %d"
                            % (arch["num_classes"], vit_settings.NUM_CLASSES))
    log("built %s: %.1fM parameters, %s, in %.1f s" % (
        details["model"]["class"], arch["params"] / 1e6, arch["dtype"], details["model"]["build_s"]))

    mode = planned["compile_mode"]
    pipe = None
    try:
        with grad_mode():
            if planned["pipeline"] == "peer":
                import vit_peer
                pipe = vit_peer.PeerPipeline(planned, device, tracer, opts["seed"],
                                             opts["mem_total"], grad_mode)
            else:
                pipe = vit_pipeline.Pipeline(planned, device, tracer, opts["seed"],
                                             opts["mem_total"], grad_mode)
            details["pipeline"] = {
                "preprocess_mode": pipe.mode,
                "pool_images": len(pipe.pool.jpegs), "pool_jpeg_bytes": pipe.pool.bytes,
                "jpeg_encoder": pipe.pool.encoder, "pool_encode_s": pipe.pool_s,
                "pinned_bytes": pipe.memory["pinned"], "buffer_device_bytes": pipe.memory["device"],
                "streams": "default" if pipe.kind in ("sync", "peer") else "h2d,preprocess,compute,d2h",
                "completion_thread": pipe.kind == "async",
                "cpus_allowed": opts["cpu_count"],
                "slots": len(pipe.slots),
                "cpu_worker_kind": "process" if pipe.cpu else None,
                "cpu_worker_processes": pipe.cpu.processes if pipe.cpu else 0,
                "cpu_worker_pids": pipe.cpu.pool.pids if pipe.cpu else [],
                "cpu_buffers_pinned": pipe.cpu.pinned if pipe.cpu else None,
                "cpu_buffers_is_pinned": (all(b.is_pinned() for b in pipe.cpu.buffers)
                                          if pipe.cpu else None),
                "cpu_threads_total": ((pipe.cpu.processes * pipe.cpu.threads if pipe.cpu else 0)
                                      + 1),
            }
            if hasattr(pipe, "details"):
                details["pipeline"].update(pipe.details())
            example = pipe.slots[0].dev_in
            example.normal_()
            graphs0 = dynamo_counter("stats", "unique_graphs")
            forward, compile_s = compile_model(model, mode, example, pipe.batch, pipe.dtype,
                                               tracer, log)
            pipe.forward = forward
            graphs1 = dynamo_counter("stats", "unique_graphs")
            skips = dynamo_counter("inductor", "cudagraph_skips")
            if mode in vit_settings.CUDAGRAPH_MODES and skips:
                raise WorkloadError("compile mode %s skipped CUDA graphs (%d skip(s) counted by "
                                    "inductor; TORCH_LOGS=perf_hints says why): the run would "
                                    "not be what its label says" % (mode, skips))

            if opts["profiler_range"]:
                torch.cuda.profiler.start()
            details["windows"] = []
            warm = pipe.window(planned["warmup_batches"], vit_nvtx.WARMUP)
            details["windows"].append(vit_measure.window_summary(warm))
            log("warm-up: %d batches in %.2f s" % (warm["batches"], warm["seconds"]))
            graphs2 = dynamo_counter("stats", "unique_graphs")
            torch.cuda.reset_peak_memory_stats(device)
            repeats = planned["clean_repeats"] if phase == "clean" else 1
            # the batch time that sizes the clean windows: from warm-up (its
            # first batch excluded when it has several), else from the first window
            batch_s = warm["steady_batch_s"]
            details["window_sizing"] = {"min_window_s": planned["min_window_s"],
                                        "batch_s_from_warmup": batch_s, "batch_s_used": [],
                                        "margin": WINDOW_MARGIN}
            if phase == "clean" and planned["min_window_s"] > 0:
                # A short warm-up (a few batches, the queue still filling)
                # misjudges the steady rate of an async pipeline by up to 1.5x
                # (H200 smoke run: windows of 1.4 s for 2 s asked). A
                # calibration pass of about a quarter of a window, inside
                # NVTX `warmup` and without markers, measures it first.
                n_cal = vit_sched.window_batches(max(2 * pipe_depth(planned), 4),
                                                 planned["min_window_s"] / 4, batch_s, margin=1.0)
                cal = pipe.window(n_cal, vit_nvtx.WARMUP)
                details["windows"].append(dict(vit_measure.window_summary(cal), label="calibration"))
                if cal["batches"] and cal["seconds"] > 0:
                    batch_s = cal["seconds"] / cal["batches"]
                details["window_sizing"]["batch_s_from_calibration"] = batch_s
            windows = []
            for i in range(repeats):
                if phase == "clean":
                    n = vit_sched.window_batches(planned["timed_batches"],
                                                 planned["min_window_s"], batch_s,
                                                 margin=WINDOW_MARGIN)
                else:
                    n = planned["timed_batches"]
                details["window_sizing"]["batch_s_used"].append(batch_s)
                w = pipe.window(n, vit_nvtx.TIMED, marker=i,
                                min_s=planned["min_window_s"] if phase == "clean" else 0.0)
                if w["batches"]:
                    # the next window is sized from this one's real rate
                    batch_s = w["seconds"] / w["batches"]
                if phase == "clean" and w["seconds"] < planned["min_window_s"]:
                    details.setdefault("short_windows", []).append(
                        {"index": i, "seconds": w["seconds"], "batches": w["batches"]})
                windows.append(w)
                details["windows"].append(vit_measure.window_summary(w))
                log("timed %d/%d: %s img/s (%d batches, %d images in %.3f s)"
                    % (i + 1, repeats, w["throughput"], w["batches"], w["images"], w["seconds"]))
            if opts["profiler_range"]:
                torch.cuda.profiler.stop()
            peak = int(torch.cuda.max_memory_allocated(device))
            graphs3 = dynamo_counter("stats", "unique_graphs")
            skips = dynamo_counter("inductor", "cudagraph_skips")
            if phase == "clean" and opts.get("headroom", True):
                hs = HEADROOM_MIN_S
                if planned["min_window_s"] < 2 * hs:
                    hs = planned["min_window_s"] / 2
                details["headroom"] = vit_measure.headroom(pipe, hs, log)
    finally:
        if pipe is not None:
            pipe.close()

    if mode in vit_settings.CUDAGRAPH_MODES and skips:
        raise WorkloadError("compile mode %s skipped CUDA graphs after warm-up started (%d skip(s)): "
                            "the run would not be what its label says" % (mode, skips))

    if mode != "eager" and None not in (graphs2, graphs3) and graphs3 > graphs2:
        raise WorkloadError("torch.compile compiled %d more graph(s) during the timed window(s): "
                            "the timing includes compilation" % (graphs3 - graphs2))
    details["compile"] = {"graphs_after_compile": None if None in (graphs0, graphs1) else graphs1 - graphs0,
                          "graphs_compiled_in_warmup": None if None in (graphs1, graphs2) else graphs2 - graphs1,
                          "cudagraph_skips": skips}

    dev_in = pipe.slots[0].dev_in
    if dev_in.shape[-1] != arch["resolution"] or dev_in.shape[-2] != arch["resolution"]:
        raise WorkloadError("fed %dx%d images to a model built for %d"
                            % (dev_in.shape[-2], dev_in.shape[-1], arch["resolution"]))
    if dev_in.dtype != pipe.dtype or vit_model.dtype_name(dev_in.dtype) != arch["dtype"]:
        raise WorkloadError("input dtype %s differs from the model's %s"
                            % (vit_model.dtype_name(dev_in.dtype), arch["dtype"]))
    short = [w["batches"] for w in windows if w["batches"] < planned["timed_batches"]]
    if short:
        raise WorkloadError("a timed window ran %d batches, fewer than timed_batches %d"
                            % (min(short), planned["timed_batches"]))
    effective = {
        "model": built,
        "patch": arch["patch"],
        "depth": arch["depth"],
        "hidden": arch["hidden"],
        "heads": arch["heads"],
        "mlp": arch["mlp"],
        "resolution": int(dev_in.shape[-1]),
        "source_resolution": int(pipe.pool.size),
        "batch_size": int(dev_in.shape[0]),
        "dtype": arch["dtype"],
        "compile_mode": mode,
        "pipeline": pipe.kind,
        "queue_depth": pipe.depth,
        "preprocess": "cpu" if pipe.mode == "cpu" else "gpu",
        "cpu_workers": planned["cpu_workers"] if pipe.mode != "nvjpeg" else 0,
        "cpu_threads_per_worker": planned["cpu_threads_per_worker"] if pipe.mode != "nvjpeg" else 0,
        "warmup_batches": warm["batches"],
        # the least batches of a window (clean windows may run more to fill min_window_s)
        "timed_batches": min(w["batches"] for w in windows) if phase == "traced"
        else planned["timed_batches"],
        "jpeg_quality": pipe.pool.quality,
        "decoder": pipe.decoder,
        "resize": pipe.resize_mode,
        "patch_embed": vit_model.patch_embed_kind(model),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
    }
    if phase == "clean":
        effective["clean_repeats"] = len(windows)
        effective["min_window_s"] = planned["min_window_s"]
        result["windows"] = [vit_measure.contract_window(w) for w in windows]

    runs = [w["throughput"] for w in windows]
    timings = {"compile_s": compile_s, "timed_images": windows[0]["images"]}
    details["traced_window" if phase == "traced" else "clean_windows"] = [
        vit_measure.contract_window(w) for w in windows]
    if phase == "clean":
        lat = [x for w in windows for x in w["latencies_ms"]]
        timings["clean_throughput"] = vit_stats.median(runs)
        timings["clean_throughput_runs"] = runs
        timings.update(vit_stats.latency_summary(lat))
        timings["peak_mem_bytes"] = peak
        if "headroom" in details:
            timings["forward_bound_img_s"] = details["headroom"]["forward_bound_img_s"]
            timings["prep_bound_img_s"] = details["headroom"]["prep_bound_img_s"]
    else:
        timings["traced_throughput"] = runs[0]
        lat = windows[0]["latencies_ms"]
        details["traced_latency_ms"] = {"p50": vit_stats.percentile(lat, 50),
                                        "p90": vit_stats.percentile(lat, 90),
                                        "p99": vit_stats.percentile(lat, 99)}
        details["traced_peak_mem_bytes"] = peak
    return effective, timings, details
