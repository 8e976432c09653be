"""Measuring tools used inside the worker processes: timing, memory, bandwidth.

Nothing here imports torch or jax; a numpy worker stays numpy-only.
"""

from __future__ import annotations

import cProfile
import gc
import os
import pstats
import resource
import statistics
import sys
import time

__all__ = [
    "copy_bandwidth",
    "cpu_busy",
    "frameworks_loaded",
    "hotspots",
    "measure",
    "peak_rss_bytes",
    "reset_peak_rss",
    "rss_bytes",
    "summary",
]

FRAMEWORKS = ("torch", "jax", "array_api_strict")


def summary(times) -> dict:
    """Median, min, max and count of a list of seconds."""
    times = [float(t) for t in times]
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "repeats": len(times),
        "times_s": times,
    }


def measure(fn, *, repeats=5, warmup=1, min_time=0.0, max_repeats=None) -> dict:
    """Time ``fn(i)`` for i = 0, 1, ...: ``warmup`` untimed calls, then ``repeats`` timed ones.

    ``fn`` receives the call index so that each call can use new arguments
    (e.g. a new learning rate).  When ``min_time`` is given, timing goes on
    past ``repeats`` until the timed calls add up to ``min_time`` seconds or
    ``max_repeats`` calls.  Garbage collection is run before, not during, the
    timed calls.
    """
    for i in range(warmup):
        fn(i)
    max_repeats = max(repeats, max_repeats or repeats)
    gc.collect()
    times = []
    i = warmup
    while len(times) < repeats or (sum(times) < min_time and len(times) < max_repeats):
        t0 = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - t0)
        i += 1
    return summary(times)


def rss_bytes() -> int | None:
    """Current resident set size (Linux ``/proc``; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def peak_rss_bytes() -> int:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in bytes (kB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux ``clear_refs``).

    After a reset ``ru_maxrss`` measures the peak from now on, so the memory
    a call needs is not hidden by an earlier, larger peak.  Returns False when
    the platform does not allow it (the peak then covers the whole process).
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def copy_bandwidth(nbytes: int, *, repeats=7) -> dict:
    """Memory bandwidth of this process: ``np.copyto`` of two ``nbytes`` buffers.

    One copy reads and writes ``nbytes`` each, so bandwidth =
    ``2 * nbytes / median time``.  Both buffers are touched first so page
    faults are not timed.
    """
    import numpy as np

    n = max(1, nbytes // 4)
    src = np.ones(n, dtype=np.float32)
    dst = np.zeros(n, dtype=np.float32)
    t = measure(lambda i: np.copyto(dst, src), repeats=repeats, warmup=2)
    src = dst = None  # free the buffers before the next measurement
    gc.collect()
    t["bytes_per_copy"] = 2 * 4 * n
    t["bandwidth_GBps"] = 2 * 4 * n / t["median_s"] / 1e9
    return t


def cpu_busy(seconds=0.3) -> float | None:
    """Fraction of the machine's CPU time that was busy over ``seconds`` (Linux ``/proc/stat``).

    The parent samples it between workers, when none of ours runs: anything
    well above 0 is someone else's load, which disturbs the timings.
    """
    def sample():
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:9]]
        return vals[3] + vals[4], sum(vals)  # idle + iowait, total

    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    total = total1 - total0
    return 1.0 - (idle1 - idle0) / total if total > 0 else None


def frameworks_loaded() -> list[str]:
    """Which of torch, jax, array_api_strict this process has imported."""
    return [m for m in FRAMEWORKS if m in sys.modules]


def hotspots(fn, *, top=4) -> list[dict]:
    """Profile one call of ``fn`` and return the gdcore functions taking the most time.

    Each entry: ``function`` ("file.py:name"), ``cumulative_s`` and ``share``
    of the call's total.  Only functions inside the gdcore package are
    listed, outermost (public) ones excluded, so the answer says *where in
    the library* the time goes.  Profiling slows Python-heavy code, so the
    shares are indicative, not timings.
    """
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    fn()
    prof.disable()
    total = time.perf_counter() - t0
    stats = pstats.Stats(prof)
    rows = []
    for (path, _line, func), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        norm = path.replace(os.sep, "/")
        if "/gdcore/" not in norm or func.startswith("<") or func in ("fit", "sweep"):
            continue
        rel = norm.split("/gdcore/", 1)[1]
        rows.append({"function": f"{rel}:{func}", "cumulative_s": ct, "share": ct / total})
    rows.sort(key=lambda r: -r["cumulative_s"])
    return rows[:top]
