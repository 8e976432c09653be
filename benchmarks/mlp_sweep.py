"""mlp_sweep: 64 learning rates x 500 epochs of a 1-100-1 tanh MLP: one ``sweep`` vs a loop of ``fit``.

Problem: ``x = linspace(-1, 1, 100)``, ``y = sin(3 x)``, float32, the model
``gdcore.models.mlp((100,), "tanh", seed=0)`` (301 parameters),
64 lrs ``geomspace(1e-3, 0.08)`` (0.02 to 1.46 x 2/lambda_0 = 0.055 here:
every run lives the 500 epochs, so both sides do the same epochs; a diverged
run would stop a ``fit`` early but keep its slot in a sweep).  Candidates: one
``gdcore.sweep(model=...)`` of the 64 lrs; baseline: a Python loop of 64
``gdcore.fit(model=...)`` calls on the same backend (``--quick``: 16 of the
lrs on numpy/torch/jax, 8 on array-api-strict, time scaled to 64, marked
SCALED).  Every backend runs in its own worker; sweep and loop of one backend
share it.  Targets (issue 13): sweep/loop >= 5x on numpy and torch, >= 1.5x on
jax; array-api-strict is reported without a target.

Both ``sweep`` and ``fit`` with a model measure lambda_0 (Lanczos, 30
Hessian-vector products) once per call, so the loop pays it 64 times and the
sweep once: part of the honest comparison (it is what a user's loop costs),
but the worker also times ``gdcore.stability`` (data preparation + lambda_0)
and ``fit(epochs=0)`` (every fixed cost of a call) on their own, and the
report gives the speed-up without them.
"""

from __future__ import annotations

import os
import time

from benchmarks import _common
from benchmarks._harness import hotspots, measure
from benchmarks._report import failed_row, row, scaled

__all__ = ["NAME", "RATIO", "TITLE", "plan", "report", "work"]

NAME = "mlp_sweep"
TITLE = ("1-100-1 tanh MLP, n=100 (sin 3x), float32: 64 lrs x 500 epochs, one sweep(model=) vs a "
         "loop of 64 fit(model=)")
RATIO = "speed-up: loop of 64 fit / one sweep, same backend (targets: numpy, torch >= 5x; jax >= 1.5x)"
BACKENDS = ("numpy", "torch", "jax", "array-api-strict")
TARGETS = {"numpy": 5.0, "torch": 5.0, "jax": 1.5}
K = 64
EPOCHS = 500
N = 100
HIDDEN = (100,)
SEED = 0
# --quick: (lrs timed in the loop, repeats); array-api-strict's sweep alone takes ~5-10 s
QUICK = {"array-api-strict": (4, 1)}


def lrs():
    import numpy as np

    return np.geomspace(1e-3, 0.08, K)


def plan(quick: bool, repeats: int | None = None) -> list[dict]:
    tasks = []
    for b in BACKENDS:
        loop_lrs, r = QUICK.get(b, (16, 3)) if quick else (K, 5)
        tasks.append({"kind": "mlp", "backend": b, "repeats": repeats or r, "loop_lrs": loop_lrs})
    return tasks


def _data(backend):
    import numpy as np

    x = np.linspace(-1.0, 1.0, N, dtype=np.float32)
    y = np.sin(3.0 * x).astype(np.float32)
    return _common.native(np.ascontiguousarray(x[:, None]), backend), _common.native(y, backend)


