"""The ``gdcore`` command line.

``gdcore demo`` reproduces the learning-rate study (y = 3x + 2 + noise, first
guess w = (-1, 1), lr 0.1, 0.7 and 1.01) with every figure, then, as a second
act, the same study on a small tanh MLP, where the loss fluctuates near
convergence (the edge of stability); ``gdcore fit`` and ``gdcore sweep`` run the
study on your own CSV file, on the linear model or (``--model mlp:100``) an MLP.  Bad input (a
missing column, text or an empty cell where a number belongs, a bad option)
ends with exit code 2 and one line on stderr that says what to fix.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import pathlib
import sys
import time
import warnings

__all__ = ["main"]

DEMO_LRS = (0.1, 0.7, 1.01)
# Bounds on the work one command may ask for (every epoch keeps its losses in memory).
MAX_EPOCHS = 10_000_000  # fit/sweep, stopping at convergence (the default)
MAX_EPOCHS_NO_STOP = 1_000_000  # fit/sweep --no-stop: every epoch runs
MAX_DEMO_EPOCHS = 100_000
MAX_LRS = 100_000  # learning rates in one sweep
MAX_SWEEP_LOSSES = 100_000_000  # lrs x (epochs + 1): the sweep's loss table, 800 MB
DEMO_FIRST_GUESS = (-1.0, 1.0)
# The demo's second act: a 1-20-1 tanh MLP fit to y = sin(4x) on 50 evenly spaced points of
# [-1, 1] (numpy: a few seconds).  At 0.25 x 2/lambda_0 the sharpness rises but stays below 2/lr
# and the loss falls monotonically; at 0.5 x it reaches 2/lr (epoch ~500), overshoots, and the
# loss spikes and falls again, several times; at 0.9 x it sits at 2/lr from the start.
DEMO_MLP_POINTS, DEMO_MLP_FREQ, DEMO_MLP_HIDDEN = 50, 4, (20,)
DEMO_MLP_TRACKED = (0.25, 0.5, 0.9)  # lrs of the edge-of-stability figure, in units of 2/lambda_0
DEMO_MLP_EPOCHS, DEMO_MLP_EVERY = 3000, 20
DEMO_MLP_SWEEP = (0.1, 8.0, 32)  # from, to (units of 2/lambda_0, geometric), number of lrs
DEMO_MLP_SWEEP_EPOCHS = 2000
BLOG_REMARK = "the loss function starts to fluctuate when convergence is reached"


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) and exit code 2."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


class _Version(argparse.Action):
    """``--version``: imports gdcore only when asked (the parser itself stays light)."""

    def __call__(self, parser, namespace, values, option_string=None):
        import gdcore

        print(f"gdcore {gdcore.__version__}")
        parser.exit()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _warning_printer():
    """``warnings.showwarning`` for the command: each distinct warning once, as one line on stderr.

    A fit per learning rate analyses the same data every time; its warning
    (e.g. ``IllConditionedWarning``) is worth one line, not one per lr.
    """
    seen = set()

    def show(message, category, filename, lineno, file=None, line=None):
        text = f"gdcore: warning: {_one_line(message)}"
        if text not in seen:
            seen.add(text)
            print(text, file=sys.stderr)

    return show


def _library_call(fn, *args, **kwargs):
    """Call gdcore; its input errors (ValueError, TypeError, BackendUnavailable) become UsageError."""
    from gdcore import BackendUnavailable

    try:
        return fn(*args, **kwargs)
    except (ValueError, TypeError, BackendUnavailable) as exc:
        raise UsageError(_one_line(exc)) from None


def _epoch_bar(*, enabled, total, desc):
    """A tqdm bar on stderr counting epochs, or None (disabled, no tqdm, not a terminal)."""
    if not enabled or not sys.stderr.isatty():
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="epoch", file=sys.stderr, leave=False)


def _progress(iterable, *, enabled, desc, total=None):
    """tqdm over ``iterable`` on stderr when available and stderr is a terminal."""
    if not enabled:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False, disable=None, file=sys.stderr)


def _jsonable(obj):
    """Replace non-finite floats (JSON has none) by None, recursively."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):
        return _jsonable(obj.tolist())
    return obj


def _out_dir(path):
    if path is None:
        return None
    import pathlib

    out = pathlib.Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder {path}: {exc.strerror}; "
                         "pass a writable --out DIR") from None
    return out


def _write(out, name, text, written):
    try:
        (out / name).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {out / name}: {exc.strerror}") from None
    written.append(name)


def _check_backend(name):
    """Fail early (before reading or computing anything) on an unknown or missing backend."""
    from gdcore import backends

    _library_call(backends.get, name)


def _plot_module():
    try:
        import gdcore.plot as gplot
    except ImportError:
        raise UsageError('figures need matplotlib and pillow: pip install "gdcore[plot]" '
                         "(or pass --no-plots)") from None
    return gplot


def _save(fig, out, name, written, dpi=100):
    try:
        fig.savefig(out / name, dpi=dpi)
    except OSError as exc:
        raise UsageError(f"cannot write {out / name}: {exc.strerror}") from None
    written.append(name)


def _fmt(v, spec=".6g"):
    if v is None:
        return "-"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def _table(rows) -> str:
    """Fixed-width table: lr, regime, status, converged/diverged epoch, predicted, final loss."""
    head = f"{'lr':>9} {'regime':>12} {'status':>11} {'epoch':>6} {'predicted':>9} {'final loss':>12}"
    lines = [head]
    for r in rows:
        ep = r["diverged_epoch"] if r["status"] == "diverged" else r["converged_epoch"]
        lines.append(f"{r['lr']:>9.4g} {r['regime']:>12} {r['status']:>11} {_fmt(ep):>6} "
                     f"{_fmt(r['predicted_epoch']):>9} {_fmt(r['final_loss']):>12}")
    return "\n".join(lines)


def _table_note(epochs, rtol):
    return (f"(epoch: first epoch with L - L* <= {rtol:g} (L0 - L*), or the epoch a diverged run was "
            f"stopped; predicted: closed form; {epochs} epochs at most)")


# ---------------------------------------------------------------------------
# reading the user's CSV


def _parse_features(text):
    names = [c.strip() for c in text.split(",")]
    if not all(names):
        raise UsageError(f"--features {text!r} has an empty name; give column names separated by "
                         "commas, e.g. --features size,rooms")
    return names


def _design(args):
    """``(X, y, names)`` from the data, with the bias column unless --no-bias, by gdcore.io.read.

    A folder (or glob) of CSV/Parquet files becomes row-chunked dask arrays, never all in
    memory; one CSV file is read whole into numpy with every cell checked (``lazy=False``).
    """
    import gdcore.io

    features = _parse_features(args.features) if args.features is not None else None
    path = pathlib.Path(args.csv)
    lazy = path.is_dir() or any(ch in path.name for ch in "*?[")
    if lazy:
        _check_backend("dask")
    try:
        X, y, names = gdcore.io.read(path, target=args.target, features=features,
                                     bias=not args.no_bias, sep=args.sep, lazy=lazy,
                                     return_names=True)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(_one_line(exc)) from None
    if lazy and args.backend == "numpy":
        args.backend = "dask"
    return X, y, names


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number > 0")
    return v


def _demo_epochs(text):
    v = _positive_int(text)
    if v > MAX_DEMO_EPOCHS:
        raise argparse.ArgumentTypeError(f"{text!r} is more than the maximum {MAX_DEMO_EPOCHS:,}")
    return v


