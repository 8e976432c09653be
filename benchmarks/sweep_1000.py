"""sweep_1000: 1,000 learning rates x 100 epochs on the seed problem.

Baseline: the blog's torch loop run once per lr (a Python loop over 1,000
lrs).  In ``--quick`` mode the baseline times every 20th lr (50 loops) and
scales the time by 20, which the table says.  Candidates: ``gdcore.sweep`` on
numpy, torch and jax with the default ``method="auto"`` (the Gram path here)
and with ``method="direct"`` (X every epoch).  Target: >= 1,000x the baseline
for every backend with default settings.  Each gdcore call is profiled once
more (untimed) to say where inside gdcore the time goes.

Peers (:mod:`benchmarks._peers`): the best hand-written sweeps a user would
write with each library, each in its own worker and checked against gdcore's
weights.  Every gdcore row gets a second ratio, against the fastest peer of its
backend measured in the same run.
"""

from __future__ import annotations

import time

from benchmarks import _common
from benchmarks._harness import hotspots, measure
from benchmarks._peers import PEERS
from benchmarks._report import failed_row, fmt_ratio, row, scaled

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
CHECK_LR = 0.1  # the peers' weights are compared with gdcore's at the grid lr nearest this
PEER_TOL = 1e-3  # float32: a peer whose weights differ more from gdcore's fails its worker
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def lrs():
    import numpy as np

    return np.geomspace(1e-3, 1.2, K)


def plan(quick: bool, repeats: int | None = None) -> list[dict]:
    stride = QUICK_STRIDE if quick else 1
    tasks = [{"kind": "baseline", "backend": "torch", "stride": stride, "repeats": repeats or 3}]
    tasks += [{"kind": "sweep", "backend": b, "repeats": repeats or (5 if quick else 10)}
              for b in BACKENDS]
    tasks += [{"kind": "peer", "backend": be, "peer": name,
               "repeats": repeats or (5 if quick else 10)} for name, (be, *_rest) in PEERS.items()]
    return tasks


def _compile_counter():
    """jax: a list that records the duration of every XLA compilation from now on."""
    import jax

    seen = []

    def listener(event, duration, **_kw):
        if event == COMPILE_EVENT:
            seen.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    return seen


def _peer(peer, repeats) -> dict:
    import importlib.util

    import gdcore
    import numpy as np

    backend, package, setup, label = PEERS[peer]
    if importlib.util.find_spec(package) is None:
        return {"skipped": f"{package} is not installed (benchmark-only dependency)"}
    X, y = gdcore.make_linear(n=100, seed=0, backend="numpy", dtype="float32")
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.float32)
    grid = lrs()
    run = setup(X, y, EPOCHS)
    t0 = time.perf_counter()
    W = run(grid)
    first_call_s = time.perf_counter() - t0
    timing = measure(lambda i: run(grid * (1 + 1e-6 * i)), repeats=repeats, warmup=1)
    # correctness: the final weights at a converging lr against gdcore's on the same backend
    i = int(np.argmin(np.abs(grid - CHECK_LR)))
    ref = gdcore.sweep(X, y, grid, epochs=EPOCHS, backend=backend)
    ref_w = np.asarray(_common.host(ref.weights[i]), dtype=np.float64)
    diff = float(np.max(np.abs(np.asarray(W[:, i], dtype=np.float64) - ref_w)))
    if not diff <= PEER_TOL:
        raise AssertionError(f"{peer}: max |w - gdcore's w| = {diff:.3g} at lr={grid[i]:.3g} "
                             f"(status {ref.status[i]}) exceeds {PEER_TOL:g}")
    return {"timing": timing, "first_call_s": first_call_s, "label": label,
            "max_abs_diff": diff, "check_lr": float(grid[i]), "check_status": ref.status[i]}


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
    compiles = _compile_counter() if backend == "jax" else None
    out = {}
    for method in METHODS:
        def call(i, method=method):
            return gdcore.sweep(X, y, grid * (1 + 1e-6 * i), epochs=EPOCHS, backend=backend,
                                method=method)

        if compiles is not None:
            compiles.clear()
        t0 = time.perf_counter()
        first = call(0)
        first_call_s = time.perf_counter() - t0
        first_compiles = None if compiles is None else list(compiles)
        before = _common.trace_count(backend)
        timing = measure(call, repeats=repeats, warmup=1)
        after = _common.trace_count(backend)
        statuses = {s: first.status.count(s) for s in sorted(set(first.status))}
        out[method] = {
            "timing": timing,
            "first_call_s": first_call_s,
            "first_call_compiles": None if first_compiles is None else len(first_compiles),
            "first_call_compile_s": None if first_compiles is None else sum(first_compiles),
            "trace_count_before": before,
            "trace_count_after": after,
            "method_used": first.method,
            "statuses": statuses,
            "best_lr": first.best_lr,
            "hotspots": hotspots(lambda: call(repeats + 2)),
        }
    return {"methods": out}


