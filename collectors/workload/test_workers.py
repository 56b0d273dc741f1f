"""WorkerPool (vit_workers): processes fill shared buffers in order; a job that
raises or a worker that dies fails the wait with an error naming the worker,
never a hang (torch-free: the job writes into an anonymous shared mmap)."""

import mmap
import os
import signal
import struct
import time
import unittest

import vit_workers

SLOTS, WORKERS, PER = 3, 4, 5   # buffers, workers, items a worker writes per batch
CELL = struct.Struct("<qqd")    # seq, worker, time the worker wrote it


def make_buffer():
    return mmap.mmap(-1, SLOTS * WORKERS * PER * CELL.size)  # MAP_SHARED|ANONYMOUS: fork shares it


def fill_job(buf, fail_on=None, die_on=None, slow=0.0):
    def job(i, seq, slot):
        if seq == die_on and i == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        if seq == fail_on and i == 1:
            raise ValueError("bad image %d" % seq)
        if slow:
            time.sleep(slow)
        for j in range(PER):
            CELL.pack_into(buf, ((slot * WORKERS + i) * PER + j) * CELL.size, seq, i, time.time())
    return job


def cells(buf, slot):
    return [CELL.unpack_from(buf, ((slot * WORKERS + i) * PER + j) * CELL.size)
            for i in range(WORKERS) for j in range(PER)]


class WorkerPoolTest(unittest.TestCase):
    def test_fills_buffers_in_order(self):
        buf = make_buffer()
        pool = vit_workers.WorkerPool(WORKERS, fill_job(buf))
        try:
            self.assertEqual(len(set(pool.pids)), WORKERS)
            self.assertNotIn(os.getpid(), pool.pids)
            # two batches in flight (slots 0, 1), then reuse slot k % 2 after waiting
            pool.submit(0, 0)
            pool.submit(1, 1)
            for k in range(12):
                pool.wait(k)
                got = cells(buf, k % 2)
                self.assertEqual({c[0] for c in got}, {k}, "slot %d holds batch %d" % (k % 2, k))
                self.assertEqual(sorted({c[1] for c in got}), list(range(WORKERS)))
                pool.submit(k + 2, k % 2)
            with self.assertRaises(ValueError):
                pool.wait(13)  # out of order: 12 is next
        finally:
            pool.close()
        self.assertFalse(any(p.is_alive() for p in pool._procs))

    def test_job_error_names_worker(self):
        buf = make_buffer()
        pool = vit_workers.WorkerPool(WORKERS, fill_job(buf, fail_on=3))
        try:
            for k in range(3):
                pool.submit(k, k % SLOTS)
                pool.wait(k)
            pool.submit(3, 0)
            with self.assertRaises(vit_workers.WorkerError) as cm:
                pool.wait(3)
            msg = str(cm.exception)
            self.assertIn("worker 1 (pid %d)" % pool.pids[1], msg)
            self.assertIn("batch 3", msg)
            self.assertIn("ValueError: bad image 3", msg)
        finally:
            pool.close()

    def test_dead_worker_fails_not_hangs(self):
        buf = make_buffer()
        pool = vit_workers.WorkerPool(WORKERS, fill_job(buf, die_on=2), timeout_s=60)
        t0 = time.monotonic()
        try:
            pool.submit(0, 0)
            pool.wait(0)
            pool.submit(1, 1)
            pool.wait(1)
            pool.submit(2, 2)
            with self.assertRaises(vit_workers.WorkerError) as cm:
                pool.wait(2)
            msg = str(cm.exception)
            self.assertIn("worker 2 (pid %d) died (killed by SIGKILL) with batch 2 unfinished"
                          % pool.pids[2], msg)
            # a later submit to the dead worker also fails clearly
            with self.assertRaises(vit_workers.WorkerError):
                for k in range(3, 3 + 20000):  # until the pipe to the dead worker breaks
                    pool.submit(k, 0)
        finally:
            pool.close()
        self.assertLess(time.monotonic() - t0, 30)

    def test_worker_killed_from_outside(self):
        buf = make_buffer()
        pool = vit_workers.WorkerPool(2, fill_job(buf, slow=0.5))
        try:
            pool.submit(0, 0)
            os.kill(pool.pids[0], signal.SIGTERM)
            with self.assertRaises(vit_workers.WorkerError) as cm:
                pool.wait(0)
            self.assertIn("worker 0 (pid %d) died (killed by SIGTERM)" % pool.pids[0],
                          str(cm.exception))
        finally:
            pool.close()

    def test_stuck_worker_times_out(self):
        buf = make_buffer()
        pool = vit_workers.WorkerPool(2, fill_job(buf, slow=5.0), timeout_s=1.0)
        try:
            pool.submit(0, 0)
            with self.assertRaises(vit_workers.WorkerError) as cm:
                pool.wait(0)
            self.assertIn("did not finish batch 0", str(cm.exception))
        finally:
            pool.close()

    def test_init_failure(self):
        def init(i):
            if i == 1:
                raise RuntimeError("no decoder")
        pool = vit_workers.WorkerPool(2, fill_job(make_buffer()), init=init)
        try:
            with self.assertRaises(vit_workers.WorkerError) as cm:
                time.sleep(0.5)  # the worker has exited: submit or wait reports it
                pool.submit(0, 0)
                pool.wait(0)
            self.assertIn("worker 1 (pid %d) failed initialising: RuntimeError: no decoder"
                          % pool.pids[1], str(cm.exception))
        finally:
            pool.close()


if __name__ == "__main__":
    unittest.main()
