"""The learning-rate study for models non-linear in their weights (``model=gdcore.models.mlp()``).

On a linear model the loss is a quadratic, the Hessian is fixed and every
answer has a closed form (:mod:`gdcore._analysis`).  On an MLP the Hessian
moves with the weights, so gdcore *measures* the curvature: the sharpness
lambda (top eigenvalue of the Hessian) by Hessian-vector products and Lanczos
(:meth:`gdcore.backends._base.BackendBase.sharpness`), at the initial
parameters (lambda_0, :class:`Curvature`) and, on request, every k epochs
during training.  The runs themselves go through the same engine and driver
as the linear model (:func:`gdcore._engine.execute` with a
:class:`gdcore.core.ModelProblem`), K learning rates in one program.

Definitions (docs/definitions.md, "Models non-linear in their weights"):

* ``L*`` is taken as 0 (an exact fit), so a run has *converged* at the first
  epoch with ``L_k <= rtol * L_0``;
* a run has *diverged* at the first epoch whose loss is non-finite or exceeds
  ``divergence_factor * L_0``; a rise above ``L_0`` proves nothing here (a
  catapult may climb well above ``L_0`` and still converge), and a run that
  neither converged nor diverged within ``epochs`` (the *horizon*, stated in
  every result) is ``"max_epochs"``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdcore import models as _models
from gdcore import optimizers
from gdcore.study._engine import execute, status_of
from gdcore.study._prepare import prepare, to_library
from gdcore.analysis import LANCZOS_STEPS, Curvature
from gdcore.backends import host

__all__ = ["Curvature", "ModelFitResult", "ModelSweepResult", "fit_model", "initial_curvature",
           "prepare_model",
           "stability_model", "sweep_model"]

# Weights kept for sharpness tracking: (snapshots x parameters x runs) at most this many values.
_MAX_TRACKED = 50_000_000


@dataclass(frozen=True)
class ModelPrep:
    """A prepared model problem: the inputs, the model, its core description, the flat w0."""

    prep: Any  # gdcore._inputs.Prepared, with w0 the flat (P, 1) parameter column
    model: Any  # the user-facing model value (MLP, or a backend's wrapper)
    spec: Any  # what the core computes with (MLPSpec, or the wrapper itself)
    w0: np.ndarray  # (P,) float64 host


def _check_params(w0, shapes):
    """``w0`` as a tuple of host float64 arrays of the given shapes, or a clear error."""
    if not isinstance(w0, (tuple, list)):
        raise TypeError(
            f"w0 for an MLP is a tuple of its parameters (W1, b1, W2, b2, ...) with shapes "
            f"{list(shapes)}, got {type(w0).__name__}."
        )
    if len(w0) != len(shapes):
        raise ValueError(
            f"w0 has {len(w0)} arrays but this MLP has {len(shapes)} parameters (W1, b1, ...) "
            f"with shapes {list(shapes)}."
        )
    out = []
    for i, (p, shape) in enumerate(zip(w0, shapes)):
        a = np.asarray(host(p), dtype=np.float64)
        if a.shape != tuple(shape):
            raise ValueError(f"w0[{i}] has shape {a.shape}; this MLP needs {tuple(shape)} there.")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"w0[{i}] contains nan or inf; pass finite initial parameters.")
        out.append(a)
    return tuple(out)


def prepare_model(X, y, model, w0, *, backend, device, dtype, standardize) -> ModelPrep:
    """Check the data, the model and ``w0``; the flat initial parameter column in the backend."""
    prep = prepare(X, y, None, backend=backend, device=device, dtype=dtype, standardize=standardize)
    model = _models.resolve(model, prep.backend.name)
    n, d = prep.X.shape
    m = prep.Y.shape[1]
    if isinstance(model, _models.MLP):
        spec = model.spec(d, m)
        params = model.init(d, m) if w0 is None else _check_params(w0, spec.shapes)
        flat = np.concatenate([p.reshape(-1) for p in params])
    else:  # a backend's wrapper of the user's own model
        spec = model.bind(prep, w0)
        flat = spec.initial()
    sb = prep.state
    with prep.backend.context(prep.dtype):
        col = sb.asarray(flat.reshape(-1, 1), prep.dtype, prep.backend.state_device(prep.X))
    return ModelPrep(prep._replace(w0=col), model, spec, flat)


def _params_of(mp, flat):
    """One run's flat host parameters as the user sees them (tuple, dict or pytree)."""
    prep = mp.prep
    if isinstance(mp.spec, _models.MLPSpec):
        out, o = [], 0
        for shape in mp.spec.shapes:
            size = int(np.prod(shape))
            out.append(flat[o : o + size].reshape(shape))
            o += size
        sb = prep.state
        with prep.backend.context(prep.dtype):
            return tuple(to_library(sb.asarray(np.ascontiguousarray(p), prep.dtype,
                                               prep.backend.state_device(prep.X)), prep)
                         for p in out)
    return mp.spec.params(flat)