def work(kind, backend, repeats, stride=1, peer=None) -> dict:
    info = _common.import_backend(backend)
    if kind == "baseline":
        res = _baseline(repeats, stride)
    elif kind == "peer":
        res = _peer(peer, repeats)
    else:
        res = _sweep(backend, repeats)
    return {"versions": info, **res}


def _best_peers(results) -> dict:
    """backend -> (median, label) of its fastest peer that ran in this run."""
    best = {}
    for res in results:
        if res["task"]["kind"] != "peer" or not res.get("ok") or res.get("skipped"):
            continue
        be, t = res["task"]["backend"], res["timing"]["median_s"]
        if be not in best or t < best[be][0]:
            best[be] = (t, res["label"])
    return best


def report(results: list[dict], quick: bool, out_dir=None) -> dict:
    base = next((r for r in results if r["task"]["kind"] == "baseline"), None)
    base_ok = base is not None and base.get("ok")
    base_t = base["timing"]["median_s"] if base_ok else None
    rows, notes, misses = [], [], []
    best = _best_peers(results)
    for res in results:
        kind, be = res["task"]["kind"], res["task"]["backend"]
        if kind == "peer":
            label = PEERS[res["task"]["peer"]][3]
            if not res.get("ok") or res.get("skipped"):
                rows.append(failed_row(f"peer: {label}", res))
                continue
            t = res["timing"]
            bits = [f"max|w - gdcore| {res['max_abs_diff']:.1e} at lr {res['check_lr']:.3g}"]
            if be == "jax":
                bits.append(f"first call (compile) {res['first_call_s']:.2f} s")
            if res.get("background_cpu") is not None:
                bits.append(f"load {res['background_cpu']:.0%}")
            rows.append(row(f"peer: {label}", be, t, base_t / t["median_s"] if base_t else None,
                            "; ".join(bits), peer=res["task"]["peer"],
                            max_abs_diff=res["max_abs_diff"], first_call_s=res["first_call_s"],
                            background_cpu=res.get("background_cpu")))
            continue
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
            peer_t, peer_label = best.get(be, (None, None))
            vs_peer = peer_t / t["median_s"] if peer_t else None
            if vs_peer is not None:
                bits.append(f"vs best peer ({peer_label}) {fmt_ratio(vs_peer)}")
            if ratio is not None and method == "auto":
                met = ratio >= TARGET
                bits.append("target MET" if met else f"target MISSED (< {TARGET:,.0f}x)")
                if not met:
                    misses.append(f"{be}: {ratio:,.0f}x")
            if be == "jax":
                recompiled = m["trace_count_after"] != m["trace_count_before"]
                n_comp = m.get("first_call_compiles")
                if n_comp is not None:
                    bits.append(f"first call {n_comp} XLA compiles "
                                f"({m['first_call_compile_s']:.2f} s compiling)")
                bits.append(f"compile {m['first_call_s']:.2f} s, traces "
                            f"{m['trace_count_before']}->{m['trace_count_after']}"
                            + (" RECOMPILED" if recompiled else ""))
            if m["hotspots"]:
                h = m["hotspots"][0]
                bits.append(f"profile: {h['share']:.0%} in {h['function']}")
            if res.get("background_cpu") is not None:
                bits.append(f"load {res['background_cpu']:.0%}")
            rows.append(row(label, be, t, ratio, "; ".join(bits), method=method,
                            ratio_vs_peer=vs_peer, best_peer=peer_label,
                            first_call_compiles=m.get("first_call_compiles"),
                            first_call_compile_s=m.get("first_call_compile_s"),
                            method_used=m["method_used"], first_call_s=m["first_call_s"],
                            trace_count_before=m["trace_count_before"],
                            trace_count_after=m["trace_count_after"], statuses=m["statuses"],
                            hotspots=m["hotspots"], target_met=(ratio or 0) >= TARGET))
    if base_ok and base["scale_factor"] != 1:
        notes.append(f"--quick: the baseline timed {base['lrs_timed']} lrs (every "
                     f"{QUICK_STRIDE}th) and was scaled linearly to 1,000")
    notes.append("gdcore rows: one call for all 1,000 lrs, new lrs every call (same shapes)")
    notes.append("vs best peer = the fastest hand-written peer of the row's backend in this run: "
                 "peer median / gdcore median (> 1: gdcore is faster)")
    notes.append("profile = largest share of one profiled call spent in a gdcore function "
                 "(cProfile, indicative)")
    if misses:
        notes.append("1,000x target missed with default settings: " + ", ".join(misses))
    return {"title": TITLE, "ratio": RATIO, "rows": rows, "notes": notes,
            "target": TARGET, "target_missed": misses}
