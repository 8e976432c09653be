#!/usr/bin/env python
"""Run the same fit and sweep on every installed backend and device; compare with numpy.

For every problem and dtype (float32 and float64) this runs ``gdcore.fit``
(three learning rates: 0.1, 0.7 and 1.1 times ``lr_crit``) and ``gdcore.sweep``
(a grid of lrs, with the default ``method="auto"`` and with ``"direct"``) on
numpy, torch, jax and array-api-strict on the CPU, and on torch ``cuda`` and jax
``gpu`` when a GPU is present.  It prints, per backend and device, the largest
differences from numpy and the timings, and exits with status 1 when a backend
disagrees beyond tolerance:

* weights: ``max|w - w_numpy| / max|w_numpy|`` per run <= rtol
* losses: ``max |L - L_numpy| / |L_numpy|`` over every recorded epoch <= rtol, and
  ``nan`` (stopped run) at the same epochs
* statuses identical, converged/diverged epochs within one epoch (rounding at
  the threshold)

with ``rtol = 4 * sqrt(eps(dtype))`` (1.4e-3 for float32, 6e-8 for float64).
Learning rates within 5% of ``lr_crit`` are left out of the grid: there the
status legitimately depends on rounding.  This script holds no library logic.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import statistics
import sys
import time

import numpy as np

import gdcore
from gdcore.testing import default_rtol

EPOCH_SLACK = 1

BACKENDS = ("numpy", "torch", "jax", "array-api-strict")
PACKAGES = {"numpy": "numpy", "torch": "torch", "jax": "jax",
            "array-api-strict": "array_api_strict"}


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Compare gdcore's fit and sweep across every installed backend and device "
                    "against numpy; exit 1 when they disagree beyond rtol = 4*sqrt(eps(dtype)).",
    )
    p.add_argument("--quick", action="store_true",
                   help="small run: the seed problem only, 60 epochs, 10 lrs, one timed call")
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                   choices=["float32", "float64"], help="dtypes to compare (default: both)")
    p.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS,
                   help="backends to run (default: every installed one; numpy is the reference)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs per run (default 100, --quick 60)")
    p.add_argument("--lrs", type=int, default=None,
                   help="learning rates in the sweep grid (default 24, --quick 10)")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed calls per measurement, after one warm-up (default 5, --quick 1)")
    return p.parse_args(argv)


def targets(backends):
    """(backend, device) pairs to run: cpu always, a GPU where one is present."""
    out = []
    for b in backends:
        if importlib.util.find_spec(PACKAGES[b]) is None:
            print(f"note: {b} is not installed; skipped")
            continue
        out.append((b, "cpu"))
        if b == "torch":
            import torch

            if torch.cuda.is_available():
                out.append((b, "cuda"))
        if b == "jax":
            import jax

            try:
                if jax.devices("gpu"):
                    out.append((b, "gpu"))
            except RuntimeError:
                pass
    if ("numpy", "cpu") not in out:
        out.insert(0, ("numpy", "cpu"))
    return out


def problems(quick):
    """Named (X, y) problems as float64 numpy arrays."""
    probs = {"seed n=100 d=2": gdcore.make_linear(n=100, seed=0)}
    if not quick:
        probs["gaussian n=2000 d=8"] = gdcore.make_linear(
            n=2000, weights=(3.0, -2.0, 1.0, 0.5, -1.0, 0.0, 2.0, 1.5), noise="gaussian",
            noise_scale=0.5, seed=1,
        )
    return probs


def lr_grids(X, n_lrs):
    s = gdcore.stability(X)
    fit_lrs = [f * s.lr_crit for f in (0.1, 0.7, 1.1)]
    grid = s.lr_crit * np.geomspace(0.01, 1.5, n_lrs)
    grid = grid[np.abs(grid / s.lr_crit - 1.0) > 0.05]
    return fit_lrs, grid


def timed(fn, repeats):
    """(result of the warm-up call, median seconds of ``repeats`` more calls)."""
    out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times) if times else math.nan


def run_all(X, y, fit_lrs, grid, backend, device, dtype, epochs, repeats):
    """Fits and sweeps of one backend/device as host numpy runs, plus timings."""
    kw = dict(epochs=epochs, backend=backend, device=device, dtype=dtype)
    fits = [gdcore.fit(X, y, lr=lr, **kw) for lr in fit_lrs]
    _, t_fit = timed(lambda: gdcore.fit(X, y, lr=fit_lrs[1], **kw), repeats)
    sweeps, t_sweep = {}, {}
    for method in ("auto", "direct"):
        sweeps[method], t_sweep[method] = timed(
            lambda method=method: gdcore.sweep(X, y, grid, method=method, **kw), repeats)
    runs = {
        "fit": {
            "weights": [np.asarray(r.weights, dtype=np.float64) for r in fits],
            "losses": [r.losses for r in fits],
            "status": [r.status for r in fits],
            "converged": [r.converged_epoch for r in fits],
            "diverged": [r.diverged_epoch for r in fits],
        },
    }
    for method, s in sweeps.items():
        runs[f"sweep {method}"] = {
            "weights": list(np.asarray(s.weights, dtype=np.float64)),
            "losses": list(s.losses),
            "status": list(s.status),
            "converged": list(s.converged_epoch),
            "diverged": list(s.diverged_epoch),
        }
    return runs, {"fit": t_fit, "sweep": t_sweep["auto"], "sweep direct": t_sweep["direct"]}


def rel_weights(a, b):
    scale = float(np.max(np.abs(b))) or 1.0
    return float(np.max(np.abs(a - b))) / scale


def rel_losses(a, b):
    n = max(len(a), len(b))
    a = np.pad(a, (0, n - len(a)), constant_values=np.nan)
    b = np.pad(b, (0, n - len(b)), constant_values=np.nan)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return math.inf  # one stopped where the other did not
    ok = ~np.isnan(a)
    if not ok.any():
        return 0.0
    with np.errstate(all="ignore"):
        d = np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), np.finfo(np.float64).tiny)
    both_finite = np.isfinite(a[ok]) & np.isfinite(b[ok])
    d = np.where(both_finite, d, np.where(a[ok] == b[ok], 0.0, math.inf))
    return float(np.max(d))


def epoch_gap(a, b):
    if (a is None) != (b is None):
        return math.inf
    return 0 if a is None else abs(a - b)


def compare(runs, ref):
    """Largest differences of one backend's runs from numpy's, per group."""
    out = {}
    for group, r in runs.items():
        q = ref[group]
        out[group] = {
            "dw": max(rel_weights(a, b) for a, b in zip(r["weights"], q["weights"])),
            "dloss": max(rel_losses(a, b) for a, b in zip(r["losses"], q["losses"])),
            "status_diff": sum(a != b for a, b in zip(r["status"], q["status"])),
            "runs": len(r["status"]),
            "epoch_diff": max(max(epoch_gap(a, b) for a, b in zip(r[k], q[k]))
                              for k in ("converged", "diverged")),
        }
    return out


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return f"{v:.{digits}e}"


def fmt_t(s):
    if s is None or math.isnan(s):
        return "-"
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def main(argv=None) -> int:
    args = parse_args(argv)
    n_lrs = args.lrs or (10 if args.quick else 24)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 5)
    epochs = args.epochs or (60 if args.quick else 100)
    pairs = targets(args.backends)
    header = ("problem", "dtype", "backend", "device", "fit", "sweep", "sweep direct",
              "dw fit", "dloss fit", "dw sweep", "dloss sweep", "status", "epochs", "result")
    table, failures = [header], []
    for pname, (X64, y64) in problems(args.quick).items():
        fit_lrs, grid = lr_grids(X64, n_lrs)
        for dtype in args.dtypes:
            X, y = X64.astype(dtype), y64.astype(dtype)
            rtol = default_rtol(dtype)
            ref = None
            for backend, device in pairs:
                runs, times = run_all(X, y, fit_lrs, grid, backend, device, dtype, epochs,
                                      repeats)
                if ref is None:  # numpy/cpu comes first: the reference
                    ref = runs
                d = compare(runs, ref)
                sweeps = [v for k, v in d.items() if k.startswith("sweep")]
                dw_s = max(v["dw"] for v in sweeps)
                dl_s = max(v["dloss"] for v in sweeps)
                n_diff = sum(v["status_diff"] for v in d.values())
                n_runs = sum(v["runs"] for v in d.values())
                ep = max(v["epoch_diff"] for v in d.values())
                ok = (max(d["fit"]["dw"], dw_s) <= rtol and max(d["fit"]["dloss"], dl_s) <= rtol
                      and n_diff == 0 and ep <= EPOCH_SLACK)
                if not ok:
                    failures.append(f"{pname} {dtype} {backend}/{device}")
                table.append((
                    pname, dtype, backend, device, fmt_t(times["fit"]), fmt_t(times["sweep"]),
                    fmt_t(times["sweep direct"]), fmt(d["fit"]["dw"]), fmt(d["fit"]["dloss"]),
                    fmt(dw_s), fmt(dl_s), f"{n_runs - n_diff}/{n_runs} same",
                    "inf" if math.isinf(ep) else f"+-{ep}",
                    ("reference" if (backend, device) == ("numpy", "cpu") else "ok") if ok
                    else f"DISAGREE (rtol {rtol:.1e})",
                ))
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    print(f"gdcore {gdcore.__version__}: max differences vs numpy (relative; rtol = 4*sqrt(eps): "
          f"float32 {default_rtol('float32'):.1e}, float64 {default_rtol('float64'):.1e}), "
          f"{epochs} epochs; times are medians after a warm-up (jax: after compiling), all "
          "backends in this one process: indicative only, see python -m benchmarks")
    for i, r in enumerate(table):
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    print(f"fit: lrs = (0.1, 0.7, 1.1) x lr_crit; sweep: {n_lrs} lrs geomspace(0.01, 1.5) x "
          "lr_crit without those within 5% of lr_crit; 'epochs' = largest converged/diverged "
          "epoch gap")
    if failures:
        print(f"FAILED: {len(failures)} backend/device/dtype combination(s) disagree with numpy: "
              + "; ".join(failures))
        return 1
    print(f"all {len(table) - 1} combinations agree with numpy within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
