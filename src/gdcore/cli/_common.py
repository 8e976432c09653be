"""What the subcommands of ``gdcore`` share: errors, output, tables and the user's data.

Every handler reports bad input by raising :class:`UsageError` (one line on
stderr, exit code 2); the library's own input errors become one through
:func:`_library_call`.  ``fit`` and ``sweep`` start alike (:func:`_load`): the
checks, the data, and its analysis, a :class:`gdcore.Stability` for the
linear model or a :class:`gdcore.analysis.Curvature` (measured at the
initial weights) for a network; what they print and write afterwards is
decided by which of the two the result holds.
"""

from __future__ import annotations

import contextlib
import csv
import os
import pathlib
import sys

from gdcore._files import OverwritesInputError, reads, write_atomic

__all__ = [
    "DEMO_FIRST_GUESS", "DEMO_MLP_FREQ", "DEMO_MLP_POINTS", "MAX_EPOCHS", "MAX_EPOCHS_NO_STOP",
    "MAX_LRS", "MAX_SWEEP_LOSSES", "UsageError", "_check_backend", "_data_summary", "_describe_data",
    "_describe_stability", "_design", "_epoch_bar", "_explore_fn", "_fmt", "_is_folder",
    "_is_network", "_jsonable", "_library_call", "_load", "_lr_labels", "_model_note",
    "_model_rows", "_model_sweep_csv", "_model_table", "_named_values", "_one_line", "_out_dir",
    "_plot_module", "_progress", "_save", "_sweep_csv", "_table", "_table_note",
    "_warning_printer", "_write",
    "_Out", "_exists_error", "_overwrites_data", "_writing",
]

# Bounds on the work one command may ask for (every epoch keeps its losses in memory).
MAX_EPOCHS = 10_000_000  # fit/sweep, stopping at convergence (the default)
MAX_EPOCHS_NO_STOP = 1_000_000  # fit/sweep --no-stop: every epoch runs
MAX_LRS = 100_000  # learning rates in one sweep
MAX_SWEEP_LOSSES = 100_000_000  # lrs x (epochs + 1): the sweep's loss table, 800 MB
# The seed data (gdcore demo's, and gdcore explore's without DATA): y = 3x + 2 + noise from the
# first guess w = (-1, 1); its second act fits y = sin(4x) on 50 evenly spaced points of [-1, 1].
DEMO_FIRST_GUESS = (-1.0, 1.0)
DEMO_MLP_POINTS, DEMO_MLP_FREQ = 50, 4


class UsageError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""


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


# ---------------------------------------------------------------------------
# the output folder


def _jsonable(obj):
    """Replace non-finite floats (JSON has none) by None, recursively (the library's rule)."""
    from gdcore.analysis import json_ready

    return json_ready(obj)


def _overwrites_data(target, src) -> UsageError:
    """The error for an output that would replace, or land among, the data being read."""
    if pathlib.Path(src).is_dir():
        return UsageError(f"{target} would be written into the data folder {src} that gdcore is "
                          "reading; pass an --out outside it (not even --force writes into the data)")
    if _is_folder(src):
        return UsageError(f"{target} matches the data files {src} that gdcore is reading; pass "
                          "another --out (not even --force writes into the data)")
    return UsageError(f"{target} would overwrite the data file {src} that gdcore is reading; pass "
                      "another --out (not even --force replaces the data)")


def _exists_error(paths, *, nothing_written=True) -> UsageError:
    """The error for outputs that exist (without --force): names them and --force."""
    paths = [str(p) for p in paths]
    shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    verb, them = ("exists", "it") if len(paths) == 1 else ("exist", "them")
    note = " (nothing was written)" if nothing_written else ""
    return UsageError(f"{shown} already {verb}; pass --force to replace {them}, or choose another "
                      f"--out{note}")


class _Out:
    """The --out folder of one command, and the rules for every file written there.

    :meth:`plan` checks all the files the command will write before any is
    written (so a refused run writes nothing): none may be (or lie among) the
    data being read, even with --force, and none may exist without --force.
    Each file is then written by :func:`_write`, :func:`_save` or inside
    :func:`_writing`, under a temporary name renamed into place once complete.
    """

    def __init__(self, folder, *, force=False, reading=()):
        self.folder = pathlib.Path(folder)
        self.force = bool(force)
        self.reading = tuple(reading)
        self.planned = frozenset()

    def __truediv__(self, name):
        return self.folder / name

    def __fspath__(self):
        return os.fspath(self.folder)

    def __str__(self):
        return str(self.folder)

    def plan(self, names):
        """Check every file ``names`` (in the folder) before any is written, or raise UsageError."""
        for name in names:
            src = reads(self / name, self.reading)
            if src is not None:
                raise _overwrites_data(self / name, src)
        folders = [self / n for n in names if (self / n).is_dir()]
        if folders:
            raise UsageError(f"{folders[0]} is a folder where gdcore writes a file; move it or "
                             "choose another --out (nothing was written)")
        existing = [self / n for n in names if os.path.lexists(self / n)]
        if existing and not self.force:
            raise _exists_error(existing)
        self.planned = frozenset(names)


