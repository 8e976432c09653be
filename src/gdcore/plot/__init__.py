"""Pictures of the learning-rate study: data, fits, loss curves, sweeps, paths, GIFs.

The only module of gdcore that imports matplotlib; ``import gdcore`` does not
import it, ``import gdcore.plot`` does.  Figures are built as
:class:`matplotlib.figure.Figure` objects, never through ``pyplot``: nothing
is shown, no global figure state is kept, and everything works without a
display (the Agg renderer).  Every function returns the figure it drew on and
takes ``ax=`` to draw into an axes of your own.

Results of every backend are accepted: weights and histories are copied to
the host (numpy float64) for drawing.

Conventions shared by every picture:

* the loss is shown as the gap ``L - L*`` to the least-squares optimum on a
  log scale, clipped below at a floor of a few units of rounding of the run's
  dtype (a converged run's gap is zero or even negative at rounding level);
* the closed-form prediction is drawn dashed on top of the measured curve
  (mini-batch SGD runs have none: they are drawn measured only);
* the regimes use one colour each: monotone (green), oscillating (orange),
  divergent (red);
* a divergent run is drawn up to the epoch it was stopped at (its prediction
  carries on climbing).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

try:
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
except ImportError:  # pragma: no cover - exercised only without matplotlib
    raise ImportError(
        'gdcore.plot needs matplotlib (and pillow for GIFs): pip install "gdcore[plot]"'
    ) from None

from gdcore.analysis import Curvature
from gdcore.backends import host
from gdcore.study import FitResult, LRFinderResult, ModelFitResult, ModelSweepResult, SweepResult

__all__ = ["animate", "data", "edge_of_stability", "fit", "loss_curves", "lr_find",
           "model_sweep", "stability_map", "sweep", "trajectory"]

REGIME_COLORS = {
    "monotone": "#2a9d8f",
    "oscillating": "#e9a23b",
    "critical": "#8d5fd3",
    "divergent": "#d1495b",
}
_DATA_COLOR = "#4c72b0"
_INIT_COLOR = "#7f7f7f"
_FLOOR_ULPS = 16.0  # the loss-gap floor, in units of eps(dtype) * |L*|


# ---------------------------------------------------------------------------
# helpers


def _host(x) -> np.ndarray:
    """Any backend's array (or list, or pandas object) as a float64 numpy array."""
    if x is None:
        return None
    return host(x).astype(np.float64, copy=False)


def _new_axes(ax, figsize=(6.4, 4.4)):
    """``(fig, ax)``: the user's axes and its figure, or a fresh Agg-safe figure."""
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _xy(X, y, feature, output):
    X = _host(X)
    y = _host(y)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n, d), got shape {X.shape}.")
    if not 0 <= feature < X.shape[1]:
        raise ValueError(f"feature={feature} is not a column of X, which has {X.shape[1]} columns.")
    if y.ndim == 2:
        if not 0 <= output < y.shape[1]:
            raise ValueError(f"output={output} is not a column of y, which has {y.shape[1]} columns.")
        y = y[:, output]
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} rows but X has {X.shape[0]}; pass matching X and y.")
    return X, y


def _weights_column(w, output):
    w = _host(w)
    if w.ndim == 2:
        w = w[:, output]
    return w


def _fmt_w(w) -> str:
    return "(" + ", ".join(f"{v:.3g}" for v in w) + ")"


def _fmt_loss(v: float) -> str:
    return f"{v:.3f}" if 0.01 <= abs(v) < 1e4 else f"{v:.3g}"


def _outcome(run) -> str:
    """What happened to a run, in words: its status and the epoch that decided it."""
    if run.status == "converged":
        return f"converged at epoch {run.converged_epoch}"
    if run.status == "diverged":
        return f"diverged at epoch {run.diverged_epoch}"
    return f"not converged in {run.epochs} epochs"


def _fmt_lr(lr: float) -> str:
    return f"{lr:.3g}"


