"""``fit``, ``stability`` and the engine that ``sweep`` shares with them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from gdcore import _analysis
from gdcore._analysis import Quadratic, Stability, stability_of
from gdcore._inputs import (
    Prepared,
    check_epochs,
    check_lr,
    check_positive,
    check_real,
    check_y,
    device_of,
    host,
    prepare,
    to_library,
)
from gdcore.backends._base import Problem, Update
from gdcore.schedules import as_schedule

__all__ = ["FitResult", "Optimum", "fit", "stability"]

_METHODS = ("direct", "gram", "auto", None)


class Optimum(NamedTuple):
    """The least-squares optimum: weights ``w*`` (user's array library) and loss ``L*``."""

    weights: Any
    loss: float


class Batch(NamedTuple):
    """Host-side outcome of K runs (what ``fit`` and ``sweep`` build their results from)."""

    W: Any  # backend (d, K*m)
    losses: np.ndarray  # (K, epochs_run + 1) float64, nan after a run stopped
    converged_epoch: np.ndarray  # (K,) int, -1 = never
    diverged_epoch: np.ndarray  # (K,) int, -1 = never
    history: Any  # backend (E+1, d, K*m) or None
    method: str


def check_run_options(epochs, rtol, divergence_factor, method):
    epochs = check_epochs(epochs)
    rtol = check_positive(rtol, "rtol", below=1.0)
    divergence_factor = check_positive(divergence_factor, "divergence_factor")
    if divergence_factor <= 1:
        raise ValueError(f"divergence_factor must be > 1 (default 1e6), got {divergence_factor!r}.")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")
    return epochs, rtol, divergence_factor


def choose_method(method: str, n: int, d: int) -> str:
    """``"auto"``: the Gram path when n is much larger than d (n >= 4 d).

    An epoch then costs O(d^2) per run instead of O(n d).  The analysis has
    already computed ``X^T X`` in float64 (for ``L*`` and the spectrum), so the
    Gram path costs nothing extra to set up.
    """
    if method == "auto":
        return "gram" if n >= 4 * d else "direct"
    return method


class Optim(NamedTuple):
    """Host-side description of the update rule of one call (validated)."""

    betas: Any = None  # host (K,) float64 or None (plain GD)
    nesterov: bool = False
    lr_mult: Any = None  # host (epochs,) float64 schedule factors or None
    batch_size: int | None = None
    seed: int = 0

    @property
    def plain(self) -> bool:
        """Constant-lr full-batch gradient descent: the case with closed forms."""
        return self.betas is None and self.lr_mult is None and self.batch_size is None


def check_momentum(momentum, nesterov) -> float | None:
    beta = check_real(momentum, "momentum", "0.9") if momentum is not None else 0.0
    if not (math.isfinite(beta) and 0.0 <= beta < 1.0):
        raise ValueError(
            f"momentum must be in [0, 1) (heavy ball is unstable for beta >= 1), got {momentum!r}; "
            "try 0.9, or Stability.polyak() for the optimal pair."
        )
    if not isinstance(nesterov, bool):
        raise TypeError(f"nesterov must be True or False, got {nesterov!r}.")
    return beta if (beta > 0 or nesterov) else None


def check_batch(batch_size, seed, n):
    if batch_size is None:
        return None, 0
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer (or None for full batch), got {batch_size!r}.")
    if seed is None:
        seed = 0
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    return min(int(batch_size), n), int(seed)


def schedule_table(sched, epochs) -> np.ndarray:
    table = sched.table(max(epochs, 1))
    bad = ~np.isfinite(table) | (table < 0)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(
            f"the learning-rate schedule gave lr={table[k]!r} at epoch {k}; every lr must be a "
            "finite number >= 0."
        )
    return table


def execute(prep: Prepared, quad: Quadratic, lrs, *, epochs, rtol, divergence_factor,
            stop_on_convergence, record_weights, method, optim: Optim = Optim(),
            devices=None) -> Batch:
    """Run K learning rates on the prepared problem in one vectorised program."""
    be, sb = prep.backend, prep.state
    xp = sb.xp
    n, d = prep.X.shape
    m = prep.Y.shape[1]
    k = len(lrs)
    asked = method or be.default_method
    method = "direct" if optim.batch_size else choose_method(asked, n, d)
    check_representable(lrs, prep.dtype)
    if method == "gram" and not _fits(quad.G, prep.dtype):
        if asked == "gram":
            raise ValueError(
                f"method='gram' needs X^T X / n in {prep.dtype}, but its entries (up to "
                f"{np.max(np.abs(quad.G)):.3g}) overflow that dtype; use method='direct' or "
                "'auto', dtype='float64', or rescale X (standardize=True)."
            )
        method = "direct"  # auto: the Gram matrix of such large X does not fit the dtype
    dev = device_of(prep.X) if sb is be else None

    def state_array(host):
        return sb.asarray(np.asarray(host, dtype=np.float64), prep.dtype, dev)

    with be.context(prep.dtype):
        W0 = xp.reshape(xp.broadcast_to(xp.reshape(prep.w0, (d, 1, m)), (d, k, m)), (d, k * m))
        # A fresh array: the weights of a run that never moves (epochs=0, or w0 already
        # optimal with stop_on_convergence) must not be a view of the user's w0.
        W0 = xp.asarray(W0, copy=True)
        lr_arr = state_array(lrs)
        if method == "gram":
            problem = Problem(None, None, state_array(quad.G), state_array(quad.w_star),
                              quad.loss_star, W0, lr_arr, m, method)
        else:
            problem = Problem(prep.X, prep.Y, None, None, quad.loss_star, W0, lr_arr, m, method)
        betas = None if optim.betas is None else state_array(optim.betas)
        upd = Update(betas, optim.nesterov, optim.lr_mult, optim.batch_size, optim.seed)
        if devices is not None:
            problem, upd = be.distribute(problem, upd, devices)
        out = be.run(problem, upd, epochs=epochs, rtol=rtol, divergence_factor=divergence_factor,
                     stop_on_convergence=stop_on_convergence, record_weights=record_weights)
        losses = sb.to_numpy(out.losses).astype(np.float64).T
        conv = sb.to_numpy(out.converged_epoch).astype(np.int64)
        div = sb.to_numpy(out.diverged_epoch).astype(np.int64)
    return Batch(out.W, losses, conv, div, out.history, method)


def _fits(a, dtype) -> bool:
    """Whether host float64 ``a`` stays finite in ``dtype``."""
    with np.errstate(over="ignore"):
        return bool(np.all(np.isfinite(np.asarray(a, dtype=dtype))))


def check_representable(lrs, dtype) -> None:
    """Every learning rate must stay a finite number > 0 in the working dtype."""
    lrs = np.asarray(lrs, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        cast = lrs.astype(dtype)
    bad = (cast == 0) | ~np.isfinite(cast)
    if bad.any():
        lr = float(lrs[np.argmax(bad)])
        where = "0" if cast[np.argmax(bad)] == 0 else "inf"
        raise ValueError(
            f"lr={lr:.3g} rounds to {where} in {dtype}, so gradient descent could not move "
            f"(or would jump to inf); use dtype='float64', or rescale X so that lr_crit is "
            "closer to 1 (standardize=True: a scale s on X scales lr_crit by 1/s**2)."
        )


def status_of(conv: int, div: int) -> str:
    if div >= 0:
        return "diverged"
    if conv >= 0:
        return "converged"
    return "max_epochs"


def run_weights(prep: Prepared, W, k: int):
    """Weights of run ``k`` from the stacked (d, K*m) matrix, in the user's library."""
    m = prep.Y.shape[1]
    w = W[:, k * m : (k + 1) * m]
    if prep.y_was_1d:
        w = w[:, 0]
    return to_library(w, prep)


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
        Predicted regime of ``lr`` (see :meth:`Stability.regime`).
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
    _gap_weights: np.ndarray = field(repr=False, default=None)

    @property
    def epochs_run(self) -> int:
        """Epochs actually run (fewer than ``epochs`` after an early stop)."""
        return len(self.losses) - 1

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
        lam = self.stability.eigenvalues
        if self.schedule is None and self.momentum == 0.0 and not self.nesterov:
            gaps = _analysis.predicted_gaps(lam, self._gap_weights, self.lr, e)
        else:
            lrs = self.schedule.table(max(e, 1)) if self.schedule is not None else np.full(max(e, 1), self.lr)
            gaps = _analysis.simulate_gaps(lam, self._gap_weights, lrs, self.momentum, self.nesterov, e)
        return self.optimum.loss + gaps

    def to_dict(self) -> dict:
        """Plain-Python summary (JSON-ready); weights as nested lists."""
        return {
            "lr": self.lr,
            "schedule": None if self.schedule is None else repr(self.schedule),
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
        seed=0, devices=None) -> FitResult:
    """Fit ``y ~ X @ w`` by gradient descent on the mean squared error.

    Full-batch, constant-lr gradient descent by default; heavy-ball or
    Nesterov momentum, a learning-rate schedule and mini-batch SGD on request.

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
        Heavy-ball momentum ``beta``: ``v = beta v - lr g(w)``, ``w = w + v``.
    nesterov : bool, default False
        Take the gradient at the look-ahead point ``w + beta v``.
    batch_size : int, optional
        Mini-batch SGD: every epoch shuffles the rows (seeded) and takes one
        step per batch of this many rows.  ``batch_size=n`` is full-batch GD.
    seed : int, default 0
        Seed of the shuffle; the same seed gives the same batches on every backend.
    devices : int or "all", optional
        jax only: shard the rows of ``X`` over this many jax devices (data
        parallelism; the compiler's collectives reduce the gradient).  The
        results equal one device's within rounding.

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
    beta = check_momentum(momentum, nesterov)
    prep = prepare(X, y, w0, backend=backend, device=device, dtype=dtype, standardize=standardize)
    batch_size, seed = check_batch(batch_size, seed, prep.X.shape[0])
    optim = Optim(None if beta is None else [beta], nesterov, table, batch_size, seed)
    quad = _analysis.analyse(prep)
    batch = execute(prep, quad, [base], epochs=epochs, rtol=rtol,
                    divergence_factor=divergence_factor, stop_on_convergence=stop_on_convergence,
                    record_weights=record_weights, method=method, optim=optim, devices=devices)
    conv, div = int(batch.converged_epoch[0]), int(batch.diverged_epoch[0])
    losses = batch.losses[0]  # K=1: the loop ran exactly this run's epochs
    history = None
    if record_weights:
        m = prep.Y.shape[1]
        h = batch.history[: len(losses), :, 0:m]
        history = to_library(h[:, :, 0] if prep.y_was_1d else h, prep)
    stab = stability_of(quad)
    a = _analysis._weights(quad, prep.state.to_numpy(prep.w0).astype(np.float64))
    w_star = quad.w_star[:, 0] if prep.y_was_1d else quad.w_star
    with prep.backend.context(prep.dtype):
        w_star = to_library(prep.state.asarray(w_star, prep.dtype, prep.device), prep)
        weights = run_weights(prep, batch.W, 0)
    ((predicted, regime),) = predict_runs(stab, a, np.array([base]), optim.betas, rtol, optim,
                                          epochs)
    beta = beta or 0.0
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
        method=batch.method,
        gradient=prep.backend.gradient,
        scaling=prep.scaling,
        momentum=beta,
        nesterov=nesterov,
        schedule=sched,
        batch_size=batch_size,
        noise_floor=noise_floor(losses, quad.loss_star, status_of(conv, div)) if batch_size else None,
        _gap_weights=a,
    )


def predict_runs(stab, a, lrs, betas, rtol, optim: Optim, epochs):
    """(predicted converged epoch, regime) per run, vectorised over the K runs.

    ``lrs`` (K,) are the runs' base learning rates (the lr of epoch k is
    ``lrs * optim.lr_mult[k]`` under a schedule), ``betas`` (K,) their momentum
    or ``None``.  Plain GD uses the closed form; momentum and schedules the
    exact simulation of the eigen-components; SGD gets the full-batch regime only.
    """
    lam = stab.eigenvalues
    k = len(lrs)

    def regime(i):
        if optim.lr_mult is not None:
            return "scheduled"
        if betas is None:
            return stab.regime(lrs[i])
        return stab.momentum_regime(lrs[i], betas[i], optim.nesterov)

    if optim.batch_size is not None:  # stochastic: only the full-batch regime is predictable
        return [(None, regime(i)) for i in range(k)]
    if optim.plain:
        found = _analysis.predicted_converged_epochs(lam, a, lrs, rtol)
    else:
        mult = np.ones(max(epochs, 1)) if optim.lr_mult is None else np.asarray(optim.lr_mult)
        gaps = _analysis.simulate_gaps(lam, a, lrs[:, None] * mult[None, :],
                                       np.zeros(k) if betas is None else betas, optim.nesterov,
                                       epochs)
        hit = gaps <= rtol * gaps[:, :1] if gaps[0, 0] > 0 else np.ones_like(gaps, dtype=bool)
        found = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
    return [(None if f < 0 else int(f), regime(i)) for i, f in enumerate(found)]


def noise_floor(losses, loss_star, status) -> float | None:
    """Median loss gap over the last quarter of the epochs: where SGD settles."""
    if status == "diverged" or len(losses) < 8:
        return None
    tail = losses[-max(2, len(losses) // 4):] - loss_star
    return float(np.median(tail))


def stability(X, *, backend="auto", device=None, standardize=False) -> Stability:
    """Spectrum of the MSE Hessian ``H = (2/n) X^T X`` and what it means for the lr.

    Parameters
    ----------
    X : array-like, shape (n, d)
    backend, device
        Where ``X^T X`` is computed (default: the library of ``X``).
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
    prep = prepare(X, None, backend=backend, device=device, standardize=standardize)
    return stability_of(_analysis.analyse(prep, with_optimum=False))
