"""``gdcore explore``: write the interactive learning-rate explorer, one self-contained HTML page.

Without DATA it shows the seed data (``gdcore demo``'s, or its second act's
y = sin(4x) with an mlp --model); with a CSV file, the user's data.
"""

from __future__ import annotations

import argparse
import pathlib
import time

from gdcore._files import OverwritesInputError, check_target
from gdcore.cli._args import (
    _model_arg,
    _nonneg_int,
    _positive_float,
    _positive_int,
    _sep,
    parse_lrs,
)
from gdcore.cli._common import (
    DEMO_FIRST_GUESS,
    DEMO_MLP_FREQ,
    DEMO_MLP_POINTS,
    UsageError,
    _check_backend,
    _describe_data,
    _describe_stability,
    _design,
    _exists_error,
    _explore_fn,
    _is_folder,
    _is_network,
    _library_call,
    _overwrites_data,
)

__all__ = ["add_parser", "run"]


def add_parser(sub):
    """Declare ``gdcore explore`` and its options on the subparsers ``sub``."""

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
                    help="CSV file with a header row ('-': standard input; default: the seed data)")
    ex.add_argument("--target", metavar="COLUMN", default=None,
                    help="column to predict (required with DATA)")
    ex.add_argument("--features", metavar="A,B,...", default=None,
                    help="comma-separated feature columns (default: every column but the target)")
    ex.add_argument("--no-bias", action="store_true",
                    help="do not add a column of ones (the intercept) to the features")
    ex.add_argument("--standardize", action="store_true",
                    help="centre and scale each non-constant feature to unit variance first")
    ex.add_argument("--sep", type=_sep, default=",",
                    help="field delimiter of the CSV, one character (default ','; '\\t' or tab: "
                         "a tab)")
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
                    help="the page to write (default explorer.html); an existing file is replaced "
                         "only with --force")
    ex.add_argument("--force", action="store_true",
                    help="replace --out if it exists (default: refuse before computing anything); "
                         "the data file being read is never replaced, even with --force")
    ex.set_defaults(func=run)


def run(args) -> int:
    """``gdcore explore``: compute every run of the page and write it to --out."""
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
    network = _is_network(args)
    if not network and args.sharpness_every is not None:
        raise UsageError("--sharpness-every is for an mlp --model; a linear model's sharpness is its "
                         "constant lambda_max")
    if network and args.betas is not None:
        raise UsageError("--betas is for the linear model's momentum map (it needs the closed form); "
                         "drop it with an mlp --model")
    if args.csv is None:
        if args.target is not None or args.features is not None:
            raise UsageError("--target and --features need a DATA file; without one gdcore explore "
                             "shows the seed data (gdcore demo's)")
        X, y, kwargs = _seed_network_data() if network else _seed_linear_data()
    else:
        path = _explore_csv(args)
        if network:
            args.no_bias = True  # the MLP has its own biases
        X, y, names = _design(args)
        s = None if network else _library_call(gdcore.stability, X, standardize=args.standardize)
        _describe_data(args, X, names)
        if s is not None:
            _describe_stability(args, X, s)
        kwargs = {"source": path.name, "feature_names": names, "target_name": args.target}
    if network:
        kwargs.update(model=args.model, sharpness_every=args.sharpness_every)
    _check_page(out, args)
    ex = _library_call(explore, X, y, lrs=args.lrs, betas=args.betas, epochs=args.epochs,
                       standardize=args.standardize, backend=args.backend, rtol=args.rtol, **kwargs)
    try:
        ex.save(out, overwrite=args.force)
    except FileExistsError:  # it appeared while the page was computed
        raise _exists_error([out]) from None
    except OSError as exc:
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    runs = (f"{ex.model}, {len(ex.lrs)} learning rates" if ex.model is not None
            else f"{len(ex.lrs)} learning rates x {len(ex.betas)} momentums")
    print(f"wrote {out} ({ex.nbytes / 1e6:.1f} MB; {runs}, {ex.sweep.epochs} epochs) in "
          f"{time.perf_counter() - t0:.1f} s: open it in a browser, no server or network needed")
    return 0


def _check_page(out, args):
    """Refuse, before computing anything, to write the page over the data or (without --force)
    over an existing file."""
    try:
        check_target(out, overwrite=args.force, reading=() if args.csv is None else (args.csv,))
    except OverwritesInputError:
        raise _overwrites_data(f"--out {out}", args.csv) from None
    except FileExistsError:
        raise _exists_error([out]) from None


def _seed_linear_data():
    """gdcore demo's data and first guess: ``(X, y, explore keywords)``."""
    import gdcore

    X, y = gdcore.make_linear(n=100, seed=0)
    kwargs = {"w0": list(DEMO_FIRST_GUESS), "source": "make_linear(n=100, seed=0)",
              "feature_names": ["x", "bias"], "target_name": "y"}
    print("data: make_linear(n=100, seed=0) -> y = 3x + 2 + uniform[0,1) noise, X = [x, 1]; "
          f"first guess w = {tuple(DEMO_FIRST_GUESS)}")
    return X, y, kwargs


def _seed_network_data():
    """The data of gdcore demo's second act, y = sin(4x): ``(X, y, explore keywords)``."""
    import numpy as np

    x = np.linspace(-1.0, 1.0, DEMO_MLP_POINTS)[:, None]
    kwargs = {"source": f"{DEMO_MLP_POINTS} points on [-1, 1] (gdcore demo's second act)",
              "feature_names": ["x"], "target_name": f"sin({DEMO_MLP_FREQ}x)"}
    print(f"data: x = {DEMO_MLP_POINTS} points evenly spaced on [-1, 1], y = sin({DEMO_MLP_FREQ}x) "
          "(gdcore demo's second act)")
    return x, np.sin(DEMO_MLP_FREQ * x[:, 0]), kwargs


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
    if _is_folder(args.csv):
        raise UsageError(f"gdcore explore reads one CSV file, not a folder or glob ({args.csv}); "
                         "the page holds every epoch of every run in memory")
    return pathlib.Path(args.csv)

