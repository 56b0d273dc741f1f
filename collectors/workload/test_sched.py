"""Tests of vit_sched: the async schedule's invariants, work splitting,
buffer sizing and the GPU-to-host clock mapping."""

import unittest

import vit_sched as sc
from vit_settings import resolve



def slot_needed_timeline(n, q, pre_ms, launch_ms, fwd_ms, h2d_ms=0.0, d2h_ms=0.0):
    """slot_needed_timeline is the negative control: the pipeline before
    issue 7, one host thread that retires a batch only when its slot is
    needed for the next admission and admits ahead only up to q in flight
    (A0 A1 L0 L1 R0 A2 L2 R1 A3 ... for q = 2). Same stage model as
    simulate_async. The schedule checks below must reject it."""
    b = [dict() for _ in range(n)]
    host = comp = 0.0
    lane = 0.0
    admitted = retired = 0

    def admit(k):
        nonlocal lane
        start = max(host, lane)
        lane = start + pre_ms
        b[k].update(admit=host, pre_start=start, pre_end=start + pre_ms)

    def retire(k):
        nonlocal host
        host = max(host, b[k]["d2h_end"])
        b[k]["retire"] = host

    for i in range(n):
        while admitted <= i:
            if admitted - retired < q:
                admit(admitted)
                admitted += 1
            else:
                retire(retired)
                retired += 1
        while admitted < n and admitted - retired < q:
            admit(admitted)
            admitted += 1
        ls = max(host, b[i]["pre_end"])
        le = ls + launch_ms
        fs = max(comp, ls + h2d_ms)
        fe = max(fs + fwd_ms, le)
        comp = fe
        b[i].update(launch_start=ls, launch_end=le, fwd_start=fs, fwd_end=fe, d2h_end=fe + d2h_ms)
        host = le
    while retired < n:
        retire(retired)
        retired += 1
    return b


# Stage times (ms) of the regimes that matter: an eager model whose launch
# takes most of the forward (the H100/H200 traces of issue 7), a compiled
# one with cheap launches, and slow preprocessing (preprocess > forward).
REGIMES = {
    "launch-bound": dict(pre_ms=5.0, launch_ms=6.0, fwd_ms=7.0, h2d_ms=0.3, d2h_ms=0.05),
    "graphs": dict(pre_ms=5.0, launch_ms=0.2, fwd_ms=7.0, h2d_ms=0.3, d2h_ms=0.05),
    "cpu-bound": dict(pre_ms=12.0, launch_ms=2.0, fwd_ms=7.0, h2d_ms=0.3, d2h_ms=0.05),
}