def _nonneg_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
    return v


def _positive_int(text):
    v = _nonneg_int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= 1")
    return v


def _lr_list(text):
    """``0.1`` or ``0.1,0.7``: one or more learning rates (no empty items)."""
    items = [t.strip() for t in text.split(",")]
    if not any(items):
        raise argparse.ArgumentTypeError(f"{text!r} holds no learning rate; e.g. 0.1 or 0.1,0.7")
    if not all(items):
        raise argparse.ArgumentTypeError(
            f"{text!r} has an empty item; separate learning rates by single commas, e.g. 0.1,0.7")
    return [_positive_float(t) for t in items]


def _model_arg(text):
    """``linear``, ``mlp:100``, ``mlp:64,64:relu``: a model value (``gdcore.models.parse``)."""
    from gdcore import models

    try:
        return models.parse(text)
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(_one_line(exc)) from None


def _is_nonlinear(args) -> bool:
    return getattr(args, "model", None) is not None and args.model.name != "linear"


def parse_lrs(text):
    """``START:STOP:NUM[:log]`` (linear unless ``:log``) or a comma list of learning rates."""
    import numpy as np

    if ":" not in text:
        return np.asarray(_lr_list(text), dtype=np.float64)
    parts = text.split(":")
    scale = "lin"
    if len(parts) == 4:
        scale = parts.pop().strip().lower()
        if scale not in ("log", "lin", "linear"):
            raise argparse.ArgumentTypeError(
                f"{text!r}: the 4th field must be 'log' (or 'lin'), got {scale!r}")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not START:STOP:NUM[:log] (e.g. 0.01:2:50:log) or a list like 0.1,0.7")
    start, stop = _positive_float(parts[0]), _positive_float(parts[1])
    try:
        num = int(parts[2])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: NUM must be a whole number, got {parts[2]!r}") from None
    if num < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: NUM must be >= 1")
    if num > MAX_LRS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: NUM = {num:,} is more than the {MAX_LRS:,} learning rates one sweep may "
            "train; use fewer (50-500 resolve any lr range) or split the range over several sweeps")
    if stop < start:
        raise argparse.ArgumentTypeError(f"{text!r}: STOP must not be below START")
    return np.geomspace(start, stop, num) if scale == "log" else np.linspace(start, stop, num)


# ---------------------------------------------------------------------------
# gdcore demo


