"""large: a tall problem (1,000,000 x 64 float32) against the memory-bandwidth floor.

An epoch of the direct path must read X twice (``X @ w`` and ``X.T @ r``), so
its floor is ``2 * X.nbytes / bandwidth``, with the bandwidth measured in the
same worker by ``np.copyto`` of two X-sized buffers (a copy reads and writes,
``2 * nbytes`` bytes, median of 7): the floor equals the time of one copy of X.

Every (backend, method) pair runs in its own worker, which generates X itself
(seeded) and hands it to gdcore as the backend's own array (torch: shares the
numpy buffer; jax: one device copy, after which the numpy X is freed).
Reported: total fit time; per epoch = median / epochs (all-in) and the
marginal epoch = (median - median with epochs=0) / epochs (the loop alone);
both over the floor; peak memory (``ru_maxrss``) over ``X.nbytes``, both over
the whole process and as the increase over the RSS once X existed (the peak
mark is reset there, Linux only).
"""

from __future__ import annotations

import gc
import time

from benchmarks import _common
from benchmarks._harness import (
    copy_bandwidth,
    measure,
    peak_rss_bytes,
    reset_peak_rss,
    rss_bytes,
)
from benchmarks._report import failed_row, row

__all__ = ["NAME", "RATIO", "TITLE", "plan", "report", "work"]

NAME = "large"
TITLE = "tall X, float32: fit(method='direct') per epoch vs the memory-bandwidth floor"
RATIO = ("time per epoch / floor, floor = 2 passes over X at the copy bandwidth measured in the "
         "same worker (1.0 = at the floor, lower is better)")
BACKENDS = ("numpy", "torch", "jax")
D = 64
LR = 0.1  # below lr_crit ~ 0.97 for standard normal columns: every epoch runs


def plan(quick: bool, repeats: int | None = None) -> list[dict]:
    n, epochs = (200_000, 20) if quick else (1_000_000, 100)
    r = repeats or (3 if quick else 5)
    return [{"backend": b, "method": m, "n": n, "d": D, "epochs": epochs, "repeats": r}
            for b in BACKENDS for m in ("direct", "gram")]


def _data(n, d, backend):
    """Seeded float32 X (n, d) and y, as the backend's arrays; the numpy copies are freed."""
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d), dtype=np.float32)
    w = rng.standard_normal(d, dtype=np.float32)
    y = X @ w + np.float32(0.1) * rng.standard_normal(n, dtype=np.float32)
    Xb, yb = _common.native(X, backend), _common.native(y, backend)
    nbytes = X.nbytes
    del X, y
    gc.collect()
    return Xb, yb, nbytes


def work(backend, method, n, d, epochs, repeats) -> dict:
    info = _common.import_backend(backend)
    import gdcore

    rss_start = rss_bytes()
    X, y, nbytes = _data(n, d, backend)
    rss_after_x = rss_bytes()
    peak_before = peak_rss_bytes()
    reset_ok = reset_peak_rss()

    def call(i, epochs=epochs):
        return gdcore.fit(X, y, lr=LR * (1 + 1e-6 * i), epochs=epochs, backend=backend,
                          method=method)

    t0 = time.perf_counter()
    first = call(0)
    first_call_s = time.perf_counter() - t0
    peak_first = peak_rss_bytes()  # includes jax's compiler
    call(0, epochs=0)
    traces_before = _common.trace_count(backend)
    reset_peak_rss()
    overhead = measure(lambda i: call(i, epochs=0), repeats=repeats, warmup=0)
    peak_epochs0 = peak_rss_bytes()  # validation + analysis + one evaluation
    reset_peak_rss()
    timing = measure(call, repeats=repeats, warmup=0)
    peak = peak_rss_bytes()  # the timed fits
    traces_after = _common.trace_count(backend)
    bw = copy_bandwidth(nbytes)
    floor = 2 * nbytes / (bw["bandwidth_GBps"] * 1e9)
    return {
        "versions": info,
        "nbytes": nbytes,
        "timing": timing,
        "overhead_epochs0": overhead,
        "first_call_s": first_call_s,
        "per_epoch_s": timing["median_s"] / epochs,
        "marginal_per_epoch_s": (timing["median_s"] - overhead["median_s"]) / epochs,
        "bandwidth": bw,
        "floor_per_epoch_s": floor,
        "trace_count_before": traces_before,
        "trace_count_after": traces_after,
        "status": first.status,
        "epochs_run": first.epochs_run,
        "method_used": first.method,
        "memory": {
            "rss_start": rss_start,
            "rss_after_x": rss_after_x,
            "peak_before_fit": peak_before,
            "peak_reset": reset_ok,
            "peak_first_call": peak_first,
            "peak_epochs0": peak_epochs0,
            "peak_rss": peak,
            "peak_over_x": peak / nbytes,
            "increase_over_x": _over(peak, rss_after_x, nbytes),
            "first_call_increase_over_x": _over(peak_first, rss_after_x, nbytes),
            "epochs0_increase_over_x": _over(peak_epochs0, rss_after_x, nbytes),
        },
    }