def _problem(mp):
    from gdcore import core

    return core.ModelProblem(mp.prep.X, mp.prep.Y, mp.spec)


def _sharpness(mp, W_host, V0=None):
    """Top Hessian eigenvalue (host float64) of every column of the host (P, C) parameters."""
    prep = mp.prep
    be, sb = prep.backend, prep.state
    with be.context(prep.dtype):
        W = sb.asarray(np.ascontiguousarray(W_host), prep.dtype, be.state_device(prep.X))
        lam, V = be.sharpness(_problem(mp), W, steps=LANCZOS_STEPS, V0=V0)
    return np.asarray(lam, dtype=np.float64), V


def _track(mp, history, every, last_epochs):
    """Sharpness every ``every`` epochs of every run from the weight history (E+1, P, K).

    Snapshots are visited in epoch order, the K runs batched, each Lanczos
    warm-started from the previous snapshot's Ritz vectors.  A run's entries
    after it stopped are nan.
    """
    H = np.asarray(host(history), dtype=np.float64)
    epochs = np.arange(0, H.shape[0], every)
    values = np.full((H.shape[2], epochs.size), np.nan)
    V = None
    for j, e in enumerate(epochs):
        W = H[e]
        ok = np.all(np.isfinite(W), axis=0) & (e <= last_epochs)
        if not ok.any():
            break
        W = np.where(ok[None, :], W, 0.0)  # stopped runs: evaluated at zeros, reported as nan
        lam, V = _sharpness(mp, W, V0=V)
        values[:, j] = np.where(ok, lam, np.nan)
    return epochs, values


# ---------------------------------------------------------------------------
# results


def initial_curvature(mp, measure=None) -> Curvature:
    """:class:`Curvature` at the prepared model's ``w0`` (lambda_0 by Lanczos)."""
    lam0 = _sharpness(mp, mp.w0[:, None])[0][0]
    prep = mp.prep
    return Curvature(float(lam0), mp.model.describe(), prep.backend.name, prep.dtype,
                     LANCZOS_STEPS, measure)


@dataclass(frozen=True, eq=False)
class ModelFitResult:
    """The outcome of :func:`gdcore.fit` with a non-linear ``model=``.

    Attributes
    ----------
    weights
        Final parameters, in the array library of ``X``: a tuple ``(W1, b1, ...)``
        for :func:`gdcore.models.mlp`, a dict of tensors for a ``torch.nn.Module``,
        the ``w0`` pytree's structure for a jax function.
    losses : numpy.ndarray
        float64 losses for epochs 0..epochs_run.
    status : str
        ``"converged"`` (``L <= rtol * L_0``), ``"diverged"`` (non-finite or
        above ``divergence_factor * L_0``) or ``"max_epochs"``, within :attr:`horizon` epochs.
    stability : Curvature
        lambda_0 and ``lr_crit = 2 / lambda_0`` at the initial parameters.
    regime : str
        ``stability.regime(lr)``: ``"below-edge"`` or ``"above-edge"``.
    sharpness : tuple or None
        With ``sharpness_every=k``: ``(epochs, values)``, the sharpness every k
        epochs (nan after the run stopped).
    """

    weights: Any
    losses: np.ndarray
    status: str
    converged_epoch: int | None
    diverged_epoch: int | None
    lr: float
    backend: str
    model: str
    stability: Curvature
    regime: str
    epochs: int
    rtol: float
    divergence_factor: float
    dtype: str
    gradient: str
    optimizer: Any
    sharpness: Any = None
    history: Any = None
    predicted_epoch: None = None  # nothing is predicted for a moving Hessian

    @property
    def horizon(self) -> int:
        """Epochs a run was given to converge or diverge: a status is a statement about them."""
        return self.epochs

    @property
    def epochs_run(self) -> int:
        return len(self.losses) - 1

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1])

    def to_dict(self) -> dict:
        sharp = None
        if self.sharpness is not None:
            sharp = {"epochs": self.sharpness[0].tolist(),
                     "values": [None if not math.isfinite(v) else float(v) for v in self.sharpness[1]]}
        return {"model": self.model, "lr": self.lr, "backend": self.backend, "dtype": self.dtype,
                "optimizer": self.optimizer.name, "status": self.status, "regime": self.regime,
                "converged_epoch": self.converged_epoch, "diverged_epoch": self.diverged_epoch,
                "horizon": self.horizon, "epochs_run": self.epochs_run, "rtol": self.rtol,
                "divergence_factor": self.divergence_factor,
                "losses": [float(v) if math.isfinite(v) else None for v in self.losses],
                "stability": self.stability.to_dict(), "sharpness": sharp}


