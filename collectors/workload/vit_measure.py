"""Measurement (torch): the clock points and window markers at the edges
of every window, the per-window summaries RES.json carries, and the
headroom of a run — its forward-only bound and the rate of its
preprocessing path alone, measured in the same process right after the
timed windows (clean phase only).

Headroom (README *Headroom*): forward_bound_img_s is the model alone on an
input already on the GPU (back-to-back forwards of the same compiled model,
batch and buffer, no copies); prep_bound_img_s is the run's own
preprocessing path alone — the same workers, buffers, uploads and GPU
transforms, driven by the async design with two batches in flight and a
forward that does nothing (its logits are a constant tensor). The
pipeline's own bound and the fraction of it reached are computed from
these in the warehouse (queries/metrics/run_headroom.sql), so that the
definition lives in one place.
"""

import gc
import math
import time

import torch

import vit_sched
import vit_stats
from vit_device import WorkloadError

# HEADROOM_LABEL is the NVTX range around the headroom windows (clean phase
# only: never in a trace).
HEADROOM_LABEL = "headroom"


def clock_point():
    """clock_point records a timing event on the idle GPU and returns
    (event, host_ns, uncertainty_ns): host_ns is the midpoint of
    perf_counter_ns just before the record and just after the event's
    synchronize (see vit_sched.ClockMap)."""
    ev = torch.cuda.Event(enable_timing=True)
    a = time.perf_counter_ns()
    ev.record()
    ev.synchronize()
    b = time.perf_counter_ns()
    return ev, (a + b) // 2, b - a


def window_marker(edge, index):
    """window_marker prints the line the Go runner reads at a window edge
    (it then reads NVML's energy counter): VITLAB_WINDOW begin|end <index>
    <unix_ns>; returns unix_ns."""
    ns = time.time_ns()
    print("VITLAB_WINDOW %s %d %d" % (edge, index, ns), flush=True)
    return ns


class TimedWindow:
    """TimedWindow brackets one window of batches (vit_pipeline.Pipeline's
    and vit_peer.PeerPipeline's windows):

    - on entry: an idle GPU (device synchronize), Python's cyclic garbage
      collector collected and then paused for the window (reference
      counting still frees every batch's objects), as timeit does — a
      collection pause inside a host-bound window is noise; the first clock
      point; the begin marker (marker = index); NVTX range `label` opened;
      the host clock started (t0);
    - on a normal exit: a device synchronize, the host clock stopped (t1)
      and the end marker, both inside the range; after it, the second clock
      point. The collector is re-enabled whatever happened.

    ev0 (the first clock point's event) is what batches' GPU completion
    times are measured from; result() turns the batches' records into the
    window's measurements."""

    def __init__(self, device, tracer, label, marker=None):
        self.device = device
        self.tracer = tracer
        self.label = label
        self.marker = marker
        self.start_ns = self.end_ns = None

    def __enter__(self):
        torch.cuda.synchronize(self.device)
        gc.collect()
        self._gc_was = gc.isenabled()
        gc.disable()
        try:
            self.ev0, self.host0, self.unc0 = clock_point()
            if self.marker is not None:
                self.start_ns = window_marker("begin", self.marker)
            self._range = self.tracer.range(self.label)
            self._range.__enter__()
        except BaseException:
            if self._gc_was:
                gc.enable()
            raise
        self.t0 = time.perf_counter_ns()
        return self

    def __exit__(self, et, ev, tb):
        try:
            try:
                if et is None:
                    torch.cuda.synchronize(self.device)
                    self.t1 = time.perf_counter_ns()
                    if self.marker is not None:
                        self.end_ns = window_marker("end", self.marker)
            finally:
                self._range.__exit__(et, ev, tb)
            if et is None:
                self.ev1, self.host1, self.unc1 = clock_point()
        finally:
            if self._gc_was:
                gc.enable()
        return False

    def result(self, recs, batch, first, last_out):
        """result is the window's measurements: recs holds one (admission
        host ns, GPU completion ms since ev0) per batch, batch the images a
        batch, first the first batch's sequence number and last_out the last
        batch's logits on the host (None without batches). Raises
        WorkloadError on a negative latency (the clocks disagree) or
        non-finite logits."""
        n = len(recs)
        clock = vit_sched.ClockMap(self.host0, self.host1, self.ev0.elapsed_time(self.ev1))
        lat = [vit_sched.latency_ms(a, g, clock) for a, g in recs]
        done_ms = [g for _, g in recs]
        if lat and min(lat) < -0.05:
            raise WorkloadError("latency clock mapping gave a negative latency (%.3f ms): the "
                                "CUDA event and host clocks disagree" % min(lat))
        finite = bool(torch.isfinite(last_out).all()) if last_out is not None else None
        if finite is False:
            raise WorkloadError("the model output (logits) of batch %d is not finite" % (first + n - 1))
        seconds = (self.t1 - self.t0) / 1e9
        images = n * batch
        out = {
            "label": self.label,
            "index": self.marker,
            "start_unix_ns": self.start_ns,
            "end_unix_ns": self.end_ns,
            "first_batch": first,
            "batches": n,
            "images": images,
            "seconds": seconds,
            "throughput": images / seconds if seconds > 0 else None,
            "latencies_ms": lat,
            "steady_batch_s": vit_sched.steady_batch_s(done_ms),
            "clock_scale": clock.scale,
            "clock_uncertainty_us": max(self.unc0, self.unc1) / 2e3,
            "output_finite": finite,
        }
        if clock.note:
            out["clock_note"] = clock.note
        return out


