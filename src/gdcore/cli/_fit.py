"""``gdcore fit``: gradient descent on the user's CSV at one or more learning rates.

One path for every model: the linear model's runs are printed beside their
closed-form prediction and the least-squares optimum; a network's (``--model
mlp:...``) beside lambda_0 measured at init, with the sharpness where it was
tracked.
"""

from __future__ import annotations

import csv
import json

from gdcore.cli._args import _add_common, _add_csv, _lr_list
from gdcore.cli._common import (
    _data_summary,
    _is_network,
    _epoch_bar,
    _jsonable,
    _library_call,
    _load,
    _lr_labels,
    _model_note,
    _model_rows,
    _model_table,
    _named_values,
    _progress,
    _save,
    _table,
    _table_note,
    _write,
)

__all__ = ["add_parser", "run"]

# Runs of more than this much work (rows x columns x epochs) show a progress bar of their epochs.
LONG_RUN_WORK = 2e8


def add_parser(sub):
    """Declare ``gdcore fit`` and its options on the subparsers ``sub``."""
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
    fit.set_defaults(func=run)


def run(args) -> int:
    """``gdcore fit``: one run per learning rate, printed; with --out, fit.json and figures."""
    from gdcore.analysis import Curvature
    from gdcore.study._fit import fit_study

    out, gplot, X, y, names, s, study = _load(args, outputs=lambda X: _outputs(args, X))
    network = isinstance(s, Curvature)  # a network's curvature is measured, not predicted
    if args.lr:
        lrs = [v for group in args.lr for v in group]
    elif network:
        lrs = [0.5 * s.lr_crit]
        print(f"no --lr given: using 1/lambda_0 = 0.5 x 2/lambda_0 = {lrs[0]:.4g} (below the edge "
              "at initialisation)")
    else:
        lrs = [s.lr_opt]
        print(f"no --lr given: using the analytic lr_opt = {s.lr_opt:.4g}")
    record = not network and X.shape[1] == 2  # one feature + bias: the weights' path is a picture
    extra = ({"sharpness_every": args.sharpness_every} if network
             else {"record_weights": record})
    # Every lr runs on the study _load analysed (X is read and analysed once); on long runs a
    # progress bar counts the epochs of each.
    n, d = X.shape
    long_runs = n * d * max(args.epochs, 1) > LONG_RUN_WORK
    runs = []
    for lr in _progress(lrs, enabled=args.progress, desc="fit"):
        bar = _epoch_bar(enabled=args.progress and long_runs, total=args.epochs, desc="fit")
        try:
            runs.append(_library_call(
                fit_study, study, lr=lr, epochs=args.epochs, rtol=args.rtol,
                stop_on_convergence=not args.no_stop,
                callback=None if bar is None else (lambda e, bar=bar: bar.update(e - bar.n)),
                **extra))
        finally:
            if bar is not None:
                bar.close()
    rows = _report_network(args, runs, s) if network else _report_linear(args, runs, names)
    if out is None:
        return 0
    written = []
    summary = {"data": _data_summary(args, X, names), "backend": args.backend,
               **({"horizon": args.epochs} if network else {}),
               "stability": s.to_dict(), "runs": rows}
    _write(out, "fit.json", json.dumps(_jsonable(summary), indent=2), written)
    _write(out, "losses.csv", _losses_csv(runs), written)
    if gplot is not None:
        _save(gplot.loss_curves(runs), out, "loss_curves.png", written)
        if network:
            if args.sharpness_every is not None:
                _save(gplot.edge_of_stability(runs), out, "edge_of_stability.png", written)
        elif args.backend != "dask":  # only the loss curves on dask: X stays on the cluster
            _linear_figures(gplot, args, X, y, names, runs, out, written, trajectory=record)
    print(f"wrote {', '.join(written)} to {out}")
    return 0


def _outputs(args, X) -> list:
    """The files ``run`` writes into --out, checked before any run (``X``: the data as read)."""
    names = ["fit.json", "losses.csv"]
    if args.no_plots:
        return names
    names.append("loss_curves.png")
    if _is_network(args):
        if args.sharpness_every is not None:
            names.append("edge_of_stability.png")
    elif args.backend != "dask":
        names.append("fit.png")
        if X.shape[1] == 2:
            names.append("trajectory.png")
    return names