class AsyncSchedule(unittest.TestCase):
    def violations(self, tl, q, regime):
        """violations lists what breaks the overlap contract of issue 7 in a timeline."""
        out = []
        n = len(tl)
        for k in range(n - 1):
            if q >= 2 and not tl[k + 1]["admit"] < tl[k]["fwd_end"]:
                out.append("admit %d at %.2f is not before the end of forward %d (%.2f)"
                           % (k + 1, tl[k + 1]["admit"], k, tl[k]["fwd_end"]))
            if q >= 2 and not tl[k + 1]["pre_start"] < tl[k]["fwd_end"]:
                out.append("preprocess %d starts after forward %d ended" % (k + 1, k))
        t = REGIMES[regime]
        if q >= 2 and t["pre_ms"] + t["h2d_ms"] <= t["fwd_ms"] and t["launch_ms"] <= t["fwd_ms"]:
            # primed: from batch q on, the forward never waits for its preprocessing
            for k in range(q, n):
                if tl[k]["pre_end"] + REGIMES[regime]["h2d_ms"] > tl[k - 1]["fwd_end"] + 1e-9:
                    out.append("forward %d waits for its preprocessing (%.2f > %.2f)"
                               % (k, tl[k]["pre_end"], tl[k - 1]["fwd_end"]))
        return out

    def test_overlap_contract(self):
        for regime, t in REGIMES.items():
            for q in (2, 4, 8):
                with self.subTest(regime=regime, q=q):
                    tl = sc.simulate_async(30, q, **t)
                    self.assertEqual(self.violations(tl, q, regime), [])

    def test_the_old_schedule_fails_the_contract(self):
        # the checks would have caught issue 7: retiring "when the slot is
        # needed" makes the primed launch wait for its own preprocessing
        tl = slot_needed_timeline(30, 2, **REGIMES["launch-bound"])
        self.assertTrue(any("waits for its preprocessing" in v
                            for v in self.violations(tl, 2, "launch-bound")))

    def test_gpu_stays_busy_when_preprocessing_is_shorter(self):
        for regime in ("launch-bound", "graphs"):
            t = REGIMES[regime]
            for q in (2, 4):
                tl = sc.simulate_async(40, q, **t)
                gaps = [tl[k]["fwd_start"] - tl[k - 1]["fwd_end"] for k in range(q, 40)]
                self.assertLessEqual(max(gaps), 1e-9, (regime, q))
                old = slot_needed_timeline(40, q, **t)
                span_new = tl[-1]["fwd_end"] - tl[0]["fwd_start"]
                span_old = old[-1]["fwd_end"] - old[0]["fwd_start"]
                if regime == "launch-bound" and q == 2:
                    self.assertLess(span_new, 0.9 * span_old)

    def test_in_flight_and_slot_reuse(self):
        for n in range(0, 14):
            for q in range(1, 7):
                with self.subTest(n=n, q=q):
                    tl = sc.simulate_async(n, q, **REGIMES["launch-bound"])
                    for k in range(n):
                        self.assertLessEqual(tl[k]["admit"], tl[k]["pre_start"])
                        self.assertLessEqual(tl[k]["pre_end"], tl[k]["launch_start"])
                        self.assertLessEqual(tl[k]["launch_end"], tl[k]["retire"])
                        if k >= q:  # slot k % q is reused only after its previous batch retired
                            self.assertGreaterEqual(tl[k]["admit"], tl[k - q]["retire"])
                        # at most q admitted and not retired at any admission
                        inflight = sum(1 for j in range(n) if tl[j]["admit"] <= tl[k]["admit"]
                                       and tl[j]["retire"] > tl[k]["admit"])
                        self.assertLessEqual(inflight, q)

    def test_admission_rule(self):
        self.assertEqual(sc.first_admissions(10, 4), [0, 1, 2, 3])
        self.assertEqual(sc.first_admissions(2, 4), [0, 1])
        self.assertEqual(sc.first_admissions(0, 4), [])
        self.assertEqual(sc.admit_after_retire(3, 10, 4), 7)
        self.assertIsNone(sc.admit_after_retire(6, 10, 4))
        with self.assertRaises(ValueError):
            sc.first_admissions(3, 0)
        with self.assertRaises(ValueError):
            sc.first_admissions(-1, 2)

    def test_q1_is_serial(self):
        tl = sc.simulate_async(4, 1, **REGIMES["graphs"])
        for k in range(1, 4):
            self.assertGreaterEqual(tl[k]["admit"], tl[k - 1]["retire"])


class Windows(unittest.TestCase):
    def test_steady_batch_s(self):
        # a slow first batch (one-off costs) does not inflate the estimate
        done = [100.0, 110.0, 120.0, 130.0, 140.0, 150.0]
        self.assertAlmostEqual(sc.steady_batch_s(done), 0.010)
        self.assertIsNone(sc.steady_batch_s([1.0, 2.0, 3.0]))
        self.assertIsNone(sc.steady_batch_s([5.0, 5.0, 5.0, 5.0]))

    def test_window_batches(self):
        self.assertEqual(sc.window_batches(50, 2.0, 0.01), 210)  # 2.1 s of 10 ms batches
        self.assertEqual(sc.window_batches(50, 2.0, 0.1), 50)     # timed_batches already 5 s
        self.assertEqual(sc.window_batches(50, 2.0, None), 50)
        self.assertEqual(sc.window_batches(5, 0.0, 0.01), 5)
        with self.assertRaises(ValueError):
            sc.window_batches(0, 2.0, 0.01)


class WindowStopRule(unittest.TestCase):
    """A clean window ends only when it has run n_min batches AND lasted
    min_s, whatever the estimate that sized n_min (batches slower or faster
    than predicted)."""

    def run_window(self, n_min, min_s, batch_times):
        now = [0.0]
        stop = sc.WindowStop(n_min, min_s, clock=lambda: now[0])
        k = 0
        while stop.admit(k):
            now[0] += batch_times[k % len(batch_times)]
            k += 1
        return k, now[0], stop

    def test_time_floor_extends_a_fast_window(self):
        # sized for 10 ms batches (200 batches = 2 s) but they take 8 ms:
        # the old fixed count would end at 1.6 s
        k, t, _ = self.run_window(200, 2.0, [0.008])
        self.assertGreaterEqual(t, 2.0)
        self.assertEqual(k, 250)

    def test_count_floor_holds_for_a_slow_window(self):
        k, t, _ = self.run_window(50, 2.0, [0.1])
        self.assertEqual(k, 50)
        self.assertAlmostEqual(t, 5.0)

    def test_no_time_floor_is_exact(self):
        for n in (0, 1, 7):
            k, _, _ = self.run_window(n, 0.0, [0.001])
            self.assertEqual(k, n)

    def test_refusal_is_final(self):
        _, _, stop = self.run_window(3, 0.0, [1.0])
        self.assertEqual(stop.final, 3)
        self.assertTrue(stop.admit(2))
        self.assertFalse(stop.admit(3))
        self.assertFalse(stop.admit(10))
        with self.assertRaises(ValueError):
            sc.WindowStop(-1)


