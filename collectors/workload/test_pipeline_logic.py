"""The pipeline's control flow on the CPU (needs torch, no GPU).

run_phase and vit_workload.main run for real on CPU tensors, with fake CUDA
events, streams, device queries and NVTX. CPU ops are synchronous, so this
cannot catch a missing GPU dependency; it checks everything else: the
sync/async schedules, slot use, event record/wait/synchronize order, the NVTX
range structure the warehouse parses, worker ranges, window bookkeeping,
effective settings read back from what ran, timings, and failure reporting.
"""

import contextlib
import importlib.util
import io
import json
import os
import tempfile
import threading
import time
import types
import unittest
from unittest import mock

HAVE_TORCH = importlib.util.find_spec("torch") is not None
if HAVE_TORCH:
    import torch
    import torch.nn.functional as F

import vit_nvtx
import vit_settings


class FakeEvent:
    def __init__(self, enable_timing=False, blocking=False, interprocess=False):
        self.timing = enable_timing
        self.t = None
        self.records = 0

    def record(self, stream=None):
        self.t = time.perf_counter_ns()
        self.records += 1

    def synchronize(self):
        assert self.t is not None, "synchronize on an event never recorded"

    def query(self):
        return self.t is not None

    def elapsed_time(self, other):
        assert self.timing and other.timing, "elapsed_time needs timing events"
        assert self.t is not None and other.t is not None, "elapsed_time on unrecorded events"
        return (other.t - self.t) / 1e6


class FakeStream:
    def __init__(self, device=None, priority=0):
        self.waits = 0

    def wait_event(self, ev):
        assert ev.t is not None, "stream waits on an event never recorded"
        self.waits += 1


class FakeNVTX:
    """FakeNVTX records push/pop per thread and checks they balance."""

    def __init__(self):
        self.lock = threading.Lock()
        self.events = []  # (thread id, "push"/"pop", name)
        self.stacks = {}

    def range_push(self, name):
        tid = threading.get_ident()
        with self.lock:
            self.stacks.setdefault(tid, []).append(name)
            self.events.append((tid, "push", name))
        return 0

    def range_pop(self):
        tid = threading.get_ident()
        with self.lock:
            name = self.stacks[tid].pop()
            self.events.append((tid, "pop", name))
        return 0

    def tree(self, tid):
        """tree returns the ranges of one thread as nested (name, children)."""
        root = ("<root>", [])
        stack = [root]
        for t, op, name in self.events:
            if t != tid or name == "vitlab-nvtx-check":
                continue
            if op == "push":
                node = (name, [])
                stack[-1][1].append(node)
                stack.append(node)
            else:
                assert stack.pop()[0] == name
        assert len(stack) == 1, "unbalanced ranges"
        return root[1]


def reference_sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    s = (q.shape[-1] ** -0.5) if scale is None else scale
    return torch.softmax((q @ k.transpose(-2, -1)) * s, dim=-1) @ v


def fake_cuda(nvtx):
    """fake_cuda returns the patches that replace torch.cuda's device parts."""
    props = types.SimpleNamespace(name="Fake GPU", uuid="0f0f-1234", multi_processor_count=2,
                                  total_memory=1 << 30, major=9, minor=0)
    patches = [
        mock.patch.object(torch.cuda, "is_available", lambda: True),
        mock.patch.object(torch.cuda, "device_count", lambda: 1),
        mock.patch.object(torch.cuda, "set_device", lambda i: None),
        mock.patch.object(torch.cuda, "get_device_properties", lambda i: props),
        mock.patch.object(torch.cuda, "get_device_name", lambda i=None: props.name),
        mock.patch.object(torch.cuda, "synchronize", lambda *a, **k: None),
        mock.patch.object(torch.cuda, "Event", FakeEvent),
        mock.patch.object(torch.cuda, "Stream", FakeStream),
        mock.patch.object(torch.cuda, "stream", lambda s: contextlib.nullcontext()),
        mock.patch.object(torch.cuda, "manual_seed_all", lambda s: None),
        mock.patch.object(torch.cuda, "reset_peak_memory_stats", lambda *a: None),
        mock.patch.object(torch.cuda, "max_memory_allocated", lambda *a: 12345),
        mock.patch.object(torch.cuda, "nvtx", nvtx),
    ]
    import vit_device
    patches += [mock.patch.object(vit_device, "DEVICE_TYPE", "cpu"),
                mock.patch.object(vit_device, "PIN_MEMORY", False)]
    if not hasattr(F, "scaled_dot_product_attention"):  # torch < 2.0 on a dev box
        patches.append(mock.patch.object(F, "scaled_dot_product_attention", reference_sdpa,
                                         create=True))
    return patches


