"""The ``gdcore`` command line.

``gdcore demo`` reproduces the learning-rate study (y = 3x + 2 + noise, first
guess w = (-1, 1), lr 0.1, 0.7 and 1.01) with every figure, then, as a second
act, the same study on a small tanh MLP, where the loss fluctuates near
convergence (the edge of stability); ``gdcore fit`` and ``gdcore sweep`` run the
study on your own CSV file, on the linear model or (``--model mlp:100``) an MLP.  Bad input (a
missing column, text or an empty cell where a number belongs, a bad option)
ends with exit code 2 and one line on stderr that says what to fix.

A subcommand is one module (its handler ``run`` and its ``add_parser``) and
one entry of :data:`COMMANDS`; what they share lives in ``_common`` (errors,
output, tables, the user's data) and ``_args`` (argument types and options).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from gdcore.cli import _demo, _explore, _fit, _suggest, _sweep
from gdcore.cli._args import _Parser, _Version, parse_lrs
from gdcore.cli._common import (
    UsageError,
    _epoch_bar,  # noqa: F401  (importable from gdcore.cli)
    _one_line,
    _progress,  # noqa: F401  (importable from gdcore.cli)
    _warning_printer,
)

__all__ = ["COMMANDS", "UsageError", "build_parser", "main", "parse_lrs"]

# The subcommands, in the order ``gdcore --help`` lists them.
COMMANDS = (_demo, _fit, _sweep, _suggest, _explore)


def build_parser() -> argparse.ArgumentParser:
    """The parser of ``gdcore`` and every subcommand of :data:`COMMANDS`.

    Examples
    --------
    >>> from gdcore.cli import build_parser
    >>> build_parser().parse_args(["sweep", "data.csv", "--target", "y"]).epochs
    100
    """
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
    for command in COMMANDS:
        command.add_parser(sub)
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
