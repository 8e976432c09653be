"""Pictures of a non-linear model: its measured curvature, no closed form.

The sharpness against ``2/lr`` epoch by epoch (the edge of stability) and a
sweep's final losses against lambda_0's bracket ``(2, 4) / lambda_0``.
"""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gdcore.plot._common import (
    _SWEEPS,
    REGIME_COLORS,
    _colors,
    _is_network,
    _model_runs,
    _new_axes,
)

__all__ = ["edge_of_stability", "model_sweep"]


def _shade_bracket(ax, curvature, xlo, xhi):
    """Non-linear models: shade below the edge, lambda_0's bracket (2, 4)/lambda_0 and beyond."""
    lo, hi = curvature.bracket
    spans = [("monotone", xlo, min(lo, xhi), "below the edge: lr < 2/λ0"),
             ("oscillating", max(lo, xlo), min(hi, xhi),
              "bracket 2/λ0 ≤ lr ≤ 4/λ0: a loss spike (catapult), may still converge"),
             ("divergent", max(hi, xlo), xhi, "lr > 4/λ0: expected to diverge")]
    handles = []
    for regime, a, b, text in spans:
        if a < b:
            ax.axvspan(a, b, color=REGIME_COLORS[regime], alpha=0.13, lw=0)
            handles.append((matplotlib.patches.Patch(color=REGIME_COLORS[regime], alpha=0.3), text))
    return handles


def _mark_bracket(ax, curvature):
    lo, hi = curvature.bracket
    return [
        (ax.axvline(lo, color="#b2182b", lw=1.6, ls="--"),
         f"2/λ0 = {lo:.3g} (edge of stability at init, λ0 = {curvature.lambda_max:.3g})"),
        (ax.axvline(hi, color="#67001f", lw=1.4, ls=":"), f"4/λ0 = {hi:.3g}"),
    ]


def _sharpness_runs(results):
    runs = _model_runs(results)
    for run in runs:
        if run.sharpness is None:
            raise ValueError(
                f"the run with lr={run.lr:g} has no sharpness history; fit or sweep it with "
                "sharpness_every=k (e.g. gdcore.fit(X, y, lr=..., model=m, sharpness_every=20)) "
                "to draw it against 2/lr."
            )
    return runs