def work(kind, backend, repeats, loop_lrs) -> dict:
    info = _common.import_backend(backend)
    import gdcore
    import numpy as np

    X, y = _data(backend)
    model = gdcore.models.mlp(HIDDEN, "tanh", seed=SEED)
    grid = lrs()
    subset = grid[:: K // loop_lrs][:loop_lrs]

    def sweep(i, epochs=EPOCHS):
        return gdcore.sweep(X, y, grid * (1 + 1e-6 * i), epochs=epochs, model=model,
                            backend=backend, dtype="float32")

    def fit(lr, i=0, epochs=EPOCHS):
        return gdcore.fit(X, y, lr=float(lr) * (1 + 1e-6 * i), epochs=epochs, model=model,
                          backend=backend, dtype="float32")

    def loop(i):
        return [fit(lr, i) for lr in subset]

    t0 = time.perf_counter()
    first = sweep(0)
    first_sweep_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    first_fits = loop(0)
    first_loop_s = time.perf_counter() - t0
    traces_before = _common.trace_count(backend)
    c0 = os.times()
    sweep_t = measure(sweep, repeats=repeats, warmup=0)
    c1 = os.times()
    loop_t = measure(loop, repeats=repeats, warmup=0)
    c2 = os.times()
    traces_after = _common.trace_count(backend)
    # the fixed costs of one call: lambda_0 alone (stability) and a fit of 0 epochs
    lam_t = measure(lambda i: gdcore.stability(X, y, model=model, backend=backend,
                                               dtype="float32"), repeats=max(5, repeats), warmup=1)
    fit0_t = measure(lambda i: fit(subset[0], i, epochs=0), repeats=max(5, repeats), warmup=1)
    sweep0_t = measure(lambda i: sweep(i, epochs=0), repeats=max(3, repeats), warmup=1)
    # process CPU seconds per sweep and per fit over the timed calls (system: allocator page faults)
    sweep_cpu = (sweep_t["median_s"], (c1.user - c0.user) / repeats,
                 (c1.system - c0.system) / repeats)
    per_fit = repeats * len(subset)
    fit_cpu = (loop_t["median_s"] / len(subset), (c2.user - c1.user) / per_fit,
               (c2.system - c1.system) / per_fit)
    # statuses: the loop's runs against the sweep's runs at the same lrs
    idx = [int(np.argmin(np.abs(grid - lr))) for lr in subset]
    agree = sum(f.status == first.status[j] for f, j in zip(first_fits, idx))
    return {
        "versions": info,
        "sweep": sweep_t,
        "loop": scaled(loop_t, K / len(subset)),
        "loop_measured": loop_t,
        "loop_lrs": len(subset),
        "scale_factor": K / len(subset),
        "stability": lam_t,
        "fit_epochs0": fit0_t,
        "sweep_epochs0": sweep0_t,
        "first_sweep_s": first_sweep_s,
        "first_loop_s": first_loop_s,
        "sweep_cpu": dict(zip(("wall_s", "user_s", "sys_s"), sweep_cpu)),  # per sweep
        "fit_cpu": dict(zip(("wall_s", "user_s", "sys_s"), fit_cpu)),  # per fit
        "trace_count_before": traces_before,
        "trace_count_after": traces_after,
        "lambda_0": first.stability.lambda_max,
        "lr_crit": first.stability.lr_crit,
        "statuses": {s: first.status.count(s) for s in sorted(set(first.status))},
        "status_agree": agree,
        "sweep_hotspots": hotspots(lambda: sweep(repeats + 2), top=12),
        "fit_hotspots": hotspots(lambda: fit(subset[0], repeats + 2), top=12),
    }


WRAPPERS = ("_sweep.py:sweep", "_fit.py:fit", "_pipeline.py:begin", "_engine.py:execute",
            "core/_loop.py:drive", "core/_loop.py:while_loop", "backends/_base.py:run")


def _profile_note(spots) -> str:
    """Shares of one profiled call: lambda_0 (``_pipeline.sharpness``), the epochs (``run``), the top inner one."""
    by = {h["function"]: h["share"] for h in spots}
    bits = []
    lam = next((v for f, v in by.items() if f.endswith("_pipeline.py:sharpness")), None)
    if lam is not None:
        bits.append(f"{lam:.0%} lambda_0")
    runs = next((v for f, v in by.items() if f.endswith(":run")), None)
    if runs is not None:
        bits.append(f"{runs:.0%} epochs")
    inner = next((h for h in spots if h["function"] not in WRAPPERS
                  and not h["function"].endswith(("_pipeline.py:sharpness", ":run"))), None)
    if inner is not None:
        bits.append(f"top {inner['share']:.0%} {inner['function']}")
    return "profile: " + ", ".join(bits) if bits else ""


def report(results: list[dict], quick: bool, out_dir=None) -> dict:
    rows, notes, misses = [], [], []
    for res in results:
        be = res["task"]["backend"]
        if not res.get("ok"):
            rows.append(failed_row("sweep K=64", res))
            continue
        sw, lp = res["sweep"], res["loop"]
        ratio = lp["median_s"] / sw["median_s"]
        lam = res["stability"]["median_s"]
        fixed = res["fit_epochs0"]["median_s"]
        # without lambda_0: the loop pays it K times, the sweep once
        ratio_nolam = (lp["median_s"] - K * lam) / (sw["median_s"] - lam)
        ratio_epochs = (lp["median_s"] - K * fixed) / (sw["median_s"] - res["sweep_epochs0"]["median_s"])
        sc, fc = res["sweep_cpu"], res["fit_cpu"]
        cpu_sweep, cpu_fit = sc["user_s"] + sc["sys_s"], fc["user_s"] + fc["sys_s"]
        ratio_cpu = K * cpu_fit / cpu_sweep if cpu_sweep > 0 else None
        bits = [f"{ratio_nolam:.2f}x without lambda_0, {ratio_epochs:.2f}x epochs only "
                f"(both sides less their epochs=0 call)"]
        if ratio_cpu is not None:
            bits.append(f"{ratio_cpu:.2f}x in process CPU seconds (64 x per fit / per sweep)")
        target = TARGETS.get(be)
        met = None
        if target is not None:
            met = ratio >= target
            bits.append(f"target {target:g}x {'MET' if met else 'MISSED'}")
            if not met:
                misses.append(f"{be}: {ratio:.2f}x < {target:g}x")
        bits.append(f"lambda_0 (stability) {lam * 1e3:.1f} ms = {lam / sw['median_s']:.1%} of the "
                    f"sweep, {K * lam / lp['median_s']:.0%} of the loop")
        c = res["sweep_cpu"]
        bits.append(f"CPU per sweep user {c['user_s']:.2f} s sys {c['sys_s']:.2f} s")
        if res["sweep_hotspots"]:
            bits.append(_profile_note(res["sweep_hotspots"]))
        if be == "jax":
            rec = res["trace_count_after"] != res["trace_count_before"]
            bits.append(f"first sweep (compile) {res['first_sweep_s']:.2f} s, traces "
                        f"{res['trace_count_before']}->{res['trace_count_after']}"
                        + (" RECOMPILED" if rec else ""))
        if res.get("background_cpu") is not None:
            bits.append(f"load {res['background_cpu']:.0%}")
        rows.append(row("sweep K=64", be, sw, ratio, "; ".join(bits), target=target,
                        target_met=met, ratio_without_lambda0=ratio_nolam,
                        ratio_epochs_only=ratio_epochs, ratio_cpu=ratio_cpu, lambda0_s=lam, fit_epochs0_s=fixed,
                        sweep_epochs0_s=res["sweep_epochs0"]["median_s"],
                        lambda_0=res["lambda_0"], statuses=res["statuses"],
                        sweep_cpu=res["sweep_cpu"], hotspots=res["sweep_hotspots"]))
        lbits = []
        if res["scale_factor"] != 1:
            lbits.append(f"SCALED: {res['loop_lrs']} of 64 lrs timed "
                         f"({res['loop_measured']['median_s']:.2f} s) x {res['scale_factor']:g}")
        lbits.append(f"per fit {lp['median_s'] / K * 1e3:.1f} ms, of which fit(epochs=0) "
                     f"{fixed * 1e3:.1f} ms")
        c = res["fit_cpu"]
        lbits.append(f"CPU per fit user {c['user_s']:.3f} s sys {c['sys_s']:.3f} s")
        if res["fit_hotspots"]:
            lbits.append(_profile_note(res["fit_hotspots"]))
        lbits.append(f"statuses agree with the sweep {res['status_agree']}/{res['loop_lrs']}")
        rows.append(row("loop of 64 fit (baseline)", be, lp, 1.0, "; ".join(lbits),
                        scaled=res["scale_factor"] != 1, scale_factor=res["scale_factor"],
                        hotspots=res["fit_hotspots"]))
    ok = [r for r in results if r.get("ok")]
    if ok:
        r0 = ok[0]
        notes.append(f"lambda_0 = {r0['lambda_0']:.4g} (2/lambda_0 = {r0['lr_crit']:.4g}); sweep "
                     f"statuses {r0['statuses']} (every run lives the 500 epochs)")
    notes.append("ratio = loop median (scaled to 64 lrs where marked) / sweep median; 'without "
                 "lambda_0' subtracts stability()'s median once from the sweep and 64 times from "
                 "the loop; 'epochs only' subtracts each side's epochs=0 call instead; 'process "
                 "CPU seconds' (user + system over the timed calls) is less disturbed by other "
                 "load than wall time")
    notes.append("both sweep and every fit measure lambda_0 by Lanczos (30 Hessian-vector "
                 "products): the loop pays it 64 times, which is part of the comparison")
    if misses:
        notes.append("targets missed: " + ", ".join(misses))
    return {"title": TITLE, "ratio": RATIO, "rows": rows, "notes": notes,
            "targets": TARGETS, "target_missed": misses}