def _ratio(value: float, ref: float) -> str:
    r = value / ref
    return f"{r:.2f}x" if r >= 0.1 else f"1/{1 / r:.0f}"


class _Run(NamedTuple):
    """One run, host side, whatever result it came from."""

    lr: float
    regime: str
    status: str
    converged_epoch: int | None
    diverged_epoch: int | None
    predicted_epoch: int | None
    losses: np.ndarray  # measured, epochs actually run (no trailing nan)
    predicted: np.ndarray | None  # closed form, epochs 0..requested epochs; None for SGD
    loss_star: float
    rtol: float
    dtype: str
    epochs: int
    history: Any  # host (E+1, d) or (E+1, d, m), or None
    nonlinear: bool = False  # a non-linear model: L* taken as 0, nothing predicted

    @property
    def floor(self) -> float:
        eps = float(np.finfo(np.float32 if self.dtype == "float32" else np.float64).eps)
        # rounding of L near L*, or (noise-free data, L* = 0) 1e-3 eps of the starting gap
        return max(_FLOOR_ULPS * eps * abs(self.loss_star), 1e-3 * eps * abs(self.gap0), 1e-300)

    @property
    def gap0(self) -> float:
        return float(self.losses[0] - self.loss_star)

    @property
    def outcome(self) -> str:
        return _outcome(self)

    @property
    def label(self) -> str:
        return f"lr={_fmt_lr(self.lr)} ({self.regime}): {self.outcome}"


def _runs(results) -> list[_Run]:
    """Flatten a FitResult, a SweepResult or a sequence of them into runs."""
    if isinstance(results, (FitResult, SweepResult, ModelFitResult, ModelSweepResult)):
        results = [results]
    try:
        items = list(results)
    except TypeError:
        raise TypeError(
            "results must be a gdcore.FitResult, a gdcore.SweepResult or a list of them, "
            f"got {type(results).__name__}."
        ) from None
    if not items:
        raise ValueError("results is empty; pass at least one gdcore.fit(...) result.")
    runs = []
    for r in items:
        if isinstance(r, FitResult):
            with np.errstate(all="ignore"):  # no prediction (Adam, SGD): nothing to draw
                pred = r.predicted_losses() if r.predictable else None
            hist = _host(r.history) if r.history is not None else None
            runs.append(_Run(r.lr, r.regime, r.status, r.converged_epoch, r.diverged_epoch,
                             r.predicted_epoch, np.asarray(r.losses, dtype=np.float64), pred,
                             float(r.optimum.loss), r.rtol, r.dtype, r.epochs, hist))
        elif isinstance(r, SweepResult):
            with np.errstate(all="ignore"):
                pred = r.predicted_losses() if r.predictable else None
            for i, lr in enumerate(r.lrs):
                row = r.losses[i]
                finite_upto = np.flatnonzero(~np.isnan(row))
                row = row[: finite_upto[-1] + 1] if finite_upto.size else row[:1]
                runs.append(_Run(float(lr), r.regime[i], r.status[i], r.converged_epoch[i],
                                 r.diverged_epoch[i], r.predicted_epochs[i], row,
                                 None if pred is None else pred[i],
                                 float(r.optimum.loss), r.rtol, r.dtype, r.epochs, None))
        elif isinstance(r, (ModelFitResult, ModelSweepResult)):
            runs.extend(_Run(m.lr, m.regime, m.status, m.converged_epoch, m.diverged_epoch, None,
                             m.losses, None, 0.0, m.rtol, m.dtype, m.epochs, None, True)
                        for m in _model_runs(r))
        else:
            raise TypeError(
                "results must be gdcore.FitResult or gdcore.SweepResult objects (or, for a "
                f"non-linear model, their Model* counterparts), got a {type(r).__name__}."
            )
    return runs


