"""Settings of one workload run: request parsing, defaults, validation,
requested-vs-effective reconciliation and the result file.

Pure Python (standard library only) so that it is unit-tested on machines
without torch. Every setting (key, type, default, choices, bounds) is declared
once, in <repo>/schemas/settings.json (the registry the Go collector embeds);
this module reads it and adds only what the registry cannot say: accepted
aliases of string values and how null defaults are derived (resolve()).

Flow:
    requested (REQ.json "settings")
      -> resolve()   : planned settings (defaults filled, canonical names,
                       derived values, documented adjustments such as
                       sync => queue_depth 1, the CPU budget)
      -> the torch code runs the plan and reads back what it actually ran
      -> reconcile() : planned vs effective must agree on every key, else the
                       run fails (no silent fallback)
      -> adjustments(): requested vs effective differences, explained

Zero is a value: cpu_workers 0 means no CPU workers, warmup_batches 0 no
warm-up. Absence (a missing key, or null) means the registry default, or the
derived value where that default is null.
"""

import json
import math
import os
import tempfile

REGISTRY_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                             "..", "..", "schemas", "settings.json")


def load_registry(path=REGISTRY_PATH):
    """load_registry reads the settings registry (a JSON array of
    {key, type, default, choices?, min?, max?, ...}) and returns it as a list."""
    with open(path, "r", encoding="utf-8") as f:
        reg = json.load(f)
    if not isinstance(reg, list) or not reg:
        raise ValueError("%s: the settings registry must be a non-empty JSON array" % path)
    for i, e in enumerate(reg):
        if not isinstance(e, dict) or "key" not in e or e.get("type") not in (
                "int", "float", "string", "bool"):
            raise ValueError("%s: entry %d is not {key, type: int|float|string|bool, ...}"
                             % (path, i))
    return reg


REGISTRY = load_registry()
SPEC = {e["key"]: e for e in REGISTRY}

# SETTING_KEYS are the registry's keys, in its order.
SETTING_KEYS = tuple(e["key"] for e in REGISTRY)
TYPES = {e["key"]: e["type"] for e in REGISTRY}
STRING_KEYS = tuple(k for k in SETTING_KEYS if TYPES[k] == "string")
INT_KEYS = tuple(k for k in SETTING_KEYS if TYPES[k] == "int")
# DEFAULTS are the registry's non-null defaults; a null default is derived by resolve().
DEFAULTS = {e["key"]: e["default"] for e in REGISTRY if e.get("default") is not None}
CHOICES = {e["key"]: tuple(e["choices"]) for e in REGISTRY if e.get("choices")}

# Aliases accepted for canonical string values (case-insensitive); the
# canonical values themselves come from the registry's choices.
ALIASES = {
    "model": {"timm": "timm_vit", "vitlab": "vitlab_vit", "fallback": "vitlab_vit"},
    "dtype": {"bf16": "bfloat16", "fp16": "float16", "half": "float16",
              "fp32": "float32", "float": "float32"},
    "compile_mode": {"none": "eager", "off": "eager", "reduce_overhead": "reduce-overhead",
                     "max_autotune": "max-autotune"},
    "preprocess": {"cuda": "gpu"},
    "decoder": {"torchvision": "torchvision-cpu", "pillow": "pil"},
}

MODELS = CHOICES["model"]
DTYPES = CHOICES["dtype"]
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}
COMPILE_MODES = CHOICES["compile_mode"]
# CUDAGRAPH_MODES are the torch.compile modes that replay CUDA graphs
# (inductor's cudagraph trees): their outputs live in a static pool.
CUDAGRAPH_MODES = ("reduce-overhead", "max-autotune")
PIPELINES = CHOICES["pipeline"]
PREPROCESS_DEVICES = CHOICES["preprocess"]
DECODERS = CHOICES["decoder"]
CPU_DECODERS = tuple(d for d in DECODERS if d != "nvjpeg")

NUM_CLASSES = 1000
DEFAULT_ASYNC_QUEUE_DEPTH = 2
# MAX_DEFAULT_CPU_WORKERS caps the derived worker count (a batch is split
# into one job per worker).
MAX_DEFAULT_CPU_WORKERS = 16

