"""Pictures of a linear model's study: the data, a fit, loss curves and weight-space paths."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.lines import Line2D

from gdcore.plot._common import (
    _DATA_COLOR,
    _INIT_COLOR,
    REGIME_COLORS,
    _clip_gap,
    _colors,
    _fmt_loss,
    _fmt_lr,
    _fmt_w,
    _gap_limits,
    _host,
    _new_axes,
    _refuse_model,
    _runs,
    _weights_column,
    _xy,
)
from gdcore.study import FitResult

__all__ = ["data", "fit", "loss_curves", "trajectory"]


def _loss_grid(X, y, w_star, dims, lim0, lim1, num=161):
    """MSE on a grid of (w[dims[0]], w[dims[1]]), the other weights held at ``w_star``."""
    n = X.shape[0]
    A = X.T @ X / n
    b = X.T @ y / n
    c = float(y @ y / n)
    g0, g1 = np.meshgrid(np.linspace(*lim0, num), np.linspace(*lim1, num))
    W = np.broadcast_to(w_star, g0.shape + w_star.shape).copy()
    W[..., dims[0]] = g0
    W[..., dims[1]] = g1
    L = np.einsum("...i,ij,...j->...", W, A, W) - 2.0 * W @ b + c
    return g0, g1, L


def data(X, y, *, ax=None, feature=0, output=0, xlabel=None, ylabel="y", title=None):
    """Scatter plot of the target against one feature (the data of the study).

    Parameters
    ----------
    X : array-like, shape (n, d)
        Features, from any backend.
    y : array-like, shape (n,) or (n, m)
        Targets.
    ax : matplotlib.axes.Axes, optional
        Draw here; default a new figure.
    feature : int, default 0
        Column of ``X`` on the horizontal axis.
    output : int, default 0
        Column of a 2-D ``y`` to show.
    xlabel, ylabel, title : str, optional
        Axis labels and title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import gdcore, gdcore.plot
    >>> X, y = gdcore.make_linear(n=20, seed=0)
    >>> fig = gdcore.plot.data(X, y)
    >>> fig.axes[0].get_xlabel()
    'x (feature 0)'
    """
    X, yv = _xy(X, y, feature, output)
    fig, ax = _new_axes(ax)
    ax.scatter(X[:, feature], yv, s=18, color=_DATA_COLOR, alpha=0.8, label=f"data (n={len(yv)})")
    ax.set_xlabel(xlabel or f"x (feature {feature})")
    ax.set_ylabel(ylabel)
    ax.set_title(title or f"the data: {len(yv)} points")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return fig


def _prediction(ax, X, w, feature, **style):
    """Draw ``X @ w`` against ``X[:, feature]``: a line when it is one, else markers."""
    pred = X @ w
    x = X[:, feature]
    others = np.delete(X, feature, axis=1)
    if others.shape[1] == 0 or np.all(others == others[:1]):
        order = np.argsort(x)
        return ax.plot(x[order], pred[order], lw=2.2, **style)[0]
    style.pop("ls", None)
    return ax.plot(x, pred, ls="none", marker="x", ms=5, **style)[0]


def fit(X, y, result_or_weights, *, w0=None, ax=None, feature=0, output=0, xlabel=None,
        ylabel="y", title=None):
    """The data with the initial and the learned predictions ("before / after").

    Parameters
    ----------
    X : array-like, shape (n, d)
    y : array-like, shape (n,) or (n, m)
    result_or_weights : gdcore.FitResult or array-like, shape (d,) or (d, m)
        A fit result (its final weights are "after"; its first recorded
        weights, when fitted with ``record_weights=True``, are "before"), or
        plain weights to draw (e.g. a first guess).
    w0 : array-like, optional
        Initial weights to draw as "before" when the result has no history
        (fit's default start is zeros, which is drawn when neither is known).
    ax : matplotlib.axes.Axes, optional
    feature : int, default 0
        Column of ``X`` on the horizontal axis.  When every other column is
        constant (one feature plus a bias) predictions are lines, otherwise
        markers at each point.
    output : int, default 0
        Column of a 2-D ``y`` to show.
    xlabel, ylabel, title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import gdcore, gdcore.plot
    >>> X, y = gdcore.make_linear(n=20, seed=0)
    >>> r = gdcore.fit(X, y, lr=0.7, epochs=10, w0=[-1.0, 1.0], record_weights=True)
    >>> fig = gdcore.plot.fit(X, y, r)
    >>> [t.get_text()[:7] for t in fig.axes[0].get_legend().get_texts()]
    ['data (n', 'before:', 'after 1']
    >>> fig = gdcore.plot.fit(X, y, [-1.0, 1.0])   # a first guess
    """
    _refuse_model(result_or_weights, "plot.fit draws a linear model's prediction X @ w",
                  "loss_curves(r) or edge_of_stability(r)")
    X, yv = _xy(X, y, feature, output)
    fig, ax = _new_axes(ax)
    ax.scatter(X[:, feature], yv, s=18, color=_DATA_COLOR, alpha=0.7, label=f"data (n={len(yv)})")

    def mse(w):
        return float(np.mean((X @ w - yv) ** 2))

    lines = [yv]
    if isinstance(result_or_weights, FitResult):
        r = result_or_weights
        if r.history is not None:
            start = _weights_column(_host(r.history)[0], output)
        elif w0 is not None:
            start = _weights_column(w0, output)
        else:
            start = np.zeros(X.shape[1])
        end = _weights_column(r.weights, output)
        _prediction(ax, X, start, feature, color=_INIT_COLOR, ls="--",
                    label=f"before: w={_fmt_w(start)}, MSE {_fmt_loss(mse(start))}")
        color = REGIME_COLORS.get(r.regime, "C3")
        run = _runs(r)[0]
        what = (f"after {r.epochs_run} epochs" if r.status != "diverged"
                else f"at epoch {r.diverged_epoch} (diverged)")
        _prediction(ax, X, end, feature, color=color,
                    label=f"{what}: w={_fmt_w(end)}, MSE {_fmt_loss(mse(end))}")
        lines += [X @ start, X @ end]
        ax.set_title(title or f"lr={_fmt_lr(r.lr)} ({r.regime}): {run.outcome}")
    else:
        w = _weights_column(result_or_weights, output)
        if w.shape != (X.shape[1],):
            raise ValueError(
                f"weights must have shape ({X.shape[1]},) to match X's {X.shape[1]} columns, "
                f"got {w.shape}; pass a gdcore.FitResult or one weight per column."
            )
        if w0 is not None:
            start = _weights_column(w0, output)
            _prediction(ax, X, start, feature, color=_INIT_COLOR, ls="--",
                        label=f"initial: w={_fmt_w(start)}, MSE {_fmt_loss(mse(start))}")
            lines.append(X @ start)
        _prediction(ax, X, w, feature, color="#d1495b",
                    label=f"prediction: w={_fmt_w(w)}, MSE {_fmt_loss(mse(w))}")
        lines.append(X @ w)
        ax.set_title(title or f"prediction with w={_fmt_w(w)}: MSE {_fmt_loss(mse(w))}")
    # Keep the data in view even when a diverged prediction flies off.
    lo, hi = float(yv.min()), float(yv.max())
    span = hi - lo or 1.0
    allv = np.concatenate([np.ravel(v) for v in lines])
    allv = allv[np.isfinite(allv)]
    bottom = max(allv.min(), lo - 1.5 * span) - 0.05 * span
    top = min(allv.max(), hi + 1.5 * span) + 0.05 * span
    ax.set_ylim(bottom, top + 0.3 * (top - bottom))  # headroom for the legend
    ax.set_xlabel(xlabel or f"x (feature {feature})")
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def loss_curves(results, *, ax=None, predicted=True, threshold=True, title=None):
    """Loss gap ``L - L*`` per epoch, log scale, measured (solid) and predicted (dashed).

    Where measurement and prediction agree the dashed line lies on the solid
    one; after a divergent run was stopped the prediction carries on climbing.

    Parameters
    ----------
    results : gdcore.FitResult, gdcore.SweepResult or a sequence of them
        Each run is labelled with its lr, regime and converged (or diverged)
        epoch; a sweep contributes one curve per lr (coloured by lr when
        there are more than ten).  Results of a non-linear ``model=`` are
        drawn too: their loss (``L*`` is taken as 0) measured only.
    ax : matplotlib.axes.Axes, optional
    predicted : bool, default True
        Draw the closed-form curve (dashed) on top of each measured one.  A
        mini-batch SGD run has no closed form and is drawn measured only.
    threshold : bool, default True
        Draw the convergence level ``rtol * (L0 - L*)`` of the first run.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Gaps below a floor of 16 eps(dtype) * L* are rounding noise (they can be
    zero or negative); they are drawn at that floor, which is shaded.  With
    noise-free data (L* = 0) the floor is 1e-3 eps(dtype) times the starting gap.

    Examples
    --------
    >>> import gdcore, gdcore.plot
    >>> X, y = gdcore.make_linear(n=20, seed=0)
    >>> runs = [gdcore.fit(X, y, lr=lr, epochs=30) for lr in (0.1, 0.7, 1.01)]
    >>> fig = gdcore.plot.loss_curves(runs)
    >>> fig.axes[0].get_yscale()
    'log'
    """
    runs = _runs(results)
    fig, ax = _new_axes(ax, figsize=(7.2, 4.6 if len(runs) <= 4 or len(runs) > 10 else 6.0))
    colors, cmap = _colors(runs)
    floor, top = _gap_limits(runs)
    xmax = max(r.epochs for r in runs)
    for r, c in zip(runs, colors):
        k = np.arange(len(r.losses))
        gap = _clip_gap(r.losses - r.loss_star, floor)
        label = r.label if cmap is None else None
        ax.plot(k, gap, color=c, lw=2.0 if cmap is None else 1.0,
                marker="o" if len(k) <= 12 else None, ms=3.5 if cmap is None else 2, label=label)
        if predicted and r.predicted is not None:
            kp = np.arange(len(r.predicted))
            # thin and dark on top of the measured curve: where they agree it shows as a
            # dashed texture along the coloured line, where a run stopped it carries on
            ax.plot(kp, _clip_gap(r.predicted - r.loss_star, floor),
                    color="k" if cmap is None else c, lw=0.9, ls=(0, (4, 3)), alpha=0.75, zorder=3)
        if r.converged_epoch is not None:
            ax.plot([r.converged_epoch], [max(gap[r.converged_epoch], floor)], marker="o",
                    ms=7 if cmap is None else 4, mfc="white", mec=c, mew=2 if cmap is None else 1,
                    ls="none")
        if r.diverged_epoch is not None:
            ax.plot([r.diverged_epoch], [gap[r.diverged_epoch]], marker="X", ms=9, color=c, ls="none")
    ax.set_yscale("log")
    nonlinear = all(r.nonlinear for r in runs)
    if nonlinear:  # L* taken as 0: no rounding floor near it, the losses set the range
        lows = [np.nanmin(np.where(r.losses > 0, r.losses, np.nan)) for r in runs
                if (r.losses > 0).any()]
        low = min(lows + [r.rtol * r.gap0 for r in runs]) if threshold else min(lows or [floor])
        ax.set_ylim(low / 5, top)
    else:
        ax.set_ylim(floor / 3, top)
        ax.axhspan(floor / 3, floor, color="0.85", alpha=0.6, lw=0)
    ax.set_xlim(-0.5, xmax + 0.5)
    handles, labels = ax.get_legend_handles_labels()
    if threshold:
        r0 = runs[0]
        level = r0.rtol * r0.gap0
        ax.axhline(level, color="0.3", lw=0.8, ls=":")
        handles.append(Line2D([], [], color="0.3", lw=0.8, ls=":"))
        labels.append(f"converged: L <= rtol x L0 = {level:.2g}" if nonlinear
                      else f"converged: gap <= rtol x gap0 = {level:.2g}")
    if predicted and any(r.predicted is not None for r in runs):
        handles.append(Line2D([], [], color="k", lw=0.9, ls=(0, (4, 3)), alpha=0.75))
        labels.append("closed-form prediction (on top of each run)")
    if not nonlinear:
        handles.append(Line2D([], [], color="0.85", lw=6))
        labels.append("rounding floor")
    if cmap is not None:
        norm = matplotlib.colors.LogNorm(min(r.lr for r in runs), max(r.lr for r in runs))
        fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="lr")
    if len(handles) <= 7:
        ax.legend(handles, labels, loc="upper right", fontsize="small")
    else:  # many runs: below the axes, where it hides no curve
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2,
                  fontsize="x-small", frameon=False)
    ax.set_xlabel("epoch")
    if nonlinear:  # L* taken as 0: the loss itself, nothing predicted
        ax.set_ylabel("loss  L  (log scale; L* taken as 0)")
        ax.set_title(title or "loss per epoch (non-linear model: measured, no closed form)")
    else:
        ax.set_ylabel("loss gap  L - L*  (log scale)")
        ax.set_title(title or "loss gap per epoch: measured (solid) and predicted (dashed)")
    ax.grid(alpha=0.3, which="major")
    return fig


def trajectory(X, y, results, *, ax=None, dims=(0, 1), output=0, names=None, title=None):
    """Loss contours in weight space with the path gradient descent took for each run.

    A small lr walks straight down the valley; a large one overshoots the
    steep direction and zig-zags across it; a too-large one overshoots by more
    than it gained and climbs out.

    Parameters
    ----------
    X : array-like, shape (n, d), d >= 2
    y : array-like, shape (n,) or (n, m)
    results : gdcore.FitResult or a sequence of them
        Fitted with ``record_weights=True`` (the path is the weight history).
    ax : matplotlib.axes.Axes, optional
    dims : pair of int, default (0, 1)
        The two weights to draw.  With d > 2 the contours are the slice
        through the optimum (the other weights held at ``w*``).
    output : int, default 0
        Column of a 2-D ``y``.
    names : pair of str, optional
        Axis labels, default ``"w[0]"``, ``"w[1]"``.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        When a result has no weight history, or ``dims`` is not two distinct columns.

    Examples
    --------
    >>> import gdcore, gdcore.plot
    >>> X, y = gdcore.make_linear(n=20, seed=0)
    >>> runs = [gdcore.fit(X, y, lr=lr, epochs=15, w0=[-1.0, 1.0], record_weights=True)
    ...         for lr in (0.1, 0.7, 1.01)]
    >>> fig = gdcore.plot.trajectory(X, y, runs)
    >>> fig.axes[0].get_xlabel()
    'w[0]'
    """
    _refuse_model(results, "plot.trajectory draws paths on a linear model's loss contours",
                  "edge_of_stability(r) (sharpness against 2/lr)")
    Xh, yv = _xy(X, y, 0, output)
    d = Xh.shape[1]
    if len(dims) != 2 or dims[0] == dims[1] or not all(0 <= i < d for i in dims):
        raise ValueError(f"dims must be two distinct column indices of X (0..{d - 1}), got {dims!r}.")
    fits = [results] if isinstance(results, FitResult) else list(results)
    if not fits or not all(isinstance(r, FitResult) for r in fits):
        raise TypeError("results must be a gdcore.FitResult or a list of them (a SweepResult "
                        "keeps no weight history; fit the lrs you want to see instead).")
    paths = []
    for r in fits:
        if r.history is None:
            raise ValueError(f"the run with lr={r.lr:g} has no weight history; fit it with "
                             "record_weights=True to draw its path.")
        h = _host(r.history)
        if h.ndim == 3:
            h = h[:, :, output]
        paths.append(h[np.all(np.isfinite(h), axis=1)])
    w_star = _weights_column(fits[0].optimum.weights, output)
    i, j = dims
    # View: the optimum and every start, widened to hold the paths but not their blow-ups.
    starts = np.array([p[0] for p in paths])
    reach = max(float(np.max(np.abs(starts[:, [i, j]] - w_star[[i, j]]))), 1e-12)
    pts = np.concatenate([p[:, [i, j]] for p in paths] + [w_star[None, [i, j]]])
    pts = np.clip(pts, w_star[[i, j]] - 2.5 * reach, w_star[[i, j]] + 2.5 * reach)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    pad = 0.12 * max(hi - lo)
    lo, hi = lo - pad, hi + pad
    g0, g1, L = _loss_grid(Xh, yv, w_star, dims, (lo[0], hi[0]), (lo[1], hi[1]))
    loss_star = float(np.mean((Xh @ w_star - yv) ** 2))
    gap = np.maximum(L - loss_star, 1e-300)
    ratio = float((hi[0] - lo[0]) / (hi[1] - lo[1]))
    to_scale = 0.25 <= ratio <= 4.0  # else equal axes would squash the picture flat
    height = 5.0
    width = min(10.0, max(4.0, height * ratio)) if to_scale else 8.0
    if to_scale:
        height = min(7.0, max(3.2, width / ratio))
    fig, ax = _new_axes(ax, figsize=(width + 1.2, height + 1.0))
    top = float(gap.max())
    levels = np.geomspace(top * 1e-4, top, 17)
    ax.contourf(g0, g1, gap, levels=levels, norm=matplotlib.colors.LogNorm(), cmap="Blues_r",
                alpha=0.55, extend="both")
    cs = ax.contour(g0, g1, gap, levels=levels[::2], colors="0.35", linewidths=0.6)
    ax.clabel(cs, fmt=lambda v: f"{v:.2g}", fontsize=6)
    runs = _runs(fits)
    colors, _ = _colors(runs)
    for run, p, c in zip(runs, paths, colors):
        ax.plot(p[:, i], p[:, j], color=c, lw=1.6, marker="o", ms=3.2, label=run.label)
        if run.status == "diverged":
            ax.plot(p[-1, i], p[-1, j], marker="X", ms=10, color=c, ls="none")
    ax.plot(*starts[0, [i, j]], marker="s", ms=8, color="k", ls="none", label="start w0")
    ax.plot(w_star[i], w_star[j], marker="*", ms=15, color="gold", mec="k", ls="none",
            label="optimum w*")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    if to_scale:
        ax.set_aspect("equal", adjustable="box")
    names = names or (f"w[{i}]", f"w[{j}]")
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])
    ax.legend(loc="best", fontsize="x-small", framealpha=0.9)
    scale_note = "" if to_scale else "\n(axes not to the same scale)"
    ax.set_title(title or "gradient-descent paths on the loss contours (L - L*)" + scale_note)
    return fig
