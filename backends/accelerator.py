#!/usr/bin/env python
"""The accelerator path: gdcore's jax and torch backends on a GPU, against the CPU.

When a GPU is present (``torch.cuda.is_available()``, or a jax ``gpu`` device)
this runs, on a large-ish float32 problem (default 1,000,000 x 64, 100
epochs): ``fit(method="direct")``, ``sweep`` with the default method (the Gram
path) over 1,000 lrs and ``sweep(method="direct")`` over 16 lrs, with the data
already on the GPU.  It prints the first call (jax: compile) and the median of
later calls with new lrs, the same backend's time on the CPU, and the largest
differences from numpy on the CPU (relative, as in ``compare.py``); it exits
with status 1 when they exceed ``rtol = 4 * sqrt(eps(float32))``.

Without a GPU it says so -- ``no GPU found: torch.cuda.is_available() is False;
jax devices: [cpu]`` -- and exits 0, or 3 with ``--require-gpu``.  This script
holds no library logic.
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

NO_GPU_EXIT = 3


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Run gdcore's jax and torch backends on a GPU (when present): timings "
                    "and the largest differences from the CPU.",
    )
    p.add_argument("--require-gpu", action="store_true",
                   help=f"exit with status {NO_GPU_EXIT} when no GPU is found (default: exit 0)")
    p.add_argument("--n", type=int, default=1_000_000, help="rows of X (default 1,000,000)")
    p.add_argument("--d", type=int, default=64, help="columns of X (default 64)")
    p.add_argument("--epochs", type=int, default=100, help="epochs (default 100)")
    p.add_argument("--lrs", type=int, default=1000,
                   help="lrs in the Gram-path sweep (default 1000)")
    p.add_argument("--direct-lrs", type=int, default=16,
                   help="lrs in the direct-path sweep (an n x K residual; default 16)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls after the first (default 5)")
    p.add_argument("--skip-cpu", action="store_true",
                   help="do not time the backends on the CPU (the numpy reference still runs)")
    return p.parse_args(argv)


def find_gpus():
    """({backend: device name} of GPUs found, one line describing what was looked at)."""
    found, words = {}, []
    if importlib.util.find_spec("torch") is not None:
        import torch

        ok = torch.cuda.is_available()
        words.append(f"torch.cuda.is_available() is {ok}")
        if ok:
            found["torch"] = "cuda"
    else:
        words.append("torch is not installed")
    if importlib.util.find_spec("jax") is not None:
        import jax

        platforms = []
        for kind in ("gpu", "cpu"):
            try:
                platforms += [d.platform for d in jax.devices(kind)]
            except RuntimeError:  # no such backend in this jax build
                pass
        words.append(f"jax devices: [{', '.join(platforms)}]")
        if "gpu" in platforms:
            found["jax"] = "gpu"
    else:
        words.append("jax is not installed")
    return found, "; ".join(words)


def data(n, d):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d), dtype=np.float32)
    y = X @ rng.standard_normal(d, dtype=np.float32) + np.float32(0.1) * rng.standard_normal(
        n, dtype=np.float32)
    return X, y


def on_device(x, backend, device):
    if backend == "torch":
        import torch

        return torch.as_tensor(x, device=device)
    import jax

    return jax.device_put(x, jax.devices(device)[0])


def host(x):
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def timed(call, repeats):
    """(first result, first-call seconds, median seconds of ``repeats`` calls with new lrs)."""
    t0 = time.perf_counter()
    first = call(0)
    t_first = time.perf_counter() - t0
    times = []
    for i in range(1, repeats + 1):
        t0 = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - t0)
    return first, t_first, (statistics.median(times) if times else math.nan)


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    with np.errstate(all="ignore"):
        ok = np.isfinite(a) & np.isfinite(b)
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            return math.inf
        scale = np.maximum(np.abs(b[ok]), np.finfo(np.float64).tiny)
        return float(np.max(np.abs(a[ok] - b[ok]) / scale)) if ok.any() else 0.0


def rel_weights(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b))) / (float(np.max(np.abs(b))) or 1.0)


def jobs(args, lr):
    """(label, function(X, y, backend, i)) for every measured call."""
    grid = np.geomspace(1e-3, 0.9, args.lrs)  # lr_crit ~ 0.97 for standard normal columns
    small = np.geomspace(1e-2, 0.9, args.direct_lrs)
    return [
        ("fit direct", lambda X, y, be, i: gdcore.fit(
            X, y, lr=lr * (1 + 1e-6 * i), epochs=args.epochs, backend=be, method="direct")),
        (f"sweep K={args.lrs} auto", lambda X, y, be, i: gdcore.sweep(
            X, y, grid * (1 + 1e-6 * i), epochs=args.epochs, backend=be)),
        (f"sweep K={args.direct_lrs} direct", lambda X, y, be, i: gdcore.sweep(
            X, y, small * (1 + 1e-6 * i), epochs=args.epochs, backend=be, method="direct")),
    ]


def fmt_t(s):
    if s is None or math.isnan(s):
        return "-"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def main(argv=None) -> int:
    args = parse_args(argv)
    gpus, seen = find_gpus()
    if not gpus:
        print(f"no GPU found: {seen}")
        return NO_GPU_EXIT if args.require_gpu else 0
    print(f"GPU found: {seen}")
    X, y = data(args.n, args.d)
    rtol = default_rtol("float32")
    todo = jobs(args, lr=0.1)
    ref = {}
    for label, call in todo:  # numpy on the CPU: the reference
        ref[label] = call(X, y, "numpy", 0)
    header = ("backend", "device", "call", "first call", "median", "same backend on cpu",
              "speed-up", "dw vs numpy", "dloss vs numpy", "result")
    table, failures = [header], []
    for backend, device in gpus.items():
        Xg, yg = on_device(X, backend, device), on_device(y, backend, device)
        for label, call in todo:
            res, t_first, t_med = timed(lambda i, call=call, X_=Xg, y_=yg, be=backend: call(X_, y_, be, i),
                                        args.repeats)
            t_cpu = math.nan
            if not args.skip_cpu:
                Xc, yc = on_device(X, backend, "cpu"), on_device(y, backend, "cpu")
                _, _, t_cpu = timed(lambda i, call=call, X_=Xc, y_=yc, be=backend: call(X_, y_, be, i),
                                    max(1, args.repeats // 2))
            dw = rel_weights(host(res.weights), host(ref[label].weights))
            dl = rel(res.losses, ref[label].losses)
            ok = dw <= rtol and dl <= rtol
            if not ok:
                failures.append(f"{backend}/{device} {label}")
            table.append((backend, device, label, fmt_t(t_first), fmt_t(t_med), fmt_t(t_cpu),
                          "-" if math.isnan(t_cpu) else f"{t_cpu / t_med:.1f}x",
                          f"{dw:.1e}", f"{dl:.1e}", "ok" if ok else f"DISAGREE (rtol {rtol:.1e})"))
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    print(f"X: {args.n:,} x {args.d} float32, {args.epochs} epochs, data on the device before "
          "timing; median of later calls with new lrs (jax: after compiling)")
    for i, r in enumerate(table):
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    if failures:
        print("FAILED: differences from numpy beyond rtol in: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
