"""Order statistics for the workload's measurements (pure Python).

percentile() uses linear interpolation between closest ranks (Hyndman & Fan
type 7, numpy's default "linear" method): for sorted values x[0..n-1] and
q in [0, 100], h = (n-1)*q/100 and the result is
x[floor(h)] + (h - floor(h)) * (x[floor(h)+1] - x[floor(h)]).
"""

import math


def _checked(values):
    xs = [float(v) for v in values]
    if not xs:
        raise ValueError("no values")
    for v in xs:
        if math.isnan(v) or math.isinf(v):
            raise ValueError("non-finite value %r" % v)
    return sorted(xs)


def percentile(values, q):
    """percentile returns the q-th percentile (0..100) of values (type 7)."""
    if not 0 <= q <= 100:
        raise ValueError("percentile %r outside [0, 100]" % (q,))
    xs = _checked(values)
    h = (len(xs) - 1) * (q / 100.0)
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def median(values):
    """median returns the 50th percentile (the mean of the middle pair for an
    even count)."""
    return percentile(values, 50)


def latency_summary(latencies_ms):
    """latency_summary returns p50/p90/p99 (ms) of per-batch latencies, keyed
    by the batchdir.Timings field names."""
    return {
        "clean_latency_p50_ms": percentile(latencies_ms, 50),
        "clean_latency_p90_ms": percentile(latencies_ms, 90),
        "clean_latency_p99_ms": percentile(latencies_ms, 99),
    }