class AsyncWindowThreads(unittest.TestCase):
    """run_async_window with real threads: the pipeline's async window minus
    torch. retire(k) stands for waiting on batch k's D2H (a sleep)."""

    def drive(self, n_min, q, min_s=0.0, retire_s=0.001, fail=None):
        import threading
        import time
        log, lock = [], threading.Lock()
        inflight = [0, 0]  # now, most

        def note(kind, k):
            with lock:
                log.append((kind, k, threading.get_ident()))

        def admit(k):
            if fail == ("admit", k):
                raise RuntimeError("admit failed")
            with lock:
                inflight[0] += 1
                inflight[1] = max(inflight[1], inflight[0])
            note("admit", k)

        def launch(k):
            if fail == ("launch", k):
                raise RuntimeError("launch failed")
            note("launch", k)

        def retire(k):
            time.sleep(retire_s)
            with lock:
                inflight[0] -= 1
            note("retire", k)

        t0 = time.perf_counter()
        n = sc.run_async_window(sc.WindowStop(n_min, min_s), q, admit, launch, retire)
        return n, time.perf_counter() - t0, log, inflight[1]

    def test_each_batch_once_in_order_at_most_q_in_flight(self):
        import threading
        for q in (1, 2, 3, 8):
            for n_min in (0, 1, 2, 5, 17):
                with self.subTest(q=q, n=n_min):
                    n, _, log, most = self.drive(n_min, q)
                    self.assertEqual(n, n_min)
                    for kind in ("admit", "launch", "retire"):
                        self.assertEqual([k for kd, k, _ in log if kd == kind], list(range(n)))
                    pos = {(kd, k): i for i, (kd, k, _) in enumerate(log)}
                    for k in range(n):
                        self.assertLess(pos[("admit", k)], pos[("launch", k)])
                        self.assertLess(pos[("launch", k)], pos[("retire", k)])
                        if q >= 2 and k + 1 < n:
                            # batch k+1 is admitted (its preprocessing starts)
                            # before batch k retires: the pipeline runs ahead
                            self.assertLess(pos[("admit", k + 1)], pos[("retire", k)])
                    self.assertLessEqual(most, q)
                    main = threading.get_ident()
                    self.assertTrue(all(t == main for kd, _, t in log if kd == "launch"))
                    self.assertTrue(all(t != main for kd, _, t in log if kd != "launch"))

    def test_time_floor(self):
        n, dt, _, _ = self.drive(3, 2, min_s=0.08, retire_s=0.002)
        self.assertGreater(n, 3)
        self.assertGreaterEqual(dt, 0.08)

    def test_errors_reach_the_caller(self):
        for where in (("admit", 3), ("launch", 2), ("admit", 0), ("launch", 0)):
            with self.subTest(where=where):
                with self.assertRaisesRegex(RuntimeError, where[0] + " failed"):
                    self.drive(6, 2, fail=where)


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
                              "pipeline": "async", "queue_depth": 4}, cpu_count=4)
        planned["queue_depth"] = 3
        m = sc.memory_plan(planned, 2)
        src, inp, out = 8 * 256 * 256 * 3, 8 * 3 * 224 * 224 * 2, 8 * 1000 * 2
        u8 = 8 * 3 * 224 * 224  # the workers' resized uint8 images, pinned and on the device
        self.assertEqual(m, {"pinned": 2 * src + 3 * out + 3 * u8, "device": 3 * inp + 3 * u8})

    def test_memory_plan_gpu_fp32(self):
        planned, _ = resolve({"batch_size": 4, "resolution": 64, "preprocess": "gpu",
                              "dtype": "float32"}, cpu_count=4)
        m = sc.memory_plan(dict(planned, decoder="torchvision-cpu"), 1)
        src, inp, out = 4 * 64 * 64 * 3, 4 * 3 * 64 * 64 * 4, 4 * 1000 * 4
        self.assertEqual(m, {"pinned": 2 * src + out, "device": inp + src})
        m = sc.memory_plan(dict(planned, decoder="nvjpeg"), 1)
        self.assertEqual(m, {"pinned": src + out, "device": inp})

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