@dataclass(frozen=True, eq=False)
class ModelSweepResult:
    """K learning rates of a non-linear model trained in one program (:func:`gdcore.sweep`).

    Attributes
    ----------
    lrs, losses, status, converged_epoch, diverged_epoch, final_loss
        As in :class:`gdcore.SweepResult`.
    regime : tuple of str
        ``"divergent"`` where the run diverged (measured), else
        ``stability.regime(lr)``: ``"below-edge"`` or ``"above-edge"``.
    stability : Curvature
        lambda_0, ``lr_crit = 2 / lambda_0`` and the bracket ``(2, 4) / lambda_0``.
    sharpness : tuple or None
        With ``sharpness_every=k``: ``(epochs, values)``, values (K, snapshots).
    """

    lrs: np.ndarray
    losses: np.ndarray
    status: tuple
    converged_epoch: tuple
    diverged_epoch: tuple
    regime: tuple
    final_loss: np.ndarray
    stability: Curvature
    model: str
    epochs: int
    rtol: float
    divergence_factor: float
    backend: str
    dtype: str
    optimizer: Any
    sharpness: Any = None
    _final: Any = field(repr=False, default=None)
    _mp: Any = field(repr=False, default=None)

    @property
    def horizon(self) -> int:
        """Epochs every run was given: a status is a statement about them."""
        return self.epochs

    @property
    def divergence_onset(self) -> float | None:
        """The smallest lr of the sweep that diverged within the horizon (None: none did)."""
        div = [lr for lr, st in zip(self.lrs, self.status) if st == "diverged"]
        return float(min(div)) if div else None

    @property
    def onset_over_lr_crit(self) -> float | None:
        """:attr:`divergence_onset` in units of ``2 / lambda_0``."""
        onset = self.divergence_onset
        return None if onset is None else onset / self.stability.lr_crit

    @property
    def best(self) -> int | None:
        """Index of the run with the lowest final loss among those that did not diverge."""
        ok = [i for i, st in enumerate(self.status) if st != "diverged"]
        return min(ok, key=lambda i: self.final_loss[i]) if ok else None

    @property
    def best_lr(self) -> float | None:
        i = self.best
        return None if i is None else float(self.lrs[i])

    def weights(self, i: int):
        """Final parameters of run ``i`` (as :attr:`ModelFitResult.weights`)."""
        return _params_of(self._mp, self._final[:, i])

    def to_dict(self) -> dict:
        rows = [{"lr": float(lr), "status": st, "regime": rg, "converged_epoch": c,
                 "diverged_epoch": v, "final_loss": float(fl) if math.isfinite(fl) else None}
                for lr, st, rg, c, v, fl in zip(self.lrs, self.status, self.regime,
                                                self.converged_epoch, self.diverged_epoch,
                                                self.final_loss)]
        return {"model": self.model, "backend": self.backend, "dtype": self.dtype,
                "optimizer": self.optimizer.name, "horizon": self.horizon, "rtol": self.rtol,
                "divergence_factor": self.divergence_factor,
                "divergence_onset": self.divergence_onset,
                "onset_over_lr_crit": self.onset_over_lr_crit, "best_lr": self.best_lr,
                "stability": self.stability.to_dict(), "runs": rows}


# ---------------------------------------------------------------------------
# entry points (called by gdcore.fit / sweep / stability / lr_find with model=)


def _check_method(method):
    if method not in (None, "direct", "auto"):
        raise ValueError(
            f"method={method!r} is for the linear model (the Gram path needs a quadratic loss); "
            "a non-linear model always reads the data: drop method=."
        )


def _check_every(sharpness_every, epochs):
    if sharpness_every is None:
        return None
    if (not isinstance(sharpness_every, (int, np.integer)) or isinstance(sharpness_every, bool)
            or sharpness_every < 1):
        raise ValueError(f"sharpness_every must be a positive integer (epochs), got {sharpness_every!r}.")
    return int(sharpness_every)


def _check_memory(mp, epochs, k, every):
    size = (epochs + 1) * mp.w0.size * k
    if every is not None and size > _MAX_TRACKED:
        raise ValueError(
            f"sharpness_every needs the weights of every epoch: {epochs + 1} epochs x "
            f"{mp.w0.size} parameters x {k} runs = {size:.3g} values (limit {_MAX_TRACKED:.0e}); "
            "use fewer epochs or learning rates."
        )


def stability_model(X, y, *, model, w0, backend, device, dtype, standardize) -> Curvature:
    """lambda_0 at ``w0`` (see :func:`gdcore.stability`)."""
    mp = prepare_model(X, y, model, w0, backend=backend, device=device, dtype=dtype,
                       standardize=standardize)
    def measure(lrs, epochs):
        return sweep_model(X, y, lrs, model=model, w0=w0, backend=backend, device=device,
                           dtype=dtype, standardize=standardize, epochs=epochs)

    return initial_curvature(mp, measure)


