"""NVTX range names the workload emits, and a small push/pop helper.

The warehouse views parse these names, so they are defined once here and
documented in README.md. Every range is a push/pop range (nsys event type
59) in the default NVTX domain, so ranges nest per thread.

Plain names (no index):  compile, warmup, timed, preprocess, h2d, forward, d2h
Indexed names:           "<kind> <seq>" with kind in batch, admit, retire,
                         preprocess_worker and seq a decimal batch number,
                         e.g. "batch 17". Regular expression: INDEXED_RE.

seq numbers every batch of the process from 0 in execution order: warm-up
batches first, then each timed window's batches, so "batch N" is unique in
a trace and worker/admit/retire ranges of the same N belong to it.
"""

import contextlib
import re

COMPILE = "compile"
WARMUP = "warmup"
TIMED = "timed"
PREPROCESS = "preprocess"
H2D = "h2d"
FORWARD = "forward"
D2H = "d2h"

BATCH = "batch"
ADMIT = "admit"
RETIRE = "retire"
WORKER = "preprocess_worker"

INDEXED_KINDS = (BATCH, ADMIT, RETIRE, WORKER)
INDEXED_RE = re.compile(r"^(batch|admit|retire|preprocess_worker) ([0-9]+)$")


def indexed(kind, seq):
    """indexed returns the name of an indexed range, e.g. indexed("batch", 17)
    == "batch 17"."""
    if kind not in INDEXED_KINDS:
        raise ValueError("unknown indexed range kind %r" % (kind,))
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValueError("range index must be a non-negative int, got %r" % (seq,))
    return "%s %d" % (kind, seq)


def parse_indexed(name):
    """parse_indexed returns (kind, seq) for an indexed range name, or None."""
    m = INDEXED_RE.match(name)
    if not m:
        return None
    return m.group(1), int(m.group(2))


class Tracer:
    """Tracer pushes and pops NVTX ranges through a backend with
    range_push(name) and range_pop() (torch.cuda.nvtx); with no backend it
    does nothing. range() pops even when the body raises, so an error never
    leaves the thread's range stack unbalanced."""

    def __init__(self, backend=None):
        self._backend = backend

    @contextlib.contextmanager
    def range(self, name):
        b = self._backend
        if b is None:
            yield
            return
        b.range_push(name)
        try:
            yield
        finally:
            b.range_pop()