SMALL = {"model": "vitlab_vit", "patch": 8, "depth": 1, "hidden": 64, "resolution": 16,
         "source_resolution": 24, "batch_size": 5, "dtype": "bfloat16",
         "warmup_batches": 2, "timed_batches": 4, "clean_repeats": 2, "min_window_s": 0.0}


@unittest.skipUnless(HAVE_TORCH, "torch is not installed")
class PipelineLogic(unittest.TestCase):
    def setUp(self):
        self.nvtx = FakeNVTX()
        for p in fake_cuda(self.nvtx):
            p.start()
            self.addCleanup(p.stop)

    def run_phase(self, settings, phase="clean", grad_mode="inference", headroom=False):
        import vit_run
        import vit_sources
        planned, _ = vit_settings.resolve(settings, cpu_count=4, timm_available=False,
                                          decoders=vit_sources.available_decoders())
        result = vit_settings.new_result(phase)
        opts = {"device": 0, "seed": 0, "cpu_count": 4, "mem_total": None,
                "profiler_range": False, "grad_mode": grad_mode, "headroom": headroom}
        effective, timings, details = vit_run.run_phase(phase, planned, opts, result,
                                                        lambda m: None)
        self.assertEqual(vit_settings.reconcile(planned, effective, phase), [])
        return planned, effective, timings, details, result

    def main_tree(self):
        return self.nvtx.tree(threading.get_ident())

    def check_workers(self, details, processes):
        # CPU preprocessing ran in worker processes (not threads of this
        # interpreter), which push no NVTX ranges (nsys does not follow a
        # fork without exec)
        p = details["pipeline"]
        self.assertEqual((p["cpu_worker_kind"], p["cpu_worker_processes"]), ("process", processes))
        self.assertEqual(len(set(p["cpu_worker_pids"])), processes)
        self.assertNotIn(os.getpid(), p["cpu_worker_pids"])
        self.assertFalse([n for t, op, n in self.nvtx.events
                          if op == "push" and n.startswith("preprocess_worker ")])

    def completion_names(self):
        return [n for t, op, n in self.nvtx.events
                if op == "push" and n.split(" ")[0] in ("admit", "retire")]

    def check_windows(self, tree, planned, phase):
        labels = [n for n, _ in tree]
        repeats = planned["clean_repeats"] if phase == "clean" else 1
        self.assertEqual(labels, ["warmup"] + ["timed"] * repeats)
        seqs = []
        for (label, children), n in zip(tree, [planned["warmup_batches"]] +
                                        [planned["timed_batches"]] * repeats):
            batches = [vit_nvtx.parse_indexed(c[0]) for c in children]
            seqs += [s for kind, s in batches if kind == "batch"]
            self.assertEqual(sum(1 for kind, _ in batches if kind == "batch"), n)
        self.assertEqual(seqs, list(range(len(seqs))))  # unique, in order, from 0
        return seqs

    def test_sync_cpu(self):
        planned, eff, t, details, result = self.run_phase(dict(SMALL, cpu_workers=2))
        self.assertEqual((eff["pipeline"], eff["queue_depth"], eff["preprocess"],
                          eff["cpu_workers"]), ("sync", 1, "cpu", 2))
        tree = self.main_tree()
        seqs = self.check_windows(tree, planned, "clean")
        for _, children in tree:
            for name, kids in children:
                kind, seq = vit_nvtx.parse_indexed(name)
                self.assertEqual(kind, "batch")
                self.assertEqual([k[0] for k in kids],
                                 ["preprocess", "h2d", "forward", "d2h", "retire %d" % seq])
        self.assertTrue(seqs)
        self.check_workers(details, 2)
        self.assertEqual(len(t["clean_throughput_runs"]), 2)
        self.assertEqual(t["timed_images"], 4 * 5)
        self.assertEqual(t["peak_mem_bytes"], 12345)
        self.assertGreater(t["clean_latency_p50_ms"], 0)
        self.assertEqual(result["gpu"], {"index": 0, "name": "Fake GPU", "uuid": "GPU-0f0f-1234"})
        self.assertEqual(set(t), set(vit_settings.CLEAN_TIMING_KEYS))
        self.assertTrue(all(w["output_finite"] for w in details["windows"]))

    def test_sync_gpu(self):
        # no nvjpeg on the CPU test device: CPU workers decode, the "GPU" resizes
        planned, eff, t, details, _ = self.run_phase(dict(SMALL, preprocess="gpu", cpu_workers=2))
        self.assertEqual((eff["preprocess"], eff["cpu_workers"], eff["decoder"]),
                         ("gpu", 2, planned["decoder"]))
        self.assertNotEqual(eff["decoder"], "nvjpeg")
        self.assertEqual(details["pipeline"]["preprocess_mode"], "gpu-upload")
        for _, children in self.main_tree():
            for name, kids in children:
                seq = vit_nvtx.parse_indexed(name)[1]
                self.assertEqual([k[0] for k in kids],
                                 ["h2d", "preprocess", "forward", "d2h", "retire %d" % seq])

    def check_async(self, tree, q, order):
        # main thread: only batch ranges (launches), in order
        for _, children in tree:
            names = [vit_nvtx.parse_indexed(c[0]) for c in children]
            self.assertEqual({k for k, _ in names}, {"batch"})
            for _, kids in children:
                self.assertEqual([k[0] for k in kids], order)
        # completion thread: admit/retire, at most q in flight, retired in order
        inflight = 0
        seen = {"admit": [], "retire": []}
        for name in self.completion_names():
            kind, seq = vit_nvtx.parse_indexed(name)
            inflight += 1 if kind == "admit" else -1
            self.assertLessEqual(inflight, q)
            seen[kind].append(seq)
        self.assertEqual(inflight, 0)
        self.assertEqual(seen["retire"], sorted(seen["retire"]))
        self.assertEqual(sorted(seen["admit"]), seen["retire"])

    def test_async_cpu(self):
        planned, eff, t, details, _ = self.run_phase(dict(SMALL, pipeline="async", queue_depth=3,
                                                          cpu_workers=3))
        self.assertEqual((eff["pipeline"], eff["queue_depth"], eff["cpu_workers"]), ("async", 3, 3))
        tree = self.main_tree()
        self.check_windows(tree, planned, "clean")
        self.check_async(tree, 3, ["preprocess", "h2d", "forward", "d2h"])
        self.check_workers(details, 3)

    def test_async_gpu_traced(self):
        planned, eff, t, details, _ = self.run_phase(
            dict(SMALL, pipeline="async", queue_depth=2, preprocess="gpu", cpu_workers=2),
            phase="traced")
        self.assertNotIn("clean_repeats", eff)
        self.assertEqual(set(t), set(vit_settings.TRACED_TIMING_KEYS))
        tree = self.main_tree()
        self.check_windows(tree, planned, "traced")
        self.check_async(tree, 2, ["h2d", "preprocess", "forward", "d2h"])
        self.assertIn("p50", details["traced_latency_ms"])

    def test_no_grad_mode(self):
        for pre in ("cpu", "gpu"):
            with self.subTest(preprocess=pre):
                _, eff, t, details, _ = self.run_phase(
                    dict(SMALL, pipeline="async", queue_depth=2, preprocess=pre),
                    grad_mode="no_grad")
                self.assertEqual(details["grad_mode"], "no_grad")
                self.assertGreater(t["clean_throughput"], 0)

    def test_clean_windows_last_min_window_s(self):
        # the estimate from warm-up/calibration decides the batch count, the
        # clock ends the window: every clean window lasts min_window_s and
        # runs at least timed_batches, in both designs; the traced window
        # runs exactly timed_batches
        for extra in ({}, {"pipeline": "async", "queue_depth": 3}):
            with self.subTest(**extra):
                settings = dict(SMALL, cpu_workers=2, min_window_s=0.15, **extra)
                planned, eff, t, details, _ = self.run_phase(settings)
                timed = [w for w in details["windows"] if w["label"] == "timed"]
                self.assertEqual(len(timed), 2)
                for w in timed:
                    self.assertGreaterEqual(w["seconds"], 0.15)
                    self.assertGreaterEqual(w["batches"], planned["timed_batches"])
                    self.assertEqual(w["images"], w["batches"] * 5)
                self.assertEqual(t["timed_images"], timed[0]["images"])
                self.assertNotIn("short_windows", details)
                _, _, _, traced, _ = self.run_phase(settings, phase="traced")
                self.assertEqual([w["batches"] for w in traced["windows"] if w["label"] == "timed"],
                                 [planned["timed_batches"]])

    def test_async_q1(self):
        planned, eff, _, _, _ = self.run_phase(dict(SMALL, pipeline="async", queue_depth=1))
        self.assertEqual(eff["queue_depth"], 1)
        names = [vit_nvtx.parse_indexed(n)[0] for n in self.completion_names()]
        self.assertEqual(names, ["admit", "retire"] * (len(names) // 2))

    def test_cli_end_to_end(self):
        import vit_workload
        with tempfile.TemporaryDirectory() as d:
            req = os.path.join(d, "req.json")
            res = os.path.join(d, "res.json")
            with open(req, "w", encoding="utf-8") as f:
                json.dump({"run_id": "e2e", "settings": dict(SMALL, model="", queue_depth=4)}, f)
            out = io.StringIO()
            env_before = {k: os.environ.get(k) for k in vit_workload.CACHE_ENV}
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                status = vit_workload.main(["--request", req, "--result", res, "--phase", "clean"])
            self.assertEqual({k: os.environ.get(k) for k in vit_workload.CACHE_ENV}, env_before)
            with open(res, encoding="utf-8") as f:
                result = json.load(f)
        self.assertEqual(status, 0, result["error"])
        self.assertTrue(result["ok"])
        eff = result["effective"]
        timm_there = importlib.util.find_spec("timm") is not None
        self.assertEqual(eff["model"], "timm_vit" if timm_there else "vitlab_vit")
        self.assertEqual(eff["queue_depth"], 1)
        self.assertIn("queue_depth: requested 4, ran 1", result["adjustments"])
        self.assertEqual(result["run_id"], "e2e")
        lines = out.getvalue().splitlines()
        markers = [ln.split() for ln in lines if ln.startswith("VITLAB_WINDOW ")]
        self.assertEqual([m[1:3] for m in markers],
                         [["begin", "0"], ["end", "0"], ["begin", "1"], ["end", "1"]])
        self.assertEqual([w["start_unix_ns"] for w in result["windows"]],
                         [int(m[3]) for m in markers if m[1] == "begin"])
        self.assertEqual(len(lines) - len(markers), 1)
        self.assertIn("ok=true", lines[-1])

    def test_oom_is_reported(self):
        import vit_model
        import vit_workload
        real_build = vit_model.build

        def build(planned, device):
            model, where = real_build(planned, device)
            calls = {"n": 0}
            real_forward = model.forward

            def forward(x):
                calls["n"] += 1
                if calls["n"] == 3:
                    raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
                return real_forward(x)
            model.forward = forward
            return model, where
        with mock.patch.object(vit_model, "build", build), tempfile.TemporaryDirectory() as d:
            req = os.path.join(d, "req.json")
            res = os.path.join(d, "res.json")
            with open(req, "w", encoding="utf-8") as f:
                json.dump({"run_id": "oom", "settings": dict(SMALL, pipeline="async")}, f)
            with contextlib.redirect_stdout(io.StringIO()), \
                    contextlib.redirect_stderr(io.StringIO()):
                status = vit_workload.main(["--request", req, "--result", res, "--phase", "traced"])
            with open(res, encoding="utf-8") as f:
                result = json.load(f)
        self.assertEqual(status, 1)
        self.assertFalse(result["ok"])
        self.assertEqual(result["error"],
                         "out of memory: CUDA out of memory. Tried to allocate 20.00 GiB")
        self.assertIsNone(result["effective"])
        self.assertEqual(result["gpu"]["name"], "Fake GPU")
        self.assertEqual(result["timings"], {})

    def test_forward_bound(self):
        import forward_bound
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "fb.json")
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                status = forward_bound.main(["--model", "vitlab_vit", "--patch", "8", "--depth", "1",
                                             "--hidden", "64", "--resolution", "16",
                                             "--batch-size", "4", "--modes", "eager",
                                             "--warmup", "1", "--iters", "3", "--repeats", "2",
                                             "--json", path])
            with open(path, encoding="utf-8") as f:
                results = json.load(f)
        self.assertEqual(status, 0, out.getvalue())
        self.assertEqual(len(results), 1)
        r = results[0]
        self.assertTrue(r["ok"], r)
        self.assertEqual((r["mode"], r["patch"], r["hidden"], r["heads"], r["batch_size"]),
                         ("eager", 8, 64, 1, 4))
        self.assertEqual(len(r["runs"]), 2)
        self.assertGreater(r["img_per_s"], 0)
        self.assertEqual(json.loads(out.getvalue().strip()), r)

    def test_headroom(self):
        # clean phase: forward-only and preprocessing-only rates after the
        # timed windows, inside NVTX "headroom", into details and timings
        for extra in ({}, {"pipeline": "async", "queue_depth": 3}, {"preprocess": "gpu"}):
            with self.subTest(**extra):
                self.nvtx.events.clear()
                planned, eff, t, details, _ = self.run_phase(
                    dict(SMALL, cpu_workers=2, **extra), headroom=True)
                self.assertEqual(set(t), set(vit_settings.CLEAN_TIMING_KEYS)
                                 | set(vit_settings.HEADROOM_TIMING_KEYS))
                h = details["headroom"]
                self.assertGreater(h["forward_bound_img_s"], 0)
                self.assertGreater(h["prep_bound_img_s"], 0)
                self.assertEqual(t["forward_bound_img_s"], h["forward_bound_img_s"])
                self.assertEqual(h["prep_in_flight"], max(2, eff["queue_depth"]))
                self.assertEqual(h["prep_path"], details["pipeline"]["preprocess_mode"])
                self.assertGreaterEqual(h["prep_batches"], 4)
                labels = [n for n, _ in self.main_tree()]
                self.assertEqual(labels, ["warmup", "timed", "timed", "headroom", "headroom"])
                # the traced phase measures no headroom
                _, _, tt, td, _ = self.run_phase(dict(SMALL, cpu_workers=2, **extra),
                                                 phase="traced", headroom=True)
                self.assertNotIn("headroom", td)
                self.assertEqual(set(tt), set(vit_settings.TRACED_TIMING_KEYS))

    def test_peer(self):
        # the DataLoader loop as a design: the same windows, NVTX structure
        # (batch N: preprocess = waiting for the DataLoader, h2d, forward,
        # d2h, retire N), headroom and effective settings as every design
        s = dict(SMALL, pipeline="peer", preprocess="cpu", queue_depth=2, cpu_workers=2)
        planned, eff, t, details, result = self.run_phase(s, headroom=True)
        self.assertEqual((eff["pipeline"], eff["queue_depth"], eff["preprocess"]), ("peer", 2, "cpu"))
        self.assertEqual((eff["cpu_workers"], eff["cpu_threads_per_worker"]), (2, 1))
        self.assertEqual(eff["decoder"], "torchvision-cpu")
        tree = self.main_tree()
        self.check_windows([n for n in tree if n[0] != "headroom"], planned, "clean")
        timed = [c for n, c in tree if n == "timed"]
        self.assertEqual(len(timed), 2)
        for batches in timed:
            self.assertGreaterEqual(len(batches), SMALL["timed_batches"])
            for name, children in batches:
                self.assertTrue(name.startswith("batch "), name)
                self.assertEqual([c for c, _ in children][:4], ["preprocess", "h2d", "forward", "d2h"])
                self.assertTrue(children[4][0].startswith("retire "), children)
        dl = details["pipeline"]["dataloader"]
        self.assertEqual((dl["num_workers"], dl["prefetch_factor"]), (2, 2))
        self.assertEqual(len(set(dl["worker_pids"])), 2)
        self.assertNotIn(os.getpid(), dl["worker_pids"])
        self.assertGreater(t["clean_throughput"], 0)
        self.assertGreater(t["forward_bound_img_s"], 0)
        self.assertGreater(t["prep_bound_img_s"], 0)
        self.assertEqual(len(result["windows"]), 2)
        lat = [w["latency_p50_ms"] for w in result["windows"]]
        self.assertTrue(all(x is not None and x >= 0 for x in lat), lat)
        # the traced phase: one timed window
        _, eff_t, t_t, _, _ = self.run_phase(s, phase="traced")
        self.assertEqual(eff_t["pipeline"], "peer")
        self.assertGreater(t_t["traced_throughput"], 0)

    def test_dead_worker_fails_the_run(self):
        # a worker process that dies fails the run with an error naming it
        import signal
        import vit_cpu_prep
        real = vit_cpu_prep.CpuPreprocessor.submit

        def submit(self, seq):
            if seq == 3:
                os.kill(self.pool.pids[1], signal.SIGKILL)
            return real(self, seq)
        import vit_pipeline
        with mock.patch.object(vit_cpu_prep.CpuPreprocessor, "submit", submit):
            for extra in ({}, {"pipeline": "async", "queue_depth": 2}):
                with self.subTest(**extra):
                    t0 = time.monotonic()
                    with self.assertRaises(vit_pipeline.WorkloadError) as cm:
                        self.run_phase(dict(SMALL, cpu_workers=2, **extra))
                    self.assertRegex(str(cm.exception),
                                     r"CPU preprocessing worker 1 \(pid [0-9]+\) died "
                                     r"\(killed by SIGKILL\)")
                    self.assertLess(time.monotonic() - t0, 60)

    def test_non_finite_output_fails(self):
        import vit_model
        import vit_pipeline
        real_build = vit_model.build

        def build(planned, device):
            model, where = real_build(planned, device)
            with torch.no_grad():
                model.head.bias.fill_(float("nan"))
            return model, where
        with mock.patch.object(vit_model, "build", build):
            with self.assertRaises(vit_pipeline.WorkloadError) as cm:
                self.run_phase(SMALL)
        self.assertIn("not finite", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