def _demo(args) -> int:
    import numpy as np

    import gdcore

    t0 = time.perf_counter()
    _check_backend(args.backend)
    out = _out_dir(args.out)
    gplot = _plot_module() if (out is not None and not args.no_plots) else None
    X, y = gdcore.make_linear(n=100, seed=args.seed)
    w_first = np.asarray(DEMO_FIRST_GUESS)
    first_loss = float(np.mean((X @ w_first - y) ** 2))
    s = gdcore.stability(X)
    print(f"data: make_linear(n=100, seed={args.seed}) -> y = 3x + 2 + uniform[0,1) noise, "
          f"X = [x, 1] (the bias column)")
    print(f"first guess w = {tuple(DEMO_FIRST_GUESS)}: MSE = {first_loss:.4f}")
    print(f"Hessian H = (2/n) X^T X: eigenvalues {s.eigenvalues.round(4).tolist()}; "
          f"lr_crit = 2/lambda_max = {s.lr_crit:.4f}, lr_opt = 2/(lambda_max + lambda_min) = "
          f"{s.lr_opt:.4f}")
    print(f"gradient descent from the first guess, {args.epochs} epochs, backend {args.backend}:")
    runs = []
    for lr in _progress(DEMO_LRS, enabled=args.progress, desc="fit"):
        runs.append(_library_call(gdcore.fit, X, y, lr=lr, epochs=args.epochs, backend=args.backend,
                                  w0=w_first, record_weights=True))
    rows = [r.to_dict() for r in runs]
    print(_table(rows))
    print(_table_note(args.epochs, runs[0].rtol))

    sweep_lrs = np.geomspace(0.02, 1.2, 60)
    sw = _library_call(gdcore.sweep, X, y, sweep_lrs, epochs=args.epochs, backend=args.backend,
                       w0=w_first)
    n_conv = sum(st == "converged" for st in sw.status)
    print(f"sweep: {len(sweep_lrs)} lrs from 0.02 to 1.2 (geometric): {n_conv} converge, "
          f"{sw.status.count('diverged')} diverge; best_lr = {sw.best_lr:.4g} "
          f"({sw.converged_epoch[list(sw.lrs).index(sw.best_lr)]} epochs; lr_opt = {s.lr_opt:.4g})")

    p_lr, p_beta = s.polyak()
    mom = _library_call(gdcore.sweep, X, y, np.linspace(0.05, 3.9, 40),
                        momentums=np.linspace(0.0, 0.95, 20), epochs=300, backend=args.backend,
                        w0=w_first, stop_on_convergence=True)
    n_stable = sum(st != "diverged" for st in mom.status)
    print(f"momentum: (lr, beta) grid 40 x 20, heavy ball, 300 epochs: {n_stable} of {len(mom.status)} "
          f"stable (theory: lr * lambda_max < 2 (1 + beta)); Polyak's pair lr = {p_lr:.4g}, "
          f"beta = {p_beta:.3g} (contraction {s.momentum_rho(p_lr, p_beta):.3g} per epoch vs "
          f"{s.rho(s.lr_opt):.3g} for plain GD at lr_opt)")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", gdcore.LRFinderWarning)
        lf = _library_call(gdcore.lr_find, X, y, backend=args.backend, w0=w_first)
    notes = [_one_line(w.message) for w in caught if issubclass(w.category, gdcore.LRFinderWarning)]
    sug = ", ".join(f"{k} = {v:.3g} ({v / lf.lr_opt:.2g} x lr_opt)"
                    for k, v in lf.suggestions.items() if v is not None)
    print(f"lr_find (range test): suggestion = {_fmt(lf.suggestion, '.3g')} ({lf.suggest}); {sug}; "
          f"lr_opt = {lf.lr_opt:.4g}, lr_crit = {lf.lr_crit:.4g}")
    for note in notes:
        print(f"  warning: {note}")

    act2 = _demo_nonlinear(args)

    if out is None:
        print(f"done in {time.perf_counter() - t0:.1f} s (pass --out DIR to write the figures, "
              "summary.json and sweep.csv)")
        return 0
    written = []
    summary = {
        "data": {"n": 100, "seed": args.seed, "model": "y = 3x + 2 + uniform[0,1) noise",
                 "first_guess": {"weights": list(DEMO_FIRST_GUESS), "loss": first_loss}},
        "backend": args.backend,
        "epochs": args.epochs,
        "stability": s.to_dict(),
        "runs": rows,
        "sweep": sw.to_dict(),
        "lr_find": {**lf.to_dict(), "warnings": notes},
        "momentum": {"polyak": {"lr": p_lr, "beta": p_beta}, "grid": mom.to_dict()},
        "nonlinear": act2["summary"],
    }
    _write(out, "sweep.csv", _sweep_csv(sw), written)
    if gplot is not None:
        figs = _demo_figures(gplot, X, y, w_first, first_loss, runs, sw, lf, out, written,
                             progress=args.progress, momentum=mom)
        _save(gplot.model_sweep(act2["sweep"]), out, "mlp_sweep.png", written)
        _save(gplot.edge_of_stability(act2["tracked"]), out, "edge_of_stability.png", written)
        summary["figures"] = figs + ["mlp_sweep.png", "edge_of_stability.png"]
        _demo_explorer(X, y, w_first, args, out, written)
    summary["files"] = written + ["summary.json"]
    _write(out, "summary.json", json.dumps(_jsonable(summary), indent=2), written)
    print(f"wrote {', '.join(written)} to {out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _demo_nonlinear(args) -> dict:
    """The demo's second act: the learning-rate study on a small tanh MLP, where the loss
    fluctuates and still converges (the edge of stability); prints its part of the summary."""
    import numpy as np

    import gdcore

    x = np.linspace(-1.0, 1.0, DEMO_MLP_POINTS)[:, None]
    y = np.sin(DEMO_MLP_FREQ * x[:, 0])
    m = gdcore.models.mlp(DEMO_MLP_HIDDEN, "tanh", seed=0)
    print()
    print("second act: the same study on a model non-linear in its weights")
    print(f"data: x = {DEMO_MLP_POINTS} points evenly spaced on [-1, 1], y = sin({DEMO_MLP_FREQ}x); "
          f"model {m.describe()} ({m.spec(1, 1).size} parameters, LeCun-normal init, seed 0), "
          "full-batch gradient descent on the MSE")
    c = _library_call(gdcore.stability, x, y, model=m, backend=args.backend)
    lo, hi = c.bracket
    print(f"the Hessian now moves with the weights, so gdcore measures it: sharpness at init "
          f"lambda_0 = {c.lambda_max:.4g} (top Hessian eigenvalue, {c.hvps} Hessian-vector "
          f"products); edge of stability 2/lambda_0 = {lo:.4g}, bracket (2/lambda_0, 4/lambda_0) = "
          f"({lo:.4g}, {hi:.4g})")
    a, b, k = DEMO_MLP_SWEEP
    sw = _library_call(gdcore.sweep, x, y, c.lr_crit * np.geomspace(a, b, k),
                       epochs=DEMO_MLP_SWEEP_EPOCHS, model=m, backend=args.backend)
    n_div = sw.status.count("diverged")
    onset = ("no lr diverged" if sw.divergence_onset is None else
             f"divergence onset (measured) lr = {sw.divergence_onset:.4g} = "
             f"{sw.onset_over_lr_crit:.3g} x 2/lambda_0, "
             + ("inside" if lo <= sw.divergence_onset <= hi else "outside")
             + " the bracket predicted at init")
    spiked = [lr / c.lr_crit for lr, st, row in zip(sw.lrs, sw.status, sw.losses)
              if st != "diverged" and np.nanmax(row) > row[0]]
    print(f"sweep: {k} lrs from {a:g} to {b:g} x 2/lambda_0 (geometric), {DEMO_MLP_SWEEP_EPOCHS} "
          f"epochs: {sw.status.count('converged')} converged, "
          f"{sw.status.count('max_epochs')} still training, {n_div} diverged; {onset}; "
          f"{len(spiked)} runs that did not diverge rose above L0 on the way"
          + (f" (from {min(spiked):.2g} x 2/lambda_0 up)" if spiked else ""))
    tracked = _library_call(gdcore.sweep, x, y, c.lr_crit * np.asarray(DEMO_MLP_TRACKED),
                            epochs=DEMO_MLP_EPOCHS, model=m, backend=args.backend,
                            sharpness_every=DEMO_MLP_EVERY)
    print(f"edge of stability: {len(DEMO_MLP_TRACKED)} lrs, {DEMO_MLP_EPOCHS} epochs, the sharpness "
          f"every {DEMO_MLP_EVERY} epochs (S = sharpness x lr/2: 1 is the edge 2/lr):")
    epochs, values = tracked.sharpness
    runs = []
    for i, units in enumerate(DEMO_MLP_TRACKED):
        lr = float(tracked.lrs[i])
        rel = values[i] * lr / 2.0
        loss = tracked.losses[i][np.isfinite(tracked.losses[i])]
        rises = int(np.sum(np.diff(loss) > 0))
        at = np.flatnonzero(rel >= 1.0)
        reached = int(epochs[at[0]]) if at.size else None
        late = rel[len(rel) // 2:]
        late = late[np.isfinite(late)]
        line = f"  lr = {units:g} x 2/lambda_0 = {lr:.4g}: S {rel[0]:.2f} -> "
        if reached is None:
            line += f"{rel[np.isfinite(rel)].max():.2f} at most, below the edge; "
        else:
            line += (f"1 at epoch {reached}, then {late.min():.2f}-{late.max():.2f} in the second "
                     "half; ")
        line += (f"loss {loss[0]:.3g} -> {loss[-1]:.3g} ({loss[-1] / loss[0]:.2g} L0), "
                 + ("falling every epoch" if rises == 0 else
                    f"rising in {rises} of {len(loss) - 1} epochs, peak {loss.max() / loss[0]:.2g} L0"))
        print(line)
        runs.append({"lr": lr, "lr_over_lr_crit": units, "status": tracked.status[i],
                     "edge_reached_epoch": reached,
                     "late_sharpness_over_edge": [float(late.min()), float(late.max())] if late.size
                     else None,
                     "loss_rises": rises, "initial_loss": float(loss[0]),
                     "final_loss": float(loss[-1]), "peak_loss": float(loss.max()),
                     "sharpness": {"epochs": epochs.tolist(), "values": values[i].tolist()}})
    mid = runs[len(runs) // 2]
    explanation = (
        f'the seed blog saw that "{BLOG_REMARK}" and blamed a loss curve that is flat at the '
        "bottom. On the first act's linear model the loss cannot fluctuate: its Hessian is fixed "
        "and every lr below lr_crit shrinks every eigen-component of the error each epoch, so the "
        "loss falls monotonically even while the weights oscillate (lr 0.7). On a network the "
        "Hessian moves: gradient descent sharpens it until its top eigenvalue reaches 2/lr (the "
        "edge of stability, Cohen et al. 2021). Above 2/lr the sharpest direction oscillates with "
        "a growing amplitude and the loss rises; the large step carries the weights to a flatter "
        "place, the sharpness falls back below 2/lr and the loss falls again. The loss is "
        f"non-monotone, yet it converges (at {mid['lr_over_lr_crit']:g} x 2/lambda_0: peaks of "
        f"{mid['peak_loss'] / mid['initial_loss']:.2g} L0, and "
        f"{mid['final_loss'] / mid['initial_loss']:.2g} L0 after {DEMO_MLP_EPOCHS} epochs): the "
        "fluctuation is the lr meeting 2/sharpness, not divergence.")
    print("why the loss fluctuates near convergence: " + explanation)
    summary = {
        "data": {"x": f"{DEMO_MLP_POINTS} points evenly spaced on [-1, 1]",
                 "y": f"sin({DEMO_MLP_FREQ}x)"},
        "model": {"hidden": list(DEMO_MLP_HIDDEN), "activation": "tanh", "seed": 0,
                  "parameters": m.spec(1, 1).size},
        "stability": c.to_dict(),
        "sweep": sw.to_dict(),
        "edge_of_stability": {"epochs": DEMO_MLP_EPOCHS, "sharpness_every": DEMO_MLP_EVERY,
                              "runs": runs},
        "blog_remark": BLOG_REMARK,  # its conclusion, machine-translated from the Chinese
        "explanation": explanation,
    }
    return {"sweep": sw, "tracked": tracked, "summary": summary}


def _demo_figures(gplot, X, y, w_first, first_loss, runs, sw, lf, out, written, *, progress,
                  momentum):
    from matplotlib.figure import Figure

    names = ("w[0]: slope (weight of x)", "w[1]: bias")

    def before_after():
        fig = Figure(figsize=(5.0 * len(runs), 4.4), layout="constrained")
        axes = fig.subplots(1, len(runs), sharey=True)
        for ax, r in zip(axes, runs):
            gplot.fit(X, y, r, ax=ax)
        fig.suptitle(f"before (first guess w=(-1, 1)) and after {runs[0].epochs} epochs of "
                     "gradient descent")
        return fig

    jobs = [
        ("data.png", lambda: gplot.data(X, y, title="the data: y = 3x + 2 + uniform[0,1) noise")),
        ("first_guess.png", lambda: gplot.fit(
            X, y, w_first, title=f"first guess w=(-1, 1): MSE {first_loss:.3f}")),
        ("fit_before_after.png", before_after),
        ("loss_curves.png", lambda: gplot.loss_curves(runs)),
        ("sweep.png", lambda: gplot.sweep(sw)),
        ("trajectory.png", lambda: gplot.trajectory(X, y, runs, names=names)),
        ("lr_find.png", lambda: gplot.lr_find(lf)),
        ("momentum.png", lambda: gplot.stability_map(momentum)),
    ]
    done = []
    for name, make in _progress(jobs, enabled=progress, desc="figures"):
        _save(make(), out, name, written)
        done.append(name)
    gif_epochs = min(45, max(len(r.losses) for r in runs) - 1)
    try:
        gplot.animate(X, y, runs, out / "animation.gif", epochs=gif_epochs, fps=6, dpi=72)
    except OSError as exc:
        raise UsageError(f"cannot write {out / 'animation.gif'}: {exc.strerror}") from None
    written.append("animation.gif")
    done.append("animation.gif")
    return done


def _sweep_csv(sw) -> str:
    import io

    buf = io.StringIO()
    cols = ["lr", "regime", "status", "converged_epoch", "predicted_epoch", "diverged_epoch",
            "final_loss"]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for row in sw.to_dict()["runs"]:
        w.writerow({k: ("" if row[k] is None else row[k]) for k in cols})
    return buf.getvalue()


# ---------------------------------------------------------------------------
# gdcore fit / gdcore sweep on a CSV


def _describe_data(args, X, names, s):
    bias = "" if args.no_bias else " + bias column"
    feats = [n for n in names if n != "bias" or args.no_bias]
    std = " (standardized)" if args.standardize else ""
    print(f"data: {args.csv}, {X.shape[0]} rows; target {args.target!r}; features "
          f"{', '.join(feats)}{std}{bias}")
    print(f"Hessian H = (2/n) X^T X: lambda_max = {s.lambda_max:.4g}, lambda_min = "
          f"{s.lambda_min:.4g} (condition number {s.condition_number:.3g}); lr_crit = "
          f"{s.lr_crit:.4g}, lr_opt = {s.lr_opt:.4g}")


def _check_epochs(args, n_lrs=1):
    """The documented bounds on --epochs (and, for a sweep, lrs x epochs)."""
    limit, why = ((MAX_EPOCHS_NO_STOP, "with --no-stop every epoch runs") if args.no_stop
                  else (MAX_EPOCHS, "runs stop at convergence"))
    if args.epochs > limit:
        raise UsageError(f"--epochs {args.epochs:,} is more than the maximum {limit:,} ({why}); "
                         "a run that has not converged by then needs a larger lr or --standardize, "
                         "not more epochs")
    if n_lrs > MAX_LRS:
        raise UsageError(f"--lrs has {n_lrs:,} learning rates, more than the maximum {MAX_LRS:,}; "
                         "use fewer or split them over several sweeps")
    if n_lrs * (args.epochs + 1) > MAX_SWEEP_LOSSES:
        raise UsageError(f"--lrs ({n_lrs:,} lrs) x --epochs ({args.epochs:,}) would keep "
                         f"{n_lrs * (args.epochs + 1):,} losses, more than the maximum "
                         f"{MAX_SWEEP_LOSSES:,}; use fewer lrs or epochs")


def _load_and_describe(args, n_lrs=1):
    """What ``gdcore fit`` and ``gdcore sweep`` both start with: checks, data, its analysis."""
    import gdcore

    _check_epochs(args, n_lrs)
    _check_backend(args.backend)
    out = _out_dir(args.out)
    gplot = _plot_module() if (out is not None and not args.no_plots) else None
    X, y, names = _design(args)
    s = _library_call(gdcore.stability, X, standardize=args.standardize)
    _describe_data(args, X, names, s)
    return out, gplot, X, y, names, s


def _fit(args) -> int:
    import numpy as np

    import gdcore
    from gdcore.backends import host

    if _is_nonlinear(args):
        return _fit_model(args)
    _no_sharpness(args)
    out, gplot, X, y, names, s = _load_and_describe(args)
    stop = not args.no_stop
    if args.lr:
        lrs = [v for group in args.lr for v in group]
    else:
        lrs = [s.lr_opt]
        print(f"no --lr given: using the analytic lr_opt = {s.lr_opt:.4g}")
    record = X.shape[1] == 2
    runs = []
    for lr in _progress(lrs, enabled=args.progress, desc="fit"):
        runs.append(_library_call(gdcore.fit, X, y, lr=lr, epochs=args.epochs,
                                  backend=args.backend, rtol=args.rtol,
                                  standardize=args.standardize, record_weights=record,
                                  stop_on_convergence=stop))
    rows = [r.to_dict() for r in runs]
    print(_table(rows))
    print(_table_note(args.epochs, args.rtol))
    for r in runs:
        w = host(r.weights).astype(np.float64)
        ws = ", ".join(f"{n}={v:.6g}" for n, v in zip(names, w))
        print(f"weights (lr={r.lr:.4g}, {r.status}): {ws}")
    w_star = host(runs[0].optimum.weights).astype(np.float64)
    print("least-squares optimum: " + ", ".join(f"{n}={v:.6g}" for n, v in zip(names, w_star))
          + f"; L* = {runs[0].optimum.loss:.6g}")
    if args.standardize:
        how = ("x / rms(x): without a bias column nothing is centred" if args.no_bias
               else "(x - mean) / std")
        print(f"note: weights refer to the standardized columns ({how})")
    if out is None:
        return 0
    written = []
    summary = {
        "data": {"path": str(args.csv), "rows": int(X.shape[0]), "target": args.target,
                 "features": names, "bias": not args.no_bias, "standardize": args.standardize},
        "backend": args.backend,
        "stability": s.to_dict(),
        "runs": [{**row, "weights_by_name": dict(zip(names, np.ravel(row["weights"]).tolist()))}
                 for row in rows],
    }
    _write(out, "fit.json", json.dumps(_jsonable(summary), indent=2), written)
    _write(out, "losses.csv", _losses_csv(runs), written)
    if gplot is not None and args.backend == "dask":  # only the loss curves: X stays on the cluster
        _save(gplot.loss_curves(runs), out, "loss_curves.png", written)
    elif gplot is not None:
        Xs = _standardized(X, runs[0]) if args.standardize else X
        _save(gplot.loss_curves(runs), out, "loss_curves.png", written)
        label = names[0] if names[0] != "bias" else "bias"
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.0 * len(runs), 4.4), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(runs), sharey=True))
        for ax, r in zip(axes, runs):
            gplot.fit(Xs, y, r, ax=ax, xlabel=label, ylabel=args.target)
        _save(fig, out, "fit.png", written)
        if record:
            _save(gplot.trajectory(Xs, y, runs, names=(f"w[{names[0]}]", f"w[{names[1]}]")),
                  out, "trajectory.png", written)
    print(f"wrote {', '.join(written)} to {out}")
    return 0


