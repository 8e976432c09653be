"""Helpers shared by every picture: host arrays, axes, formatting, colours and run adapters.

:mod:`gdcore.plot` checks that matplotlib is installed before it imports any of these modules.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from gdcore.analysis import Curvature
from gdcore.backends import host
from gdcore.study import FitResult, SweepResult

__all__ = ["REGIME_COLORS", "_DATA_COLOR", "_FITS", "_INIT_COLOR", "_SWEEPS", "_Run", "_clip_gap",
           "_colors", "_fmt_loss", "_fmt_lr", "_fmt_w", "_gap_limits", "_host", "_is_network",
           "_model_runs", "_new_axes", "_outcome", "_ratio", "_refuse_model", "_runs", "_trim",
           "_weights_column", "_xy"]

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


# One run's and one sweep's result classes, whatever the model.  Whether a result is of a
# linear model or a network is never read off its class: see _is_network.  The study is folding
# into FitResult/SweepResult: one family for every model.
_FITS = (FitResult,)
_SWEEPS = (SweepResult,)


def _is_network(result) -> bool:
    """Whether ``result`` is a fit or a sweep of a non-linear model (its curvature is measured).

    A linear model's result carries an :class:`~gdcore.analysis.Stability` (a
    closed form); a network's a :class:`~gdcore.analysis.Curvature` (lambda_0
    at the initial weights, nothing predicted).
    """
    return isinstance(result, _FITS + _SWEEPS) and isinstance(result.stability, Curvature)


class _Run(NamedTuple):
    """One run, host side, whatever result (linear or network, fit or sweep) it came from."""

    lr: float
    regime: str
    status: str
    converged_epoch: int | None
    diverged_epoch: int | None
    predicted_epoch: int | None  # None for a network
    losses: np.ndarray  # measured, epochs actually run (no trailing nan)
    predicted: np.ndarray | None  # closed form, epochs 0..requested epochs; None for SGD, networks
    loss_star: float  # L*; a network's is taken as 0
    rtol: float
    dtype: str
    epochs: int  # the horizon
    stability: Any  # analysis.Stability (linear) or analysis.Curvature (network)
    sharpness: tuple | None = None  # a network's (epochs, values), values nan after the run stopped
    model: str | None = None  # a network's description
    edge: np.ndarray | None = None  # beside sharpness: the optimizer's edge at every snapshot
    edge_label: str = "2/lr"  # how the optimizer's edge reads ("2/lr", "38/lr", ...)
    optimizer: str = "gd"  # the optimizer's name

    @property
    def nonlinear(self) -> bool:
        """A non-linear model: L* taken as 0, nothing predicted."""
        return isinstance(self.stability, Curvature)

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

    @property
    def units(self) -> float:
        """The lr in units of ``stability.lr_crit`` (for a network: of 2 / lambda_0)."""
        return self.lr / self.stability.lr_crit


def _trim(row):
    row = np.asarray(row, dtype=np.float64)
    finite_upto = np.flatnonzero(~np.isnan(row))
    return row[: finite_upto[-1] + 1] if finite_upto.size else row[:1]


def _result_runs(r) -> list[_Run]:
    """The runs of one fit or sweep result, of a linear model or a network."""
    network = _is_network(r)
    pred = None
    if not network:
        with np.errstate(all="ignore"):  # no prediction (Adam, SGD): nothing to draw
            pred = r.predicted_losses() if r.predictable else None
    loss_star = 0.0 if network else float(r.optimum.loss)
    sharp = r.sharpness if network else None
    model = r.model if network else None
    edge = getattr(r, "edge", None) if network else None
    opt = getattr(r, "optimizer", None)
    name = getattr(opt, "name", "gd")
    label = opt.edge_label() if hasattr(opt, "edge_label") else "2/lr"
    if isinstance(r, _FITS):
        losses = _trim(r.losses) if network else np.asarray(r.losses, dtype=np.float64)
        return [_Run(r.lr, r.regime, r.status, r.converged_epoch, r.diverged_epoch,
                     None if network else r.predicted_epoch, losses, pred, loss_star, r.rtol,
                     r.dtype, r.epochs, r.stability, sharp, model, edge, label, name)]
    return [_Run(float(lr), r.regime[i], r.status[i], r.converged_epoch[i], r.diverged_epoch[i],
                 None if network else r.predicted_epochs[i], _trim(r.losses[i]),
                 None if pred is None else pred[i], loss_star, r.rtol, r.dtype, r.epochs,
                 r.stability, None if sharp is None else (sharp[0], sharp[1][i]), model,
                 None if edge is None else edge[i], label, name)
            for i, lr in enumerate(r.lrs)]


def _runs(results) -> list[_Run]:
    """Flatten a FitResult, a SweepResult or a sequence of them (any model) into runs."""
    if isinstance(results, _FITS + _SWEEPS):
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
    for r in items:
        if not isinstance(r, _FITS + _SWEEPS):
            raise TypeError(
                "results must be gdcore.FitResult or gdcore.SweepResult objects (or, for a "
                f"non-linear model, their Model* counterparts), got a {type(r).__name__}."
            )
    return [run for r in items for run in _result_runs(r)]


def _model_runs(results) -> list[_Run]:
    """As :func:`_runs`, refusing any result that is not a non-linear model's."""
    linear_hint = ("these pictures are of a non-linear model: pass gdcore.fit(..., model="
                   "gdcore.models.mlp(...)) or gdcore.sweep(..., model=...) results")
    if isinstance(results, _FITS + _SWEEPS):
        if not _is_network(results):
            raise TypeError(f"{linear_hint}, not a linear model's {type(results).__name__} (its "
                            "sharpness is constant: gdcore.stability(X).lambda_max).")
        results = [results]
    try:
        items = list(results)
    except TypeError:
        raise TypeError(f"{linear_hint}; got {type(results).__name__}.") from None
    if not items:
        raise ValueError("results is empty; pass at least one gdcore.fit(..., model=...) result.")
    for r in items:
        if not _is_network(r):
            raise TypeError(f"{linear_hint}; got a {type(r).__name__}.")
    return [run for r in items for run in _result_runs(r)]


def _refuse_model(obj, what, instead):
    """A clear TypeError when a non-linear model's result reaches a linear-only picture."""
    items = obj if isinstance(obj, (list, tuple)) else [obj]
    for r in items:
        if _is_network(r):
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
