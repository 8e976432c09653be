"""``gdcore sweep``: many learning rates at once on the user's CSV (one vectorised run).

One path for every model: the linear model's runs are compared with the
closed-form prediction, lr_opt and lr_crit; a network's (``--model mlp:...``)
with lambda_0 measured at init, its bracket (2, 4)/lambda_0 and the measured
divergence onset.  Their tables and CSV columns differ.
"""

from __future__ import annotations

import json

from gdcore.cli._args import _add_common, _add_csv, parse_lrs
from gdcore.cli._common import (
    MAX_LRS,
    MAX_SWEEP_LOSSES,
    _data_summary,
    _epoch_bar,
    _is_network,
    _jsonable,
    _library_call,
    _load,
    _model_note,
    _model_rows,
    _model_sweep_csv,
    _model_table,
    _save,
    _sweep_csv,
    _table,
    _table_note,
    _write,
)

__all__ = ["add_parser", "run"]

# Without --lrs: 60 geometric lrs from lr_crit/50 to 1.2 lr_crit (linear model), or 40 from
# 0.1 to 8 x 2/lambda_0 (a network: past the bracket (2, 4)/lambda_0, where it may diverge).
DEFAULT_LRS, DEFAULT_NETWORK_LRS = 60, 40


def add_parser(sub):
    """Declare ``gdcore sweep`` and its options on the subparsers ``sub``."""
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
    sw.set_defaults(func=run)


def run(args) -> int:
    """``gdcore sweep``: every lr in one run, printed; with --out, sweep.json, sweep.csv, figures."""
    import numpy as np

    from gdcore.analysis import Curvature
    from gdcore.study._sweep import sweep_study

    n_default = DEFAULT_NETWORK_LRS if _is_network(args) else DEFAULT_LRS
    out, gplot, X, y, names, s, study = _load(args, n_default if args.lrs is None else len(args.lrs),
                                              outputs=lambda X: _outputs(args))
    network = isinstance(s, Curvature)  # a network's curvature is measured, not predicted
    if args.lrs is not None:
        lrs = args.lrs
    elif network:
        lrs = s.lr_crit * np.geomspace(0.1, 8.0, n_default)
        print(f"no --lrs given: {n_default} lrs from 0.1 to 8 x 2/lambda_0 = {lrs[0]:.3g} to "
              f"{lrs[-1]:.3g} (geometric)")
    else:
        lrs = np.geomspace(s.lr_crit / 50, 1.2 * s.lr_crit, n_default)
        print(f"no --lrs given: {n_default} lrs from lr_crit/50 = {lrs[0]:.3g} to 1.2 lr_crit = "
              f"{lrs[-1]:.3g} (geometric)")
    extra = {"sharpness_every": args.sharpness_every} if network else {}
    # One vectorised sweep on the study _load analysed (X is read and analysed once); on long
    # runs of the linear model a progress bar counts its epochs.
    n, d = X.shape
    work = n * d * len(lrs) * max(args.epochs, 1)
    bar = _epoch_bar(enabled=args.progress and not network and work > 2e8, total=args.epochs,
                     desc="sweep")
    try:
        sw = _library_call(sweep_study, study, lrs, epochs=args.epochs, rtol=args.rtol,
                           stop_on_convergence=not args.no_stop,
                           callback=None if bar is None else (lambda e: bar.update(e - bar.n)),
                           **extra)
    finally:
        if bar is not None:
            bar.close()
    if network:
        rows = _report_network(args, sw, s)
        result = {**sw.to_dict(), "runs": rows}
        table = _model_sweep_csv(rows)
    else:
        result = sw.to_dict()
        _report_linear(args, sw, s, result["runs"])
        table = _sweep_csv(sw)
    if out is None:
        return 0
    written = []
    summary = {"data": _data_summary(args, X, names), **result}
    _write(out, "sweep.json", json.dumps(_jsonable(summary), indent=2), written)
    _write(out, "sweep.csv", table, written)
    if gplot is not None:
        _save(gplot.model_sweep(sw) if network else gplot.sweep(sw), out, "sweep.png", written)
        _save(gplot.loss_curves(sw), out, "loss_curves.png", written)
        if network and args.sharpness_every is not None:
            _save(gplot.edge_of_stability(sw), out, "edge_of_stability.png", written)
    print(f"wrote {', '.join(written)} to {out}")
    return 0


def _outputs(args) -> list:
    """The files ``run`` writes into --out, checked before the sweep runs."""
    names = ["sweep.json", "sweep.csv"]
    if not args.no_plots:
        names += ["sweep.png", "loss_curves.png"]
        if _is_network(args) and args.sharpness_every is not None:
            names.append("edge_of_stability.png")
    return names


def _report_linear(args, sw, s, rows):
    """Print the table beside the prediction, and the best lr beside ``s.lr_opt``."""
    print(_table(rows))
    print(_table_note(args.epochs, args.rtol))
    if sw.best_lr is None:
        print(f"best_lr: none of these lrs converged in {args.epochs} epochs "
              f"(lr_opt = {s.lr_opt:.4g}; try more --epochs or lrs near it)")
    else:
        i = list(sw.lrs).index(sw.best_lr)
        print(f"best_lr = {sw.best_lr:.4g} ({sw.converged_epoch[i]} epochs); analytic lr_opt = "
              f"{s.lr_opt:.4g}, lr_crit = {s.lr_crit:.4g}")


def _report_network(args, sw, curv) -> list:
    """Print the measured table, the divergence onset beside ``curv.bracket``, the lowest loss.

    Returns the table's rows (sweep.json's runs and sweep.csv's lines).
    """
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
    return rows
