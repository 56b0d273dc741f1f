"""Tests that need torch (skipped cleanly without it): preprocessing
arithmetic and the model read-back on the CPU, and — with a CUDA GPU — an
end-to-end smoke run of every pipeline variant through the command line.

On the GPU host: python3 -m unittest discover -s collectors/workload -v
(a few seconds for the eager smoke runs; VITLAB_TEST_COMPILE=1 adds the
torch.compile modes, which take minutes).
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

HAVE_TORCH = importlib.util.find_spec("torch") is not None
HERE = os.path.dirname(os.path.abspath(__file__))

if HAVE_TORCH:
    import torch
    import torch.nn.functional as F
    HAVE_CUDA = torch.cuda.is_available()
else:
    HAVE_CUDA = False


@unittest.skipUnless(HAVE_TORCH, "torch is not installed")
class Preprocess(unittest.TestCase):
    def setUp(self):
        import vit_pipeline
        self.vp = vit_pipeline
        g = torch.Generator().manual_seed(1)
        self.src = torch.randint(0, 256, (3, 12, 12, 3), generator=g, dtype=torch.uint8)

    def reference(self, src, r):
        mean = torch.tensor(self.vp.IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(self.vp.IMAGENET_STD).view(1, 3, 1, 1)
        x = src.permute(0, 3, 1, 2).contiguous().float() / 255.0
        if r != src.shape[1]:
            x = F.interpolate(x, size=(r, r), mode="bilinear", align_corners=False)
        return (x - mean) / std

    def test_no_resize(self):
        scale, bias = self.vp.norm_constants("cpu")
        out = torch.empty((3, 3, 12, 12), dtype=torch.float32)
        self.vp.transform(self.src, out, scale, bias, 12)
        torch.testing.assert_close(out, self.reference(self.src, 12), rtol=1e-5, atol=1e-5)
        self.assertTrue(out.is_contiguous())

    def test_resize_bf16(self):
        scale, bias = self.vp.norm_constants("cpu")
        for r in (8, 20):
            out = torch.empty((3, 3, r, r), dtype=torch.bfloat16)
            self.vp.transform(self.src, out, scale, bias, r)
            torch.testing.assert_close(out.float(), self.reference(self.src, r), rtol=2e-2, atol=2e-2)
            self.assertTrue(out.is_contiguous())

    def test_cpu_preprocessor_splits_batch(self):
        import vit_nvtx
        pre = self.vp.CpuPreprocessor(2, 1, 8, 12, vit_nvtx.Tracer(None))
        self.addCleanup(pre.close)
        out = torch.zeros((3, 3, 8, 8), dtype=torch.bfloat16)
        with torch.inference_mode():
            src = self.src.clone()
            out = out.clone()
            pre.wait(pre.submit(0, src, out))
        torch.testing.assert_close(out.float(), self.reference(self.src, 8), rtol=2e-2, atol=2e-2)


@unittest.skipUnless(HAVE_TORCH, "torch is not installed")
class Model(unittest.TestCase):
    def setUp(self):
        if not hasattr(F, "scaled_dot_product_attention"):  # torch < 2.0 on a dev box
            from test_pipeline_logic import reference_sdpa
            patch = mock.patch.object(F, "scaled_dot_product_attention", reference_sdpa,
                                      create=True)
            patch.start()
            self.addCleanup(patch.stop)

    def check(self, model_name):
        import vit_model
        import vit_settings
        planned, _ = vit_settings.resolve(
            {"model": model_name, "patch": 8, "depth": 2, "hidden": 128, "resolution": 32,
             "dtype": "float32", "batch_size": 2}, cpu_count=2)
        model, where = vit_model.build(planned, torch.device("cpu"))
        arch = vit_model.describe(model)
        for key in ("patch", "depth", "hidden", "heads", "mlp", "resolution", "dtype"):
            self.assertEqual(arch[key], planned[key], key)
        self.assertEqual(arch["num_classes"], 1000)
        self.assertTrue(arch["class_token"])
        self.assertFalse(any(p.requires_grad for p in model.parameters()))
        with torch.inference_mode():
            out = model(torch.randn(2, 3, 32, 32))
        self.assertEqual(tuple(out.shape), (2, 1000))

    def test_vitlab(self):
        self.check("vitlab_vit")

    @unittest.skipUnless(importlib.util.find_spec("timm") is not None, "timm is not installed")
    def test_timm(self):
        self.check("timm_vit")


def run_workload(test, settings, phase="clean", extra=()):
    with tempfile.TemporaryDirectory() as d:
        req = os.path.join(d, "req.json")
        res = os.path.join(d, "res.json")
        with open(req, "w", encoding="utf-8") as f:
            json.dump({"run_id": "smoke", "settings": settings}, f)
        p = subprocess.run([sys.executable, os.path.join(HERE, "vit_workload.py"), "--request",
                            req, "--result", res, "--phase", phase] + list(extra),
                           capture_output=True, text=True, timeout=1200)
        with open(res, encoding="utf-8") as f:
            result = json.load(f)
    test.assertEqual(p.returncode, 0, "%s\n%s" % (p.stdout, p.stderr[-4000:]))
    test.assertTrue(result["ok"], result["error"])
    return result


SMALL = {"patch": 16, "depth": 2, "hidden": 128, "resolution": 64, "source_resolution": 80,
         "batch_size": 8, "warmup_batches": 3, "timed_batches": 6, "clean_repeats": 2}


@unittest.skipUnless(HAVE_CUDA, "no CUDA GPU")
class GPUSmoke(unittest.TestCase):
    def check(self, result, settings, phase):
        import vit_settings
        eff = result["effective"]
        planned, _ = vit_settings.resolve(settings, cpu_count=len(os.sched_getaffinity(0)))
        for key in vit_settings.phase_effective_keys(phase):
            self.assertEqual(eff[key], planned[key], key)
        t = result["timings"]
        self.assertEqual(t["timed_images"], settings["timed_batches"] * settings["batch_size"])
        if phase == "clean":
            self.assertEqual(len(t["clean_throughput_runs"]), settings["clean_repeats"])
            self.assertGreater(t["clean_throughput"], 0)
            self.assertGreater(t["clean_latency_p50_ms"], 0)
            self.assertLessEqual(t["clean_latency_p50_ms"], t["clean_latency_p99_ms"])
            self.assertGreater(t["peak_mem_bytes"], 0)
        else:
            self.assertGreater(t["traced_throughput"], 0)
        self.assertTrue(result["gpu"]["name"])
        self.assertTrue(result["software"]["torch"])

    def test_variants_eager(self):
        for pipeline, pre, q in (("sync", "cpu", 1), ("sync", "gpu", 1), ("async", "cpu", 1),
                                 ("async", "cpu", 3), ("async", "gpu", 4)):
            s = dict(SMALL, pipeline=pipeline, preprocess=pre, queue_depth=q)
            if pre == "cpu":
                s["cpu_workers"] = 2
            with self.subTest(pipeline=pipeline, preprocess=pre, q=q):
                self.check(run_workload(self, s), s, "clean")
        s = dict(SMALL, pipeline="async", preprocess="gpu", queue_depth=2)
        self.check(run_workload(self, s, phase="traced"), s, "traced")

    @unittest.skipUnless(os.environ.get("VITLAB_TEST_COMPILE") == "1", "set VITLAB_TEST_COMPILE=1")
    def test_compile_modes(self):
        for mode in ("default", "reduce-overhead", "max-autotune"):
            s = dict(SMALL, compile_mode=mode, pipeline="async", preprocess="gpu", queue_depth=2)
            with self.subTest(mode=mode):
                r = run_workload(self, s)
                self.check(r, s, "clean")
                self.assertGreater(r["timings"]["compile_s"], 0)


if __name__ == "__main__":
    unittest.main()
