"""CPU preprocessing worker processes (stdlib only; the job is the caller's).

WorkerPool forks `workers` processes once. Every batch is one task per
worker: (seq, slot); worker i runs job(i, seq, slot) — in the pipeline it
decodes (and resizes) its contiguous image range of batch seq into the shared
buffer of slot — and reports back. Tasks go down one pipe per worker and each
worker handles its tasks in order, so the buffers are filled in admission
order; wait(seq) returns when every worker finished batch seq.

Why processes and raw pipes: worker *threads* in the launching interpreter
stopped scaling at 8 (the interpreter lock; README *CPU preprocessing*), and
a multiprocessing.Queue pickles and runs a feeder thread per message. Here a
task or an acknowledgement is one 16/20-byte os.write (atomic below
PIPE_BUF), so the launching process spends a few microseconds a worker a
batch.

Failure: a job that raises sends its error back (the run fails naming the
worker, its pid and the batch); a worker that dies (killed, crashed, exited)
is seen through its process sentinel while the launcher waits, and the run
fails naming the worker and its exit status — never a hang. Workers are
forked, so they inherit the launcher's CPU affinity (numactl/taskset
binding) and memory policy; on Linux each asks the kernel to kill it when
the launcher dies (PR_SET_PDEATHSIG).
"""

import ctypes
import multiprocessing
import os
import select
import signal
import struct
import threading
import time
import traceback

TASK = struct.Struct("<qq")    # seq, slot; seq < 0: exit
DONE = struct.Struct("<iqI")   # worker, seq, length of the error text that follows (0: ok)
MAX_ERROR = 3000               # the whole message stays below PIPE_BUF (4096): one atomic write

# WAIT_TIMEOUT_S: a batch none of whose workers reported for this long fails
# the run (a worker stuck without dying); generous, since a batch takes ms.
WAIT_TIMEOUT_S = 300.0


class WorkerError(RuntimeError):
    """WorkerError is a worker that failed or died; the message names it."""

    plain = True


def _die_with_parent():
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: the launcher's close() still stops them
        pass


