"""One family of results for every model: :class:`FitResult` and :class:`SweepResult`.

A field that does not apply to a model is ``None``: the optimum and every
``predicted_*`` for a network (its Hessian moves, nothing has a closed form),
``sharpness`` for a run whose curvature was not tracked.  ``stability`` is the
linear model's :class:`gdcore.analysis.Stability` or a network's
:class:`gdcore.analysis.Curvature`; both answer ``lambda_max``, ``lr_crit``,
``regime``, ``regimes`` and ``to_dict``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from gdcore import optimizers
from gdcore.analysis import Curvature, json_ready
from gdcore.backends import host
from gdcore.study._engine import predicted_curves

__all__ = ["FitResult", "Optimum", "SweepResult"]


class Optimum(NamedTuple):
    """The least-squares optimum: weights ``w*`` (user's array library) and loss ``L*``."""

    weights: Any
    loss: float


def _json_float(v):
    v = float(v)
    return v if math.isfinite(v) else None


def _check_predictable(result, curve="curve"):
    if isinstance(result.stability, Curvature):
        raise ValueError(
            f"a {result.model} model has no predicted loss {curve}: its Hessian moves with the "
            "weights, so nothing has a closed form; compare r.losses with r.stability.lr_crit "
            "(2 / lambda_0) instead."
        )
    if result.batch_size is not None:
        raise ValueError("mini-batch SGD has no closed-form loss curve; see noise_floor instead.")
    if not result.optimizer.linear:
        raise ValueError(
            f"{result.optimizer.name} has no predicted loss {curve}: its step is not a linear map "
            "of the error, so the Hessian's spectrum does not predict it; compare r.losses "
            "with a gd or momentum fit instead."
        )


def _sharpness_dict(sharpness, row=None):
    if sharpness is None:
        return None
    values = sharpness[1] if row is None else sharpness[1][row]
    return {"epochs": np.asarray(sharpness[0]).tolist(), "values": [_json_float(v) for v in values]}


@dataclass(frozen=True, eq=False)
class FitResult:
    """The outcome of :func:`gdcore.fit`: what happened, and what the theory says about it.

    Attributes
    ----------
    weights
        Final weights, in the array library of ``X``: shape (d,) or (d, m) for
        the linear model; the parameter tuple ``(W1, b1, ...)`` of an MLP, a
        dict of tensors for a ``torch.nn.Module``, the ``w0`` pytree's
        structure for a jax function.
    losses : numpy.ndarray
        float64 losses for epochs 0..epochs_run (epoch 0 is ``L(w0)``).
    status : str
        ``"converged"``, ``"diverged"`` or ``"max_epochs"``, within
        :attr:`horizon` epochs (docs/definitions.md).
    converged_epoch, diverged_epoch : int or None
        First epoch meeting the definitions of docs/definitions.md.
    lr : float
        The learning rate (the first epoch's, under a schedule).
    backend, dtype, gradient, method : str
        Where and how it ran: the backend, the working dtype, how the
        gradient was taken (analytic, autograd, jax.grad) and how the data were
        read ("direct", or "gram": ``X^T X / n``).
    model : str
        What was trained ("linear", "mlp[100] tanh", ...).
    stability : Stability or Curvature
        The linear model's exact spectrum analysis, or a network's measured
        sharpness lambda_0 at ``w0`` (``lr_crit = 2 / lambda_0``).
    regime : str
        ``stability.regime(lr)``; ``"adaptive"`` for Adam, ``"scheduled"``
        under a schedule.
    optimum : Optimum or None
        ``w*`` and ``L*`` of the linear model; ``None`` for a network (``L*``
        is then taken as 0).
    predicted_epoch : int or None
        Converged epoch predicted in closed form (linear model, linear
        optimizer, full batch); ``None`` otherwise.
    history
        Weights at every epoch when ``record_weights=True``: an array
        (epochs_run + 1, d[, m]) for the linear model, a list of parameter
        sets for a network; else ``None``.
    sharpness : tuple or None
        With ``sharpness_every=k`` (networks): ``(epochs, values)``, the
        sharpness every k epochs (nan after the run stopped): the one the
        optimizer's edge refers to (for Adam the preconditioned sharpness,
        the top eigenvalue of ``D^(1/2) H D^(1/2)``).
    edge : numpy.ndarray or None
        Beside ``sharpness``: the optimizer's edge of stability
        (``optimizer.edge(lr)``, e.g. ``2 / lr`` for gd, ``38 / lr`` for Adam)
        at every snapshot, constant at a constant lr, epoch by epoch under a
        schedule.
    epochs, rtol, divergence_factor
        The run options (``epochs`` is the horizon).
    optimizer
        What ran (see :mod:`gdcore.optimizers`); ``momentum``/``nesterov``
        repeat its coefficients for the momentum optimizers.
    schedule, batch_size, noise_floor, scaling
        The lr schedule, the mini-batch size and where SGD settled (median gap
        of the last quarter), and ``(mean, scale)`` of ``standardize=True``.

    Notes
    -----
    ``predicted_epoch`` is ``None`` for Adam: its step divides by a running
    root-mean-square of the gradient, so it is not a fixed linear map of the
    error and the Hessian's spectrum gives no closed form (nor an exact
    simulation) of its loss curve.  gdcore says so rather than guess one.
    """

    weights: Any
    losses: np.ndarray
    status: str
    converged_epoch: int | None
    diverged_epoch: int | None
    lr: float
    backend: str
    optimum: Optimum | None
    history: Any
    stability: Any
    predicted_epoch: int | None
    regime: str
    epochs: int
    rtol: float
    dtype: str
    method: str
    gradient: str
    model: str = "linear"
    divergence_factor: float = 1e6
    scaling: Any = None
    momentum: float = 0.0
    nesterov: bool = False
    schedule: Any = None
    batch_size: int | None = None
    noise_floor: float | None = None
    optimizer: Any = None
    sharpness: Any = None
    edge: Any = None
    _gap_weights: np.ndarray = field(repr=False, default=None)

    @property
    def horizon(self) -> int:
        """Epochs the run was given to converge or diverge: a status is a statement about them."""
        return self.epochs

    @property
    def epochs_run(self) -> int:
        """Epochs actually run (fewer than ``epochs`` after an early stop)."""
        return len(self.losses) - 1

    @property
    def predictable(self) -> bool:
        """Whether the closed form predicts this run's loss curve (linear model, not SGD nor Adam)."""
        return (self.optimum is not None and self.batch_size is None
                and self.optimizer.linear)

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1])

    @property
    def loss_gap(self) -> np.ndarray:
        """``losses - L*``: the distance to the best achievable loss (``L*`` = 0 for a network)."""
        return self.losses - (0.0 if self.optimum is None else self.optimum.loss)

    def predicted_losses(self, epochs: int | None = None) -> np.ndarray:
        """Closed-form loss for epochs 0..epochs (default: the requested ``epochs``).

        Examples
        --------
        >>> import gdcore
        >>> X, y = gdcore.make_linear(seed=0)
        >>> r = gdcore.fit(X, y, lr=0.1, epochs=20)
        >>> bool(abs(r.predicted_losses()[20] - r.losses[20]) < 1e-9)
        True
        """
        _check_predictable(self)
        e = self.epochs if epochs is None else int(epochs)
        mult = None if self.schedule is None else self.schedule.table(max(e, 1))
        base = self.lr if self.schedule is None else 1.0
        gaps = predicted_curves(self.stability, self._gap_weights, [base], self.optimizer, e, mult)
        return self.optimum.loss + gaps[0]

    def to_dict(self) -> dict:
        """Plain-Python summary, strict JSON; weights as nested lists for the linear model.

        A number that is not finite is ``None`` (a loss after the run stopped,
        the weights of a run that overflowed, an infinite condition number:
        :func:`gdcore.analysis.json_ready`).
        """
        out = {
            "model": self.model,
            "lr": self.lr,
            "schedule": None if self.schedule is None else repr(self.schedule),
            "optimizer": self.optimizer.name,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "batch_size": self.batch_size,
            "noise_floor": self.noise_floor,
            "backend": self.backend,
            "gradient": self.gradient,
            "method": self.method,
            "dtype": self.dtype,
            "status": self.status,
            "regime": self.regime,
            "converged_epoch": self.converged_epoch,
            "predicted_epoch": self.predicted_epoch,
            "diverged_epoch": self.diverged_epoch,
            "horizon": self.horizon,
            "epochs": self.epochs,
            "epochs_run": self.epochs_run,
            "rtol": self.rtol,
            "divergence_factor": self.divergence_factor,
            "final_loss": _json_float(self.final_loss),
            "optimal_loss": None if self.optimum is None else self.optimum.loss,
            "losses": [_json_float(v) for v in self.losses],
            "stability": self.stability.to_dict(),
            "sharpness": _sharpness_dict(self.sharpness),
            "edge": None if self.edge is None else [_json_float(v) for v in self.edge],
        }
        if self.optimum is not None:
            out["weights"] = host(self.weights).tolist()
            out["optimal_weights"] = host(self.optimum.weights).tolist()
        return json_ready(out)


