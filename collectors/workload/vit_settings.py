"""Settings of one workload run: request parsing, defaults, validation,
requested-vs-effective reconciliation and the result file.

Pure Python (standard library only) so that it is unit-tested on machines
without torch. The JSON field names are those of collectors/batchdir/batchdir.go
(Settings and Timings); test_settings.py checks them against that file.

Flow:
    requested (REQ.json "settings")
      -> resolve()   : planned settings (defaults filled, canonical names,
                       documented adjustments such as sync => queue_depth 1)
      -> the torch code runs the plan and reads back what it actually ran
      -> reconcile() : planned vs effective must agree on every key, else the
                       run fails (no silent fallback)
      -> adjustments(): requested vs effective differences, explained
"""

import json
import os
import tempfile

# SETTING_KEYS are the keys of batchdir.Settings, in its order.
SETTING_KEYS = (
    "model", "patch", "depth", "hidden", "heads", "mlp", "resolution",
    "source_resolution", "batch_size", "dtype", "compile_mode", "pipeline",
    "queue_depth", "preprocess", "cpu_workers", "warmup_batches",
    "timed_batches", "clean_repeats",
)

STRING_KEYS = ("model", "dtype", "compile_mode", "pipeline", "preprocess")
INT_KEYS = tuple(k for k in SETTING_KEYS if k not in STRING_KEYS)

# Canonical values and the aliases accepted for them (case-insensitive).
MODELS = ("timm_vit", "vitlab_vit")
MODEL_ALIASES = {"timm": "timm_vit", "timm_vit": "timm_vit",
                 "vitlab": "vitlab_vit", "vitlab_vit": "vitlab_vit",
                 "fallback": "vitlab_vit"}
DTYPES = ("bfloat16", "float16", "float32")
DTYPE_ALIASES = {"bfloat16": "bfloat16", "bf16": "bfloat16",
                 "float16": "float16", "fp16": "float16", "half": "float16",
                 "float32": "float32", "fp32": "float32", "float": "float32"}
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}
COMPILE_MODES = ("eager", "default", "reduce-overhead", "max-autotune")
COMPILE_ALIASES = {"eager": "eager", "none": "eager", "off": "eager",
                   "default": "default", "reduce-overhead": "reduce-overhead",
                   "reduce_overhead": "reduce-overhead",
                   "max-autotune": "max-autotune", "max_autotune": "max-autotune"}
# CUDAGRAPH_MODES are the torch.compile modes that replay CUDA graphs
# (inductor's cudagraph trees): their outputs live in a static pool.
CUDAGRAPH_MODES = ("reduce-overhead", "max-autotune")
PIPELINES = ("sync", "async")
PREPROCESS_DEVICES = ("cpu", "gpu")
PREPROCESS_ALIASES = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu"}

NUM_CLASSES = 1000

# DEFAULTS are used where a request leaves a setting absent or 0/"".
# heads, mlp, source_resolution, queue_depth and cpu_workers depend on other
# settings and are filled by resolve().
DEFAULTS = {
    "model": "timm_vit",
    "patch": 16,
    "depth": 12,
    "hidden": 768,
    "resolution": 224,
    "batch_size": 64,
    "dtype": "bfloat16",
    "compile_mode": "eager",
    "pipeline": "sync",
    "preprocess": "cpu",
    "warmup_batches": 10,
    "timed_batches": 50,
    "clean_repeats": 3,
}
DEFAULT_ASYNC_QUEUE_DEPTH = 2
MAX_DEFAULT_CPU_WORKERS = 8

# Upper bounds that catch typos (e.g. a resolution in the wrong unit).
LIMITS = {
    "patch": 1024, "depth": 512, "hidden": 65536, "heads": 4096,
    "mlp": 1 << 20, "resolution": 16384, "source_resolution": 16384,
    "batch_size": 1 << 16, "queue_depth": 64, "cpu_workers": 1024,
    "warmup_batches": 1 << 20, "timed_batches": 1 << 20, "clean_repeats": 1000,
}

PHASES = ("clean", "traced")

# Timing keys (batchdir.Timings json tags) each phase writes.
CLEAN_TIMING_KEYS = ("compile_s", "timed_images", "clean_throughput",
                     "clean_throughput_runs", "clean_latency_p50_ms",
                     "clean_latency_p90_ms", "clean_latency_p99_ms",
                     "peak_mem_bytes")
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