def _out_dir(path, *, force=False, reading=()):
    """The --out folder (created) as an :class:`_Out`, or None without --out.

    ``reading``: the data (file, folder or glob); the folder must not be it or lie in it.
    """
    if path is None:
        return None
    out = pathlib.Path(path)
    src = reads(out, reading)
    if src is not None:
        raise _overwrites_data(f"--out {path}", src)
    if os.path.lexists(out) and not out.is_dir():
        raise UsageError(f"--out {path} is a file, not a folder; pass a folder for the results")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder {path}: {exc.strerror}; "
                         "pass a writable --out DIR") from None
    return _Out(out, force=force, reading=reading)


@contextlib.contextmanager
def _writing(out, name):
    """Write ``out / name`` inside the block (yielded); its errors become one UsageError line."""
    if name not in out.planned:
        raise RuntimeError(f"gdcore bug: {name} is written without being checked first")
    try:
        yield out / name
    except OverwritesInputError as exc:
        raise UsageError(_one_line(exc)) from None
    except FileExistsError:  # it appeared while the command ran
        raise _exists_error([out / name], nothing_written=False) from None
    except OSError as exc:
        raise UsageError(f"cannot write {out / name}: {exc.strerror or exc}") from None


def _write(out, name, text, written):
    with _writing(out, name) as path:
        write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"),
                     overwrite=out.force, reading=out.reading)
    written.append(name)


def _save(fig, out, name, written, dpi=100):
    with _writing(out, name) as path:
        write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=dpi),
                     overwrite=out.force, reading=out.reading)
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


def _explore_fn():
    """``gdcore.explore``, or a UsageError naming the extra when bokeh is missing."""
    import importlib.util

    if importlib.util.find_spec("bokeh") is None:
        raise UsageError('the explorer needs bokeh: pip install "gdcore[explore]"')
    import gdcore

    return gdcore.explore


# ---------------------------------------------------------------------------
# tables: the linear model's (measured beside predicted) and a network's (measured only)


def _fmt(v, spec=".6g"):
    if v is None:
        return "-"
    if isinstance(v, float):
        return format(v, spec)
    return str(v)


def _lr_labels(lrs) -> list:
    """Each lr as few digits as tell it from every other lr (at least ``:g``'s 6, at most repr's 17).

    Two lrs that differ never share a label (``0.1`` and ``0.10000001`` are
    not both ``0.1``); an lr given twice gets ``#2``, ``#3`` after its label.

    Examples
    --------
    >>> from gdcore.cli._common import _lr_labels
    >>> _lr_labels([0.1, 0.10000001, 0.7, 0.1])
    ['0.1', '0.10000001', '0.7', '0.1#2']
    """
    values = [float(v) for v in lrs]
    distinct = sorted(set(values))
    labels = {}
    for v in distinct:
        for digits in range(6, 18):
            text = f"{v:.{digits}g}"
            if all(f"{o:.{digits}g}" != text for o in distinct if o != v):
                break
        labels[v] = text
    seen, out = {}, []
    for v in values:
        seen[v] = seen.get(v, 0) + 1
        out.append(labels[v] if seen[v] == 1 else f"{labels[v]}#{seen[v]}")
    return out


def _named_values(names, values, limit=10, spec=".6g") -> str:
    """``name=value, ...``: all of them up to ``limit``, else the first and last halves around "..."."""
    n = len(names)
    if n <= limit:
        return ", ".join(f"{k}={float(v):{spec}}" for k, v in zip(names, values))
    half = limit // 2
    shown = [f"{names[i]}={float(values[i]):{spec}}" for i in range(half)]
    shown += ["..."] + [f"{names[i]}={float(values[i]):{spec}}" for i in range(n - half, n)]
    return ", ".join(shown)


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


def _csv_rows(rows, cols) -> str:
    """``rows`` (dicts) as CSV text with the columns ``cols``; None becomes an empty cell."""
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: ("" if row[k] is None else row[k]) for k in cols})
    return buf.getvalue()


def _sweep_csv(sw) -> str:
    return _csv_rows(sw.to_dict()["runs"], ["lr", "regime", "status", "converged_epoch",
                                            "predicted_epoch", "diverged_epoch", "final_loss"])


def _model_sweep_csv(rows) -> str:
    return _csv_rows(rows, ["lr", "lr_over_lr_crit", "regime", "status", "converged_epoch",
                            "diverged_epoch", "final_loss", "final_over_l0", "peak_over_l0"])


# ---------------------------------------------------------------------------
# the user's data


def _is_network(args) -> bool:
    """Whether ``--model`` names a model non-linear in its weights (an MLP), not the linear one."""
    return getattr(args, "model", None) is not None and args.model.name != "linear"