def _report_linear(args, runs, names) -> list:
    """Print the table, the weights and the optimum; return the runs of fit.json."""
    import numpy as np

    from gdcore.backends import host

    rows = [r.to_dict() for r in runs]
    print(_table(rows))
    print(_table_note(args.epochs, args.rtol))
    # At most 10 weights per line: a wide X would print lines of thousands of numbers.
    where = ("" if len(names) <= 10 else
             f" ({len(names)} weights; all of them in fit.json: runs[i].weights_by_name)"
             if args.out is not None else
             f" ({len(names)} weights; pass --out DIR to write all of them to fit.json)")
    for r, label in zip(runs, _lr_labels([r.lr for r in runs])):
        w = host(r.weights).astype(np.float64)
        print(f"weights (lr={label}, {r.status}): {_named_values(names, w)}{where}")
    w_star = host(runs[0].optimum.weights).astype(np.float64)
    print(f"least-squares optimum: {_named_values(names, w_star)}; L* = "
          f"{runs[0].optimum.loss:.6g}{where.replace('weights_by_name', 'optimal_weights')}")
    if args.standardize:
        how = ("x / rms(x): without a bias column nothing is centred" if args.no_bias
               else "(x - mean) / std")
        print(f"note: weights refer to the standardized columns ({how})")
    return [{**row, "weights_by_name": dict(zip(names, np.ravel(row["weights"]).tolist()))}
            for row in rows]


def _report_network(args, runs, curv) -> list:
    """Print the measured table and the late sharpness; return the runs of fit.json."""
    rows = _model_rows([r.lr for r in runs], [r.regime for r in runs], [r.status for r in runs],
                       [r.converged_epoch for r in runs], [r.diverged_epoch for r in runs],
                       [r.losses for r in runs], curv.lr_crit)
    print(_model_table(rows))
    print(_model_note(args.epochs, args.rtol, runs[0].divergence_factor))
    _print_late_sharpness(runs)
    return [{**r.to_dict(), **row} for r, row in zip(runs, rows)]


def _print_late_sharpness(runs):
    """One line per tracked run: where its sharpness ended, in units of the optimizer's edge."""
    import numpy as np

    for r in runs:
        if r.sharpness is None:
            continue
        values = np.asarray(r.sharpness[1], dtype=np.float64)
        edge = (np.full(values.shape, 2.0 / r.lr) if r.edge is None
                else np.asarray(r.edge, dtype=np.float64))
        ok = np.isfinite(values)
        rel = (values / edge)[ok]
        rel = rel[len(rel) // 2:]
        if rel.size:
            label = r.optimizer.edge_label() if hasattr(r.optimizer, "edge_label") else "2/lr"
            print(f"sharpness (lr={r.lr:.4g}): {values[0]:.4g} at init, second half of the run "
                  f"{rel.min():.2f}-{rel.max():.2f} x {label} ({r.optimizer.name}'s edge of stability)")


def _linear_figures(gplot, args, X, y, names, runs, out, written, *, trajectory):
    """fit.png (the line through the data per lr) and, with one feature + bias, trajectory.png."""
    import numpy as np
    from matplotlib.figure import Figure

    Xs = _standardized(X, runs[0]) if args.standardize else X
    label = names[0] if names[0] != "bias" else "bias"
    fig = Figure(figsize=(5.0 * len(runs), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(runs), sharey=True))
    for ax, r in zip(axes, runs):
        gplot.fit(Xs, y, r, ax=ax, xlabel=label, ylabel=args.target)
    _save(fig, out, "fit.png", written)
    if trajectory:
        _save(gplot.trajectory(Xs, y, runs, names=(f"w[{names[0]}]", f"w[{names[1]}]")),
              out, "trajectory.png", written)


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
    w.writerow(["epoch"] + [f"loss_lr={label}" for label in _lr_labels([r.lr for r in runs])])
    n = max(len(r.losses) for r in runs)
    for k in range(n):
        w.writerow([k] + [repr(float(r.losses[k])) if k < len(r.losses) else "" for r in runs])
    return buf.getvalue()