def _standardized(X, result):
    """X as the fit saw it, when it standardized the columns."""
    if result.scaling is None:
        return X
    mean, scale = result.scaling
    return (X - mean) / scale


def _losses_csv(runs) -> str:
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["epoch"] + [f"loss_lr={r.lr:g}" for r in runs])
    n = max(len(r.losses) for r in runs)
    for k in range(n):
        w.writerow([k] + [repr(float(r.losses[k])) if k < len(r.losses) else "" for r in runs])
    return buf.getvalue()


def _sweep(args) -> int:
    import numpy as np

    import gdcore

    if _is_nonlinear(args):
        return _sweep_model(args)
    _no_sharpness(args)
    out, gplot, X, y, names, s = _load_and_describe(
        args, 60 if args.lrs is None else len(args.lrs))
    if args.lrs is not None:
        lrs = args.lrs
    else:
        lrs = np.geomspace(s.lr_crit / 50, 1.2 * s.lr_crit, 60)
        print(f"no --lrs given: 60 lrs from lr_crit/50 = {lrs[0]:.3g} to 1.2 lr_crit = "
              f"{lrs[-1]:.3g} (geometric)")
    # One vectorised sweep; on long runs a progress bar counts its epochs.
    n, d = X.shape
    work = n * d * len(lrs) * max(args.epochs, 1)
    bar = _epoch_bar(enabled=args.progress and work > 2e8, total=args.epochs, desc="sweep")
    try:
        sw = _library_call(gdcore.sweep, X, y, lrs, epochs=args.epochs, backend=args.backend,
                           rtol=args.rtol, standardize=args.standardize,
                           stop_on_convergence=not args.no_stop,
                           callback=None if bar is None else (lambda e: bar.update(e - bar.n)))
    finally:
        if bar is not None:
            bar.close()
    d = sw.to_dict()
    print(_table(d["runs"]))
    print(_table_note(args.epochs, args.rtol))
    if sw.best_lr is None:
        print(f"best_lr: none of these lrs converged in {args.epochs} epochs "
              f"(lr_opt = {s.lr_opt:.4g}; try more --epochs or lrs near it)")
    else:
        i = list(sw.lrs).index(sw.best_lr)
        print(f"best_lr = {sw.best_lr:.4g} ({sw.converged_epoch[i]} epochs); analytic lr_opt = "
              f"{s.lr_opt:.4g}, lr_crit = {s.lr_crit:.4g}")
    if out is None:
        return 0
    written = []
    summary = {"data": {"path": str(args.csv), "rows": int(X.shape[0]), "target": args.target,
                        "features": names, "bias": not args.no_bias,
                        "standardize": args.standardize}, **d}
    _write(out, "sweep.json", json.dumps(_jsonable(summary), indent=2), written)
    _write(out, "sweep.csv", _sweep_csv(sw), written)
    if gplot is not None:
        _save(gplot.sweep(sw), out, "sweep.png", written)
        _save(gplot.loss_curves(sw), out, "loss_curves.png", written)
    print(f"wrote {', '.join(written)} to {out}")
    return 0


