"""Tests of vit_settings: defaults, validation, reconciliation, request and
result files, and the field names shared with collectors/batchdir."""

import json
import math
import os
import re
import tempfile
import unittest

import vit_settings as vs

REGISTRY = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "..", "..", "schemas", "settings.json")


class RegistryContract(unittest.TestCase):
    """The workload reads every setting from schemas/settings.json (contract §1)."""

    def test_keys_types_defaults_choices_come_from_the_registry(self):
        with open(REGISTRY, "r", encoding="utf-8") as f:
            reg = json.load(f)
        self.assertEqual(list(vs.SETTING_KEYS), [e["key"] for e in reg])
        for e in reg:
            with self.subTest(key=e["key"]):
                self.assertEqual(vs.TYPES[e["key"]], e["type"])
                if e.get("default") is not None:
                    self.assertEqual(vs.DEFAULTS[e["key"]], e["default"])
                if e.get("choices"):
                    self.assertEqual(vs.CHOICES[e["key"]], tuple(e["choices"]))

    def test_resolve_gives_every_key_a_value_of_its_type(self):
        pytype = {"int": int, "float": float, "string": str, "bool": bool}
        for req in ({}, {"preprocess": "gpu", "pipeline": "async"},
                    {"preprocess": "gpu", "decoder": "pil"}):
            planned, _ = vs.resolve(req, cpu_count=16)
            self.assertEqual(list(planned), list(vs.SETTING_KEYS))
            for key, value in planned.items():
                with self.subTest(req=req, key=key):
                    self.assertIsInstance(value, pytype[vs.TYPES[key]])
                    if vs.TYPES[key] == "int":
                        self.assertNotIsInstance(value, bool)

    def test_registry_errors(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.json")
            for text in ("[]", "{}", '[{"key": "x", "type": "complex"}]'):
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
                with self.assertRaises(ValueError):
                    vs.load_registry(path)

    def test_timing_keys(self):
        self.assertIn("clean_throughput_runs", vs.CLEAN_TIMING_KEYS)


class Resolve(unittest.TestCase):
    def test_defaults(self):
        planned, notes = vs.resolve({}, cpu_count=16)
        self.assertEqual(planned, {
            "model": "timm_vit", "patch": 16, "depth": 12, "hidden": 768, "heads": 12,
            "mlp": 3072, "resolution": 224, "source_resolution": 224, "batch_size": 64,
            "dtype": "bfloat16", "compile_mode": "eager", "pipeline": "sync",
            "queue_depth": 1, "preprocess": "cpu", "cpu_workers": 15,
            "warmup_batches": 10, "timed_batches": 50, "clean_repeats": 3,
            "cpu_threads_per_worker": 1, "min_window_s": 2.0, "jpeg_quality": 90,
            "decoder": "torchvision-cpu", "resize": "bilinear-antialias",
            "patch_embed": vs.DEFAULTS["patch_embed"], "cudnn_benchmark": True,
        })
        self.assertEqual(notes, [])

    def test_absence_means_default_and_zero_is_a_value(self):
        planned, _ = vs.resolve({"dtype": "", "queue_depth": None, "model": None,
                                 "warmup_batches": 0, "min_window_s": 0},
                                cpu_count=4)
        self.assertEqual(planned["dtype"], "bfloat16")
        self.assertEqual(planned["model"], "timm_vit")
        self.assertEqual(planned["queue_depth"], 1)
        self.assertEqual(planned["warmup_batches"], 0)
        self.assertEqual(planned["min_window_s"], 0.0)
        for req, want in (({"patch": 0}, "patch must be at least 1"),
                          ({"timed_batches": 0}, "timed_batches must be at least 1"),
                          ({"cpu_workers": 0}, "cpu_workers 0: decoder torchvision-cpu runs on "
                                               "CPU workers")):
            with self.subTest(req=req), self.assertRaises(vs.SettingsError) as cm:
                vs.resolve(req, cpu_count=4)
            self.assertIn(want, str(cm.exception))
        planned, _ = vs.resolve({"preprocess": "gpu", "cpu_workers": 0}, cpu_count=4)
        self.assertEqual((planned["decoder"], planned["cpu_workers"]), ("nvjpeg", 0))

    def test_derived_heads_mlp_source(self):
        planned, _ = vs.resolve({"hidden": 1280, "resolution": 512, "patch": 32}, cpu_count=4)
        self.assertEqual((planned["heads"], planned["mlp"]), (20, 5120))
        self.assertEqual(planned["source_resolution"], 512)

    def test_explicit_heads_mlp_source_are_honoured(self):
        planned, notes = vs.resolve({"hidden": 768, "heads": 8, "mlp": 2048,
                                     "source_resolution": 640}, cpu_count=4)
        self.assertEqual((planned["heads"], planned["mlp"], planned["source_resolution"]),
                         (8, 2048, 640))
        self.assertEqual(notes, [])

    def test_aliases(self):
        planned, _ = vs.resolve({"dtype": "BF16", "compile_mode": "Reduce_Overhead",
                                 "preprocess": "cuda", "model": "timm", "pipeline": "ASYNC"},
                                cpu_count=4)
        self.assertEqual(planned["dtype"], "bfloat16")
        self.assertEqual(planned["compile_mode"], "reduce-overhead")
        self.assertEqual(planned["preprocess"], "gpu")
        self.assertEqual(planned["model"], "timm_vit")
        self.assertEqual(planned["pipeline"], "async")

    def test_invalid(self):
        cases = [
            ({"dtype": "int8"}, "dtype 'int8' is not one of bfloat16"),
            ({"compile_mode": "fast"}, "compile_mode 'fast'"),
            ({"pipeline": "pipelined"}, "pipeline 'pipelined'"),
            ({"preprocess": "tpu"}, "preprocess 'tpu'"),
            ({"model": "vit_base_patch16_224"}, "model 'vit_base_patch16_224'"),
            ({"patch": "16"}, "patch must be an integer"),
            ({"patch": 16.5}, "patch must be an integer"),
            ({"patch": True}, "patch must be an integer"),
            ({"queue_depth": 65, "pipeline": "async"}, "queue_depth"),
            ({"jpeg_quality": 101}, "jpeg_quality must be at most 100"),
            ({"min_window_s": "2"}, "min_window_s must be a number"),
            ({"cudnn_benchmark": 1}, "cudnn_benchmark must be true or false"),
            ({"resize": "lanczos"}, "resize 'lanczos' is not one of"),
            ({"decoder": "nvjpeg"}, "decoder nvjpeg decodes on the GPU: it needs preprocess gpu"),
            ({"depth": -1}, "depth must not be negative"),
            ({"resolution": 100000}, "resolution 100000 exceeds the limit"),
            ({"dtype": 0}, "dtype must be a string"),
            ({"dtype": 16}, "dtype must be a string"),
            ({"resolution": 250}, "resolution 250 is not a multiple of patch 16"),
            ({"hidden": 100}, "hidden 100 is not a multiple of 64"),
            ({"hidden": 768, "heads": 7}, "hidden 768 is not divisible by heads 7"),
        ]
        for req, want in cases:
            with self.subTest(req=req):
                with self.assertRaises(vs.SettingsError) as cm:
                    vs.resolve(req, cpu_count=4)
                self.assertIn(want, str(cm.exception))

    def test_peer(self):
        # the DataLoader loop: CPU preprocessing, decode_jpeg, antialiased
        # bilinear resize, one intra-op thread a worker, queue_depth its
        # prefetch_factor, workers from the CPU budget
        planned, notes = vs.resolve({"pipeline": "peer", "queue_depth": 2, "cpu_threads_per_worker": 4},
                                    cpu_count=16)
        self.assertEqual((planned["pipeline"], planned["queue_depth"], planned["preprocess"]), ("peer", 2, "cpu"))
        self.assertEqual((planned["decoder"], planned["resize"]), ("torchvision-cpu", "bilinear-antialias"))
        self.assertEqual((planned["cpu_workers"], planned["cpu_threads_per_worker"]), (15, 1))
        self.assertTrue(any("one intra-op thread" in n for n in notes), notes)
        planned, _ = vs.resolve({"pipeline": "peer"}, cpu_count=4)
        self.assertEqual(planned["queue_depth"], vs.DEFAULT_ASYNC_QUEUE_DEPTH)
        for req, want in [({"pipeline": "peer", "preprocess": "gpu"}, "needs preprocess cpu"),
                          ({"pipeline": "peer", "decoder": "pil"}, "decodes with torchvision-cpu"),
                          ({"pipeline": "peer", "resize": "bicubic-antialias"}, "resizes bilinear-antialias")]:
            with self.subTest(req=req):
                with self.assertRaises(vs.SettingsError) as cm:
                    vs.resolve(req, cpu_count=4)
                self.assertIn(want, str(cm.exception))
        with self.assertRaises(vs.SettingsError) as cm:
            vs.resolve({"pipeline": "peer"}, cpu_count=4, decoders=["pil"])
        self.assertIn("needs torchvision.io.decode_jpeg", str(cm.exception))

    def test_integral_float_accepted(self):
        planned, _ = vs.resolve({"batch_size": 32.0}, cpu_count=4)
        self.assertEqual(planned["batch_size"], 32)
        self.assertIsInstance(planned["batch_size"], int)

    def test_sync_queue_depth_is_one(self):
        planned, notes = vs.resolve({"pipeline": "sync", "queue_depth": 4}, cpu_count=4)
        self.assertEqual(planned["queue_depth"], 1)
        self.assertEqual(len(notes), 1)
        self.assertIn("queue_depth: requested 4", notes[0])
        planned, notes = vs.resolve({"pipeline": "sync", "queue_depth": 1}, cpu_count=4)
        self.assertEqual((planned["queue_depth"], notes), (1, []))

    def test_async_queue_depth(self):
        self.assertEqual(vs.resolve({"pipeline": "async"}, cpu_count=4)[0]["queue_depth"],
                         vs.DEFAULT_ASYNC_QUEUE_DEPTH)
        self.assertEqual(vs.resolve({"pipeline": "async", "queue_depth": 16},
                                    cpu_count=4)[0]["queue_depth"], 16)
        with self.assertRaises(vs.SettingsError):
            vs.resolve({"pipeline": "async", "queue_depth": 65}, cpu_count=4)

    def test_cpu_budget(self):
        # workers x threads + 1 launching thread <= the CPUs the run may use
        self.assertEqual(vs.cpu_budget(16, None, None), (15, 1))
        self.assertEqual(vs.cpu_budget(64, None, None), (vs.MAX_DEFAULT_CPU_WORKERS, 1))
        self.assertEqual(vs.cpu_budget(16, 4, None), (4, 3))
        self.assertEqual(vs.cpu_budget(16, None, 2), (7, 2))
        self.assertEqual(vs.cpu_budget(2, None, None), (1, 1))
        for cpus, w, t in ((16, 8, 2), (16, 16, None), (4, 4, 1), (1, None, None), (4, None, 4)):
            with self.subTest(cpus=cpus, w=w, t=t), self.assertRaises(vs.SettingsError):
                vs.cpu_budget(cpus, w, t)
        for cpus in range(2, 40):
            w, t = vs.cpu_budget(cpus, None, None)
            self.assertLessEqual(w * t + 1, cpus)

    def test_cpu_workers(self):
        self.assertEqual(vs.resolve({}, cpu_count=16)[0]["cpu_workers"], 15)
        self.assertEqual(vs.resolve({}, cpu_count=3)[0]["cpu_workers"], 2)
        with self.assertRaises(vs.SettingsError) as cm:
            vs.resolve({"cpu_workers": 8, "cpu_threads_per_worker": 2}, cpu_count=16)
        self.assertIn("cpu_workers 8 processes × cpu_threads_per_worker 2 + 1 launching thread "
                      "= 17 threads, more than the 16 CPU(s)", str(cm.exception))
        planned, notes = vs.resolve({"preprocess": "gpu", "cpu_workers": 4}, cpu_count=4)
        self.assertEqual((planned["cpu_workers"], planned["cpu_threads_per_worker"]), (0, 0))
        self.assertIn("cpu_workers: requested 4", notes[0])
        planned, notes = vs.resolve({"preprocess": "gpu"}, cpu_count=4)
        self.assertEqual((planned["cpu_workers"], notes), (0, []))

    def test_decoder(self):
        planned, notes = vs.resolve({"preprocess": "gpu"}, cpu_count=8,
                                    decoders=["torchvision-cpu", "pil"])
        self.assertEqual((planned["decoder"], planned["cpu_workers"]), ("torchvision-cpu", 7))
        self.assertIn("nvjpeg", notes[0])
        planned, _ = vs.resolve({}, cpu_count=8, decoders=["pil"])
        self.assertEqual(planned["decoder"], "pil")
        planned, _ = vs.resolve({"decoder": "Pillow"}, cpu_count=8)
        self.assertEqual(planned["decoder"], "pil")
        with self.assertRaises(vs.SettingsError):
            vs.resolve({"decoder": "pil"}, cpu_count=8, decoders=["torchvision-cpu"])
        with self.assertRaises(vs.SettingsError):
            vs.resolve({}, cpu_count=8, decoders=[])

    def test_timm_fallback(self):
        planned, notes = vs.resolve({}, cpu_count=4, timm_available=False)
        self.assertEqual(planned["model"], "vitlab_vit")
        self.assertIn("vitlab_vit", notes[0])
        with self.assertRaises(vs.SettingsError):
            vs.resolve({"model": "timm_vit"}, cpu_count=4, timm_available=False)
        planned, notes = vs.resolve({"model": "vitlab"}, cpu_count=4, timm_available=False)
        self.assertEqual((planned["model"], notes), ("vitlab_vit", []))


class Reconcile(unittest.TestCase):
    def setUp(self):
        self.planned, _ = vs.resolve({"pipeline": "async", "queue_depth": 4}, cpu_count=8)

    def test_equal(self):
        self.assertEqual(vs.reconcile(self.planned, dict(self.planned), "clean"), [])

    def test_difference_fails(self):
        eff = dict(self.planned, heads=11, compile_mode="default")
        problems = vs.reconcile(self.planned, eff, "clean")
        self.assertEqual(len(problems), 2)
        self.assertIn("heads: planned 12 but ran 11", problems[0])
        self.assertIn("compile_mode: planned 'eager' but ran 'default'", problems[1])

    def test_missing_and_extra(self):
        eff = dict(self.planned)
        del eff["dtype"]
        eff["bogus"] = 1
        problems = vs.reconcile(self.planned, eff, "clean")
        self.assertIn("dtype: not reported by the workload", problems)
        self.assertIn("bogus: not a setting", problems)

    def test_traced_phase_has_no_clean_repeats(self):
        eff = dict(self.planned)
        del eff["clean_repeats"]
        del eff["min_window_s"]
        self.assertEqual(vs.reconcile(self.planned, eff, "traced"), [])
        self.assertNotIn("clean_repeats", vs.phase_effective_keys("traced"))
        self.assertEqual(vs.phase_effective_keys("clean"), vs.SETTING_KEYS)

    def test_adjustments(self):
        requested = {"pipeline": "sync", "queue_depth": 4, "dtype": "bf16", "patch": 16}
        planned, notes = vs.resolve(requested, cpu_count=8)
        adj = vs.adjustments(requested, dict(planned), notes)
        self.assertEqual(adj[0], "queue_depth: requested 4, ran 1")
        self.assertEqual(len(adj), 2)  # the difference and resolve's note; bf16 is bfloat16
        self.assertEqual(vs.adjustments({"patch": 16}, dict(planned)), [])


class RequestFiles(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def write(self, name, text):
        path = os.path.join(self.dir.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def test_load(self):
        path = self.write("req.json", json.dumps({"run_id": "r1", "settings": {"patch": 8}}))
        self.assertEqual(vs.load_request(path), ("r1", {"patch": 8}))

    def test_load_errors(self):
        missing = os.path.join(self.dir.name, "nope.json")
        with self.assertRaises(vs.RequestError) as cm:
            vs.load_request(missing)
        self.assertIn(missing, str(cm.exception))
        bad = self.write("bad.json", "{not json")
        with self.assertRaises(vs.RequestError) as cm:
            vs.load_request(bad)
        self.assertIn("bad.json: invalid JSON", str(cm.exception))

    def test_parse(self):
        self.assertEqual(vs.parse_request({}), ("", {}))
        self.assertEqual(vs.parse_request({"run_id": None, "settings": None}), ("", {}))
        cases = [([], "top level must be a JSON object"),
                 ({"run_id": 3}, "run_id must be a string"),
                 ({"settings": [1]}, "settings must be a JSON object"),
                 ({"runid": "x"}, "unknown field(s) runid"),
                 ({"settings": {"batchsize": 8}}, "unknown setting(s) batchsize")]
        for obj, want in cases:
            with self.subTest(obj=obj):
                with self.assertRaises(vs.RequestError) as cm:
                    vs.parse_request(obj, "REQ.json")
                self.assertIn(want, str(cm.exception))
                self.assertTrue(str(cm.exception).startswith("REQ.json: "))


class ResultFiles(unittest.TestCase):
    def test_round_trip(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "res.json")
            res = vs.new_result("traced", "r9")
            res["ok"] = True
            res["timings"] = {"compile_s": 1.5, "traced_throughput": 1234.5, "timed_images": 640}
            vs.write_result(path, res)
            res["error"] = "second write replaces the first"
            vs.write_result(path, res)
            with open(path, encoding="utf-8") as f:
                back = json.load(f)
            self.assertEqual(back, res)
            self.assertEqual(os.listdir(d), ["res.json"])  # no temp file left

    def test_new_result_shape(self):
        res = vs.new_result("clean")
        for key in ("phase", "ok", "error", "effective", "timings", "software", "gpu"):
            self.assertIn(key, res)
        self.assertFalse(res["ok"])
        self.assertEqual(set(res["software"]), {"torch", "cuda", "timm", "python", "driver"})
        self.assertEqual(set(res["gpu"]), {"index", "name", "uuid"})

    def test_nan_is_not_written(self):
        with tempfile.TemporaryDirectory() as d:
            with self.assertRaises(ValueError):
                vs.write_result(os.path.join(d, "x.json"), {"v": math.nan})
            self.assertEqual(os.listdir(d), [])

    def test_sanitize(self):
        self.assertEqual(vs.sanitize({"a": (1, math.nan), "b": {"c": math.inf, 2: "x"}, "d": 1.5}),
                         {"a": [1, None], "b": {"c": None, "2": "x"}, "d": 1.5})

    def test_describe(self):
        planned, _ = vs.resolve({}, cpu_count=16)
        self.assertEqual(vs.describe(planned),
                         "timm_vit p16 d12 h768 heads12 mlp3072 r224 src224 bs64 bfloat16 "
                         "eager sync q1 pre=cpu/15x1 dec=torchvision-cpu bilinear-antialias "
                         "pe=%s" % vs.DEFAULTS["patch_embed"])


if __name__ == "__main__":
    unittest.main()
