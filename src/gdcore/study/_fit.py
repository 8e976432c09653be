"""``fit`` and ``stability``: one run of one optimizer, and the analysis behind it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from gdcore import analysis, optimizers
from gdcore.models import is_linear
from gdcore.analysis import Stability, stability_of
from gdcore.study._engine import execute, noise_floor, predict_runs, run_weights, status_of
from gdcore._checks import check_batch, check_lr, check_run_options, check_y, schedule_table
from gdcore.study._prepare import prepare, to_library
from gdcore.backends import host
from gdcore.schedules import as_schedule

__all__ = ["FitResult", "Optimum", "fit", "stability"]



class Optimum(NamedTuple):
    """The least-squares optimum: weights ``w*`` (user's array library) and loss ``L*``."""

    weights: Any
    loss: float


@dataclass(frozen=True, eq=False)
class FitResult:
    """The outcome of :func:`fit`: what happened, and what the theory predicted.

    Attributes
    ----------
    weights : array
        Final weights, shape (d,) or (d, m), in the array library of ``X``.
    losses : numpy.ndarray
        float64 losses for epochs 0..epochs_run (epoch 0 is ``L(w0)``).
    status : str
        ``"converged"``, ``"diverged"`` or ``"max_epochs"``.
    converged_epoch, diverged_epoch : int or None
        First epoch meeting the definitions of docs/definitions.md.
    lr : float
    backend : str
    optimum : Optimum
        ``w*`` and ``L*``.
    history : array or None
        Weights at every epoch, shape (epochs_run + 1, d[, m]), when
        ``record_weights=True``.
    stability : Stability
        The spectrum analysis of ``X``.
    predicted_epoch : int or None
        Converged epoch predicted in closed form for this ``lr``, data and ``w0``.
    regime : str
        Predicted regime of ``lr`` (see :meth:`Stability.regime`);
        ``"adaptive"`` for Adam, whose steps the spectrum does not predict.
    optimizer : optimizer value
        What ran (see :mod:`gdcore.optimizers`); ``momentum``/``nesterov``
        repeat its coefficients for the momentum optimizers.

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
    optimum: Optimum
    history: Any
    stability: Stability
    predicted_epoch: int | None
    regime: str
    epochs: int
    rtol: float
    dtype: str
    method: str
    gradient: str
    scaling: Any = None
    momentum: float = 0.0
    nesterov: bool = False
    schedule: Any = None
    batch_size: int | None = None
    noise_floor: float | None = None
    optimizer: Any = None
    _gap_weights: np.ndarray = field(repr=False, default=None)

    @property
    def epochs_run(self) -> int:
        """Epochs actually run (fewer than ``epochs`` after an early stop)."""
        return len(self.losses) - 1

    @property
    def predictable(self) -> bool:
        """Whether the spectrum predicts this run's loss curve (not for SGD, nor Adam)."""
        return self.batch_size is None and (self.optimizer is None or self.optimizer.linear)

    @property
    def final_loss(self) -> float:
        return float(self.losses[-1])

    @property
    def loss_gap(self) -> np.ndarray:
        """``losses - L*``: the distance to the best achievable loss."""
        return self.losses - self.optimum.loss

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
        e = self.epochs if epochs is None else int(epochs)
        if self.batch_size is not None:
            raise ValueError("mini-batch SGD has no closed-form loss curve; see noise_floor instead.")
        if self.optimizer is not None and not self.optimizer.linear:
            raise ValueError(
                f"{self.optimizer.name} has no predicted loss curve: its step is not a linear map "
                "of the error, so the Hessian's spectrum does not predict it; compare r.losses "
                "with a gd or momentum fit instead."
            )
        lam = self.stability.eigenvalues
        opt = self.optimizer if self.optimizer is not None else optimizers.gd()
        if self.schedule is None and not opt.may_rise:  # constant-lr GD: the closed form
            gaps = analysis.predicted_gaps(lam, self._gap_weights, self.lr, e)
        else:
            lrs = self.schedule.table(max(e, 1)) if self.schedule is not None else np.full(max(e, 1), self.lr)
            gaps = analysis.simulate_gaps(lam, self._gap_weights, lrs, self.momentum, self.nesterov, e)
        return self.optimum.loss + gaps

    def to_dict(self) -> dict:
        """Plain-Python summary (JSON-ready); weights as nested lists."""
        return {
            "lr": self.lr,
            "schedule": None if self.schedule is None else repr(self.schedule),
            "optimizer": None if self.optimizer is None else self.optimizer.name,
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
            "epochs": self.epochs,
            "epochs_run": self.epochs_run,
            "rtol": self.rtol,
            "final_loss": _json_float(self.final_loss),
            "optimal_loss": self.optimum.loss,
            "weights": host(self.weights).tolist(),
            "optimal_weights": host(self.optimum.weights).tolist(),
            "losses": [_json_float(v) for v in self.losses],
            "stability": self.stability.to_dict(),
        }


def _json_float(v: float):
    return float(v) if math.isfinite(v) else None


def fit(X, y, *, lr, epochs=100, backend="numpy", device=None, w0=None, rtol=1e-3, dtype=None,
        stop_on_convergence=False, divergence_factor=1e6, record_weights=False,
        method=None, standardize=False, momentum=0.0, nesterov=False, batch_size=None,
        seed=0, devices=None, optimizer=None, model=None, sharpness_every=None) -> FitResult:
    """Fit ``y ~ X @ w`` by gradient descent on the mean squared error.

    Full-batch, constant-lr gradient descent by default; any optimizer of
    :mod:`gdcore.optimizers` (heavy-ball or Nesterov momentum, Adam), a
    learning-rate schedule and mini-batch SGD on request.

    Parameters
    ----------
    X : array-like, shape (n, d)
        Features: a numpy/torch/jax/array-API array, pandas object or nested
        list.  Add a column of ones yourself for a bias (``make_linear`` does).
    y : array-like, shape (n,) or (n, m)
        Targets.  With m outputs the loss is the per-output MSE summed over
        outputs, so each output has the same Hessian and ``lr_crit``.
    lr : float or schedule
        Learning rate, > 0; or a schedule from :mod:`gdcore.schedules` or any
        callable ``epoch -> lr``.
    epochs : int, default 100
        Gradient steps to take at most.
    backend : {"numpy", "torch", "jax", "array-api-strict", "auto"}
        numpy: analytic gradient; torch: autograd; jax: ``jax.grad`` with the
        epoch loop compiled by ``jax.jit``; "auto": the library of ``X``.
    device : {None, "cpu", "cuda", "gpu"}
        Where torch/jax compute; ``None`` keeps the input's device.
    w0 : array-like, optional
        Starting weights, default zeros.  Never modified.
    rtol : float, default 1e-3
        Converged when ``L - L* <= rtol * (L(w0) - L*)``.
    dtype : {None, "float32", "float64"}
        Default: the dtype of floating ``X``, else the backend's default float.
    stop_on_convergence : bool, default False
        Stop at the converged epoch instead of running all ``epochs``.
    divergence_factor : float, default 1e6
        Diverged when the loss exceeds this times ``L(w0)``, is non-finite, or
        rises above ``L(w0)`` (impossible below ``lr_crit``, see docs/definitions.md).
    record_weights : bool, default False
        Keep the weights of every epoch in ``history``.
    method : {None, "direct", "gram", "auto"}, default None
        "direct" evaluates loss and gradient from ``X`` every epoch (the
        honest picture of autograd); "gram" from ``X^T X / n`` computed once,
        O(d^2) per epoch with the same iterates; "auto" picks "gram" when
        n >= 4 d.  ``None``: "direct", except on dask where every direct epoch
        is a distributed pass, so "auto".
    standardize : bool, default False
        Scale every non-constant column of ``X`` first, keeping the model's
        meaning: when ``X`` has a constant column (an intercept such as the
        bias column of ones) the other columns are centred and scaled to unit
        variance, the intercept absorbing the means; without one they are
        only scaled, to unit root mean square (centring would add an
        intercept the model does not have).  Constant columns are kept.  On
        badly conditioned data this shrinks the Hessian's condition number and
        moves ``lr_crit`` close to 1; weights then refer to the scaled columns
        ``(X - mean) / scale``, and ``result.scaling`` holds the
        ``(mean, scale)`` used (``mean`` is 0 without an intercept).
    momentum : float in [0, 1), default 0
        Shorthand for ``optimizer=gdcore.optimizers.momentum(momentum)``:
        heavy ball, ``v = beta v - lr g(w)``, ``w = w + v``.
    nesterov : bool, default False
        Shorthand for ``optimizer=gdcore.optimizers.momentum(momentum, nesterov=True)``:
        the gradient at the look-ahead point ``w + beta v``.
    batch_size : int, optional
        Mini-batch SGD: every epoch shuffles the rows (seeded) and takes one
        step per batch of this many rows.  ``batch_size=n`` is full-batch GD.
    seed : int, default 0
        Seed of the shuffle; the same seed gives the same batches on every backend.
    devices : int or "all", optional
        jax only: shard the rows of ``X`` over this many jax devices (data
        parallelism; the compiler's collectives reduce the gradient).  The
        results equal one device's within rounding.
    optimizer : optimizer value, optional
        From :mod:`gdcore.optimizers`: ``gd()`` (the default), ``momentum(beta,
        nesterov=False)``, ``adam(b1, b2, eps)``.  Not together with
        ``momentum=``/``nesterov=``.
    model : model value, optional
        What is trained (:mod:`gdcore.models`): ``linear()`` (the default) or
        ``mlp(hidden, activation, seed)``; also a ``torch.nn.Module`` (backend
        "torch") or a jax function ``apply(params, X)`` with ``w0=params``
        (backend "jax").  A non-linear model returns a
        :class:`gdcore._nonlinear.ModelFitResult`: its Hessian moves, so
        instead of closed-form predictions it carries the measured sharpness
        lambda_0 at ``w0`` (``result.stability``), and a run diverges when its
        loss is non-finite or exceeds ``divergence_factor * L(w0)`` within the
        ``epochs`` given (a rise alone proves nothing there).  ``w0`` is then
        the parameter tuple ``(W1, b1, W2, b2, ...)``; ``L*`` is taken as 0.
    sharpness_every : int, optional
        Non-linear models: measure the sharpness (top Hessian eigenvalue, by
        Lanczos on Hessian-vector products) every this many epochs into
        ``result.sharpness = (epochs, values)``, to compare with ``2 / lr``.

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError, TypeError
        On bad input (non-finite values, wrong shapes, lr <= 0, ...).
    gdcore.BackendUnavailable
        When the backend's package is not installed.

    Examples
    --------
    >>> import gdcore
    >>> X, y = gdcore.make_linear(n=100, seed=0)
    >>> r = gdcore.fit(X, y, lr=0.7, epochs=100)
    >>> r.status, r.converged_epoch, r.regime
    ('converged', 5, 'oscillating')
    >>> gdcore.fit(X, y, lr=1.01).status
    'diverged'
    """
    check_y(y, "fit")
    sched = as_schedule(lr)
    epochs, rtol, divergence_factor = check_run_options(epochs, rtol, divergence_factor, method)
    if sched is not None:
        table = schedule_table(sched, epochs)
        lr, base = float(table[0]), 1.0
    else:
        lr = base = check_lr(lr)
        table = None
    opt = optimizers.resolve(optimizer, momentum, nesterov)
    if not is_linear(model):
        if batch_size is not None or devices is not None:
            raise ValueError(
                "batch_size= and devices= are for the linear model; a non-linear model trains "
                "full-batch on one device. Drop them."
            )
        from gdcore.study._nonlinear import fit_model

        return fit_model(X, y, model=model, lr=lr, lr_mult=table, epochs=epochs,
                         backend=backend, device=device, w0=w0, rtol=rtol, dtype=dtype,
                         stop_on_convergence=stop_on_convergence,
                         divergence_factor=divergence_factor, record_weights=record_weights,
                         standardize=standardize, optimizer=opt,
                         sharpness_every=sharpness_every, method=method)
    if sharpness_every is not None:
        raise ValueError(
            "sharpness_every= tracks the moving Hessian of a non-linear model; the linear "
            "model's Hessian is fixed, its sharpness is result.stability.lambda_max at every epoch. "
            "Pass model=gdcore.models.mlp(...) or drop sharpness_every."
        )
    prep = prepare(X, y, w0, backend=backend, device=device, dtype=dtype, standardize=standardize)
    batch_size, seed = check_batch(batch_size, seed, prep.X.shape[0])
    quad = analysis.analyse(prep)
    runs = execute(prep, quad, [base], opt, epochs=epochs, rtol=rtol,
                   divergence_factor=divergence_factor, stop_on_convergence=stop_on_convergence,
                   record_weights=record_weights, method=method, lr_mult=table,
                   batch_size=batch_size, seed=seed, devices=devices)
    conv, div = int(runs.converged_epoch[0]), int(runs.diverged_epoch[0])
    losses = runs.losses[0]  # K=1: the loop ran exactly this run's epochs
    history = None
    if record_weights:
        m = prep.Y.shape[1]
        h = runs.history[: len(losses), :, 0:m]
        history = to_library(h[:, :, 0] if prep.y_was_1d else h, prep)
    stab = stability_of(quad, prepare)
    a = analysis.gap_weights(quad, prep.state.to_numpy(prep.w0).astype(np.float64))
    w_star = quad.w_star[:, 0] if prep.y_was_1d else quad.w_star
    with prep.backend.context(prep.dtype):
        w_star = to_library(prep.state.asarray(w_star, prep.dtype, prep.device), prep)
        weights = run_weights(prep, runs.W, 0)
    ((predicted, regime),) = predict_runs(stab, a, np.array([base]), opt, rtol, epochs,
                                          lr_mult=table, batch_size=batch_size)
    beta, nest = opt.heavy_ball() if opt.linear else (0.0, False)
    return FitResult(
        weights=weights,
        losses=losses,
        status=status_of(conv, div),
        converged_epoch=conv if conv >= 0 else None,
        diverged_epoch=div if div >= 0 else None,
        lr=lr,
        backend=prep.backend.name,
        optimum=Optimum(w_star, quad.loss_star),
        history=history,
        stability=stab,
        predicted_epoch=predicted,
        regime=regime,
        epochs=epochs,
        rtol=rtol,
        dtype=prep.dtype,
        method=runs.method,
        gradient=prep.backend.gradient,
        scaling=prep.scaling,
        momentum=float(beta),
        nesterov=nest,
        schedule=sched,
        batch_size=batch_size,
        noise_floor=noise_floor(losses, quad.loss_star, status_of(conv, div)) if batch_size else None,
        optimizer=opt,
        _gap_weights=a,
    )


def stability(X, y=None, *, model=None, w0=None, backend="auto", device=None, dtype=None,
              standardize=False) -> Stability:
    """Spectrum of the MSE Hessian ``H = (2/n) X^T X`` and what it means for the lr.

    Parameters
    ----------
    X : array-like, shape (n, d)
    y : array-like, optional
        Targets; needed for a non-linear ``model`` (its Hessian depends on the
        residuals), ignored by the linear model, whose Hessian does not.
    model : model value, optional
        ``gdcore.models.linear()`` (default): the exact spectrum below.  A
        non-linear model (``gdcore.models.mlp(...)``, a torch module, a jax
        function with ``w0``) returns a :class:`gdcore._nonlinear.Curvature`:
        the sharpness lambda_0 at ``w0`` by Lanczos on at most 30
        Hessian-vector products, ``lr_crit = 2 / lambda_0``, and
        ``regime(lr)`` ("below-edge"/"above-edge"), ``label(lrs)`` (adds a
        measured "divergent").
    w0 : initial parameters of a non-linear model (default: its initialisation).
    backend, device
        Where ``X^T X`` is computed (default: the library of ``X``).
    dtype : {None, "float32", "float64"}
        As in :func:`fit` (non-linear models).
    standardize : bool
        Analyse the standardized columns instead (see :func:`fit`).

    Returns
    -------
    Stability
        ``eigenvalues``, ``lambda_max``, ``lambda_min``, ``condition_number``,
        ``lr_crit``, ``lr_opt``, ``rho(lr)``, ``regime(lr)``, ``predicted_epochs``.

    Examples
    --------
    >>> import gdcore
    >>> X, _ = gdcore.make_linear(n=100, seed=0)
    >>> s = gdcore.stability(X)
    >>> round(s.lambda_max, 3), round(s.lr_opt, 3)
    (2.029, 0.726)
    """
    if not is_linear(model):
        if y is None:
            raise ValueError(
                "stability of a non-linear model needs y: its Hessian depends on the residuals "
                "at w0. Call gdcore.stability(X, y, model=...)."
            )
        from gdcore.study._nonlinear import stability_model

        return stability_model(X, y, model=model, w0=w0, backend=backend, device=device,
                               dtype=dtype, standardize=standardize)
    if w0 is not None:
        raise ValueError("w0 is for a non-linear model; the linear model's Hessian does not depend on it.")
    prep = prepare(X, None, backend=backend, device=device, dtype=dtype, standardize=standardize)
    return stability_of(analysis.analyse(prep, with_optimum=False), prepare)