# ---------------------------------------------------------------------------
# gdcore fit / sweep --model mlp:...: measured curvature, no closed form


def _no_sharpness(args):
    if args.sharpness_every is not None:
        raise UsageError("--sharpness-every tracks the moving Hessian of an mlp --model; a linear "
                         "model's sharpness is lambda_max at every epoch (printed above the table)")


def _load_model(args, n_lrs=1):
    """Checks, the data (no bias column: the MLP has its own) and lambda_0 at the initial weights."""
    import gdcore

    _check_epochs(args, n_lrs)
    _check_backend(args.backend)
    path = pathlib.Path(args.csv)
    if path.is_dir() or any(ch in path.name for ch in "*?["):
        raise UsageError(f"--model {args.model.describe()!r} reads one CSV file into memory, not a "
                         f"folder or glob ({args.csv}); the chunked (dask) path is the linear model's")
    out = _out_dir(args.out)
    gplot = _plot_module() if (out is not None and not args.no_plots) else None
    args.no_bias = True
    X, y, names = _design(args)
    curv = _library_call(gdcore.stability, X, y, model=args.model, backend=args.backend,
                         standardize=args.standardize)
    std = " (standardized)" if args.standardize else ""
    size = args.model.spec(X.shape[1], 1).size
    print(f"data: {args.csv}, {X.shape[0]} rows; target {args.target!r}; features "
          f"{', '.join(names)}{std} (no bias column: the MLP has its own biases)")
    lo, hi = curv.bracket
    print(f"model {curv.model} ({size} parameters): sharpness at init lambda_0 = "
          f"{curv.lambda_max:.4g} (top Hessian eigenvalue, measured); edge of stability "
          f"2/lambda_0 = {lo:.4g}; bracket (2/lambda_0, 4/lambda_0) = ({lo:.4g}, {hi:.4g})")
    return out, gplot, X, y, names, curv


def _model_rows(lrs, regimes, statuses, conv, div, losses, lr_crit):
    """One table row per run: lr in units of 2/lambda_0, status, final and peak loss over L0."""
    import numpy as np

    rows = []
    for lr, rg, st, c, v, row in zip(lrs, regimes, statuses, conv, div, losses):
        row = np.asarray(row, dtype=np.float64)
        row = row[~np.isnan(row)]
        l0 = float(row[0])
        rows.append({"lr": float(lr), "lr_over_lr_crit": float(lr) / lr_crit, "regime": rg,
                     "status": st, "converged_epoch": c, "diverged_epoch": v,
                     "final_loss": float(row[-1]), "final_over_l0": float(row[-1]) / l0,
                     "peak_over_l0": float(np.max(row)) / l0})
    return rows


def _model_table(rows) -> str:
    head = (f"{'lr':>9} {'x 2/l0':>7} {'regime':>10} {'status':>10} {'epoch':>6} "
            f"{'final loss':>11} {'final/L0':>9} {'peak/L0':>9}")
    lines = [head]
    for r in rows:
        ep = r["diverged_epoch"] if r["status"] == "diverged" else r["converged_epoch"]
        lines.append(f"{r['lr']:>9.4g} {r['lr_over_lr_crit']:>7.3g} {r['regime']:>10} "
                     f"{r['status']:>10} {_fmt(ep):>6} {r['final_loss']:>11.4g} "
                     f"{r['final_over_l0']:>9.3g} {r['peak_over_l0']:>9.3g}")
    return "\n".join(lines)


def _model_note(horizon, rtol, factor):
    return (f"(x 2/l0: the lr in units of 2/lambda_0; epoch: first epoch with L <= {rtol:g} L0 "
            f"(L* taken as 0), or the epoch a diverged run was stopped (L > {factor:g} L0 or not "
            f"finite); horizon: {horizon} epochs, a status is a statement about them; peak/L0 > 1: "
            "the loss spiked (a catapult) and the run may still converge; nothing is predicted for "
            "a moving Hessian)")