# Upper bounds that catch typos (e.g. a resolution in the wrong unit), on top
# of the registry's min/max.
LIMITS = {
    "patch": 1024, "depth": 512, "hidden": 65536, "heads": 4096,
    "mlp": 1 << 20, "resolution": 16384, "source_resolution": 16384,
    "batch_size": 1 << 16, "queue_depth": 64, "cpu_workers": 1024,
    "cpu_threads_per_worker": 1024, "warmup_batches": 1 << 20, "timed_batches": 1 << 20,
    "clean_repeats": 1000, "min_window_s": 3600.0,
}

PHASES = ("clean", "traced")
# CLEAN_ONLY_KEYS are settings only the clean phase uses (the traced phase
# runs one window of timed_batches and does not report them).
CLEAN_ONLY_KEYS = ("clean_repeats", "min_window_s")

# Timing keys (batchdir.Timings json tags) each phase writes.
CLEAN_TIMING_KEYS = ("compile_s", "timed_images", "clean_throughput",
                     "clean_throughput_runs", "clean_latency_p50_ms",
                     "clean_latency_p90_ms", "clean_latency_p99_ms",
                     "peak_mem_bytes")
# HEADROOM_TIMING_KEYS: clean-phase timings of the run's headroom
# (vit_measure.headroom), present unless it was switched off.
HEADROOM_TIMING_KEYS = ("forward_bound_img_s", "prep_bound_img_s")
TRACED_TIMING_KEYS = ("compile_s", "timed_images", "traced_throughput")


class SettingsError(ValueError):
    """SettingsError is a request whose settings cannot be run as asked."""


class RequestError(ValueError):
    """RequestError is a request file that cannot be read or parsed."""


def load_request(path):
    """load_request reads REQ.json and returns (run_id, settings dict).

    The settings are checked for shape only (object, known keys); resolve()
    validates values.
    """
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise RequestError("request %s: %s" % (path, e.strerror or e)) from e
    try:
        obj = json.loads(text)
    except ValueError as e:
        raise RequestError("request %s: invalid JSON: %s" % (path, e)) from e
    return parse_request(obj, path)


def parse_request(obj, name="request"):
    """parse_request checks a decoded REQ.json and returns (run_id, settings)."""
    if not isinstance(obj, dict):
        raise RequestError("%s: top level must be a JSON object" % name)
    unknown = sorted(set(obj) - {"run_id", "settings"})
    if unknown:
        raise RequestError("%s: unknown field(s) %s (want run_id, settings)"
                           % (name, ", ".join(unknown)))
    run_id = obj.get("run_id", "")
    if run_id is None:
        run_id = ""
    if not isinstance(run_id, str):
        raise RequestError("%s: run_id must be a string" % name)
    settings = obj.get("settings", {})
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise RequestError("%s: settings must be a JSON object" % name)
    unknown = sorted(set(settings) - set(SETTING_KEYS))
    if unknown:
        raise RequestError("%s: unknown setting(s) %s" % (name, ", ".join(unknown)))
    return run_id, dict(settings)


def _canon(key, value):
    if not isinstance(value, str):
        raise SettingsError("%s must be a string, got %r" % (key, value))
    v = value.strip().lower()
    v = ALIASES.get(key, {}).get(v, v)
    allowed = CHOICES.get(key)
    if allowed is not None and v not in allowed:
        raise SettingsError("%s %r is not one of %s" % (key, value, ", ".join(allowed)))
    return v


def canonical(key, value):
    """canonical returns the canonical value of string setting `key` (an
    alias or any case accepted); SettingsError if it is not a choice."""
    return _canon(key, value)


def _bounds(key, value):
    spec = SPEC[key]
    lo, hi = spec.get("min"), spec.get("max")
    if lo is not None and value < lo:
        raise SettingsError("%s must be at least %s, got %s" % (key, lo, value))
    if hi is not None and value > hi:
        raise SettingsError("%s must be at most %s, got %s" % (key, hi, value))
    if key in LIMITS and value > LIMITS[key]:
        raise SettingsError("%s %s exceeds the limit %s" % (key, value, LIMITS[key]))
    if key in CHOICES and value not in CHOICES[key]:
        raise SettingsError("%s %s is not one of %s"
                            % (key, value, ", ".join(str(c) for c in CHOICES[key])))
    return value