class _ModelRun(NamedTuple):
    """One run of a non-linear model, host side, from a ModelFitResult or a ModelSweepResult."""

    lr: float
    regime: str
    status: str
    converged_epoch: int | None
    diverged_epoch: int | None
    losses: np.ndarray  # epochs actually run (no trailing nan)
    sharpness: tuple | None  # (epochs, values), values nan after the run stopped
    stability: Curvature
    rtol: float
    dtype: str
    epochs: int  # the horizon
    model: str

    @property
    def outcome(self) -> str:
        return _outcome(self)

    @property
    def units(self) -> float:
        """The lr in units of 2 / lambda_0."""
        return self.lr / self.stability.lr_crit


def _trim(row):
    row = np.asarray(row, dtype=np.float64)
    finite_upto = np.flatnonzero(~np.isnan(row))
    return row[: finite_upto[-1] + 1] if finite_upto.size else row[:1]


def _model_runs(results) -> list[_ModelRun]:
    """Flatten a ModelFitResult, a ModelSweepResult or a sequence of them into runs."""
    if isinstance(results, (ModelFitResult, ModelSweepResult)):
        results = [results]
    linear_hint = ("these pictures are of a non-linear model: pass gdcore.fit(..., model="
                   "gdcore.models.mlp(...)) or gdcore.sweep(..., model=...) results")
    if isinstance(results, (FitResult, SweepResult)):
        raise TypeError(f"{linear_hint}, not a linear model's {type(results).__name__} (its "
                        "sharpness is constant: gdcore.stability(X).lambda_max).")
    try:
        items = list(results)
    except TypeError:
        raise TypeError(f"{linear_hint}; got {type(results).__name__}.") from None
    if not items:
        raise ValueError("results is empty; pass at least one gdcore.fit(..., model=...) result.")
    runs = []
    for r in items:
        if isinstance(r, ModelFitResult):
            runs.append(_ModelRun(r.lr, r.regime, r.status, r.converged_epoch, r.diverged_epoch,
                                  _trim(r.losses), r.sharpness, r.stability, r.rtol, r.dtype,
                                  r.horizon, r.model))
        elif isinstance(r, ModelSweepResult):
            for i, lr in enumerate(r.lrs):
                sharp = None if r.sharpness is None else (r.sharpness[0], r.sharpness[1][i])
                runs.append(_ModelRun(float(lr), r.regime[i], r.status[i], r.converged_epoch[i],
                                      r.diverged_epoch[i], _trim(r.losses[i]), sharp, r.stability,
                                      r.rtol, r.dtype, r.horizon, r.model))
        else:
            raise TypeError(f"{linear_hint}; got a {type(r).__name__}.")
    return runs


def _refuse_model(obj, what, instead):
    """A clear TypeError when a non-linear model's result reaches a linear-only picture."""
    items = obj if isinstance(obj, (list, tuple)) else [obj]
    for r in items:
        if isinstance(r, (ModelFitResult, ModelSweepResult)):
            raise TypeError(
                f"{what}; this is a {type(r).__name__} of the non-linear model {r.model!r}, which "
                f"has no closed form to draw. Use gdcore.plot.{instead} instead."
            )


def _colors(runs):
    """One colour per run: tab10 for a few, viridis by log(lr) for many."""
    if len(runs) <= 10:
        cmap = matplotlib.colormaps["tab10"]
        return [cmap(i) for i in range(len(runs))], None
    lrs = np.log([r.lr for r in runs])
    span = lrs.max() - lrs.min() or 1.0
    cmap = matplotlib.colormaps["viridis"]
    return [cmap((v - lrs.min()) / span) for v in lrs], cmap


def _gap_limits(runs):
    floor = min(r.floor for r in runs)
    tops = [np.nanmax(np.where(np.isfinite(r.losses), r.losses, np.nan)) - r.loss_star for r in runs]
    top = max(max(tops), max(r.gap0 for r in runs))
    return floor, max(top * 30.0, floor * 1e3)