@dataclass(frozen=True, eq=False)
class SweepResult:
    """K learning rates trained at once on the same data (see :func:`gdcore.sweep`).

    Attributes
    ----------
    lrs : numpy.ndarray
        The learning rates, (K,).
    losses : numpy.ndarray
        (K, epochs + 1) float64; ``nan`` after a run diverged (or converged,
        with ``stop_on_convergence``).
    status, regime : tuple of str
        Measured status and the regime of each lr (a network's regime is
        ``"divergent"`` where its run diverged: measured, not predicted).
    converged_epoch, diverged_epoch, predicted_epochs : tuple of int or None
        ``predicted_epochs`` is all ``None`` for a network, Adam or SGD.
    final_loss : numpy.ndarray
        Loss at each run's last epoch (``inf`` possible for a diverged run).
    weights
        Final weights: (K, d) or (K, d, m) in the array library of ``X`` for
        the linear model; a tuple of K parameter sets for a network.
    history
        With ``record_weights=True``: every run's weights at every epoch, a
        host float64 array (epochs + 1, K, P) (P = d*m weights or a network's
        parameters, ``nan`` after a run stopped); else ``None``.
    stability : Stability or Curvature
        As in :class:`FitResult`.
    optimum : Optimum or None
    model : str
    optimizer : optimizer value
        What every run ran (see :mod:`gdcore.optimizers`); with ``momentums``
        its ``beta`` holds one value per run.
    sharpness : tuple or None
        With ``sharpness_every=k`` (networks): ``(epochs, values)``, values (K, snapshots):
        the sharpness the optimizer's edge refers to (see :class:`FitResult`).
    edge : numpy.ndarray or None
        Beside ``sharpness``: (K, snapshots), the optimizer's edge of every run at every snapshot.
    """

    lrs: np.ndarray
    losses: np.ndarray
    status: tuple
    converged_epoch: tuple
    diverged_epoch: tuple
    predicted_epochs: tuple
    regime: tuple
    final_loss: np.ndarray
    weights: Any
    stability: Any
    optimum: Optimum | None
    epochs: int
    rtol: float
    backend: str
    method: str
    dtype: str
    model: str = "linear"
    divergence_factor: float = 1e6
    scaling: Any = None
    momentums: Any = None
    nesterov: bool = False
    grid_shape: Any = None
    batch_size: int | None = None
    noise_floor: Any = None
    optimizer: Any = None
    sharpness: Any = None
    edge: Any = None
    history: Any = None
    _gap_weights: np.ndarray = field(repr=False, default=None)

    @property
    def horizon(self) -> int:
        """Epochs every run was given: a status is a statement about them."""
        return self.epochs

    @property
    def best(self) -> int | None:
        """Index of the best run.

        The linear model: the run that converged in the fewest epochs (ties:
        the lower final loss).  A network: the lowest final loss among the
        runs that did not diverge.
        """
        if isinstance(self.stability, Curvature):
            ok = [i for i, st in enumerate(self.status) if st != "diverged"]
            return min(ok, key=lambda i: self.final_loss[i]) if ok else None
        best = None
        for i, ep in enumerate(self.converged_epoch):
            if ep is None or self.status[i] != "converged":
                continue
            key = (ep, self.final_loss[i])
            if best is None or key < best[0]:
                best = (key, i)
        return None if best is None else best[1]

    @property
    def best_lr(self) -> float | None:
        """The lr of :attr:`best`."""
        i = self.best
        return None if i is None else float(self.lrs[i])

    @property
    def best_momentum(self) -> float | None:
        """The momentum of the best run (2-D sweeps), else ``None``."""
        i = self.best
        return None if i is None or self.momentums is None else float(self.momentums[i])

    @property
    def divergence_onset(self) -> float | None:
        """The smallest lr of the sweep that diverged within the horizon (None: none did)."""
        div = [lr for lr, st in zip(self.lrs, self.status) if st == "diverged"]
        return float(min(div)) if div else None

    @property
    def onset_over_lr_crit(self) -> float | None:
        """:attr:`divergence_onset` in units of ``stability.lr_crit``."""
        onset = self.divergence_onset
        return None if onset is None else onset / self.stability.lr_crit

    @property
    def predictable(self) -> bool:
        """Whether the closed form predicts the runs' loss curves (linear model, not SGD nor Adam)."""
        return (self.optimum is not None and self.batch_size is None
                and self.optimizer.linear)

    def predicted_losses(self) -> np.ndarray:
        """Closed-form loss curves, (K, epochs + 1), for every run of the sweep."""
        _check_predictable(self, "curves")
        return self.optimum.loss + predicted_curves(self.stability, self._gap_weights, self.lrs,
                                                    self.optimizer, self.epochs)

    def to_dict(self) -> dict:
        """Per-lr rows plus the analysis, as plain Python, strict JSON (non-finite numbers are
        ``None``: :func:`gdcore.analysis.json_ready`)."""
        rows = []
        for i, lr in enumerate(self.lrs):
            rows.append({
                "lr": float(lr),
                "momentum": None if self.momentums is None else float(self.momentums[i]),
                "noise_floor": None if self.noise_floor is None or not np.isfinite(self.noise_floor[i])
                else float(self.noise_floor[i]),
                "regime": self.regime[i],
                "status": self.status[i],
                "converged_epoch": self.converged_epoch[i],
                "predicted_epoch": self.predicted_epochs[i],
                "diverged_epoch": self.diverged_epoch[i],
                "final_loss": _json_float(self.final_loss[i]),
            })
            if self.sharpness is not None:
                rows[-1]["sharpness"] = _sharpness_dict(self.sharpness, i)
                rows[-1]["edge"] = None if self.edge is None else [_json_float(v) for v in self.edge[i]]
        return json_ready({
            "model": self.model,
            "backend": self.backend,
            "method": self.method,
            "dtype": self.dtype,
            "horizon": self.horizon,
            "epochs": self.epochs,
            "rtol": self.rtol,
            "divergence_factor": self.divergence_factor,
            "best_lr": self.best_lr,
            "best_momentum": self.best_momentum,
            "divergence_onset": self.divergence_onset,
            "onset_over_lr_crit": self.onset_over_lr_crit,
            "grid_shape": None if self.grid_shape is None else list(self.grid_shape),
            "batch_size": self.batch_size,
            "optimal_loss": None if self.optimum is None else self.optimum.loss,
            "optimizer": self.optimizer.name,
            "stability": self.stability.to_dict(),
            "runs": rows,
        })

    def to_dataframe(self):
        """One row per lr as a pandas DataFrame (needs pandas).

        Examples
        --------
        >>> import gdcore
        >>> X, y = gdcore.make_linear(seed=0)
        >>> df = gdcore.sweep(X, y, [0.1, 0.7, 1.01]).to_dataframe()
        >>> df.status.tolist(), df.converged_epoch.tolist()
        (['converged', 'converged', 'diverged'], [37, 5, <NA>])
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_dataframe needs pandas: pip install pandas") from None
        df = pd.DataFrame(self.to_dict()["runs"])
        for col in ("converged_epoch", "predicted_epoch", "diverged_epoch"):
            df[col] = df[col].astype("Int64")
        df["final_loss"] = df["final_loss"].astype("float64")
        return df


def momentum_of(opt) -> tuple:
    """``(beta, nesterov)`` a result reports for optimizer ``opt`` (0 and False unless momentum)."""
    return optimizers.shorthands(opt) or (0.0, False)
