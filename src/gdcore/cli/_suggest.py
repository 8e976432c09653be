"""``gdcore suggest``: the learning rate to use on the user's CSV for a budget of epochs.

The linear model's lr (and momentum) come from the closed form, at no run; a
network's (``--model mlp:20``) from one vectorised sweep placed by the
sharpness measured at init.  Prints the lr, the reason and the candidates
weighed; with ``--out``, ``suggest.json``.
"""

from __future__ import annotations

import argparse
import json

from gdcore.cli._args import _add_common, _add_csv
from gdcore.cli._common import UsageError, _data_summary, _fmt, _jsonable, _library_call, _load, _write

__all__ = ["add_parser", "run"]


def _optimizer_arg(text):
    """``gd``, ``momentum[:BETA]``, ``nesterov[:BETA]`` or ``adam``: an optimizer value."""
    from gdcore import optimizers

    name, _, beta = text.strip().lower().partition(":")
    try:
        if name == "gd" and not beta:
            return optimizers.gd()
        if name in ("momentum", "nesterov"):
            return optimizers.momentum(float(beta) if beta else 0.9, nesterov=name == "nesterov")
        if name == "adam" and not beta:
            return optimizers.adam()
    except (ValueError, TypeError) as exc:
        raise argparse.ArgumentTypeError(" ".join(str(exc).split())) from None
    raise argparse.ArgumentTypeError(
        f"{text!r} is not an optimizer; use gd, momentum[:BETA], nesterov[:BETA] or adam")


def add_parser(sub):
    """Declare ``gdcore suggest`` and its options on the subparsers ``sub``."""
    p = sub.add_parser(
        "suggest", help="the learning rate to use for a budget of epochs, and why",
        description="The learning rate gdcore recommends for training TARGET ~ FEATURES for "
                    "--epochs epochs: the linear model's from the closed form (no run), a "
                    "network's (--model mlp:20) from one vectorised sweep placed by the "
                    "sharpness at init. Prints the lr, the reason and the candidates weighed; "
                    "with --out writes suggest.json.",
        epilog="example: gdcore suggest data.csv --target y --epochs 1000 --model mlp:20")
    _add_csv(p)
    p.add_argument("--optimizer", type=_optimizer_arg, default=None, metavar="OPT",
                   help="gd (default), momentum[:BETA] (the linear model: BETA is chosen with "
                        "the lr), nesterov[:BETA] or adam")
    _add_common(p, out_help="folder for suggest.json (default: print only)")
    p.set_defaults(func=run)


def run(args) -> int:
    """``gdcore suggest``: print the suggested lr, its reason and the candidates."""
    from gdcore import optimizers
    from gdcore.study._suggest import suggest_study

    if args.epochs < 1:
        raise UsageError(f"--epochs must be at least 1 (the budget the lr is for), got {args.epochs}")
    args.no_plots = True
    out, _, X, _, names, _, study = _load(args, outputs=lambda X: ["suggest.json"])
    opt = optimizers.resolve(args.optimizer)
    s = _library_call(suggest_study, study, args.epochs, opt, rtol=args.rtol)
    mom = "" if s.momentum is None else f" with momentum {s.momentum:.4g}"
    print(f"suggested lr: {s.lr:.4g}{mom} for {args.epochs:,} epochs ({s.method}, cost "
          f"{s.cost:g} runs)")
    print(s.reason)
    print(_candidates_table(s))
    if out is not None:
        written = []
        summary = {"data": _data_summary(args, X, names), "backend": args.backend,
                   "suggestion": s.to_dict()}
        _write(out, "suggest.json", json.dumps(_jsonable(summary), indent=2), written)
        print(f"wrote {', '.join(written)} to {out}")
    return 0


def _candidates_table(s) -> str:
    loss = "predicted loss" if s.method == "closed form" else "final loss"
    lines = [f"  {'lr':>10} {'lr/lr_crit':>10} {'momentum':>9} {'status':>11} {loss:>14}"]
    for c in s.candidates:
        mark = "*" if c["chosen"] else " "
        lines.append(f"{mark} {c['lr']:>10.4g} {c['lr'] / s.lr_crit:>10.3g} "
                     f"{_fmt(c['momentum']):>9} {c['status']:>11} {_fmt(c['final_loss']):>14}")
    return "\n".join(lines)