def _clip_gap(gap, floor):
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(gap), np.maximum(gap, floor), np.nan)


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


# ---------------------------------------------------------------------------
# public functions


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
        A sweep of a non-linear ``model=`` (a ``ModelSweepResult``) is drawn
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
    if isinstance(sweep_result, ModelSweepResult):  # a non-linear model: no closed form
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
        star = " (suggestion)" if name == r.method else ""
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


def animate(X, y, results, path, *, epochs=None, fps=6, dpi=72, feature=0, output=0,
            hold=1.5):
    """Write an animated GIF: each run's fitted line and loss curve, epoch by epoch.

    One column per run (side by side): the data with the prediction of the
    current epoch on top, the loss gap so far below (the closed-form curve
    faint in the background).  A diverged run freezes at its last epoch,
    marked in red.  Frames are rendered by blitting on the Agg canvas and written by pillow
    (no ffmpeg needed).

    Parameters
    ----------
    X : array-like, shape (n, d)
    y : array-like, shape (n,) or (n, m)
    results : gdcore.FitResult or a sequence of them
        Fitted with ``record_weights=True``.
    path : str or os.PathLike
        Where to write the GIF.
    epochs : int, optional
        Animate epochs 0..epochs (default: the longest run), one frame each.
    fps : float, default 6
        Frames per second.
    dpi : float, default 72
        Resolution; the figure is 3.2 x 5.2 inches per run.
    feature, output : int
        As in :func:`fit`.
    hold : float, default 1.5
        Seconds to hold the last frame before the GIF loops.

    Returns
    -------
    matplotlib.figure.Figure
        The figure showing the last frame.

    Examples
    --------
    >>> import os, tempfile, gdcore, gdcore.plot
    >>> X, y = gdcore.make_linear(n=20, seed=0)
    >>> runs = [gdcore.fit(X, y, lr=lr, epochs=4, record_weights=True) for lr in (0.1, 1.01)]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     fig = gdcore.plot.animate(X, y, runs, os.path.join(tmp, "gd.gif"), dpi=30)
    ...     os.path.getsize(os.path.join(tmp, "gd.gif")) > 0
    True
    """
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        raise ImportError('gdcore.plot.animate needs pillow: pip install "gdcore[plot]"') from None
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    _refuse_model(results, "plot.animate draws a linear model's fitted line",
                  "loss_curves(r) or edge_of_stability(r)")
    Xh, yv = _xy(X, y, feature, output)
    fits = [results] if isinstance(results, FitResult) else list(results)
    if not fits or not all(isinstance(r, FitResult) for r in fits):
        raise TypeError("results must be a gdcore.FitResult or a list of them.")
    for r in fits:
        if r.history is None:
            raise ValueError(f"the run with lr={r.lr:g} has no weight history; fit it with "
                             "record_weights=True to animate it.")
    runs = _runs(fits)
    hists = [_host(r.history) for r in fits]
    hists = [h[:, :, output] if h.ndim == 3 else h for h in hists]
    last = max(len(h) - 1 for h in hists) if epochs is None else int(epochs)
    if last < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}.")
    k_runs = len(fits)
    fig = Figure(figsize=(3.2 * k_runs, 5.4), layout="constrained")
    fig.suptitle("gradient descent epoch by epoch: fitted line (top), loss gap (bottom)",
                 fontsize="medium")
    axes = fig.subplots(2, k_runs, squeeze=False, height_ratios=[1.25, 1])
    floor, top = _gap_limits(runs)
    x = Xh[:, feature]
    order = np.argsort(x)
    span = float(yv.max() - yv.min()) or 1.0
    ylim = (float(yv.min()) - 0.6 * span, float(yv.max()) + 0.6 * span)
    artists = []
    for col, (run, h) in enumerate(zip(runs, hists)):
        color = REGIME_COLORS.get(run.regime, "C3")
        a_fit, a_loss = axes[0, col], axes[1, col]
        a_fit.scatter(x, yv, s=8, color=_DATA_COLOR, alpha=0.6)
        a_fit.plot(x[order], (Xh @ h[0])[order], color=_INIT_COLOR, ls="--", lw=1,
                   label=f"start w={_fmt_w(h[0])}")
        a_fit.legend(loc="lower right", fontsize="x-small", frameon=False)
        line, = a_fit.plot([], [], color=color, lw=2.4)
        a_fit.set_ylim(*ylim)
        a_fit.set_title(f"lr={_fmt_lr(run.lr)} ({run.regime})", fontsize="medium")
        a_fit.set_xlabel(f"x (feature {feature})", fontsize="small")
        if col == 0:
            a_fit.set_ylabel("y")
        a_fit.grid(alpha=0.3)
        text = a_fit.text(0.03, 0.95, "", transform=a_fit.transAxes, va="top", fontsize="small",
                          family="monospace")
        if run.predicted is not None:  # mini-batch SGD: no closed-form curve
            kp = np.arange(min(len(run.predicted), last + 1))
            a_loss.plot(kp, _clip_gap(run.predicted[: len(kp)] - run.loss_star, floor),
                        color=color, lw=1, ls="--", alpha=0.4)
        curve, = a_loss.plot([], [], color=color, lw=2)
        dot, = a_loss.plot([], [], marker="o", color=color, ms=5, ls="none")
        a_loss.axhline(run.rtol * run.gap0, color="0.3", lw=0.7, ls=":")
        a_loss.set_yscale("log")
        a_loss.set_ylim(floor / 3, top)
        a_loss.set_xlim(-0.5, last + 0.5)
        a_loss.set_xlabel("epoch", fontsize="small")
        if col == 0:
            a_loss.set_ylabel("loss gap L - L*")
        a_loss.grid(alpha=0.3)
        artists.append((run, h, line, text, curve, dot))

    def draw(k):
        for run, h, line, text, curve, dot in artists:
            kk = min(k, len(h) - 1)
            line.set_data(x[order], (Xh @ h[kk])[order])
            gap = _clip_gap(run.losses[: kk + 1] - run.loss_star, floor)
            curve.set_data(np.arange(kk + 1), gap)
            dot.set_data([kk], [gap[kk]])
            msg = f"epoch {kk:3d}\nMSE {run.losses[kk]:.4g}"
            if run.diverged_epoch is not None and k >= run.diverged_epoch:
                msg += f"\nDIVERGED at epoch {run.diverged_epoch}"
                text.set_color(REGIME_COLORS["divergent"])
            elif run.converged_epoch is not None and k >= run.converged_epoch:
                msg += f"\nconverged at epoch {run.converged_epoch}"
                text.set_color("#1b7837")
            else:
                text.set_color("k")
            text.set_text(msg)

    # Blitting: draw everything static once, then per frame only the moving artists.
    moving = [a for _, _, *arts in artists for a in arts]
    for a in moving:
        a.set_animated(True)
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.draw()  # lays out once (constrained layout) and renders the background
    fig.set_layout_engine("none")
    background = canvas.copy_from_bbox(fig.bbox)
    frames = []
    for k in range(last + 1):
        draw(k)
        canvas.restore_region(background)
        for a in moving:
            fig.draw_artist(a)
        w, h = canvas.get_width_height()
        frames.append(Image.frombuffer("RGBA", (w, h), bytes(canvas.buffer_rgba())).convert("RGB"))
    # One palette for every frame (from the last, fullest one) keeps the file small.
    palette = frames[-1].quantize(colors=96, method=Image.Quantize.MEDIANCUT)
    frames = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    ms = max(20, round(1000 / fps))
    durations = [ms] * len(frames)
    durations[-1] = ms + round(1000 * hold)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0,
                   optimize=False, disposal=1)
    for a in moving:
        a.set_animated(False)
    return fig