def contract_window(w):
    """contract_window is one entry of RES.json "windows" (contract §2)."""
    lat = w["latencies_ms"]
    return {
        "index": w["index"], "start_unix_ns": w["start_unix_ns"], "end_unix_ns": w["end_unix_ns"],
        "batches": w["batches"], "images": w["images"], "seconds": w["seconds"],
        "throughput": w["throughput"],
        "latency_p50_ms": vit_stats.percentile(lat, 50) if lat else None,
        "latency_p90_ms": vit_stats.percentile(lat, 90) if lat else None,
        "latency_p99_ms": vit_stats.percentile(lat, 99) if lat else None,
    }


def window_summary(w):
    """window_summary is a window's entry of details.windows (no latencies list)."""
    lat = w["latencies_ms"]
    out = {k: v for k, v in w.items() if k != "latencies_ms"}
    if lat:
        out["latency_p50_ms"] = vit_stats.percentile(lat, 50)
        out["latency_max_ms"] = max(lat)
    if out.get("throughput") is not None and not math.isfinite(out["throughput"]):
        out["throughput"] = None
    return out


def forward_rate(forward, x, batch, min_s, min_batches=4, device=None):
    """forward_rate is the forward-only rate (img/s): forward(x) called
    back to back on the current stream, x already on the GPU, until at
    least min_s and min_batches; timed from an idle GPU to the final
    synchronize. Returns (img/s, batches, seconds)."""
    forward(x)  # one call outside the timing (allocator, graph replay set-up)
    torch.cuda.synchronize(device)
    n = 0
    t0 = time.perf_counter()
    chunk = max(1, min_batches)
    while True:
        for _ in range(chunk):
            forward(x)
        n += chunk
        torch.cuda.synchronize(device)
        el = time.perf_counter() - t0
        if el >= min_s and n >= min_batches:
            break
        if el > 0:
            # aim the next chunk at the rest of min_s, at most doubling
            chunk = max(1, min(2 * n, int((min_s - el) / (el / n)) + 1))
    el = time.perf_counter() - t0
    return batch * n / el, n, el


def prep_rate(pipe, min_s, min_batches):
    """prep_rate is the rate (img/s) of the pipeline's preprocessing path
    alone: pipe.window with the async design over every slot (two batches
    or more in flight) and a forward that returns a constant logits tensor
    (no model work). Returns the window."""
    logits = torch.zeros((pipe.batch, pipe.slots[0].host_out.shape[1]), dtype=pipe.dtype,
                         device=pipe.device)
    real = pipe.forward
    pipe.forward = lambda x: logits
    try:
        return pipe.window(min_batches, HEADROOM_LABEL, min_s=min_s, kind="async",
                           depth=len(pipe.slots))
    finally:
        pipe.forward = real


def headroom(pipe, min_s, log=None):
    """headroom measures the forward-only bound and the preprocessing-only
    rate of pipe's configuration (see the module doc); returns the dict
    that goes to details.headroom (its two rates also go to timings)."""
    depth = len(pipe.slots)
    with pipe.tracer.range(HEADROOM_LABEL):
        f_rate, f_n, f_s = forward_rate(pipe.forward, pipe.slots[0].dev_in, pipe.batch, min_s,
                                        device=pipe.device)
    w = prep_rate(pipe, min_s, max(2 * depth, 4))
    out = {
        "forward_bound_img_s": f_rate,
        "forward_batches": f_n,
        "forward_seconds": f_s,
        "prep_bound_img_s": w["throughput"],
        "prep_batches": w["batches"],
        "prep_seconds": w["seconds"],
        "prep_in_flight": depth,
        "prep_path": pipe.mode,
        "min_s": min_s,
    }
    if log:
        log("headroom: forward-only %.0f img/s, preprocessing-only (%s) %.0f img/s"
            % (f_rate, pipe.mode, w["throughput"] or 0.0))
    return out