def _over(peak, base, nbytes):
    return (peak - base) / nbytes if base else None


def report(results: list[dict], quick: bool, out_dir=None) -> dict:
    rows, notes = [], []
    shape = None
    for res in results:
        task = res["task"]
        be, method = task["backend"], task["method"]
        shape = f"{task['n']:,} x {task['d']}, {task['epochs']} epochs"
        if not res.get("ok"):
            rows.append(failed_row(f"fit {method}", res))
            continue
        floor, mem = res["floor_per_epoch_s"], res["memory"]
        ratio = res["per_epoch_s"] / floor
        marginal = res["marginal_per_epoch_s"] / floor
        bits = [f"{res['per_epoch_s'] * 1e3:.2f} ms/epoch all-in",
                f"loop {res['marginal_per_epoch_s'] * 1e3:.2f} ms/epoch = {marginal:.2f}x floor",
                f"floor {floor * 1e3:.2f} ms ({res['bandwidth']['bandwidth_GBps']:.1f} GB/s)"]
        if mem["increase_over_x"] is not None:
            bits.append(f"peak +{mem['increase_over_x']:.2f} X over RSS with X (epochs=0: "
                        f"+{mem['epochs0_increase_over_x']:.2f} X, first call: "
                        f"+{mem['first_call_increase_over_x']:.2f} X)"
                        + ("" if mem["peak_reset"] else " (peak not resettable)"))
        bits.append(f"ru_maxrss {mem['peak_over_x']:.2f} X")
        if be == "jax":
            bits.append(f"compile {res['first_call_s']:.2f} s, traces "
                        f"{res['trace_count_before']}->{res['trace_count_after']}")
        rows.append(row(f"fit {method}", be, res["timing"], ratio, "; ".join(bits),
                        method=method, per_epoch_s=res["per_epoch_s"],
                        marginal_per_epoch_s=res["marginal_per_epoch_s"],
                        floor_per_epoch_s=floor, ratio_marginal=marginal,
                        peak_over_x=mem["peak_over_x"], increase_over_x=mem["increase_over_x"],
                        first_call_s=res["first_call_s"], status=res["status"]))
    notes.append(f"X: {shape}; median/min/max are whole fit calls (validation, float64 "
                 "analysis passes, the loop)")
    notes.append("ratio uses the all-in time per epoch; 'loop' is the marginal epoch "
                 "(fit minus fit with epochs=0) over the same floor")
    notes.append("memory: 'peak +k X' = (peak RSS during the timed fits - RSS once X existed) "
                 "/ X.nbytes, the peak mark reset before them; 'epochs=0' = the same for the "
                 "fits with epochs=0 (validation + analysis), 'first call' includes jax's "
                 "compiler; ru_maxrss counts the whole process (interpreter, libraries, X)")
    return {"title": TITLE + (f" ({shape})" if shape else ""), "ratio": RATIO, "rows": rows,
            "notes": notes}