def _fit_model(args) -> int:
    import gdcore

    out, gplot, X, y, names, curv = _load_model(args)
    if args.lr:
        lrs = [v for group in args.lr for v in group]
    else:
        lrs = [0.5 * curv.lr_crit]
        print(f"no --lr given: using 1/lambda_0 = 0.5 x 2/lambda_0 = {lrs[0]:.4g} (below the edge "
              "at initialisation)")
    runs = []
    for lr in _progress(lrs, enabled=args.progress, desc="fit"):
        runs.append(_library_call(gdcore.fit, X, y, lr=lr, epochs=args.epochs, model=args.model,
                                  backend=args.backend, rtol=args.rtol,
                                  standardize=args.standardize, stop_on_convergence=not args.no_stop,
                                  sharpness_every=args.sharpness_every))
    rows = _model_rows([r.lr for r in runs], [r.regime for r in runs], [r.status for r in runs],
                       [r.converged_epoch for r in runs], [r.diverged_epoch for r in runs],
                       [r.losses for r in runs], curv.lr_crit)
    print(_model_table(rows))
    print(_model_note(args.epochs, args.rtol, runs[0].divergence_factor))
    _print_late_sharpness(runs)
    if out is None:
        return 0
    written = []
    summary = {
        "data": {"path": str(args.csv), "rows": int(X.shape[0]), "target": args.target,
                 "features": names, "bias": False, "standardize": args.standardize},
        "backend": args.backend, "horizon": args.epochs, "stability": curv.to_dict(),
        "runs": [{**r.to_dict(), **row} for r, row in zip(runs, rows)],
    }
    _write(out, "fit.json", json.dumps(_jsonable(summary), indent=2), written)
    _write(out, "losses.csv", _losses_csv(runs), written)
    if gplot is not None:
        _save(gplot.loss_curves(runs), out, "loss_curves.png", written)
        if args.sharpness_every is not None:
            _save(gplot.edge_of_stability(runs), out, "edge_of_stability.png", written)
    print(f"wrote {', '.join(written)} to {out}")
    return 0


def _print_late_sharpness(runs):
    """One line per tracked run: where its sharpness ended, in units of 2/lr."""
    import numpy as np

    for r in runs:
        if r.sharpness is None:
            continue
        values = np.asarray(r.sharpness[1], dtype=np.float64)
        late = values[np.isfinite(values)]
        late = late[len(late) // 2:]
        if late.size:
            rel = late * r.lr / 2
            print(f"sharpness (lr={r.lr:.4g}): {values[0]:.4g} at init, second half of the run "
                  f"{rel.min():.2f}-{rel.max():.2f} x 2/lr (1 = the edge of stability)")


def _sweep_model(args) -> int:
    import numpy as np

    import gdcore

    out, gplot, X, y, names, curv = _load_model(args, 40 if args.lrs is None else len(args.lrs))
    if args.lrs is not None:
        lrs = args.lrs
    else:
        lrs = curv.lr_crit * np.geomspace(0.1, 8.0, 40)
        print(f"no --lrs given: 40 lrs from 0.1 to 8 x 2/lambda_0 = {lrs[0]:.3g} to {lrs[-1]:.3g} "
              "(geometric)")
    sw = _library_call(gdcore.sweep, X, y, lrs, epochs=args.epochs, model=args.model,
                       backend=args.backend, rtol=args.rtol, standardize=args.standardize,
                       stop_on_convergence=not args.no_stop, sharpness_every=args.sharpness_every)
    rows = _model_rows(sw.lrs, sw.regime, sw.status, sw.converged_epoch, sw.diverged_epoch,
                       sw.losses, curv.lr_crit)
    print(_model_table(rows))
    print(_model_note(sw.horizon, args.rtol, sw.divergence_factor))
    lo, hi = curv.bracket
    if sw.divergence_onset is None:
        print(f"divergence onset: no lr diverged within {sw.horizon} epochs (largest lr "
              f"{sw.lrs.max():.4g} = {sw.lrs.max() / curv.lr_crit:.3g} x 2/lambda_0)")
    else:
        where = ("inside" if lo <= sw.divergence_onset <= hi else
                 "below" if sw.divergence_onset < lo else "above")
        print(f"divergence onset (measured within {sw.horizon} epochs): lr = "
              f"{sw.divergence_onset:.4g} = {sw.onset_over_lr_crit:.3g} x 2/lambda_0, {where} the "
              f"bracket (2/lambda_0, 4/lambda_0) = ({lo:.4g}, {hi:.4g}) predicted at init")
    if sw.best_lr is not None:
        i = sw.best
        print(f"lowest final loss: lr = {sw.best_lr:.4g} ({sw.best_lr / curv.lr_crit:.3g} x "
              f"2/lambda_0, {sw.status[i]}): L = {rows[i]['final_loss']:.4g} = "
              f"{rows[i]['final_over_l0']:.3g} L0")
    if out is None:
        return 0
    written = []
    summary = {"data": {"path": str(args.csv), "rows": int(X.shape[0]), "target": args.target,
                        "features": names, "bias": False, "standardize": args.standardize},
               **sw.to_dict(), "runs": rows}
    _write(out, "sweep.json", json.dumps(_jsonable(summary), indent=2), written)
    _write(out, "sweep.csv", _model_sweep_csv(rows), written)
    if gplot is not None:
        _save(gplot.model_sweep(sw), out, "sweep.png", written)
        _save(gplot.loss_curves(sw), out, "loss_curves.png", written)
        if args.sharpness_every is not None:
            _save(gplot.edge_of_stability(sw), out, "edge_of_stability.png", written)
    print(f"wrote {', '.join(written)} to {out}")
    return 0


def _model_sweep_csv(rows) -> str:
    import io

    buf = io.StringIO()
    cols = ["lr", "lr_over_lr_crit", "regime", "status", "converged_epoch", "diverged_epoch",
            "final_loss", "final_over_l0", "peak_over_l0"]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: ("" if row[k] is None else row[k]) for k in cols})
    return buf.getvalue()


# ---------------------------------------------------------------------------
# gdcore explore


def _explore_fn():
    """``gdcore.explore``, or a UsageError naming the extra when bokeh is missing."""
    import importlib.util

    if importlib.util.find_spec("bokeh") is None:
        raise UsageError('the explorer needs bokeh: pip install "gdcore[explore]"')
    import gdcore

    return gdcore.explore


def _demo_explorer(X, y, w_first, args, out, written):
    """The demo's explorer.html (skipped with a note when bokeh is missing)."""
    try:
        explore = _explore_fn()
    except UsageError as exc:
        print(f"note: no explorer.html: {exc}")
        return
    page = _library_call(explore, X, y, w0=w_first, epochs=args.epochs, backend=args.backend,
                         source=f"make_linear(n=100, seed={args.seed})", feature_names=["x", "bias"],
                         target_name="y", title="gdcore explorer: the learning-rate study")
    _write(out, "explorer.html", page.html, written)


def _parse_betas(text):
    values = []
    for t in text.split(","):
        if not t.strip():
            continue
        try:
            v = float(t)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{t.strip()!r} is not a number") from None
        if not 0 <= v < 1:
            raise argparse.ArgumentTypeError(f"momentum {t.strip()!r} must be in [0, 1), e.g. 0.5")
        values.append(v)
    if not values:
        raise argparse.ArgumentTypeError(f"{text!r} holds no momentum; e.g. 0,0.5,0.9")
    return values


