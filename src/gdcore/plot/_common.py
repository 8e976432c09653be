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
from gdcore.study import FitResult, ModelFitResult, ModelSweepResult, SweepResult

__all__ = ["REGIME_COLORS", "_DATA_COLOR", "_INIT_COLOR", "_ModelRun", "_Run", "_clip_gap",
           "_colors", "_fmt_loss", "_fmt_lr", "_fmt_w", "_gap_limits", "_host", "_model_runs",
           "_new_axes", "_outcome", "_ratio", "_refuse_model", "_runs", "_trim",
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