def edge_of_stability(results_or_sweep, *, relative=False, axes=None, title=None):
    """Sharpness against the optimizer's edge per epoch (top) and the loss (bottom).

    The edge drawn is the run's own (``result.edge``, ``optimizer.edge(lr)``):
    ``2/lr`` for gradient descent, ``(2 + 2 beta)/lr`` for heavy ball, and for
    Adam ``38/lr`` (at ``b1 = 0.9``) against the preconditioned sharpness;
    the legend says which.

    Full-batch gradient descent on a non-linear model tends to *sharpen*: the
    top Hessian eigenvalue (the sharpness) rises during training until it
    reaches ``2/lr``, the largest curvature a step of size lr can descend
    stably, and then hovers there (Cohen et al., 2021).  Each time the
    sharpness overshoots ``2/lr`` the sharpest direction oscillates with a
    growing amplitude, the loss rises, the network moves to flatter weights,
    the sharpness falls back below ``2/lr`` and the loss falls again: the loss
    is non-monotone, yet it keeps decreasing on the whole.

    Parameters
    ----------
    results_or_sweep : FitResult, a sequence of them, or SweepResult (of a network)
        Results of :func:`gdcore.fit` or :func:`gdcore.sweep` with a
        non-linear ``model=`` and ``sharpness_every=k``.  One curve per lr,
        each with its ``2/lr`` line dashed in the same colour.
    relative : bool, default False
        Draw ``lr * sharpness / 2`` (the sharpness in units of ``2/lr``), so
        that every lr's edge is the one line at 1.
    axes : pair of matplotlib.axes.Axes, optional
        Draw the sharpness in ``axes[0]`` and the loss in ``axes[1]``;
        default a new figure with both.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        For a linear model's result (its sharpness never moves).
    ValueError
        When a run was trained without ``sharpness_every``.

    Examples
    --------
    >>> import numpy as np, gdcore, gdcore.plot
    >>> x = np.linspace(-1, 1, 40)[:, None]
    >>> m = gdcore.models.mlp((16,), seed=0)
    >>> r = gdcore.fit(x, np.sin(3 * x[:, 0]), lr=0.1, epochs=60, model=m, sharpness_every=10)
    >>> fig = gdcore.plot.edge_of_stability(r)
    >>> [ax.get_yscale() for ax in fig.axes]
    ['linear', 'log']
    """
    runs = _sharpness_runs(results_or_sweep)
    if axes is None:
        fig = Figure(figsize=(8.0, 7.4), layout="constrained")
        ax_s, ax_l = fig.subplots(2, 1, sharex=True, height_ratios=[1.25, 1])
    else:
        ax_s, ax_l = axes
        fig = ax_s.figure
    colors, cmap = _colors(runs)
    few = cmap is None
    tops = []
    for run, c in zip(runs, colors):
        ep, val = (np.asarray(v, dtype=np.float64) for v in run.sharpness)
        edge = (np.full(ep.shape, 2.0 / run.lr) if run.edge is None
                else np.asarray(run.edge, dtype=np.float64))  # the optimizer's own edge per snapshot
        shown = val / edge if relative else val
        end = (run.outcome if run.status != "max_epochs" else
               f"{run.losses[-1] / run.losses[0]:.2g} L0 after {len(run.losses) - 1} epochs")
        label = f"lr = {run.lr:.3g} = {run.units:.2g} × 2/λ0: {end}" if few else None
        ax_s.plot(ep, shown, color=c, lw=1.8 if few else 1.0, label=label)
        if not relative:
            if np.all(edge == edge[0]):
                ax_s.axhline(edge[0], color=c, lw=1.2 if few else 0.7, ls="--")
            else:  # a schedule: the edge moves with the lr
                ax_s.plot(ep, edge, color=c, lw=1.2 if few else 0.7, ls="--", drawstyle="steps-post")
            tops.append(float(np.max(edge)))
        if np.isfinite(shown).any():
            tops.append(float(np.nanmax(shown)))
        k = np.arange(len(run.losses))
        loss = np.where(np.isfinite(run.losses) & (run.losses > 0), run.losses, np.nan)
        ax_l.plot(k, loss, color=c, lw=1.3 if few else 0.8)
        if run.diverged_epoch is not None and run.diverged_epoch < len(loss):
            ax_l.plot([run.diverged_epoch], [loss[run.diverged_epoch]], marker="X", ms=9, color=c,
                      ls="none")
    handles, labels = ax_s.get_legend_handles_labels()
    names = sorted({f"{r.edge_label} ({r.optimizer})" for r in runs})
    edge_name = ", ".join(names)
    pre = any(r.optimizer == "adam" for r in runs)
    what = ("preconditioned sharpness (top eigenvalue of D^½ H D^½)" if pre
            else "sharpness (top Hessian eigenvalue)")
    if relative:
        ax_s.axhline(1.0, color="0.2", lw=1.4, ls="--")
        handles.append(Line2D([], [], color="0.2", lw=1.4, ls="--"))
        labels.append(f"{edge_name}: the optimizer's edge of stability")
        tops.append(1.0)
        ax_s.set_ylabel(f"{what.split(' (')[0]} / edge  (units of {names[0].split(' ')[0]})")
    else:
        handles.append(Line2D([], [], color="0.3", lw=1.2, ls="--"))
        labels.append(f"{edge_name} of the run in the same colour: the optimizer's edge of stability")
        ax_s.set_ylabel(what)
    if pre and not relative:
        # Adam's preconditioned sharpness starts orders of magnitude above its edge (D is large
        # where the first gradients are small): a log scale keeps the edge and the late values in view.
        ax_s.set_yscale("log")
    else:
        ax_s.set_ylim(0.0, 1.12 * max(tops))
    lam0 = runs[0].stability.lambda_max
    # lambda_0 is the plain Hessian's: drawn only beside the plain sharpness it is comparable with
    if not relative and not pre and all(r.stability is runs[0].stability for r in runs):
        ax_s.axhline(lam0, color="0.55", lw=0.8, ls=":")
        handles.append(Line2D([], [], color="0.55", lw=0.8, ls=":"))
        labels.append(f"λ0 = {lam0:.3g}: the sharpness at initialisation")
    loc = "lower right" if relative else "best"
    ax_s.legend(handles, labels, loc=loc, fontsize="x-small", framealpha=0.9)
    ax_s.grid(alpha=0.3)
    ax_s.set_title(title or f"edge of stability ({runs[0].model}): the sharpness rises to "
                            f"{names[0].split(' ')[0]} and hovers there")
    if cmap is not None:
        lrs = [r.lr for r in runs]
        norm = matplotlib.colors.LogNorm(min(lrs), max(lrs))
        fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=[ax_s, ax_l], label="lr")
    l0 = max(float(r.losses[0]) for r in runs)
    ax_l.axhline(l0, color="0.55", lw=0.8, ls=":", label="L0: the loss at initialisation")
    ax_l.set_yscale("log")
    ax_l.set_xlabel("epoch")
    ax_l.set_ylabel("loss (log scale)")
    ax_l.set_title(f"the loss: non-monotone (a spike each time the sharpness overshoots "
                   f"{names[0].split(' ')[0]}), yet falling", fontsize="medium")
    ax_l.legend(loc="upper right", fontsize="x-small")
    ax_l.grid(alpha=0.3, which="major")
    ax_l.set_xlim(0, max(len(r.losses) - 1 for r in runs) or 1)
    return fig


