"""scaling: ``gdcore.sweep`` time against n (at K=100 lrs) and against K (at n=1,000).

Seed-style data (``make_linear(n, seed=0)``, float32, d=2), lrs
``geomspace(1e-3, 1.2, K)``, 100 epochs, default ``method="auto"``.  Each
backend runs every point in its own worker; a point's time is the median of
at least 3 calls (more while they add up to under ``min_time``), with new lrs
on every call; jax's first call per shape (the compile) is recorded apart.
The table's ratio is the time over numpy's at the same point; the notes give
the log-log slope of each series.  The figure goes to ``scaling.png`` next to
the JSON results.
"""

from __future__ import annotations

import math
import time

from benchmarks import _common
from benchmarks._harness import measure
from benchmarks._report import failed_row, row

__all__ = ["NAME", "RATIO", "TITLE", "plan", "report", "work"]

NAME = "scaling"
TITLE = "gdcore.sweep time vs n (K=100) and vs K (n=1,000), 100 epochs, float32, method='auto'"
RATIO = "time / numpy's time at the same point (numpy = 1x; lower is faster)"
BACKENDS = ("numpy", "torch", "jax")
EPOCHS = 100
K_AT = 100
N_AT = 1000


def plan(quick: bool, repeats: int | None = None) -> list[dict]:
    ns = [1_000, 10_000, 100_000] + ([] if quick else [1_000_000])
    ks = [1, 10, 100, 1_000, 10_000]
    return [{"backend": b, "ns": ns, "ks": ks, "repeats": repeats or 3,
             "min_time": 0.3 if quick else 1.0} for b in BACKENDS]


def _point(backend, n, k, repeats, min_time) -> dict:
    import gdcore
    import numpy as np

    X, y = gdcore.make_linear(n=n, seed=0, backend=backend, dtype="float32")
    grid = np.geomspace(1e-3, 1.2, k)

    def call(i):
        return gdcore.sweep(X, y, grid * (1 + 1e-6 * i), epochs=EPOCHS, backend=backend)

    t0 = time.perf_counter()
    first = call(0)
    first_call_s = time.perf_counter() - t0
    before = _common.trace_count(backend)
    # a point that takes seconds is timed fewer times (never less than 2)
    reps = repeats if first_call_s < 2.0 else min(repeats, 2)
    timing = measure(call, repeats=reps, warmup=0, min_time=min_time, max_repeats=25)
    after = _common.trace_count(backend)
    return {"n": n, "K": k, "timing": timing, "first_call_s": first_call_s,
            "trace_count_before": before, "trace_count_after": after, "method": first.method}


def work(backend, ns, ks, repeats, min_time) -> dict:
    info = _common.import_backend(backend)
    by_n = [_point(backend, n, K_AT, repeats, min_time) for n in ns]
    by_k = [_point(backend, N_AT, k, repeats, min_time) for k in ks]
    return {"versions": info, "by_n": by_n, "by_K": by_k}


def slope(xs, ts) -> float | None:
    """Least-squares slope of log(t) against log(x)."""
    pts = [(math.log(x), math.log(t)) for x, t in zip(xs, ts) if t and t > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx


def report(results: list[dict], quick: bool, out_dir=None) -> dict:
    ok = [r for r in results if r.get("ok")]
    ref = {}
    for r in ok:
        if r["task"]["backend"] == "numpy":
            ref = {(p["n"], p["K"]): p["timing"]["median_s"] for p in r["by_n"] + r["by_K"]}
    rows, notes, slopes = [], [], {}
    for res in results:
        be = res["task"]["backend"]
        if not res.get("ok"):
            rows.append(failed_row("sweep", res))
            continue
        for series, key in (("by_n", "n"), ("by_K", "K")):
            pts = res[series]
            s = slope([p[key] for p in pts], [p["timing"]["median_s"] for p in pts])
            slopes[f"{be} vs {key}"] = s
            for p in pts:
                t = p["timing"]
                base = ref.get((p["n"], p["K"]))
                bits = [f"method {p['method']}"]
                if be == "jax":
                    bits.append(f"compile {p['first_call_s']:.2f} s")
                    if p["trace_count_after"] != p["trace_count_before"]:
                        bits.append("RECOMPILED on a new lr")
                rows.append(row(f"sweep n={p['n']:,} K={p['K']:,}", be, t,
                                t["median_s"] / base if base else None, "; ".join(bits),
                                series=key, n=p["n"], K=p["K"], first_call_s=p["first_call_s"]))
    notes.append("log-log slopes (1 = linear, 0 = flat): " + ", ".join(
        f"{k} {v:.2f}" for k, v in slopes.items() if v is not None))
    plot = _plot(ok, out_dir) if out_dir is not None and ok else None
    if plot:
        notes.append(f"figure: {plot}")
    return {"title": TITLE, "ratio": RATIO, "rows": rows, "notes": notes, "slopes": slopes,
            "figure": plot}


def _plot(results, out_dir):
    """Log-log figure of both series, one line per backend; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for ax, (series, key, fixed) in zip(
        axes, (("by_n", "n", f"K = {K_AT} lrs"), ("by_K", "K", f"n = {N_AT:,}"))
    ):
        for res in results:
            pts = res[series]
            xs = [p[key] for p in pts]
            med = [p["timing"]["median_s"] for p in pts]
            lo = [p["timing"]["min_s"] for p in pts]
            hi = [p["timing"]["max_s"] for p in pts]
            line, = ax.plot(xs, med, "o-", label=res["task"]["backend"])
            ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
        lows = [p["timing"]["min_s"] for r in results for p in r[series]]
        highs = [p["timing"]["max_s"] for r in results for p in r[series]]
        ref = results[0][series]
        x0, t0 = ref[0][key], ref[0]["timing"]["median_s"]
        xs = [p[key] for p in ref]
        ax.plot(xs, [t0 * x / x0 for x in xs], "k:", linewidth=1, label="linear (slope 1)")
        ax.set_ylim(min(lows) / 1.5, max(highs) * 1.5)  # the guide line may leave the frame
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("n (rows of X)" if key == "n" else "K (learning rates)")
        ax.set_ylabel("sweep time per call (s)")
        ax.set_title(f"sweep time vs {key} ({fixed}, {EPOCHS} epochs, float32)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    path = out_dir / "scaling.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