def _explore_csv(args) -> pathlib.Path:
    """The one CSV file ``gdcore explore`` reads, with its target named, or a UsageError."""
    if args.target is None:
        raise UsageError(f"--target COLUMN is required with the data file {args.csv}; name the "
                         "column to predict")
    path = pathlib.Path(args.csv)
    if path.is_dir() or any(ch in path.name for ch in "*?["):
        raise UsageError(f"gdcore explore reads one CSV file, not a folder or glob ({args.csv}); "
                         "the page holds every epoch of every run in memory")
    return path


def _explore(args) -> int:
    import gdcore

    t0 = time.perf_counter()
    _check_backend(args.backend)
    explore = _explore_fn()
    out = pathlib.Path(args.out)
    if out.is_dir():
        raise UsageError(f"--out {args.out} is a folder; pass a file name such as {out / 'explorer.html'}")
    if not out.parent.is_dir():
        raise UsageError(f"the folder of --out {args.out} ({out.parent}) does not exist; create it "
                         "or pass another path")
    model = _is_nonlinear(args)
    if not model and args.sharpness_every is not None:
        raise UsageError("--sharpness-every is for an mlp --model; a linear model's sharpness is its "
                         "constant lambda_max")
    if model and args.betas is not None:
        raise UsageError("--betas is for the linear model's momentum map (it needs the closed form); "
                         "drop it with an mlp --model")
    if args.csv is None and model:
        if args.target is not None or args.features is not None:
            raise UsageError("--target and --features need a DATA file; without one gdcore explore "
                             "shows the seed data (gdcore demo's)")
        import numpy as np

        x = np.linspace(-1.0, 1.0, DEMO_MLP_POINTS)[:, None]
        X, y = x, np.sin(DEMO_MLP_FREQ * x[:, 0])
        kwargs = dict(source=f"{DEMO_MLP_POINTS} points on [-1, 1] (gdcore demo's second act)",
                      feature_names=["x"], target_name=f"sin({DEMO_MLP_FREQ}x)")
        print(f"data: x = {DEMO_MLP_POINTS} points evenly spaced on [-1, 1], y = sin({DEMO_MLP_FREQ}x) "
              "(gdcore demo's second act)")
    elif args.csv is not None and model:
        path = _explore_csv(args)
        args.no_bias = True  # the MLP has its own biases
        X, y, names = _design(args)
        std = " (standardized)" if args.standardize else ""
        print(f"data: {args.csv}, {X.shape[0]} rows; target {args.target!r}; features "
              f"{', '.join(names)}{std} (no bias column: the MLP has its own biases)")
        kwargs = dict(source=path.name, feature_names=names, target_name=args.target)
    elif args.csv is None:
        if args.target is not None or args.features is not None:
            raise UsageError("--target and --features need a DATA file; without one gdcore explore "
                             "shows the seed data (gdcore demo's)")
        X, y = gdcore.make_linear(n=100, seed=0)
        kwargs = dict(w0=list(DEMO_FIRST_GUESS), source="make_linear(n=100, seed=0)",
                      feature_names=["x", "bias"], target_name="y")
        print("data: make_linear(n=100, seed=0) -> y = 3x + 2 + uniform[0,1) noise, X = [x, 1]; "
              f"first guess w = {tuple(DEMO_FIRST_GUESS)}")
    else:
        path = _explore_csv(args)
        X, y, names = _design(args)
        s = _library_call(gdcore.stability, X, standardize=args.standardize)
        _describe_data(args, X, names, s)
        kwargs = dict(source=path.name, feature_names=names, target_name=args.target)
    if model:
        kwargs.update(model=args.model, sharpness_every=args.sharpness_every)
    ex = _library_call(explore, X, y, lrs=args.lrs, betas=args.betas, epochs=args.epochs,
                       standardize=args.standardize, backend=args.backend, rtol=args.rtol, **kwargs)
    try:
        ex.save(out)
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    runs = (f"{ex.model}, {len(ex.lrs)} learning rates" if ex.model is not None
            else f"{len(ex.lrs)} learning rates x {len(ex.betas)} momentums")
    print(f"wrote {out} ({ex.nbytes / 1e6:.1f} MB; {runs}, {ex.sweep.epochs} epochs) in "
          f"{time.perf_counter() - t0:.1f} s: open it in a browser, no server or network needed")
    return 0


# ---------------------------------------------------------------------------
# the parser


def _add_common(p, *, out_help, demo=False):
    p.add_argument("--backend", default="numpy",
                   help="array library that runs gradient descent: numpy (default, analytic "
                        "gradient), torch (autograd), jax (jax.grad + jit) or array-api-strict")
    if demo:
        p.add_argument("--epochs", type=_demo_epochs, default=100,
                       help=f"gradient steps per run, 1 to {MAX_DEMO_EPOCHS:,} (default 100)")
    else:
        p.add_argument("--epochs", type=_nonneg_int, default=100,
                       help=f"gradient steps per run at most (default 100; at most "
                            f"{MAX_EPOCHS:,}, or {MAX_EPOCHS_NO_STOP:,} with --no-stop)")
        p.add_argument("--no-stop", action="store_true",
                       help="run every epoch even after a run has converged (default: each run "
                            "stops at its converged epoch; the loss curves then end there)")
    p.add_argument("--out", metavar="DIR", default=None, help=out_help)
    p.add_argument("--no-plots", action="store_true",
                   help="with --out, write the JSON/CSV results but no figures")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar (it is shown on stderr only when it is a terminal)")