def model_sweep(sweep_result, *, ax=None, title=None):
    """Final loss against lr for a non-linear model, with lambda_0's bracket and the measured onset.

    The bracket ``(2/lambda_0, 4/lambda_0)`` is computed at the initial
    weights (a prediction); the divergence onset is measured (the smallest lr
    of the sweep that diverged within its horizon).  Below ``2/lambda_0`` a
    run descends stably from the start; in the bracket its loss first spikes
    (the catapult) and it may still converge; above the onset it diverges.
    The peak loss of every run that did not diverge is drawn too: it is where
    a catapult shows.

    Parameters
    ----------
    sweep_result : SweepResult (of a network)
        From :func:`gdcore.sweep` with a non-linear ``model=``.
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, gdcore, gdcore.plot
    >>> x = np.linspace(-1, 1, 40)[:, None]
    >>> m = gdcore.models.mlp((16,), seed=0)
    >>> s = gdcore.sweep(x, np.sin(3 * x[:, 0]), np.geomspace(0.05, 5, 8), epochs=100, model=m)
    >>> fig = gdcore.plot.model_sweep(s)
    >>> fig.axes[0].get_xscale()
    'log'
    """
    if not (isinstance(sweep_result, _SWEEPS) and _is_network(sweep_result)):
        raise TypeError(
            "sweep_result must be a sweep of a non-linear model (gdcore.sweep(X, y, lrs, "
            f"model=gdcore.models.mlp(...))), got {type(sweep_result).__name__}"
            + ("; draw a linear model's sweep with gdcore.plot.sweep." if
               isinstance(sweep_result, _SWEEPS) else ".")
        )
    s = sweep_result
    curv = s.stability
    fig, ax = _new_axes(ax, figsize=(8.0, 5.8))
    lrs = np.asarray(s.lrs, dtype=np.float64)
    lo_b, hi_b = curv.bracket
    xlo = min(lrs.min(), lo_b) / 1.25
    xhi = max(lrs.max(), hi_b) * 1.25
    shade = _shade_bracket(ax, curv, xlo, xhi)
    marks = _mark_bracket(ax, curv)
    runs = _model_runs(s)
    l0 = np.array([r.losses[0] for r in runs])
    final = np.asarray(s.final_loss, dtype=np.float64) / l0
    peak = np.array([np.nanmax(r.losses) for r in runs]) / l0
    status = np.asarray(s.status)
    ok = status != "diverged"
    top = max(10.0, float(np.nanmax(peak[ok])) * 4 if ok.any() else 10.0)
    # room below the lowest final loss for its annotation
    bottom = float(np.nanmin(final[ok & (final > 0)])) / 12 if (ok & (final > 0)).any() else 1e-3
    bottom = min(bottom, 0.1)
    handles, labels = [], []
    if ok.any():
        h, = ax.plot(lrs[ok], peak[ok], color="0.5", lw=1.0, marker=".", ms=4, alpha=0.9)
        handles.append(h)
        labels.append("peak loss during the run / L0 (a catapult when > 1)")
    styles = {"converged": (dict(marker="o", color="#1b7837", mfc="#1b7837"),
                            f"converged (L <= {s.rtol:g} L0)"),
              "max_epochs": (dict(marker="o", color="#2166ac", mfc="white"),
                             f"still training after {s.horizon} epochs")}
    for st, (style, what) in styles.items():
        sel = status == st
        if sel.any():
            h, = ax.plot(lrs[sel], final[sel], ls="none", ms=6, mew=1.6, **style)
            handles.append(h)
            labels.append(f"final loss / L0: {what} ({sel.sum()} runs)")
    div = status == "diverged"
    if div.any():
        h, = ax.plot(lrs[div], np.full(div.sum(), top / 2), ls="none", marker="X", ms=8,
                     color=REGIME_COLORS["divergent"])
        handles.append(h)
        labels.append(f"diverged within {s.horizon} epochs ({div.sum()} runs)")
    ax.axhline(1.0, color="0.3", lw=0.8, ls=":")
    handles.append(Line2D([], [], color="0.3", lw=0.8, ls=":"))
    labels.append("L0 (the loss at initialisation)")
    onset = s.divergence_onset
    if onset is not None:
        h = ax.axvline(onset, color=REGIME_COLORS["divergent"], lw=2.2)
        handles.append(h)
        labels.append(f"measured divergence onset = {onset:.3g} = {s.onset_over_lr_crit:.2f} × 2/λ0")
    best = s.best_lr
    if best is not None:
        i = s.best
        ax.annotate(f"lowest final loss\nlr {best:.3g}", (best, final[i]), xytext=(0, -36),
                    textcoords="offset points", ha="center", fontsize="small",
                    arrowprops={"arrowstyle": "->", "color": "0.3"})
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(xlo, xhi)
    ax.set_ylim(bottom, top)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("loss / L0 (log scale)")
    sec = ax.secondary_xaxis("top", functions=(lambda v: v / curv.lr_crit,
                                               lambda v: v * curv.lr_crit))
    sec.set_xlabel("lr in units of 2/λ0", fontsize="small")
    handles += [h for h, _ in marks] + [h for h, _ in shade]
    labels += [t for _, t in marks] + [t for _, t in shade]
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2,
              fontsize="x-small", frameon=False)
    ax.set_title(title or f"{len(lrs)} learning rates of {s.model}, {s.horizon} epochs each: "
                          f"λ0 = {curv.lambda_max:.3g}")
    ax.grid(alpha=0.3, which="major")
    return fig
