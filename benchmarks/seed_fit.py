"""seed_fit: the seed problem, one lr, 100 epochs: the blog's torch loop vs ``gdcore.fit``.

Problem: ``make_linear(n=100, seed=0)`` in float32, lr=0.1, 100 epochs, both
starting from the blog's first guess w0 = (-1, 1).  Baseline: the original
code's loop (``nn.Parameter``, ``loss.backward()``, in-place step under
``no_grad``).  Candidates: ``gdcore.fit`` on every backend, data in the
backend's own arrays.  Every timed call uses a new lr (0.1 * (1 + 1e-6 i)), so
jax's timed calls prove that a new lr does not recompile (``trace_count``
before and after).
"""

from __future__ import annotations

import time

from benchmarks import _common
from benchmarks._harness import measure
from benchmarks._report import failed_row, row

__all__ = ["NAME", "RATIO", "TITLE", "plan", "report", "work"]

NAME = "seed_fit"
TITLE = "seed problem (n=100, float32), lr=0.1, 100 epochs: blog's torch loop vs gdcore.fit"
RATIO = "speed-up vs the blog's loop: baseline median / this median (higher is faster)"
BACKENDS = ("numpy", "torch", "jax", "array-api-strict")
LR = 0.1
EPOCHS = 100


def plan(quick: bool, repeats: int | None = None) -> list[dict]:
    r = repeats or (15 if quick else 50)
    tasks = [{"kind": "baseline", "backend": "torch", "repeats": r}]
    tasks += [{"kind": "fit", "backend": b, "repeats": r} for b in BACKENDS]
    return tasks


def work(kind, backend, repeats) -> dict:
    info = _common.import_backend(backend)
    import gdcore

    X, y = gdcore.make_linear(n=100, seed=0, backend=backend, dtype="float32")
    if kind == "baseline":
        def call(i, epochs=EPOCHS):
            return _common.seed_style_loop(X, y, LR * (1 + 1e-6 * i), epochs)
    else:
        def call(i, epochs=EPOCHS):
            return gdcore.fit(X, y, lr=LR * (1 + 1e-6 * i), epochs=epochs, backend=backend,
                              w0=_common.SEED_W0)

    t0 = time.perf_counter()
    first = call(0)
    first_call_s = time.perf_counter() - t0
    call(0, epochs=0)  # jax: compile the 0-epoch program before counting traces
    traces_before = _common.trace_count(backend)
    overhead = measure(lambda i: call(i, epochs=0), repeats=repeats, warmup=1)
    timing = measure(call, repeats=repeats, warmup=1)
    traces_after = _common.trace_count(backend)
    if kind == "baseline":
        weights, status = first, None
    else:
        weights, status = first.weights, first.status
    return {
        "versions": info,
        "timing": timing,
        "overhead_epochs0": overhead,
        "first_call_s": first_call_s,
        "per_epoch_s": timing["median_s"] / EPOCHS,
        "marginal_per_epoch_s": (timing["median_s"] - overhead["median_s"]) / EPOCHS,
        "trace_count_before": traces_before,
        "trace_count_after": traces_after,
        "weights": _common.host(weights).astype(float).tolist(),
        "status": status,
    }


def report(results: list[dict], quick: bool, out_dir=None) -> dict:
    base = next((r for r in results if r["task"]["kind"] == "baseline"), None)
    base_ok = base is not None and base.get("ok")
    base_t = base["timing"]["median_s"] if base_ok else None
    rows, notes = [], []
    for res in results:
        kind, be = res["task"]["kind"], res["task"]["backend"]
        name = "blog loop (baseline)" if kind == "baseline" else "gdcore.fit"
        if not res.get("ok"):
            rows.append(failed_row(name, res))
            continue
        t = res["timing"]
        ratio = base_t / t["median_s"] if base_t else None
        bits = [f"{res['per_epoch_s'] * 1e6:.1f} us/epoch",
                f"marginal {res['marginal_per_epoch_s'] * 1e6:.1f} us/epoch"]
        extra = {}
        if be == "jax" and kind == "fit":
            recompiled = res["trace_count_after"] != res["trace_count_before"]
            bits.append(f"compile (1st call) {res['first_call_s']:.2f} s")
            bits.append(f"traces {res['trace_count_before']}->{res['trace_count_after']}"
                        + (" RECOMPILED" if recompiled else " (no recompile)"))
            extra = {"compile_s": res["first_call_s"], "recompiled": recompiled}
        if base_ok and kind == "fit":
            dw = max(abs(a - b) for a, b in zip(res["weights"], base["weights"]))
            bits.append(f"|w - w_blog| {dw:.1e}")
            extra["max_abs_weight_diff_vs_baseline"] = dw
        rows.append(row(name, be if kind == "fit" else "torch (autograd)", t, ratio,
                        "; ".join(bits), per_epoch_s=res["per_epoch_s"],
                        marginal_per_epoch_s=res["marginal_per_epoch_s"],
                        overhead_s=res["overhead_epochs0"]["median_s"],
                        first_call_s=res["first_call_s"], status=res.get("status"), **extra))
    notes.append("per epoch = median fit time / 100 (all-in: validation, analysis, loop); marginal "
                 "= (median - median of the same call with epochs=0) / 100 (the loop alone)")
    notes.append("jax: run times are later calls with new lrs, same shapes, after the first "
                 "(compiling) call")
    return {"title": TITLE, "ratio": RATIO, "rows": rows, "notes": notes}
