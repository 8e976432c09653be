"""Pictures of a linear model's sweeps and range test: regimes shaded, lr_opt and lr_crit marked."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
from matplotlib.lines import Line2D

from gdcore.analysis import Curvature
from gdcore.plot._common import (
    _SWEEPS,
    REGIME_COLORS,
    _is_network,
    _new_axes,
    _ratio,
    _refuse_model,
)
from gdcore.plot._curvature import _mark_bracket, _shade_bracket, model_sweep
from gdcore.study import LRFinderResult, SweepResult

__all__ = ["lr_find", "stability_map", "sweep"]


def _shade_regimes(ax, analysis, xlo, xhi):
    """Shade monotone / oscillating / divergent lr ranges; returns legend handles."""
    lam = analysis.lambda_max
    edge1 = 1.0 / lam if lam > 0 else math.inf
    crit = analysis.lr_crit
    spans = [("monotone", xlo, min(edge1, xhi), "lr <= 1/λmax"),
             ("oscillating", max(edge1, xlo), min(crit, xhi), "1/λmax < lr < lr_crit"),
             ("divergent", max(crit, xlo), xhi, "lr > lr_crit")]
    handles = []
    for regime, a, b, text in spans:
        if a < b:
            ax.axvspan(a, b, color=REGIME_COLORS[regime], alpha=0.13, lw=0)
            handles.append((matplotlib.patches.Patch(color=REGIME_COLORS[regime], alpha=0.3),
                            f"{regime}: {text}"))
    return handles


def _mark_lrs(ax, analysis):
    handles = [
        (ax.axvline(analysis.lr_opt, color="#1b7837", lw=1.6),
         f"lr_opt = 2/(λmax+λmin) = {analysis.lr_opt:.3g}"),
        (ax.axvline(analysis.lr_crit, color="#b2182b", lw=1.6, ls="--"),
         f"lr_crit = 2/λmax = {analysis.lr_crit:.3g}"),
    ]
    return handles


def sweep(sweep_result, *, ax=None, title=None):
    """Epochs to converge and final loss against lr, regimes shaded, lr_opt and lr_crit marked.

    Parameters
    ----------
    sweep_result : gdcore.SweepResult
        A sweep of a non-linear ``model=`` (its ``stability`` is a :class:`gdcore.Curvature`) is drawn
        by :func:`model_sweep` instead: it has no closed form to mark.
    ax : matplotlib.axes.Axes, optional
        Epochs go on this axes (left), the final loss on a twin axes (right).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, gdcore, gdcore.plot
    >>> X, y = gdcore.make_linear(n=20, seed=0)
    >>> s = gdcore.sweep(X, y, np.geomspace(0.05, 1.2, 12), epochs=40)
    >>> fig = gdcore.plot.sweep(s)
    >>> fig.axes[0].get_xscale(), len(fig.axes)
    ('log', 2)
    """
    if isinstance(sweep_result, _SWEEPS) and _is_network(sweep_result):  # no closed form
        return model_sweep(sweep_result, ax=ax, title=title)
    if not isinstance(sweep_result, SweepResult):
        raise TypeError(f"sweep_result must be a gdcore.SweepResult (from gdcore.sweep), "
                        f"got {type(sweep_result).__name__}.")
    s = sweep_result
    fig, ax = _new_axes(ax, figsize=(8.0, 5.6))
    lrs = np.asarray(s.lrs, dtype=np.float64)
    xlo, xhi = lrs.min() / 1.15, lrs.max() * 1.15
    shade = _shade_regimes(ax, s.stability, xlo, xhi)
    marks = _mark_lrs(ax, s.stability)

    conv = np.array([np.nan if e is None else e for e in s.converged_epoch], dtype=float)
    pred = np.array([np.nan if e is None else e for e in s.predicted_epochs], dtype=float)
    h_pred, = ax.plot(lrs, pred, color="0.2", lw=1.3, ls="--", label="predicted epoch")
    h_conv, = ax.plot(lrs, conv, color="#2166ac", marker="o", ms=4.5, ls="none",
                      label="measured converged epoch")
    ymax = s.epochs
    status = np.asarray(s.status)
    not_conv = status == "max_epochs"
    div = status == "diverged"
    h_max = ax.plot(lrs[not_conv], np.full(not_conv.sum(), ymax), marker="^", ms=6, ls="none",
                    color="#2166ac", mfc="white")[0]
    h_div = ax.plot(lrs[div], np.full(div.sum(), ymax), marker="X", ms=7, ls="none",
                    color=REGIME_COLORS["divergent"])[0]
    ax.set_xscale("log")
    ax.set_xlim(xlo, xhi)
    ax.set_yscale("log")
    ax.set_ylim(0.8, ymax * 1.6)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel(f"epochs to converge (rtol={s.rtol:g}, log scale)")
    best = s.best_lr
    if best is not None:
        i = int(np.argmin(np.abs(lrs - best)))
        ax.annotate(f"best lr {best:.3g}\n({s.converged_epoch[i]} epochs)", (best, conv[i]),
                    xytext=(0, -34), textcoords="offset points", ha="center", fontsize="small",
                    arrowprops={"arrowstyle": "->", "color": "0.3"})

    ax2 = ax.twinx()
    fl = np.asarray(s.final_loss, dtype=np.float64)
    ok = np.isfinite(fl)
    h_loss, = ax2.plot(lrs[ok], fl[ok], color="0.45", marker="s", ms=3, lw=0.8, alpha=0.8,
                       label="final loss")
    ax2.set_yscale("log")
    ax2.set_ylabel("final loss (log scale; diverged: loss when stopped)")
    positive = fl[ok & (fl > 0)]
    if positive.size:
        lo, hi = float(positive.min()), float(positive.max())
        if s.optimum.loss > 1e-6 * hi:  # L* (dotted), unless it is ~0 (noise-free data)
            ax2.axhline(s.optimum.loss, color="0.45", lw=0.7, ls=":")
            lo = min(lo, s.optimum.loss)
        ax2.set_ylim(lo / 1.6, hi * 1.6)

    handles = [h_conv, h_pred, h_max, h_div, h_loss] + [h for h, _ in marks] + [h for h, _ in shade]
    labels = ["measured converged epoch", "predicted epoch",
              f"ran out of epochs ({s.epochs})", "diverged", "final loss (right axis)"]
    labels += [t for _, t in marks] + [t for _, t in shade]
    keep = [i for i, h in enumerate(handles) if not (isinstance(h, Line2D) and len(h.get_xdata()) == 0)]
    ax.legend([handles[i] for i in keep], [labels[i] for i in keep], loc="upper center",
              bbox_to_anchor=(0.5, -0.14), ncol=3, fontsize="x-small", frameon=False)
    ax.set_title(title or f"{len(lrs)} learning rates, {s.epochs} epochs each")
    ax.grid(alpha=0.3, which="major")
    return fig


def stability_map(sweep_result, *, ax=None, title=None):
    """Heat map of epochs-to-converge over (lr, momentum), with the theory drawn on top.

    Needs a 2-D sweep, ``gdcore.sweep(X, y, lrs, momentums=[...])``.  The red
    line is heavy ball's analytic stability boundary ``lr * lambda_max = 2 (1 +
    beta)`` (runs to its right diverge), the star Polyak's optimal pair
    ``(lr, beta)``; diverged cells are hatched, cells that ran out of epochs
    are grey.

    Parameters
    ----------
    sweep_result : gdcore.SweepResult
        A sweep with ``momentums`` (``grid_shape`` is set).
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, gdcore, gdcore.plot
    >>> X, y = gdcore.make_linear(n=50, seed=0)
    >>> s = gdcore.sweep(X, y, np.linspace(0.1, 3.5, 12), momentums=np.linspace(0, 0.9, 7), epochs=200)
    >>> fig = gdcore.plot.stability_map(s)
    >>> fig.axes[0].get_xlabel()
    'learning rate'
    """
    _refuse_model(sweep_result, "plot.stability_map draws a linear model's (lr, momentum) grid "
                  "against its closed-form boundary", "model_sweep(s)")
    if not isinstance(sweep_result, SweepResult) or sweep_result.grid_shape is None:
        raise TypeError(
            "stability_map needs a 2-D sweep: gdcore.sweep(X, y, lrs, momentums=[...]); "
            f"got {type(sweep_result).__name__} without momentums."
        )
    s = sweep_result
    n_lr, n_b = s.grid_shape
    fig, ax = _new_axes(ax, figsize=(7.6, 5.4))
    lrs = np.asarray(s.lrs, dtype=np.float64).reshape(n_lr, n_b)[:, 0]
    betas = np.asarray(s.momentums, dtype=np.float64).reshape(n_lr, n_b)[0]
    conv = np.array([np.nan if e is None else e for e in s.converged_epoch], float).reshape(n_lr, n_b)
    status = np.asarray(s.status).reshape(n_lr, n_b)

    def edges(v):
        mid = (v[1:] + v[:-1]) / 2 if v.size > 1 else np.array([])
        first = v[0] - (mid[0] - v[0] if mid.size else 0.5)
        last = v[-1] + (v[-1] - mid[-1] if mid.size else 0.5)
        return np.concatenate([[first], mid, [last]])

    ex, ey = edges(lrs), edges(betas)
    cmap = matplotlib.colormaps["viridis_r"].with_extremes(bad="0.8")
    mesh = ax.pcolormesh(ex, ey, np.ma.masked_invalid(conv.T), cmap=cmap, shading="flat",
                         norm=matplotlib.colors.LogNorm(vmin=max(1, np.nanmin(conv)) if np.isfinite(conv).any() else 1,
                                                        vmax=max(2, s.epochs)))
    fig.colorbar(mesh, ax=ax, label=f"epochs to converge (rtol={s.rtol:g})")
    div = (status == "diverged").T.astype(float)
    ax.contourf((ex[1:] + ex[:-1]) / 2, (ey[1:] + ey[:-1]) / 2, div, levels=[0.5, 1.5],
                colors="none", hatches=["xx"])
    Patch = matplotlib.patches.Patch
    handles = [Patch(facecolor="white", edgecolor="0.3", hatch="xx", label="diverged"),
               Patch(facecolor="0.8", label=f"ran out of epochs ({s.epochs})")]
    lam = s.stability.lambda_max
    bb = np.linspace(max(ey[0], 0.0), min(ey[-1], 0.999), 200)
    h, = ax.plot(2 * (1 + bb) / lam, bb, color="crimson", lw=2.2,
                 label="stability boundary lr·λmax = 2(1+β)")
    handles.append(h)
    try:
        p_lr, p_beta = s.stability.polyak()
        h = ax.plot([p_lr], [p_beta], marker="*", ms=16, color="gold", mec="black", ls="none",
                    label=f"Polyak optimum lr={p_lr:.3g}, beta={p_beta:.3g}")[0]
        handles.append(h)
    except ValueError:
        pass
    if s.best is not None:
        h = ax.plot([s.best_lr], [s.best_momentum], marker="o", ms=9, mfc="none", mec="red",
                    mew=2, ls="none", label=f"best measured ({s.converged_epoch[s.best]} epochs)")[0]
        handles.append(h)
    ax.set_xlim(ex[0], ex[-1])
    ax.set_ylim(ey[0], ey[-1])
    ax.set_xlabel("learning rate")
    ax.set_ylabel("momentum beta")
    ax.set_title(title or ("Nesterov" if s.nesterov else "heavy-ball") + " momentum: epochs to converge")
    ax.legend(handles=handles, loc="lower right", fontsize="small", framealpha=0.95)
    return fig


def lr_find(result, *, ax=None, title=None):
    """The learning-rate range test: loss against lr, suggestions and lr_opt/lr_crit marked.

    With a non-linear ``model=`` there is no lr_opt: lambda_0's bracket
    ``(2/lambda_0, 4/lambda_0)`` is shaded and marked instead, and the
    suggestions are given in units of ``2/lambda_0``.

    Parameters
    ----------
    result : gdcore.LRFinderResult
    ax : matplotlib.axes.Axes, optional
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import warnings, gdcore, gdcore.plot
    >>> X, y = gdcore.make_linear(n=20, seed=0)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", gdcore.LRFinderWarning)
    ...     r = gdcore.lr_find(X, y, steps=40)
    >>> fig = gdcore.plot.lr_find(r)
    >>> fig.axes[0].get_xscale()
    'log'
    """
    if not isinstance(result, LRFinderResult):
        raise TypeError(f"result must be a gdcore.LRFinderResult (from gdcore.lr_find), "
                        f"got {type(result).__name__}.")
    r = result
    curved = isinstance(r.stability, Curvature)  # a non-linear model: lambda_0's bracket
    fig, ax = _new_axes(ax, figsize=(8.0, 5.8))
    lrs = np.asarray(r.lrs, dtype=np.float64)
    xlo = lrs.min() / 1.5 if lrs.size else 1e-6
    xhi = max(lrs.max() * 1.5 if lrs.size else 1.0, r.lr_crit * (2.6 if curved else 1.5))
    shade = (_shade_bracket if curved else _shade_regimes)(ax, r.stability, xlo, xhi)
    ax.plot(lrs, r.losses, color="0.6", lw=1.0, label="loss (before each step)")
    ax.plot(lrs, r.smoothed, color="#2166ac", lw=2.0, label="smoothed loss")
    marks = (_mark_bracket if curved else _mark_lrs)(ax, r.stability)
    ref, ref_name = (r.lr_crit, "2/λ0") if curved else (r.lr_opt, "lr_opt")
    styles = {"valley": ("#7b3294", ":"), "steep": ("#e66101", "-."), "minimum/10": ("#5e3c99", (0, (5, 2, 1, 2)))}
    handles, labels = ax.get_legend_handles_labels()
    for name, value in r.suggestions.items():
        if value is None:
            continue
        color, ls = styles.get(name, ("0.3", ":"))
        h = ax.axvline(value, color=color, ls=ls, lw=1.4)
        star = " (suggestion)" if name == r.suggest else ""
        handles.append(h)
        labels.append(f"{name} = {value:.3g} = {_ratio(value, ref)} {ref_name}{star}")
    handles += [h for h, _ in marks] + [h for h, _ in shade]
    labels += [t for _, t in marks] + [t for _, t in shade]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(xlo, xhi)
    finite = np.asarray(r.losses)[np.isfinite(r.losses)]
    if finite.size:
        ax.set_ylim(finite.min() / 2, finite.max() * 5)
    ax.set_xlabel("learning rate (grows every step; log scale)")
    ax.set_ylabel("loss (log scale)")
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2,
              fontsize="x-small", frameon=False)
    stop = "stopped when the loss blew up" if r.stopped_early else "ran the whole range"
    ax.set_title(title or f"learning-rate range test ({len(lrs)} steps, {stop})")
    ax.grid(alpha=0.3, which="major")
    return fig
