"""Tests of vit_stats. Expected values are numpy.percentile's (method
"linear"), computed by hand from its definition."""

import math
import unittest

import vit_stats


class Percentile(unittest.TestCase):
    def test_known_values(self):
        xs = [4, 1, 3, 2]  # unsorted on purpose
        cases = [(0, 1.0), (25, 1.75), (50, 2.5), (90, 3.7), (99, 3.97), (100, 4.0)]
        for q, want in cases:
            with self.subTest(q=q):
                self.assertAlmostEqual(vit_stats.percentile(xs, q), want, places=12)
        # numpy.percentile([15, 20, 35, 40, 50], 40) == 29.0
        self.assertAlmostEqual(vit_stats.percentile([15, 20, 35, 40, 50], 40), 29.0, places=12)

    def test_single_value(self):
        for q in (0, 50, 99, 100):
            self.assertEqual(vit_stats.percentile([7.5], q), 7.5)

    def test_median(self):
        self.assertEqual(vit_stats.median([3, 1, 2]), 2)
        self.assertEqual(vit_stats.median([4, 1, 3, 2]), 2.5)

    def test_errors(self):
        with self.assertRaises(ValueError):
            vit_stats.percentile([], 50)
        with self.assertRaises(ValueError):
            vit_stats.percentile([1, math.nan], 50)
        with self.assertRaises(ValueError):
            vit_stats.percentile([1, math.inf], 50)
        with self.assertRaises(ValueError):
            vit_stats.percentile([1, 2], 101)
        with self.assertRaises(ValueError):
            vit_stats.percentile([1, 2], -1)

    def test_latency_summary(self):
        s = vit_stats.latency_summary(list(range(1, 101)))
        self.assertEqual(set(s), {"clean_latency_p50_ms", "clean_latency_p90_ms",
                                  "clean_latency_p99_ms"})
        self.assertAlmostEqual(s["clean_latency_p50_ms"], 50.5)
        self.assertAlmostEqual(s["clean_latency_p90_ms"], 90.1)
        self.assertAlmostEqual(s["clean_latency_p99_ms"], 99.01)


if __name__ == "__main__":
    unittest.main()
