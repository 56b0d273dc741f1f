"""Tests of vit_workload's command line and failure reporting (no GPU
needed): usage errors, bad requests, and — where torch is not installed —
the missing-torch failure, each with the RES.json it must leave behind."""

import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest

import vit_settings as vs
import vit_workload as vw

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "vit_workload.py")
HAVE_TORCH = importlib.util.find_spec("torch") is not None


def run_cli(*args, env=None):
    e = dict(os.environ)
    e.pop("CUDA_VISIBLE_DEVICES", None)
    if env:
        e.update(env)
    return subprocess.run([sys.executable, SCRIPT] + list(args), capture_output=True,
                          text=True, timeout=120, env=e)


class CLI(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.res = os.path.join(self.dir.name, "res.json")

    def request(self, obj):
        path = os.path.join(self.dir.name, "req.json")
        with open(path, "w", encoding="utf-8") as f:
            if isinstance(obj, str):
                f.write(obj)
            else:
                json.dump(obj, f)
        return path

    def result(self):
        with open(self.res, encoding="utf-8") as f:
            return json.load(f)

    def assert_one_summary_line(self, proc, ok):
        lines = proc.stdout.splitlines()
        self.assertEqual(len(lines), 1, proc.stdout)
        self.assertTrue(lines[0].startswith("vitlab-workload "), lines[0])
        self.assertIn("ok=%s" % ("true" if ok else "false"), lines[0])

    def test_no_arguments(self):
        p = run_cli()
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("usage: vit_workload.py", p.stderr)
        self.assertIn("required", p.stderr)
        self.assert_one_summary_line(p, ok=False)

    def test_bad_phase_still_writes_result(self):
        req = self.request({"run_id": "r1", "settings": {}})
        p = run_cli("--request", req, "--result", self.res, "--phase", "profiled")
        self.assertEqual(p.returncode, 2)
        self.assertIn("invalid choice: 'profiled'", p.stderr)
        res = self.result()
        self.assertFalse(res["ok"])
        self.assertTrue(res["error"].startswith("usage: argument --phase"), res["error"])
        self.assertIsNone(res["phase"])

    def test_bad_device(self):
        req = self.request({"run_id": "r1", "settings": {}})
        p = run_cli("--request", req, "--result=" + self.res, "--phase", "clean", "--device", "-1")
        self.assertEqual(p.returncode, 2)
        self.assertEqual(self.result()["phase"], "clean")
        self.assertIn("--device must not be negative", self.result()["error"])

    def test_missing_request_file(self):
        missing = os.path.join(self.dir.name, "absent.json")
        p = run_cli("--request", missing, "--result", self.res, "--phase", "clean")
        self.assertEqual(p.returncode, 1)
        res = self.result()
        self.assertFalse(res["ok"])
        self.assertIn(missing, res["error"])
        self.assertIsNone(res["effective"])
        self.assert_one_summary_line(p, ok=False)

    def test_invalid_json(self):
        p = run_cli("--request", self.request("{"), "--result", self.res, "--phase", "traced")
        self.assertEqual(p.returncode, 1)
        self.assertIn("invalid JSON", self.result()["error"])
        self.assertEqual(self.result()["phase"], "traced")

    def test_invalid_settings(self):
        req = self.request({"run_id": "r7", "settings": {"patch": 16, "resolution": 250}})
        p = run_cli("--request", req, "--result", self.res, "--phase", "clean")
        self.assertEqual(p.returncode, 1)
        res = self.result()
        self.assertEqual(res["run_id"], "r7")
        self.assertEqual(res["requested"], {"patch": 16, "resolution": 250})
        self.assertEqual(res["error"], "resolution 250 is not a multiple of patch 16")
        self.assertIsNone(res["effective"])
        self.assertEqual(res["timings"], {})

    def test_unknown_setting(self):
        req = self.request({"run_id": "r8", "settings": {"batchsize": 8}})
        p = run_cli("--request", req, "--result", self.res, "--phase", "clean")
        self.assertEqual(p.returncode, 1)
        self.assertIn("unknown setting(s) batchsize", self.result()["error"])

    @unittest.skipIf(HAVE_TORCH, "torch is installed: the missing-torch path cannot be exercised")
    def test_without_torch(self):
        req = self.request({"run_id": "r2", "settings": {"compile_mode": "default"}})
        p = run_cli("--request", req, "--result", self.res, "--phase", "clean")
        self.assertEqual(p.returncode, 1, p.stderr)
        res = self.result()
        self.assertFalse(res["ok"])
        self.assertIn("torch cannot be imported", res["error"])
        self.assertFalse(res["error"].startswith("RunError"))
        self.assertIsNotNone(res["software"]["python"])
        cache = res["details"]["compile_cache"]
        self.assertTrue(cache.startswith("fresh"), cache)
        path = cache.split("; ")[1].split(",")[0]
        self.assertFalse(os.path.exists(path), "fresh compile cache %s was not removed" % path)
        self.assert_one_summary_line(p, ok=False)


class Helpers(unittest.TestCase):
    def test_parse_args(self):
        a = vw.parse_args(["--request", "q", "--result", "r", "--phase", "traced"])
        self.assertEqual((a.request, a.result, a.phase, a.device, a.seed, a.compile_cache,
                          a.cuda_profiler_range), ("q", "r", "traced", 0, 0, "fresh", False))
        with self.assertRaises(vw.UsageError):
            vw.parse_args(["--request", "q", "--result", "r"])
        with self.assertRaises(vw.UsageError):
            vw.parse_args(["--request", "q", "--result", "r", "--phase", "clean", "--seed", "x"])
        with self.assertRaises(vw.UsageError):
            vw.parse_args(["--request", "q", "--result", "r", "--phase", "clean",
                           "--compile-cache", ""])

    def test_argv_value(self):
        self.assertEqual(vw._argv_value(["--result", "a", "--x"], "--result"), "a")
        self.assertEqual(vw._argv_value(["--result=b"], "--result"), "b")
        self.assertIsNone(vw._argv_value(["--result"], "--result"))

    def test_is_oom(self):
        class OutOfMemoryError(RuntimeError):
            pass
        self.assertTrue(vs.is_oom(OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")))
        self.assertTrue(vs.is_oom(RuntimeError("CUBLAS_STATUS_ALLOC_FAILED: out of memory")))
        self.assertFalse(vs.is_oom(RuntimeError("shape mismatch")))
        try:
            try:
                raise OutOfMemoryError("x")
            except OutOfMemoryError as inner:
                raise RuntimeError("torch.compile failed") from inner
        except RuntimeError as outer:
            self.assertTrue(vs.is_oom(outer))
            self.assertTrue(vs.error_message(outer).startswith("out of memory: "))

    def test_error_message(self):
        self.assertEqual(vs.error_message(ValueError("bad\n  thing")), "ValueError: bad thing")
        self.assertEqual(vs.error_message(vw.RunError("plain words")), "plain words")
        long = vs.error_message(ValueError("x" * 5000))
        self.assertLess(len(long), 900)
        self.assertTrue(long.endswith("…"))

    def test_parse_driver_version(self):
        text = ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Thu Oct  9 2025\n"
                "GCC version:  gcc version 12.2.0\n")
        self.assertEqual(vw.parse_driver_version(text), "580.159.04")
        open_text = "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  Release Build"
        self.assertEqual(vw.parse_driver_version(open_text), "570.86.15")
        self.assertIsNone(vw.parse_driver_version("nothing"))
        self.assertIsNone(vw.parse_driver_version(None))

    def test_setup_compile_cache(self):
        saved = {k: os.environ.get(k) for k in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")}

        def restore():
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        self.addCleanup(restore)
        desc, fresh = vw.setup_compile_cache("fresh")
        self.addCleanup(os.rmdir, fresh)
        self.assertTrue(os.path.isdir(fresh))
        self.assertEqual(os.environ["TORCHINDUCTOR_CACHE_DIR"], os.path.join(fresh, "inductor"))
        self.assertEqual(os.environ["TRITON_CACHE_DIR"], os.path.join(fresh, "triton"))
        self.assertTrue(desc.startswith("fresh"))
        restore()
        desc, remove = vw.setup_compile_cache("default")
        self.assertIsNone(remove)
        self.assertEqual(os.environ.get("TORCHINDUCTOR_CACHE_DIR"),
                         saved["TORCHINDUCTOR_CACHE_DIR"])
        with tempfile.TemporaryDirectory() as d:
            target = os.path.join(d, "cc")
            desc, remove = vw.setup_compile_cache(target)
            self.assertIsNone(remove)
            self.assertTrue(os.path.isdir(target))

    def test_summary_line(self):
        res = {"phase": "clean", "run_id": "r", "ok": True,
               "effective": {"model": "timm_vit", "patch": 16, "preprocess": "gpu"},
               "timings": {"clean_throughput": 1000.0, "clean_throughput_runs": [990.0, 1000.0, 1010.0],
                           "clean_latency_p50_ms": 1.0, "clean_latency_p90_ms": 2.0,
                           "clean_latency_p99_ms": 3.0, "peak_mem_bytes": 2**30, "compile_s": 0.0}}
        line = vw.summary_line(res)
        self.assertIn("clean 1000.0 img/s (runs 990.0, 1000.0, 1010.0)", line)
        self.assertIn("peak 1.00 GiB", line)
        self.assertNotIn("\n", line)
        self.assertEqual(vw.summary_line({"phase": "traced", "ok": False, "error": "boom"}),
                         "vitlab-workload phase=traced run=- ok=false error=boom")


class ForwardBoundArgs(unittest.TestCase):
    def test_bad_arguments(self):
        import forward_bound
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            self.assertEqual(forward_bound.main(["--modes", "turbo"]), 2)
            self.assertEqual(forward_bound.main(["--iters", "0"]), 2)
            self.assertEqual(forward_bound.main(["--hidden", "100"]), 2)
        self.assertIn("compile_mode 'turbo' is not one of", err.getvalue())
        self.assertIn("--iters is too small", err.getvalue())
        self.assertIn("hidden 100 is not a multiple of 64", err.getvalue())

    def test_modes(self):
        import forward_bound
        self.assertEqual(forward_bound.modes_of("eager, default,max_autotune"),
                         ["eager", "default", "max-autotune"])


if __name__ == "__main__":
    unittest.main()