def _int(key, value):
    # JSON numbers from Go are ints; accept integral floats (1.0) too, never bools.
    if isinstance(value, bool):
        raise SettingsError("%s must be an integer, got %r" % (key, value))
    if isinstance(value, float):
        if not value.is_integer():
            raise SettingsError("%s must be an integer, got %r" % (key, value))
        value = int(value)
    if not isinstance(value, int):
        raise SettingsError("%s must be an integer, got %r" % (key, value))
    if value < 0:
        raise SettingsError("%s must not be negative, got %d" % (key, value))
    return _bounds(key, value)


def _float(key, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SettingsError("%s must be a number, got %r" % (key, value))
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise SettingsError("%s must be a finite non-negative number, got %r" % (key, value))
    return _bounds(key, value)


def _bool(key, value):
    if not isinstance(value, bool):
        raise SettingsError("%s must be true or false, got %r" % (key, value))
    return value


def normalize(requested):
    """normalize returns every setting of the registry with the requested
    value checked and canonicalised, or None where the request leaves it
    absent (missing or null; "" for a string). Zero is a value."""
    out = {}
    for key in SETTING_KEYS:
        value = requested.get(key)
        t = TYPES[key]
        if value is None or (t == "string" and value == ""):
            out[key] = None
        elif t == "string":
            out[key] = _canon(key, value)
        elif t == "int":
            out[key] = _int(key, value)
        elif t == "float":
            out[key] = _float(key, value)
        else:
            out[key] = _bool(key, value)
    return out


def cpu_budget(cpus, workers, threads):
    """cpu_budget returns (workers, threads_per_worker) for CPU preprocessing
    such that workers × threads + 1 (the launching thread) ≤ cpus. Workers
    are processes (vit_cpu_prep), each running `threads` intra-op threads,
    so the count is of CPU threads across processes; workers
    and threads are the requested values or None (derived: one intra-op
    thread a worker and as many workers as fit, at most
    MAX_DEFAULT_CPU_WORKERS). Raises SettingsError when a request exceeds
    the budget or no worker fits."""
    cpus = int(cpus)
    budget = cpus - 1
    if workers is None and threads is None:
        threads = 1
        workers = min(MAX_DEFAULT_CPU_WORKERS, budget)
    elif workers is None:
        workers = min(MAX_DEFAULT_CPU_WORKERS, budget // max(1, threads))
    elif threads is None:
        threads = max(1, budget // max(1, workers))
    if workers < 1:
        raise SettingsError("CPU preprocessing needs at least one worker process beside the "
                            "launching thread, but the run may use %d CPU(s)%s"
                            % (cpus, "" if threads is None else
                               " (cpu_threads_per_worker %d)" % threads))
    if workers * threads + 1 > cpus:
        raise SettingsError("cpu_workers %d processes × cpu_threads_per_worker %d + 1 launching "
                            "thread = %d threads, more than the %d CPU(s) this run may use "
                            "(os.sched_getaffinity)" % (workers, threads,
                                                        workers * threads + 1, cpus))
    return workers, threads


def resolve(requested, cpu_count, timm_available=True, decoders=None):
    """resolve turns requested settings into the planned settings.

    requested: the REQ.json settings (registry keys, any may be absent).
    cpu_count: CPUs this process may run on (os.sched_getaffinity): the CPU
    budget. timm_available: whether timm's VisionTransformer imports; when
    it does not and no model was requested, the documented fallback
    vitlab_vit is planned (an explicit timm_vit request fails). decoders: the
    JPEG decoders this host has (None: all); a derived decoder is the first
    available, a requested one that is missing fails.

    Returns (planned, notes): planned has every key of SETTING_KEYS with a
    concrete value; notes explain where planned differs from a value that
    was explicitly requested. Raises SettingsError for settings that cannot
    be run.
    """
    req = normalize(requested)
    decoders = DECODERS if decoders is None else tuple(decoders)
    p = {}
    for key in SETTING_KEYS:
        p[key] = req[key] if req[key] is not None else DEFAULTS.get(key)
    notes = []

    if p["model"] == "timm_vit" and not timm_available:
        if req["model"] is not None:
            raise SettingsError("model timm_vit was requested but timm's VisionTransformer "
                                "cannot be imported")
        p["model"] = "vitlab_vit"
        notes.append("model: timm is not importable, built the documented fallback vitlab_vit")

    if p["heads"] is None:
        if p["hidden"] % 64 != 0:
            raise SettingsError("hidden %d is not a multiple of 64, so heads = hidden/64 is "
                                "undefined: give heads explicitly" % p["hidden"])
        p["heads"] = p["hidden"] // 64
    if p["hidden"] % p["heads"] != 0:
        raise SettingsError("hidden %d is not divisible by heads %d" % (p["hidden"], p["heads"]))
    if p["mlp"] is None:
        p["mlp"] = 4 * p["hidden"]
    if p["resolution"] % p["patch"] != 0:
        raise SettingsError("resolution %d is not a multiple of patch %d"
                            % (p["resolution"], p["patch"]))
    if p["source_resolution"] is None:
        p["source_resolution"] = p["resolution"]

    if p["pipeline"] == "sync":
        if req["queue_depth"] is not None and req["queue_depth"] != 1:
            notes.append("queue_depth: requested %d, the sync pipeline keeps one batch in "
                         "flight (1)" % req["queue_depth"])
        p["queue_depth"] = 1
    elif p["queue_depth"] is None:
        p["queue_depth"] = DEFAULT_ASYNC_QUEUE_DEPTH

    threads_req = req["cpu_threads_per_worker"]
    if p["pipeline"] == "peer":
        # the DataLoader loop of vit_peer: decode_jpeg and an antialiased
        # bilinear resize in its workers (one intra-op thread each)
        if p["preprocess"] != "cpu":
            raise SettingsError("pipeline peer preprocesses in DataLoader workers: it needs "
                                "preprocess cpu, not %s" % p["preprocess"])
        if p["decoder"] not in (None, "torchvision-cpu"):
            raise SettingsError("pipeline peer decodes with torchvision-cpu, not %s" % p["decoder"])
        if "torchvision-cpu" not in decoders:
            raise SettingsError("pipeline peer needs torchvision.io.decode_jpeg (torchvision-cpu), "
                                "which is not available here")
        if p["resize"] != "bilinear-antialias":
            raise SettingsError("pipeline peer resizes bilinear-antialias (torchvision's "
                                "resize with antialias=True), not %s" % p["resize"])
        p["decoder"] = "torchvision-cpu"
        if threads_req not in (None, 1):
            notes.append("cpu_threads_per_worker: requested %d, DataLoader workers run one "
                         "intra-op thread each (1)" % threads_req)
        threads_req = 1

    if p["decoder"] is None:
        if p["preprocess"] == "gpu" and "nvjpeg" in decoders:
            p["decoder"] = "nvjpeg"
        else:
            cpu = [d for d in ("torchvision-cpu", "pil") if d in decoders]
            if not cpu:
                raise SettingsError("no JPEG decoder is available (torchvision.io.decode_jpeg "
                                    "or Pillow)")
            p["decoder"] = cpu[0]
            if p["preprocess"] == "gpu":
                notes.append("decoder: nvjpeg (torchvision.io.decode_jpeg on the GPU) is not "
                             "available; JPEGs are decoded by %s on CPU workers, uploaded as "
                             "uint8 and resized on the GPU" % p["decoder"])
    elif p["decoder"] not in decoders:
        raise SettingsError("decoder %s was requested but is not available on this host "
                            "(available: %s)" % (p["decoder"], ", ".join(decoders) or "none"))
    if p["decoder"] == "nvjpeg" and p["preprocess"] != "gpu":
        raise SettingsError("decoder nvjpeg decodes on the GPU: it needs preprocess gpu")

    # CPU workers run whenever a CPU decoder is used (preprocess cpu: the
    # whole preprocessing; preprocess gpu: decoding only).
    if p["decoder"] == "nvjpeg":
        for key in ("cpu_workers", "cpu_threads_per_worker"):
            if req[key]:
                notes.append("%s: requested %d, nvjpeg preprocessing uses no CPU workers (0)"
                             % (key, req[key]))
        p["cpu_workers"] = 0
        p["cpu_threads_per_worker"] = 0
    else:
        if req["cpu_workers"] == 0:
            raise SettingsError("cpu_workers 0: decoder %s runs on CPU workers; request at "
                                "least 1, or preprocess gpu with decoder nvjpeg" % p["decoder"])
        p["cpu_workers"], p["cpu_threads_per_worker"] = cpu_budget(
            cpu_count, req["cpu_workers"], threads_req)
    return p, notes


def phase_effective_keys(phase):
    """phase_effective_keys lists the settings a phase reports as effective:
    CLEAN_ONLY_KEYS only in the clean phase (the traced phase runs one window
    of timed_batches)."""
    if phase == "clean":
        return SETTING_KEYS
    return tuple(k for k in SETTING_KEYS if k not in CLEAN_ONLY_KEYS)


def reconcile(planned, effective, phase):
    """reconcile compares what was planned with what actually ran and returns
    one message per disagreeing key (empty when they agree). Any message
    means the workload did not run what it planned: the run must fail."""
    problems = []
    for key in phase_effective_keys(phase):
        if key not in effective or effective[key] is None:
            problems.append("%s: not reported by the workload" % key)
        elif effective[key] != planned[key]:
            problems.append("%s: planned %r but ran %r" % (key, planned[key], effective[key]))
    extra = sorted(set(effective) - set(SETTING_KEYS))
    for key in extra:
        problems.append("%s: not a setting" % key)
    return problems


def adjustments(requested, effective, notes=()):
    """adjustments lists, for each setting explicitly requested whose
    effective value differs, "key: requested X, ran Y" — followed by the
    resolve() notes that explain the documented ones."""
    req = normalize(requested)
    out = []
    for key in SETTING_KEYS:
        if req[key] is None or key not in effective or effective[key] is None:
            continue
        if req[key] != effective[key]:
            out.append("%s: requested %r, ran %r" % (key, requested.get(key), effective[key]))
    out.extend(notes)
    return out


def is_oom(exc):
    """is_oom reports whether exc (or an exception it was raised from) is an
    out-of-memory error: torch's OutOfMemoryError or a CUDA/cuBLAS/host
    message saying "out of memory"."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def error_message(exc, limit=800):
    """error_message is the one-line error RES.json gets for an exception:
    "out of memory: ..." for OOM, the bare message for exceptions that set
    plain = True, else "Type: message"; whitespace collapsed, truncated."""
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[:limit] + " …"
    if is_oom(exc):
        return "out of memory: %s" % text
    if getattr(exc, "plain", False):
        return text
    return "%s: %s" % (type(exc).__name__, text)


def new_result(phase, run_id=""):
    """new_result returns a failed result skeleton for RES.json; the caller
    fills it in and sets ok once the run succeeded."""
    return {
        "phase": phase,
        "run_id": run_id,
        "ok": False,
        "error": None,
        "requested": None,
        "effective": None,
        "adjustments": [],
        "timings": {},
        "software": {"torch": None, "cuda": None, "timm": None, "python": None, "driver": None},
        "gpu": {"index": None, "name": None, "uuid": None},
        "details": {},
    }


def write_result(path, result):
    """write_result writes RES.json atomically (temp file, fsync, rename)."""
    data = json.dumps(result, indent=2, sort_keys=False, allow_nan=False) + "\n"
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def sanitize(value):
    """sanitize returns value with every non-finite float replaced by None
    and tuples turned into lists, so that it is valid JSON."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {str(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize(v) for v in value]
    return value


def describe(settings):
    """describe is a short one-line label of (planned or effective) settings."""
    s = settings
    pre = s.get("preprocess")
    if s.get("cpu_workers"):
        pre = "%s/%sx%s" % (pre, s.get("cpu_workers"), s.get("cpu_threads_per_worker"))
    return ("%s p%s d%s h%s heads%s mlp%s r%s src%s bs%s %s %s %s q%s pre=%s dec=%s %s pe=%s" % (
        s.get("model"), s.get("patch"), s.get("depth"), s.get("hidden"), s.get("heads"),
        s.get("mlp"), s.get("resolution"), s.get("source_resolution"), s.get("batch_size"),
        s.get("dtype"), s.get("compile_mode"), s.get("pipeline"), s.get("queue_depth"), pre,
        s.get("decoder"), s.get("resize"), s.get("patch_embed")))