def fit_model(X, y, *, model, lr, lr_mult=None, epochs, backend, device, w0, rtol, dtype,
              stop_on_convergence, divergence_factor, record_weights, standardize, optimizer,
              sharpness_every, method) -> ModelFitResult:
    """One run of a non-linear model (see :func:`gdcore.fit`)."""
    _check_method(method)
    every = _check_every(sharpness_every, epochs)
    opt = optimizers.resolve(optimizer)
    mp = prepare_model(X, y, model, w0, backend=backend, device=device, dtype=dtype,
                       standardize=standardize)
    _check_memory(mp, epochs, 1, every)
    curv = initial_curvature(mp)
    runs = execute(mp.prep, None, [lr if lr_mult is None else 1.0], opt, epochs=epochs,
                   rtol=rtol, divergence_factor=divergence_factor,
                   stop_on_convergence=stop_on_convergence,
                   record_weights=record_weights or every is not None, method="direct",
                   lr_mult=lr_mult, model=mp.spec)
    conv, div = int(runs.converged_epoch[0]), int(runs.diverged_epoch[0])
    losses = runs.losses[0]
    final = np.asarray(host(runs.W), dtype=np.float64)[:, 0]
    sharp = None
    if every is not None:
        sharp = _track(mp, runs.history[: len(losses)], every, np.array([len(losses) - 1]))
        sharp = (sharp[0], sharp[1][0])
    history = None
    if record_weights:
        H = np.asarray(host(runs.history[: len(losses)]), dtype=np.float64)[:, :, 0]
        history = [_params_of(mp, h) for h in H]
    return ModelFitResult(
        weights=_params_of(mp, final), losses=losses, status=status_of(conv, div),
        converged_epoch=conv if conv >= 0 else None, diverged_epoch=div if div >= 0 else None,
        lr=float(lr), backend=mp.prep.backend.name, model=mp.model.describe(), stability=curv,
        regime=curv.regime(lr), epochs=epochs, rtol=rtol, divergence_factor=divergence_factor,
        dtype=mp.prep.dtype, gradient=mp.prep.backend.gradient,
        optimizer=opt, sharpness=sharp, history=history,
    )


def sweep_model(X, y, lrs, *, model, w0=None, backend="numpy", device=None, dtype=None,
                standardize=False, epochs=2000, rtol=1e-3, divergence_factor=1e6,
                stop_on_convergence=False, optimizer=None, sharpness_every=None, method=None,
                on_epoch=None) -> ModelSweepResult:
    """K lrs of a non-linear model in one program (see :func:`gdcore.sweep`)."""
    from gdcore._checks import check_lrs

    _check_method(method)
    lr_arr = check_lrs(lrs)
    every = _check_every(sharpness_every, epochs)
    opt = optimizers.resolve(optimizer)
    mp = prepare_model(X, y, model, w0, backend=backend, device=device, dtype=dtype,
                       standardize=standardize)
    k = lr_arr.size
    _check_memory(mp, epochs, k, every)
    curv = initial_curvature(mp)
    runs = execute(mp.prep, None, lr_arr, opt, epochs=epochs, rtol=rtol,
                   divergence_factor=divergence_factor, stop_on_convergence=stop_on_convergence,
                   record_weights=every is not None, method="direct", model=mp.spec,
                   on_epoch=on_epoch)
    losses = np.full((k, epochs + 1), np.nan)
    losses[:, : runs.losses.shape[1]] = runs.losses
    conv, div = runs.converged_epoch, runs.diverged_epoch
    last = np.where(div >= 0, div, np.where(stop_on_convergence & (conv >= 0), conv, epochs))
    status = tuple(status_of(c, v) for c, v in zip(conv, div))
    sharp = None
    if every is not None:
        sharp = _track(mp, runs.history, every, last)
    regimes = tuple("divergent" if st == "diverged" else r
                    for st, r in zip(status, curv.regimes(lr_arr)))
    return ModelSweepResult(
        lrs=lr_arr, losses=losses, status=status,
        converged_epoch=tuple(int(c) if c >= 0 else None for c in conv),
        diverged_epoch=tuple(int(v) if v >= 0 else None for v in div),
        regime=regimes, final_loss=losses[np.arange(k), last],
        stability=curv, model=mp.model.describe(), epochs=epochs, rtol=rtol,
        divergence_factor=divergence_factor, backend=mp.prep.backend.name, dtype=mp.prep.dtype,
        optimizer=opt, sharpness=sharp,
        _final=np.asarray(host(runs.W), dtype=np.float64), _mp=mp,
    )
