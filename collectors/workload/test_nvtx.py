"""Tests of vit_nvtx: range names (a contract with the warehouse views and
README.md) and the push/pop helper."""

import os
import re
import unittest

import vit_nvtx as nv

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md")


class FakeNVTX:
    def __init__(self):
        self.events = []
        self.depth = 0

    def range_push(self, name):
        self.events.append(("push", name))
        self.depth += 1
        return self.depth - 1

    def range_pop(self):
        self.events.append(("pop",))
        self.depth -= 1
        return self.depth


class Names(unittest.TestCase):
    def test_plain_names(self):
        self.assertEqual((nv.COMPILE, nv.WARMUP, nv.TIMED, nv.PREPROCESS, nv.H2D, nv.FORWARD, nv.D2H),
                         ("compile", "warmup", "timed", "preprocess", "h2d", "forward", "d2h"))

    def test_indexed_round_trip(self):
        for kind in nv.INDEXED_KINDS:
            for seq in (0, 7, 123456):
                name = nv.indexed(kind, seq)
                self.assertEqual(nv.parse_indexed(name), (kind, seq))
        self.assertEqual(nv.indexed(nv.BATCH, 17), "batch 17")
        self.assertEqual(nv.indexed(nv.WORKER, 3), "preprocess_worker 3")

    def test_indexed_errors(self):
        for kind, seq in (("batches", 1), (nv.BATCH, -1), (nv.BATCH, 1.0), (nv.BATCH, True)):
            with self.subTest(kind=kind, seq=seq):
                with self.assertRaises(ValueError):
                    nv.indexed(kind, seq)

    def test_parse_rejects(self):
        for name in ("batch", "batch -1", "batch 1 ", " batch 1", "batch x", "timed",
                     "preprocess", "retire 2 3", "Batch 1"):
            with self.subTest(name=name):
                self.assertIsNone(nv.parse_indexed(name))

    def test_readme_documents_every_range(self):
        with open(README, encoding="utf-8") as f:
            text = f.read()
        for name in (nv.COMPILE, nv.WARMUP, nv.TIMED, nv.PREPROCESS, nv.H2D, nv.FORWARD, nv.D2H):
            self.assertIn("`%s`" % name, text)
        for kind in nv.INDEXED_KINDS:
            self.assertIn("`%s N`" % kind, text)
        self.assertIn(nv.INDEXED_RE.pattern, text)


class TracerTest(unittest.TestCase):
    def test_nesting(self):
        f = FakeNVTX()
        t = nv.Tracer(f)
        with t.range("batch 1"):
            with t.range("h2d"):
                pass
            with t.range("forward"):
                pass
        self.assertEqual(f.events, [("push", "batch 1"), ("push", "h2d"), ("pop",),
                                    ("push", "forward"), ("pop",), ("pop",)])
        self.assertEqual(f.depth, 0)

    def test_pops_on_error(self):
        f = FakeNVTX()
        t = nv.Tracer(f)
        with self.assertRaises(RuntimeError):
            with t.range("batch 2"):
                with t.range("forward"):
                    raise RuntimeError("boom")
        self.assertEqual(f.depth, 0)
        self.assertEqual(f.events[-1], ("pop",))

    def test_no_backend(self):
        t = nv.Tracer(None)
        with t.range("anything"):
            x = 1
        self.assertEqual(x, 1)

    def test_indexed_re_is_anchored(self):
        self.assertTrue(nv.INDEXED_RE.pattern.startswith("^"))
        self.assertTrue(nv.INDEXED_RE.pattern.endswith("$"))
        self.assertIsNotNone(re.match(nv.INDEXED_RE, "admit 0"))


if __name__ == "__main__":
    unittest.main()
