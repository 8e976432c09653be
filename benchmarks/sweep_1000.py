"""sweep_1000: 1,000 learning rates x 100 epochs on the seed problem.

Baseline: the blog's torch loop run once per lr (a Python loop over 1,000
lrs).  In ``--quick`` mode the baseline times every 20th lr (50 loops) and
scales the time by 20, which the table says.  Candidates: ``gdcore.sweep`` on
numpy, torch and jax with the default ``method="auto"`` (the Gram path here)
and with ``method="direct"`` (X every epoch).  Target: >= 1,000x the baseline
for every backend with default settings.  Each gdcore call is profiled once
more (untimed) to say where inside gdcore the time goes.
"""

from __future__ import annotations

import time

from benchmarks import _common
from benchmarks._harness import hotspots, measure
from benchmarks._report import failed_row, row, scaled

__all__ = ["NAME", "RATIO", "TITLE", "plan", "report", "work"]

NAME = "sweep_1000"
TITLE = "1,000 lrs (geomspace 1e-3..1.2) x 100 epochs, seed problem, float32"
RATIO = ("speed-up vs the blog's loop run once per lr: baseline median / this median "
         "(target >= 1,000x)")
BACKENDS = ("numpy", "torch", "jax")
METHODS = ("auto", "direct")
K = 1000
EPOCHS = 100
TARGET = 1000.0
QUICK_STRIDE = 20  # --quick baseline: every 20th lr, time x 20


def lrs():
    import numpy as np

    return np.geomspace(1e-3, 1.2, K)


def plan(quick: bool, repeats: int | None = None) -> list[dict]:
    stride = QUICK_STRIDE if quick else 1
    tasks = [{"kind": "baseline", "backend": "torch", "stride": stride, "repeats": repeats or 3}]
    tasks += [{"kind": "sweep", "backend": b, "repeats": repeats or (5 if quick else 10)}
              for b in BACKENDS]
    return tasks


def _baseline(repeats, stride) -> dict:
    import gdcore

    X, y = gdcore.make_linear(n=100, seed=0, backend="torch", dtype="float32")
    subset = [float(lr) for lr in lrs()[::stride]]
    for lr in subset[:5]:  # warm-up
        _common.seed_style_loop(X, y, lr, EPOCHS)

    def all_loops(i):
        for lr in subset:
            _common.seed_style_loop(X, y, lr * (1 + 1e-6 * i), EPOCHS)

    timing = measure(all_loops, repeats=repeats, warmup=0)
    factor = K / len(subset)
    return {"timing": scaled(timing, factor), "measured": timing, "lrs_timed": len(subset),
            "scale_factor": factor}


def _sweep(backend, repeats) -> dict:
    import gdcore

    X, y = gdcore.make_linear(n=100, seed=0, backend=backend, dtype="float32")
    grid = lrs()
    out = {}
    for method in METHODS:
        def call(i, method=method):
            return gdcore.sweep(X, y, grid * (1 + 1e-6 * i), epochs=EPOCHS, backend=backend,
                                method=method)

        t0 = time.perf_counter()
        first = call(0)
        first_call_s = time.perf_counter() - t0
        before = _common.trace_count(backend)
        timing = measure(call, repeats=repeats, warmup=1)
        after = _common.trace_count(backend)
        statuses = {s: first.status.count(s) for s in sorted(set(first.status))}
        out[method] = {
            "timing": timing,
            "first_call_s": first_call_s,
            "trace_count_before": before,
            "trace_count_after": after,
            "method_used": first.method,
            "statuses": statuses,
            "best_lr": first.best_lr,
            "hotspots": hotspots(lambda: call(repeats + 2)),
        }
    return {"methods": out}


def work(kind, backend, repeats, stride=1) -> dict:
    info = _common.import_backend(backend)
    res = _baseline(repeats, stride) if kind == "baseline" else _sweep(backend, repeats)
    return {"versions": info, **res}


def report(results: list[dict], quick: bool, out_dir=None) -> dict:
    base = next((r for r in results if r["task"]["kind"] == "baseline"), None)
    base_ok = base is not None and base.get("ok")
    base_t = base["timing"]["median_s"] if base_ok else None
    rows, notes, misses = [], [], []
    for res in results:
        kind, be = res["task"]["kind"], res["task"]["backend"]
        if kind == "baseline":
            if not res.get("ok"):
                rows.append(failed_row("blog loop x 1000 lrs", res))
                continue
            note = "1,000 loops timed"
            if res["scale_factor"] != 1:
                note = (f"SCALED: {res['lrs_timed']} of 1,000 lrs timed "
                        f"({res['measured']['median_s']:.2f} s) x {res['scale_factor']:g}")
            rows.append(row("blog loop x 1000 lrs", "torch (autograd)", res["timing"], 1.0, note,
                            scaled=res["scale_factor"] != 1, scale_factor=res["scale_factor"]))
            continue
        if not res.get("ok"):
            rows.append(failed_row("gdcore.sweep", res))
            continue
        for method, m in res["methods"].items():
            t = m["timing"]
            ratio = base_t / t["median_s"] if base_t else None
            label = f"sweep method={method}"
            if method == "auto":
                label += f" ({m['method_used']})"
            bits = []
            if ratio is not None and method == "auto":
                met = ratio >= TARGET
                bits.append("target MET" if met else f"target MISSED (< {TARGET:,.0f}x)")
                if not met:
                    misses.append(f"{be}: {ratio:,.0f}x")
            if be == "jax":
                recompiled = m["trace_count_after"] != m["trace_count_before"]
                bits.append(f"compile {m['first_call_s']:.2f} s, traces "
                            f"{m['trace_count_before']}->{m['trace_count_after']}"
                            + (" RECOMPILED" if recompiled else ""))
            if m["hotspots"]:
                h = m["hotspots"][0]
                bits.append(f"profile: {h['share']:.0%} in {h['function']}")
            rows.append(row(label, be, t, ratio, "; ".join(bits), method=method,
                            method_used=m["method_used"], first_call_s=m["first_call_s"],
                            trace_count_before=m["trace_count_before"],
                            trace_count_after=m["trace_count_after"], statuses=m["statuses"],
                            hotspots=m["hotspots"], target_met=(ratio or 0) >= TARGET))
    if base_ok and base["scale_factor"] != 1:
        notes.append(f"--quick: the baseline timed {base['lrs_timed']} lrs (every "
                     f"{QUICK_STRIDE}th) and was scaled linearly to 1,000")
    notes.append("gdcore rows: one call for all 1,000 lrs, new lrs every call (same shapes)")
    notes.append("profile = largest share of one profiled call spent in a gdcore function "
                 "(cProfile, indicative)")
    if misses:
        notes.append("1,000x target missed with default settings: " + ", ".join(misses))
    return {"title": TITLE, "ratio": RATIO, "rows": rows, "notes": notes,
            "target": TARGET, "target_missed": misses}