def _read_exact(fd, n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def _worker_main(index, task_r, done_w, job, init):
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the launcher handles ^C and stops us
    try:
        if init is not None:
            init(index)
    except BaseException as e:  # noqa: BLE001
        msg = ("%s: %s" % (type(e).__name__, e)).encode()[:MAX_ERROR]
        os.write(done_w, DONE.pack(index, -1, len(msg)) + msg)
        os._exit(3)
    while True:
        raw = _read_exact(task_r, TASK.size)
        if raw is None:
            os._exit(0)
        seq, slot = TASK.unpack(raw)
        if seq < 0:
            os._exit(0)
        try:
            job(index, seq, slot)
            os.write(done_w, DONE.pack(index, seq, 0))
        except BaseException as e:  # noqa: BLE001 - reported to the launcher
            tb = traceback.format_exception_only(type(e), e)[-1].strip()
            msg = tb.encode("utf-8", "replace")[:MAX_ERROR]
            os.write(done_w, DONE.pack(index, seq, len(msg)) + msg)


def exit_description(code):
    """exit_description says how a process ended from its exitcode
    (multiprocessing: negative = killed by that signal)."""
    if code is None:
        return "still running"
    if code < 0:
        try:
            return "killed by %s" % signal.Signals(-code).name
        except ValueError:
            return "killed by signal %d" % -code
    return "exit status %d" % code


class WorkerPool:
    """WorkerPool is `workers` forked processes that run job(i, seq, slot).

    submit(seq, slot) queues batch seq (one task per worker); wait(seq)
    blocks until all workers finished it, raising WorkerError when one
    failed or died. Batches must be waited for in the order they were
    submitted. close() stops the workers (also after a failure). One thread
    may submit while another waits (the async pipeline admits on its
    completion thread and launches on the main thread)."""

    def __init__(self, workers, job, init=None, name="preprocessing worker",
                 timeout_s=WAIT_TIMEOUT_S):
        if workers < 1:
            raise ValueError("a worker pool needs at least one worker")
        self.workers = workers
        self.name = name
        self.timeout_s = timeout_s
        ctx = multiprocessing.get_context("fork")
        self._done_r, self._done_w = os.pipe()
        self._task_w = []
        self._procs = []
        self._pending = {}   # seq -> set of workers not done yet
        self._order = []     # submitted seqs not yet waited for, in order
        self._buf = b""
        self._closed = False
        self._lock = threading.Lock()
        try:
            for i in range(workers):
                r, w = os.pipe()
                p = ctx.Process(target=_worker_main, args=(i, r, self._done_w, job, init),
                                name="vitlab-%s-%d" % (name.replace(" ", "-"), i), daemon=True)
                p.start()
                os.close(r)
                self._task_w.append(w)
                self._procs.append(p)
        except BaseException:
            self.close()
            raise
        self.pids = [p.pid for p in self._procs]

    def submit(self, seq, slot):
        """submit queues batch seq into buffer slot on every worker."""
        with self._lock:
            if seq in self._pending:
                raise ValueError("batch %d was already submitted" % seq)
            self._pending[seq] = set(range(self.workers))
            self._order.append(seq)
        msg = TASK.pack(seq, slot)
        for i, w in enumerate(self._task_w):
            try:
                os.write(w, msg)
            except BrokenPipeError:
                self._raise_dead(seq, i)

    def _raise_dead(self, seq, index=None):
        # what the worker sent before it died (its own error) says most
        while select.select([self._done_r], [], [], 0.05)[0]:
            self._drain()
        dead = [(i, p) for i, p in enumerate(self._procs)
                if (index is None or i == index) and (i == index or not p.is_alive())]
        if not dead and index is not None:
            dead = [(index, self._procs[index])]
        i, p = dead[0]
        p.join(2.0)  # the sentinel fires as the process exits; reap it for its status
        with self._lock:
            left = [str(k) for k in self._order if i in self._pending.get(k, ())] or [str(seq)]
        raise WorkerError("CPU %s %d (pid %d) died (%s) with batch %s unfinished"
                          % (self.name, i, p.pid, exit_description(p.exitcode), ", ".join(left)))

    def _drain(self):
        data = os.read(self._done_r, 65536)
        self._buf += data
        done = 0
        while len(self._buf) >= DONE.size:
            i, seq, n = DONE.unpack_from(self._buf)
            if len(self._buf) < DONE.size + n:
                break
            err = self._buf[DONE.size:DONE.size + n].decode("utf-8", "replace")
            self._buf = self._buf[DONE.size + n:]
            if n:
                what = "initialising" if seq < 0 else "preprocessing batch %d" % seq
                raise WorkerError("CPU %s %d (pid %d) failed %s: %s"
                                  % (self.name, i, self._procs[i].pid, what, err))
            with self._lock:
                left = self._pending.get(seq)
                if left is None or i not in left:
                    raise WorkerError("CPU %s %d reported batch %d, which it was not given"
                                      % (self.name, i, seq))
                left.discard(i)
            done += 1
        return done

    def wait(self, seq):
        """wait blocks until every worker finished batch seq."""
        with self._lock:
            first = self._order[0] if self._order else None
        if first != seq:
            raise ValueError("wait(%d) out of order: next is %s" % (
                seq, first))
        poller = select.poll()
        poller.register(self._done_r, select.POLLIN)
        sentinels = {p.sentinel: i for i, p in enumerate(self._procs)}
        for fd in sentinels:
            poller.register(fd, select.POLLIN)
        last = time.monotonic()
        while self._pending[seq]:
            events = poller.poll(1000)
            progress = False
            for fd, _ in events:
                if fd == self._done_r:
                    progress = self._drain() > 0
            if not self._pending[seq]:
                break
            for fd, _ in events:
                if fd in sentinels:
                    self._raise_dead(seq, sentinels[fd])
            if progress:
                last = time.monotonic()
            elif time.monotonic() - last > self.timeout_s:
                stuck = sorted(self._pending[seq])
                raise WorkerError("CPU %s(s) %s (pids %s) did not finish batch %d in %.0f s"
                                  % (self.name, ", ".join(map(str, stuck)),
                                     ", ".join(str(self._procs[i].pid) for i in stuck),
                                     seq, self.timeout_s))
        with self._lock:
            del self._pending[seq]
            self._order.pop(0)

    def close(self):
        """close stops the workers: an exit task, then SIGKILL for any that lingers."""
        if self._closed:
            return
        self._closed = True
        for w in self._task_w:
            try:
                os.write(w, TASK.pack(-1, 0))
            except OSError:
                pass
            try:
                os.close(w)
            except OSError:
                pass
        deadline = time.monotonic() + 5.0
        for p in self._procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(5.0)
        for fd in (self._done_r, self._done_w):
            try:
                os.close(fd)
            except OSError:
                pass