def _is_folder(path) -> bool:
    """A folder or a glob of files (read chunk by chunk with dask), not one file."""
    path = pathlib.Path(path)
    return path.is_dir() or any(ch in path.name for ch in "*?[")


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
    lazy = _is_folder(args.csv)
    if lazy:
        _check_backend("dask")
    try:
        X, y, names = gdcore.io.read(pathlib.Path(args.csv), target=args.target, features=features,
                                     bias=not args.no_bias, sep=args.sep, lazy=lazy,
                                     return_names=True)
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(_one_line(exc)) from None
    if lazy and args.backend == "numpy":
        args.backend = "dask"
    return X, y, names


def _describe_data(args, X, names):
    """The line that says what was read: rows, target, features (and the bias column)."""
    std = " (standardized)" if args.standardize else ""
    if _is_network(args):
        print(f"data: {args.csv}, {X.shape[0]} rows; target {args.target!r}; features "
              f"{', '.join(names)}{std} (no bias column: the MLP has its own biases)")
        return
    bias = "" if args.no_bias else " + bias column"
    feats = [n for n in names if n != "bias" or args.no_bias]
    shown = (", ".join(feats) if len(feats) <= 10 else
             f"{', '.join(feats[:5])}, ..., {', '.join(feats[-5:])} ({len(feats)} columns)")
    print(f"data: {args.csv}, {X.shape[0]} rows; target {args.target!r}; features "
          f"{shown}{std}{bias}")


def _describe_stability(args, X, s):
    """The line of the analysis: the Hessian's spectrum, or a network's sharpness at init."""
    from gdcore.analysis import Curvature

    if isinstance(s, Curvature):
        lo, hi = s.bracket
        print(f"model {s.model} ({args.model.spec(X.shape[1], 1).size} parameters): sharpness at "
              f"init lambda_0 = {s.lambda_max:.4g} (top Hessian eigenvalue, measured); edge of "
              f"stability 2/lambda_0 = {lo:.4g}; bracket (2/lambda_0, 4/lambda_0) = "
              f"({lo:.4g}, {hi:.4g})")
    else:
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


# Above this many floating-point operations (the QR of X and the SVD of its d x d factor) the
# analysis takes seconds to minutes: say so before it starts, as nothing moves meanwhile.
LONG_ANALYSIS_FLOPS = 2e9


def _announce_analysis(args, X):
    """One line on stderr before an analysis that will take a while (unless --no-progress)."""
    n, d = X.shape
    flops = float(n) * d * min(n, d) + float(d) ** 3
    if args.progress and flops > LONG_ANALYSIS_FLOPS:
        print(f"gdcore: analysing X ({n:,} rows x {d:,} columns) once: the QR of X and the SVD of "
              f"its {d:,} x {d:,} factor, about {flops:.0e} operations; this may take a while",
              file=sys.stderr, flush=True)


def _load(args, n_lrs=1, outputs=None):
    """What ``gdcore fit`` and ``gdcore sweep`` both start with: checks, data, its analysis.

    Returns ``(out, gplot, X, y, names, s, study)``: the output folder (an
    :class:`_Out`, None without --out), :mod:`gdcore.plot` (None without figures), the data,
    ``s``, a Stability for the linear model or, with an mlp --model, the
    Curvature measured at the initial weights (no bias column then: the MLP
    has its own), and the prepared study it belongs to, on which the command
    runs its learning rates: X is prepared and analysed once.  ``outputs(X)``: the
    names of the files the command will write into --out, checked (:meth:`_Out.plan`)
    as soon as the data is read, before any analysis or run.
    """
    from gdcore.study import _pipeline

    network = _is_network(args)
    if not network and args.sharpness_every is not None:
        raise UsageError("--sharpness-every tracks the moving Hessian of an mlp --model; a linear "
                         "model's sharpness is lambda_max at every epoch (printed above the table)")
    _check_epochs(args, n_lrs)
    _check_backend(args.backend)
    if network and _is_folder(args.csv):
        raise UsageError(f"--model {args.model.describe()!r} reads one CSV file into memory, not a "
                         f"folder or glob ({args.csv}); the chunked (dask) path is the linear model's")
    out = _out_dir(args.out, force=args.force, reading=(args.csv,))
    gplot = _plot_module() if (out is not None and not args.no_plots) else None
    if network:
        args.no_bias = True
    X, y, names = _design(args)
    if out is not None:
        out.plan(outputs(X))
    _announce_analysis(args, X)
    study = _library_call(_pipeline.begin, X, y, model=args.model if network else None,
                          backend=args.backend, standardize=args.standardize)
    s = study.curvature
    _describe_data(args, X, names)
    _describe_stability(args, X, s)
    return out, gplot, X, y, names, s, study


def _data_summary(args, X, names) -> dict:
    """The ``data`` entry of fit.json and sweep.json."""
    return {"path": str(args.csv), "rows": int(X.shape[0]), "target": args.target,
            "features": names, "bias": not args.no_bias, "standardize": args.standardize}
