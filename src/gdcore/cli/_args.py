"""Arguments of ``gdcore``: the parser, the argument types, and the options subcommands share.

An argument type raises :class:`argparse.ArgumentTypeError` with what was
wrong; the parser turns it (and every other parsing error) into one
:class:`~gdcore.cli._common.UsageError` line.
"""

from __future__ import annotations

import argparse
import math

from gdcore.cli._common import (
    MAX_EPOCHS,
    MAX_EPOCHS_NO_STOP,
    MAX_LRS,
    UsageError,
    _one_line,
)

__all__ = ["FORCE_HELP", "_Parser", "_Version", "_add_common", "_add_csv", "_lr_list", "_model_arg",
           "_nonneg_int", "_positive_float", "_positive_int", "_sep", "parse_lrs"]


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


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite number > 0")
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


# What a shell hands over when a tab is typed as an escape: '\t' (backslash, t), '\\t', or the word.
_TAB_SPELLINGS = ("\\t", "\\\\t", "tab")


def _sep(text):
    r"""``--sep``: the CSV's delimiter, one character; ``\t`` (backslash, t), ``\\t`` and ``tab`` mean a tab.

    Examples
    --------
    >>> from gdcore.cli._args import _sep
    >>> _sep(";"), _sep("\\t"), _sep("\\\\t"), _sep("tab")
    (';', '\t', '\t', '\t')
    """
    if text.lower() in _TAB_SPELLINGS:
        return "\t"
    if len(text) != 1 or text in '\r\n"':
        raise argparse.ArgumentTypeError(
            f"{text!r} is not one character; pass the delimiter itself, e.g. --sep ';' or "
            "--sep '\\t' for a tab (also '\\\\t' or 'tab'); a newline or '\"' cannot be one")
    return text


def _model_arg(text):
    """``linear``, ``mlp:100``, ``mlp:64,64:relu``: a model value (``gdcore.models.parse``)."""
    from gdcore import models

    try:
        return models.parse(text)
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(_one_line(exc)) from None


def parse_lrs(text):
    """``START:STOP:NUM[:log]`` (linear unless ``:log``) or a comma list of learning rates.

    Examples
    --------
    >>> from gdcore.cli import parse_lrs
    >>> [round(v, 12) for v in parse_lrs("0.01:1:3:log").tolist()]   # geometric
    [0.01, 0.1, 1.0]
    >>> parse_lrs("0.1,0.7").tolist()
    [0.1, 0.7]
    """
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


FORCE_HELP = ("replace files of the same names already in --out (default: refuse when one "
              "exists, and write nothing); the data being read is never replaced, even with "
              "--force")


def _add_common(p, *, out_help, epochs=None):
    """--backend, --epochs, --out, --force, --no-plots, --no-progress (and --no-stop).

    ``epochs``: the keywords of ``add_argument("--epochs", ...)`` for a command
    whose runs have a fixed length (the demo); by default --epochs bounds
    runs that stop at convergence, and --no-stop is added.
    """
    p.add_argument("--backend", default="numpy",
                   help="array library that runs gradient descent: numpy (default, analytic "
                        "gradient), torch (autograd), jax (jax.grad + jit) or array-api-strict")
    if epochs is not None:
        p.add_argument("--epochs", **epochs)
    else:
        p.add_argument("--epochs", type=_nonneg_int, default=100,
                       help=f"gradient steps per run at most (default 100; at most "
                            f"{MAX_EPOCHS:,}, or {MAX_EPOCHS_NO_STOP:,} with --no-stop)")
        p.add_argument("--no-stop", action="store_true",
                       help="run every epoch even after a run has converged (default: each run "
                            "stops at its converged epoch; the loss curves then end there)")
    p.add_argument("--out", metavar="DIR", default=None, help=out_help)
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    p.add_argument("--no-plots", action="store_true",
                   help="with --out, write the JSON/CSV results but no figures")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar (it is shown on stderr only when it is a terminal)")


def _add_csv(p):
    """The data options of ``fit`` and ``sweep``: the CSV, its columns, the model."""
    p.add_argument("csv", metavar="CSV",
                   help="data file with a header row of column names ('-': standard input); or "
                        "a folder (or glob) of CSV/Parquet files, read chunk by chunk with dask "
                        "(backend dask)")
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
    p.add_argument("--sep", type=_sep, default=",",
                   help="field delimiter of the CSV, one character (default ','; '\\t' or tab: "
                        "a tab)")
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