# ---------------------------------------------------------------------------
# non-linear models: measured curvature, no closed form


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
    """Sharpness against 2/lr per epoch (top) and the loss (bottom): the edge of stability.

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
    results_or_sweep : ModelFitResult, a sequence of them, or ModelSweepResult
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
        edge = 2.0 / run.lr
        shown = val * run.lr / 2.0 if relative else val
        end = (run.outcome if run.status != "max_epochs" else
               f"{run.losses[-1] / run.losses[0]:.2g} L0 after {len(run.losses) - 1} epochs")
        label = f"lr = {run.lr:.3g} = {run.units:.2g} × 2/λ0: {end}" if few else None
        ax_s.plot(ep, shown, color=c, lw=1.8 if few else 1.0, label=label)
        if not relative:
            ax_s.axhline(edge, color=c, lw=1.2 if few else 0.7, ls="--")
            tops.append(edge)
        if np.isfinite(shown).any():
            tops.append(float(np.nanmax(shown)))
        k = np.arange(len(run.losses))
        loss = np.where(np.isfinite(run.losses) & (run.losses > 0), run.losses, np.nan)
        ax_l.plot(k, loss, color=c, lw=1.3 if few else 0.8)
        if run.diverged_epoch is not None and run.diverged_epoch < len(loss):
            ax_l.plot([run.diverged_epoch], [loss[run.diverged_epoch]], marker="X", ms=9, color=c,
                      ls="none")
    handles, labels = ax_s.get_legend_handles_labels()
    if relative:
        ax_s.axhline(1.0, color="0.2", lw=1.4, ls="--")
        handles.append(Line2D([], [], color="0.2", lw=1.4, ls="--"))
        labels.append("2/lr: the edge of stability")
        tops.append(1.0)
        ax_s.set_ylabel("sharpness × lr/2  (units of 2/lr)")
    else:
        handles.append(Line2D([], [], color="0.3", lw=1.2, ls="--"))
        labels.append("2/lr of the run in the same colour: the edge of stability")
        ax_s.set_ylabel("sharpness (top Hessian eigenvalue)")
    ax_s.set_ylim(0.0, 1.12 * max(tops))
    lam0 = runs[0].stability.lambda_max
    if not relative and all(r.stability is runs[0].stability for r in runs):
        ax_s.axhline(lam0, color="0.55", lw=0.8, ls=":")
        handles.append(Line2D([], [], color="0.55", lw=0.8, ls=":"))
        labels.append(f"λ0 = {lam0:.3g}: the sharpness at initialisation")
    loc = "lower right" if relative else "best"
    ax_s.legend(handles, labels, loc=loc, fontsize="x-small", framealpha=0.9)
    ax_s.grid(alpha=0.3)
    ax_s.set_title(title or f"edge of stability ({runs[0].model}): the sharpness rises to 2/lr "
                            "and hovers there")
    if cmap is not None:
        lrs = [r.lr for r in runs]
        norm = matplotlib.colors.LogNorm(min(lrs), max(lrs))
        fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=[ax_s, ax_l], label="lr")
    l0 = max(float(r.losses[0]) for r in runs)
    ax_l.axhline(l0, color="0.55", lw=0.8, ls=":", label="L0: the loss at initialisation")
    ax_l.set_yscale("log")
    ax_l.set_xlabel("epoch")
    ax_l.set_ylabel("loss (log scale)")
    ax_l.set_title("the loss: non-monotone (a spike each time the sharpness overshoots 2/lr), "
                   "yet falling", fontsize="medium")
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
    sweep_result : ModelSweepResult
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
    if not isinstance(sweep_result, ModelSweepResult):
        raise TypeError(
            "sweep_result must be a sweep of a non-linear model (gdcore.sweep(X, y, lrs, "
            f"model=gdcore.models.mlp(...))), got {type(sweep_result).__name__}"
            + ("; draw a linear model's sweep with gdcore.plot.sweep." if
               isinstance(sweep_result, SweepResult) else ".")
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