def _add_csv(p):
    p.add_argument("csv", metavar="CSV",
                   help="data file with a header row of column names; or a folder (or glob) of "
                        "CSV/Parquet files, read chunk by chunk with dask (backend dask)")
    p.add_argument("--target", required=True, metavar="COLUMN",
                   help="column to predict (required)")
    p.add_argument("--features", metavar="A,B,...", default=None,
                   help="comma-separated feature columns (default: every column but the target; "
                        "all must be numeric)")
    p.add_argument("--no-bias", action="store_true",
                   help="do not add a column of ones (the intercept) to the features")
    p.add_argument("--standardize", action="store_true",
                   help="centre and scale each non-constant feature to unit variance first "
                        "(with --no-bias only scale it, so the model gains no intercept): "
                        "on badly scaled data this shrinks the condition number and brings "
                        "lr_crit to order 1 (weights then refer to the standardized features)")
    p.add_argument("--rtol", type=_positive_float, default=1e-3,
                   help="converged when L - L* <= RTOL (L0 - L*) (default 1e-3)")
    p.add_argument("--sep", default=",", help="field delimiter of the CSV (default ',')")
    p.add_argument("--model", type=_model_arg, default=None, metavar="MODEL",
                   help="linear (default: the closed-form analysis) or mlp:WIDTHS[:ACTIVATION], "
                        "e.g. mlp:100 or mlp:64,64:relu: an MLP (tanh unless ':relu', seed 0, "
                        "LeCun-normal init) whose curvature gdcore measures instead of predicting: "
                        "the sharpness lambda_0 at init, the edge of stability 2/lambda_0 and the "
                        "bracket (2, 4)/lambda_0, beside each run's measured status. No bias column "
                        "is added (the MLP has its own biases)")
    p.add_argument("--sharpness-every", type=_positive_int, default=None, metavar="K",
                   help="with an mlp --model: measure the sharpness every K epochs and (with "
                        "--out) draw edge_of_stability.png, the sharpness against 2/lr")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gdcore",
        description="How the learning rate drives gradient descent on the mean squared error "
                    "to converge, oscillate or diverge: on a linear model measured and predicted "
                    "in closed form; on an MLP (--model mlp:100) measured, with the sharpness "
                    "against 2/lr.",
        epilog="Run 'gdcore COMMAND --help' for the options of a command. Exit codes: 0 ok, "
               "2 bad input or options (one line on stderr says what to fix).",
    )
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="print gdcore's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser(
        "demo", help="reproduce the learning-rate study (lr 0.1, 0.7, 1.01) with every figure",
        description="Reproduce the original study: data y = 3x + 2 + uniform[0,1) noise (n=100), "
                    "the first guess w=(-1, 1) and its loss, gradient descent from it with lr "
                    "0.1, 0.7 and 1.01, a sweep of 60 lrs from 0.02 to 1.2, and the lr range "
                    "test, each beside the closed-form analysis; then a second act on a 1-20-1 "
                    "tanh MLP fit to sin(4x): lambda_0 and the bracket (2, 4)/lambda_0 at init, a "
                    "sweep of 32 lrs with the measured divergence onset, and the edge of "
                    "stability (the sharpness rises to 2/lr and hovers there while the loss "
                    "fluctuates and still falls). Prints a summary; with --out "
                    "writes data.png, first_guess.png, fit_before_after.png, loss_curves.png, "
                    "sweep.png, trajectory.png, lr_find.png, momentum.png, animation.gif, "
                    "mlp_sweep.png, edge_of_stability.png, summary.json, "
                    "sweep.csv and explorer.html (the interactive page, with bokeh installed).")
    _add_common(demo, out_help="folder for the figures, summary.json and sweep.csv "
                               "(default: print the summary only)", demo=True)
    demo.add_argument("--seed", type=_nonneg_int, default=0,
                      help="seed of the data, an integer >= 0 (default 0)")
    demo.set_defaults(func=_demo)

    fit = sub.add_parser(
        "fit", help="gradient descent on your CSV at one or more learning rates",
        description="Fit TARGET ~ FEATURES (+ bias) by full-batch gradient descent on the mean "
                    "squared error. Prints the regime, status, converged epoch (measured and "
                    "predicted), final loss and weights per lr; with --out writes fit.json, "
                    "losses.csv, loss_curves.png, fit.png and (one feature + bias) "
                    "trajectory.png.",
        epilog="example: gdcore fit houses.csv --target price --features size --lr 0.1,0.5 "
               "--epochs 200 --out results/")
    _add_csv(fit)
    fit.add_argument("--lr", type=_lr_list, action="append", metavar="LR[,LR...]",
                     help="learning rate(s), comma-separated or repeated (default: the analytic "
                          "lr_opt of your data)")
    _add_common(fit, out_help="folder for fit.json, losses.csv and the figures "
                              "(default: print the summary only)")
    fit.set_defaults(func=_fit)

    sw = sub.add_parser(
        "sweep", help="many learning rates at once on your CSV (one vectorised run)",
        description="Train every learning rate at once and compare epochs-to-converge and final "
                    "loss with the closed-form prediction, lr_opt and lr_crit. With --out writes "
                    "sweep.json, sweep.csv, sweep.png and loss_curves.png.",
        epilog="example: gdcore sweep houses.csv --target price --standardize "
               "--lrs 0.01:2:50:log --out results/")
    _add_csv(sw)
    sw.add_argument("--lrs", type=parse_lrs, metavar="START:STOP:NUM[:log]",
                    help="learning rates: NUM from START to STOP, evenly spaced (or geometric "
                         "with ':log'), or a comma list such as 0.1,0.5,0.9 (default: 60 "
                         f"geometric lrs from lr_crit/50 to 1.2 lr_crit); at most {MAX_LRS:,} "
                         f"lrs, and lrs x epochs at most {MAX_SWEEP_LOSSES:,}")
    _add_common(sw, out_help="folder for sweep.json, sweep.csv and the figures "
                             "(default: print the summary only)")
    sw.set_defaults(func=_sweep)

    ex = sub.add_parser(
        "explore", help="write the interactive learning-rate explorer: one self-contained HTML page",
        description="Write one self-contained HTML page (no server, no network; open it from "
                    "disk) with an lr slider and a momentum slider over precomputed gdcore runs: "
                    "the loss gap per epoch (measured and predicted), the path of the iterates "
                    "on the loss contours, the error along each eigen-direction, the regimes with "
                    "lr_opt and lr_crit, and the (lr, beta) stability map. Without DATA it shows "
                    "the seed data of 'gdcore demo'.",
        epilog="example: gdcore explore houses.csv --target price --standardize --out houses.html")
    ex.add_argument("csv", metavar="DATA", nargs="?", default=None,
                    help="CSV file with a header row (default: the seed data)")
    ex.add_argument("--target", metavar="COLUMN", default=None,
                    help="column to predict (required with DATA)")
    ex.add_argument("--features", metavar="A,B,...", default=None,
                    help="comma-separated feature columns (default: every column but the target)")
    ex.add_argument("--no-bias", action="store_true",
                    help="do not add a column of ones (the intercept) to the features")
    ex.add_argument("--standardize", action="store_true",
                    help="centre and scale each non-constant feature to unit variance first")
    ex.add_argument("--sep", default=",", help="field delimiter of the CSV (default ',')")
    ex.add_argument("--rtol", type=_positive_float, default=1e-3,
                    help="converged when L - L* <= RTOL (L0 - L*) (default 1e-3)")
    ex.add_argument("--lrs", type=parse_lrs, metavar="START:STOP:NUM[:log]", default=None,
                    help="lr slider positions (default: 41 geometric lrs from lr_crit/30 to "
                         "2.2 lr_crit, lr_opt among them)")
    ex.add_argument("--betas", type=_parse_betas, metavar="B,B,...", default=None,
                    help="momentum slider positions in [0, 1) (default 0,0.1,...,0.9; '0' for "
                         "plain gradient descent only)")
    ex.add_argument("--backend", default="numpy",
                    help="array library that runs gradient descent (default numpy)")
    ex.add_argument("--epochs", type=_nonneg_int, default=None,
                    help="epochs per run (default 100; 3000 with an mlp --model)")
    ex.add_argument("--model", type=_model_arg, default=None, metavar="MODEL",
                    help="linear (default) or mlp:WIDTHS[:ACTIVATION], e.g. mlp:20: the page of a "
                         "non-linear model, all measured: the loss per epoch, the sharpness "
                         "against the chosen lr's 2/lr line, and each lr's measured outcome "
                         "against lambda_0's bracket (2, 4)/lambda_0 (21 lrs from 0.09 to 2.8 x "
                         "2/lambda_0). Without DATA: gdcore demo's second act, y = sin(4x)")
    ex.add_argument("--sharpness-every", type=_positive_int, default=None, metavar="K",
                    help="with an mlp --model: epochs between two sharpness measurements "
                         "(default epochs // 40)")
    ex.add_argument("--out", metavar="FILE", default="explorer.html",
                    help="the page to write (default explorer.html)")
    ex.set_defaults(func=_explore)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``gdcore`` command; returns the exit code.

    Examples
    --------
    >>> from gdcore.cli import main
    >>> main(["demo", "--epochs", "20"])  # doctest: +ELLIPSIS
    data: make_linear(n=100, seed=0) -> y = 3x + 2 + uniform[0,1) noise, X = [x, 1] (the bias column)
    first guess w = (-1.0, 1.0): MSE = 10.0004
    ...
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = _warning_printer()
            return args.func(args)
    except UsageError as exc:
        print(f"gdcore: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gdcore: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `gdcore sweep ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0

