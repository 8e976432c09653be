"""``gdcore demo``: the learning-rate study on the seed data, in two acts.

The first act reproduces the study (y = 3x + 2 + noise, first guess
w = (-1, 1), lr 0.1, 0.7 and 1.01) with every figure, beside the closed-form
analysis; the second runs the same study on a small tanh MLP, where the loss
fluctuates near convergence (the edge of stability).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

from gdcore.cli._args import _add_common, _nonneg_int, _positive_int
from gdcore.cli._common import (
    DEMO_FIRST_GUESS,
    DEMO_MLP_FREQ,
    DEMO_MLP_POINTS,
    UsageError,
    _check_backend,
    _explore_fn,
    _fmt,
    _jsonable,
    _library_call,
    _one_line,
    _out_dir,
    _plot_module,
    _progress,
    _save,
    _sweep_csv,
    _table,
    _table_note,
    _write,
    _writing,
)

__all__ = ["add_parser", "run"]

DEMO_LRS = (0.1, 0.7, 1.01)
MAX_DEMO_EPOCHS = 100_000
# The second act: a 1-20-1 tanh MLP fit to y = sin(4x) on 50 evenly spaced points of
# [-1, 1] (numpy: a few seconds).  At 0.25 x 2/lambda_0 the sharpness rises but stays below 2/lr
# and the loss falls monotonically; at 0.5 x it reaches 2/lr (epoch ~500), overshoots, and the
# loss spikes and falls again, several times; at 0.9 x it sits at 2/lr from the start.
DEMO_MLP_HIDDEN = (20,)
DEMO_MLP_TRACKED = (0.25, 0.5, 0.9)  # lrs of the edge-of-stability figure, in units of 2/lambda_0
DEMO_MLP_EPOCHS, DEMO_MLP_EVERY = 3000, 20
DEMO_MLP_SWEEP = (0.1, 8.0, 32)  # from, to (units of 2/lambda_0, geometric), number of lrs
DEMO_MLP_SWEEP_EPOCHS = 2000
BLOG_REMARK = "the loss function starts to fluctuate when convergence is reached"
# What --out holds afterwards, in the order written (figures and the page only with matplotlib,
# not with --no-plots; explorer.html only with bokeh installed).
DEMO_FIGURES = ("data.png", "first_guess.png", "fit_before_after.png", "loss_curves.png",
                "sweep.png", "trajectory.png", "lr_find.png", "momentum.png", "animation.gif",
                "mlp_sweep.png", "edge_of_stability.png")


def _demo_epochs(text):
    v = _positive_int(text)
    if v > MAX_DEMO_EPOCHS:
        raise argparse.ArgumentTypeError(f"{text!r} is more than the maximum {MAX_DEMO_EPOCHS:,}")
    return v


def add_parser(sub):
    """Declare ``gdcore demo`` and its options on the subparsers ``sub``."""
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
                    "sweep.csv and explorer.html (the interactive page, with bokeh installed). "
                    "A second run into the same --out refuses to replace these files (and "
                    "writes nothing) unless you pass --force.")
    _add_common(demo, out_help="folder for the figures, summary.json and sweep.csv "
                               "(default: print the summary only)",
                epochs={"type": _demo_epochs, "default": 100,
                        "help": f"gradient steps per run, 1 to {MAX_DEMO_EPOCHS:,} (default 100)"})
    demo.add_argument("--seed", type=_nonneg_int, default=0,
                      help="seed of the data, an integer >= 0 (default 0)")
    demo.set_defaults(func=run)


def run(args) -> int:
    """``gdcore demo``: both acts of the study, printed; with --out, every file."""
    import numpy as np

    import gdcore

    t0 = time.perf_counter()
    _check_backend(args.backend)
    out = _out_dir(args.out, force=args.force)
    gplot = _plot_module() if (out is not None and not args.no_plots) else None
    if out is not None:
        out.plan(_outputs(gplot))
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


def _outputs(gplot) -> list:
    """The files ``run`` writes into --out, checked before anything is computed."""
    import importlib.util

    names = ["sweep.csv"]
    if gplot is not None:
        names += list(DEMO_FIGURES)
        if importlib.util.find_spec("bokeh") is not None:
            names.append("explorer.html")
    return names + ["summary.json"]


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
    with _writing(out, "animation.gif") as path:
        gplot.animate(X, y, runs, path, epochs=gif_epochs, fps=6, dpi=72, overwrite=out.force)
    written.append("animation.gif")
    done.append("animation.gif")
    return done


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

