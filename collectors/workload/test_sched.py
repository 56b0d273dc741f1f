"""Tests of vit_sched: the async schedule's invariants, work splitting,
buffer sizing and the GPU-to-host clock mapping."""

import unittest

import vit_sched as sc
from vit_settings import resolve

A, L, R = sc.ADMIT, sc.LAUNCH, sc.RETIRE


class AsyncSchedule(unittest.TestCase):
    def test_q1_is_serial(self):
        self.assertEqual(list(sc.async_schedule(3, 1)),
                         [(A, 0), (L, 0), (R, 0), (A, 1), (L, 1), (R, 1), (A, 2), (L, 2), (R, 2)])

    def test_q2_double_buffers(self):
        self.assertEqual(list(sc.async_schedule(4, 2)),
                         [(A, 0), (A, 1), (L, 0), (L, 1), (R, 0), (A, 2), (L, 2),
                          (R, 1), (A, 3), (L, 3), (R, 2), (R, 3)])

    def test_empty(self):
        self.assertEqual(list(sc.async_schedule(0, 4)), [])

    def test_invariants(self):
        for n in range(0, 14):
            for q in range(1, 7):
                with self.subTest(n=n, q=q):
                    self.check(n, q, list(sc.async_schedule(n, q)))

    def check(self, n, q, ops):
        admitted, launched, retired = [], [], []
        slot_owner = {}
        for op, k in ops:
            if op == A:
                self.assertNotIn(k, admitted)
                admitted.append(k)
                # batch k reuses slot k % q: its previous owner must have retired
                prev = slot_owner.get(k % q)
                if prev is not None:
                    self.assertIn(prev, retired)
                slot_owner[k % q] = k
            elif op == L:
                self.assertIn(k, admitted)
                self.assertNotIn(k, launched)
                launched.append(k)
            elif op == R:
                self.assertIn(k, launched)
                self.assertNotIn(k, retired)
                retired.append(k)
            else:
                self.fail("unknown op %r" % op)
            self.assertLessEqual(len(admitted) - len(retired), q)
        self.assertEqual(admitted, list(range(n)))
        self.assertEqual(launched, list(range(n)))
        self.assertEqual(retired, list(range(n)))

    def test_steady_state_keeps_q_in_flight(self):
        # once the pipeline is full, every launch happens with q batches in flight
        q, n = 4, 20
        inflight = 0
        at_launch = []
        for op, k in sc.async_schedule(n, q):
            inflight += {A: 1, R: -1}.get(op, 0)
            if op == L:
                at_launch.append(inflight)
        self.assertEqual(at_launch[: n - q + 1], [q] * (n - q + 1))

    def test_bad_args(self):
        with self.assertRaises(ValueError):
            list(sc.async_schedule(3, 0))
        with self.assertRaises(ValueError):
            list(sc.async_schedule(-1, 2))


class Splitting(unittest.TestCase):
    def test_split_range(self):
        self.assertEqual(sc.split_range(10, 3), [(0, 4), (4, 7), (7, 10)])
        self.assertEqual(sc.split_range(2, 8), [(0, 1), (1, 2)])
        self.assertEqual(sc.split_range(0, 4), [])
        self.assertEqual(sc.split_range(5, 1), [(0, 5)])
        for n in range(0, 40):
            for parts in range(1, 12):
                pieces = sc.split_range(n, parts)
                flat = [i for lo, hi in pieces for i in range(lo, hi)]
                self.assertEqual(flat, list(range(n)))
                sizes = [hi - lo for lo, hi in pieces]
                if sizes:
                    self.assertLessEqual(max(sizes) - min(sizes), 1)
                    self.assertGreater(min(sizes), 0)
        with self.assertRaises(ValueError):
            sc.split_range(3, 0)

    def test_sub_chunk_images(self):
        self.assertEqual(sc.sub_chunk_images(2048, 2048), 1)
        self.assertEqual(sc.sub_chunk_images(224, 224), (64 << 20) // (12 * 2 * 224 * 224))
        self.assertEqual(sc.sub_chunk_images(224, 224, budget=1), 1)


class Sizing(unittest.TestCase):
    def test_pool_batches(self):
        self.assertEqual(sc.pool_batches(64, 224), 4)
        self.assertEqual(sc.pool_batches(64, 2048), 1)  # 805 MB a batch
        self.assertEqual(sc.pool_batches(256, 4096), 1)
        self.assertEqual(sc.pool_batches(1, 1, budget=10, most=100), 3)

    def test_memory_plan_cpu(self):
        planned, _ = resolve({"batch_size": 8, "resolution": 224, "source_resolution": 256,
                              "pipeline": "async", "queue_depth": 3}, cpu_count=4)
        m = sc.memory_plan(planned, 2)
        src, inp, out = 8 * 256 * 256 * 3, 8 * 3 * 224 * 224 * 2, 8 * 1000 * 2
        self.assertEqual(m, {"pinned": 2 * src + 3 * out + 3 * inp, "device": 3 * inp})

    def test_memory_plan_gpu_fp32(self):
        planned, _ = resolve({"batch_size": 4, "resolution": 64, "preprocess": "gpu",
                              "dtype": "float32"}, cpu_count=4)
        m = sc.memory_plan(planned, 1)
        src, inp, out = 4 * 64 * 64 * 3, 4 * 3 * 64 * 64 * 4, 4 * 1000 * 4
        self.assertEqual(m, {"pinned": src + out, "device": inp + src})

    def test_check_pinned(self):
        self.assertIsNone(sc.check_pinned(10, None))
        self.assertIsNone(sc.check_pinned(40 << 30, 128 << 30))
        msg = sc.check_pinned(80 << 30, 128 << 30)
        self.assertIn("80.0 GiB of pinned host memory", msg)

    def test_mem_total(self):
        text = "MemFree:  100 kB\nMemTotal:       131072 kB\n"
        self.assertEqual(sc.mem_total_bytes(text), 131072 * 1024)
        self.assertIsNone(sc.mem_total_bytes("nothing here"))


class Clock(unittest.TestCase):
    def test_identity_rate(self):
        c = sc.ClockMap(1_000_000, 1_000_000 + 500_000_000, 500.0)
        self.assertEqual(c.scale, 1.0)
        self.assertEqual(c.host_ns(2.0), 1_000_000 + 2_000_000)
        self.assertIsNone(c.note)

    def test_measured_rate(self):
        # host clock runs 20 ppm faster than the GPU's over a 1 s window
        c = sc.ClockMap(0, 1_000_020_000, 1000.0)
        self.assertAlmostEqual(c.scale, 1.00002, places=9)
        self.assertAlmostEqual(c.host_ns(500.0), 500_010_000, places=3)

    def test_short_window_uses_unit_rate(self):
        c = sc.ClockMap(0, 2_100_000, 2.0)
        self.assertEqual(c.scale, 1.0)

    def test_implausible_rate_is_noted(self):
        c = sc.ClockMap(0, 2_000_000_000, 1000.0)
        self.assertEqual(c.scale, 1.0)
        self.assertIn("implausible", c.note)

    def test_latency(self):
        c = sc.ClockMap(10_000_000, 1_010_000_000, 1000.0)
        # admitted 1 ms after the reference point, D2H done 4.5 ms after it
        self.assertAlmostEqual(sc.latency_ms(11_000_000, 4.5, c), 3.5)


if __name__ == "__main__":
    unittest.main()