def _canon(key, value, aliases, allowed):
    if not isinstance(value, str):
        raise SettingsError("%s must be a string, got %r" % (key, value))
    v = aliases.get(value.strip().lower())
    if v is None:
        raise SettingsError("%s %r is not one of %s" % (key, value, ", ".join(allowed)))
    return v


def _int(key, value):
    # JSON numbers from Go are ints; accept integral floats (1.0) too, never bools.
    if isinstance(value, bool) or value is None:
        raise SettingsError("%s must be an integer, got %r" % (key, value))
    if isinstance(value, float):
        if not value.is_integer():
            raise SettingsError("%s must be an integer, got %r" % (key, value))
        value = int(value)
    if not isinstance(value, int):
        raise SettingsError("%s must be an integer, got %r" % (key, value))
    if value < 0:
        raise SettingsError("%s must not be negative, got %d" % (key, value))
    if value > LIMITS.get(key, value):
        raise SettingsError("%s %d exceeds the limit %d" % (key, value, LIMITS[key]))
    return value


def normalize(requested):
    """normalize returns the requested settings with canonical string values
    and ints checked; absent, 0 and "" all become None (use the default)."""
    out = {}
    for key in SETTING_KEYS:
        value = requested.get(key)
        if isinstance(value, bool):
            raise SettingsError("%s must not be a boolean, got %r" % (key, value))
        if value is None or value == "" or value == 0:
            if value is not None and key in STRING_KEYS and value != "":
                raise SettingsError("%s must be a string, got %r" % (key, value))
            out[key] = None
            continue
        if key == "model":
            out[key] = _canon(key, value, MODEL_ALIASES, MODELS)
        elif key == "dtype":
            out[key] = _canon(key, value, DTYPE_ALIASES, DTYPES)
        elif key == "compile_mode":
            out[key] = _canon(key, value, COMPILE_ALIASES, COMPILE_MODES)
        elif key == "pipeline":
            out[key] = _canon(key, value, {p: p for p in PIPELINES}, PIPELINES)
        elif key == "preprocess":
            out[key] = _canon(key, value, PREPROCESS_ALIASES, PREPROCESS_DEVICES)
        else:
            out[key] = _int(key, value)
    return out


def resolve(requested, cpu_count, timm_available=True):
    """resolve turns requested settings into the planned settings.

    requested: the REQ.json settings (keys of SETTING_KEYS, any may be absent).
    cpu_count: CPUs this process may run on (os.sched_getaffinity), used for
    the default cpu_workers. timm_available: whether timm's VisionTransformer
    imports; when it does not and no model was requested, the documented
    fallback vitlab_vit is planned (an explicit timm_vit request fails).

    Returns (planned, notes): planned has every key of SETTING_KEYS with a
    concrete value; notes explain where planned differs from a value that
    was explicitly requested. Raises SettingsError for settings that cannot
    be run.
    """
    req = normalize(requested)
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

    if p["preprocess"] == "gpu":
        if req["cpu_workers"] is not None:
            notes.append("cpu_workers: requested %d, GPU preprocessing uses no CPU workers (0)"
                         % req["cpu_workers"])
        p["cpu_workers"] = 0
    elif p["cpu_workers"] is None:
        p["cpu_workers"] = max(1, min(MAX_DEFAULT_CPU_WORKERS, int(cpu_count)))
    return p, notes


def threads_per_worker(cpu_count, workers):
    """threads_per_worker is the intra-op thread count each CPU preprocessing
    worker gets: the process's CPUs shared out, at least 1."""
    if workers <= 0:
        return 0
    return max(1, int(cpu_count) // workers)


def phase_effective_keys(phase):
    """phase_effective_keys lists the settings a phase reports as effective:
    clean_repeats only in the clean phase (the traced phase runs one timed
    window and no clean repeats)."""
    if phase == "clean":
        return SETTING_KEYS
    return tuple(k for k in SETTING_KEYS if k != "clean_repeats")


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
    if pre == "cpu":
        pre = "cpu/%s" % s.get("cpu_workers")
    return ("%s p%s d%s h%s heads%s mlp%s r%s src%s bs%s %s %s %s q%s pre=%s" % (
        s.get("model"), s.get("patch"), s.get("depth"), s.get("hidden"), s.get("heads"),
        s.get("mlp"), s.get("resolution"), s.get("source_resolution"), s.get("batch_size"),
        s.get("dtype"), s.get("compile_mode"), s.get("pipeline"), s.get("queue_depth"), pre))
