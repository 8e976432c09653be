"""The engine shared by ``fit``, ``sweep``, ``lr_find`` and ``explore``.

It turns a prepared study (:mod:`gdcore.study._pipeline`: the data, the model
bound to it, its analysis) into K runs of one optimizer: it picks the problem
type (the data, the reduced Gram form, or a network's), puts the learning rates and the
optimizer's hyperparameters into the backend's arrays, and hands everything to
the backend's run, i.e. to :func:`gdcore.core.drive`.  It also holds what the
callers build their results from: per-run predictions and statuses.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from gdcore import analysis, core, optimizers
from gdcore._checks import check_memory, check_representable

__all__ = ["Runs", "choose_method", "execute", "noise_floor",
           "predict_runs", "predicted_curves", "run_memory", "status_of"]


class Runs(NamedTuple):
    """Host-side outcome of K runs (what ``fit`` and ``sweep`` build their results from)."""

    W: Any  # state backend (d, K*m)
    losses: np.ndarray  # (K, epochs_run + 1) float64, nan after a run stopped
    converged_epoch: np.ndarray  # (K,) int, -1 = never
    diverged_epoch: np.ndarray  # (K,) int, -1 = never
    history: Any  # state backend (E+1, d, K*m) or None
    method: str


def choose_method(method: str, n: int, d: int) -> str:
    """The method ``"auto"`` resolves to: the Gram path when n is much larger than d (n >= 4 d).

    An epoch then costs O(d^2) per run instead of O(n d).  The analysis has
    already factored ``X``, so the Gram path costs nothing extra to set up.

    Examples
    --------
    >>> from gdcore.study._engine import choose_method
    >>> choose_method("auto", 100, 2), choose_method("auto", 7, 2), choose_method("direct", 100, 2)
    ('gram', 'direct', 'direct')
    """
    if method == "auto":
        return "gram" if n >= 4 * d else "direct"
    return method


def _fits(a, dtype) -> bool:
    """Whether host float64 ``a`` stays finite in ``dtype``."""
    with np.errstate(over="ignore"):
        return bool(np.all(np.isfinite(np.asarray(a, dtype=dtype))))


def run_memory(study, k, epochs, *, record_weights=False, method="direct") -> list:
    """The arrays K runs of ``epochs`` epochs will allocate: ``(label, bytes, advice)`` each.

    An estimate from their shapes, in the working dtype (``b`` bytes a
    value) and host float64: the losses, K x (epochs + 1), on the backend, on
    the host and in the result (``b + 16`` bytes each); the weights (P, K m)
    with the gradient, the step and an optimizer's state (up to Adam's two
    moments) and their host copies (``6 b + 24``); with ``record_weights``
    the weights of every epoch ((epochs + 1) P K m, ``b + 16``); an MLP's
    activations, rows x hidden units x the runs evaluated at once (every run
    under autograd, a few on the hand-written backends), three arrays of
    them (pre-activations, activations, their gradient); under autograd the
    linear model's predictions, rows x K m, three arrays (the hand-written
    backends visit X in row blocks).  The data ``X`` is not counted: it is
    already in memory.
    """
    prep = study.prep
    b = np.dtype(prep.dtype).itemsize
    n = int(prep.X.shape[0])
    P, m = study.w0.shape
    cols = k * m
    blocked = prep.backend.gradient == "analytic"
    lrs = "use fewer learning rates"
    parts = [
        (f"the losses, {k:,} run(s) x {epochs + 1:,} epochs", k * (epochs + 1) * (b + 16),
         f"{lrs} or fewer epochs"),
        (f"the weights and optimizer state, {P:,} x {cols:,}", P * cols * (6 * b + 24),
         f"{lrs} or a smaller model"),
    ]
    if record_weights:
        parts.append((f"the weights of every epoch, {epochs + 1:,} x {P:,} x {cols:,}",
                      (epochs + 1) * P * cols * (b + 16),
                      "drop record_weights (or sharpness_every), or use fewer epochs or learning rates"))
    model = study.bound.core
    widths = getattr(model, "widths", None)
    if widths is not None:
        units = sum(widths[1:])
        at_once = min(k, model.runs_per_block(n, b)) if blocked else k
        parts.append((f"the activations, {n:,} rows x {units:,} units x {at_once:,} run(s)",
                      3 * n * units * at_once * b,
                      "use narrower hidden layers, fewer rows, or fewer learning rates"))
    elif model is None and not blocked and method != "gram":
        parts.append((f"the predictions, {n:,} rows x {cols:,}", 3 * n * cols * b,
                      f"{lrs} or fewer rows"))
    return parts


def _check_schedule(lrs, spec, dtype) -> None:
    """Under a schedule every epoch's non-zero lr must stay finite and non-zero in ``dtype``.

    The same rule, and message, as for a constant lr (:func:`check_representable`);
    an lr of exactly 0 is a pause the schedule asked for.
    """
    if spec.lr_mult is None or spec.epochs == 0:
        return
    with np.errstate(over="ignore"):
        eff = np.asarray(lrs, dtype=np.float64)[:, None] * np.asarray(spec.lr_mult[: spec.epochs])
    with np.errstate(over="ignore", under="ignore"):
        cast = eff.astype(dtype)
    bad = (eff != 0) & ((cast == 0) | ~np.isfinite(cast))
    if bad.any():
        run, epoch = np.argwhere(bad)[0]
        try:
            check_representable([eff[run, epoch]], dtype)
        except ValueError as exc:
            raise ValueError(f"the schedule's lr at epoch {epoch}: {exc}") from None


def execute(study, lrs, opt, spec, *, on_epoch=None, devices=None) -> Runs:
    """Run K learning rates of optimizer ``opt`` on a prepared study in one vectorised program.

    ``study`` is a :class:`gdcore.study._pipeline.Study` (the prepared data,
    the model bound to it, its analysis); ``spec`` the :class:`RunSpec`.
    ``opt``'s hyperparameters are host numbers or (K,) sequences (one per
    run), checked as its factory checks them (:func:`gdcore.optimizers.check`); under a schedule (``spec.lr_mult``) ``lrs`` are the base lrs.  A
    model non-linear in its weights trains its flat (P, 1) parameter column
    ``study.w0`` as a :class:`gdcore.core.ModelProblem`, with ``L*`` taken as 0
    (docs/definitions.md, "Models non-linear in their weights").
    """
    optimizers.check(opt)  # one made by _replace never met its factory's checks
    prep, quad, model = study.prep, study.quad, study.bound.core
    be, sb = prep.backend, prep.state
    n = prep.X.shape[0]
    d, m = study.w0.shape  # (d, m) weights of the linear model, (P, 1) parameters of a network
    k = len(lrs)
    if model is not None:
        if spec.batch_size or devices is not None:
            raise ValueError(
                "batch_size= and devices= are for the linear model; a model non-linear in its "
                "weights trains full-batch on one device here. Drop them, or use model=None."
            )
        asked = "direct"
    else:
        asked = spec.method or be.default_method()
    if spec.batch_size and not be.supports_minibatches():
        raise ValueError(
            f"mini-batch SGD is not available on the {be.name} backend (each batch would be a "
            "distributed pass); fit a sample with backend='numpy', or drop batch_size."
        )
    method = "direct" if spec.batch_size else choose_method(asked, n, d)
    check_memory(run_memory(study, k, spec.epochs, record_weights=spec.record_weights, method=method),
                 f"{k:,} run(s) of {spec.epochs:,} epochs")
    check_representable(lrs, prep.dtype)
    _check_schedule(lrs, spec, prep.dtype)
    loss_star = 0.0 if quad is None else quad.loss_star
    if method == "gram" and not _fits(quad.G, prep.dtype):
        if asked == "gram":
            raise ValueError(
                f"method='gram' needs X^T X / n in {prep.dtype}, but its entries (up to "
                f"{np.max(np.abs(quad.G)):.3g}) overflow that dtype; use method='direct' or "
                "'auto', dtype='float64', or rescale X (standardize=True)."
            )
        method = "direct"  # auto: the Gram matrix of such large X does not fit the dtype
    dev = be.state_device(prep.X)

    def state_array(host, shape=None):
        host = np.asarray(host, dtype=np.float64)
        if shape is not None:
            host = np.broadcast_to(host, shape)
        return sb.asarray(np.array(host), prep.dtype, dev)

    with be.context(prep.dtype):
        # Tiled in numpy (w0 is d x m): a few backend ops here were 4 XLA compiles on jax.
        # A fresh array: the weights of a run that never moves (epochs=0, or w0 already
        # optimal with stop_on_convergence) must not be a view of the user's w0.
        W0 = state_array(np.broadcast_to(study.w0.reshape(d, 1, m), (d, k, m)).reshape(d, k * m))
        lr_arr = state_array(lrs)
        opt = type(opt)(*(state_array(h, (k,)) for h in opt))  # one value per run, traced on jax
        if model is not None:
            problem = core.ModelProblem(prep.X, prep.Y, model)
        elif method == "gram":
            problem = core.ReducedProblem(state_array(quad.G), state_array(quad.w_star),
                                          state_array(quad.loss_star))
        else:
            problem = core.DataProblem(prep.X, prep.Y)
        if devices is not None:
            problem, W0, lr_arr, opt = be.distribute(problem, W0, lr_arr, opt, devices)
        out = be.run(problem, W0, lr_arr, opt, spec, loss_star=loss_star, on_epoch=on_epoch)
        losses = sb.to_numpy(out.losses).astype(np.float64).T
        conv = sb.to_numpy(out.converged_epoch).astype(np.int64)
        div = sb.to_numpy(out.diverged_epoch).astype(np.int64)
    return Runs(out.W, losses, conv, div, out.history, method)


def status_of(conv: int, div: int) -> str:
    """"diverged", "converged" or "max_epochs" from a run's event epochs (-1 = never)."""
    if div >= 0:
        return "diverged"
    if conv >= 0:
        return "converged"
    return "max_epochs"


def predict_runs(stab, a, lrs, opt, rtol, epochs, *, lr_mult=None, batch_size=None):
    """(predicted converged epoch, regime) per run, vectorised over the K runs.

    What is predictable is read from the optimizer, not from flags: an
    optimizer whose step is not linear in the error (``opt.linear`` False:
    Adam) has no prediction (``None``, regime ``"adaptive"``); a linear one
    is predicted from its ``transition`` alone: in closed form when that is
    1 x 1 (plain GD) at a constant lr, else by the exact simulation of the
    eigen-components (:func:`predicted_curves`).  The regimes: gd's
    (``opt.may_rise`` False) from ``lr_crit``, the others' from the spectral
    radius, ``"scheduled"`` under a schedule.  SGD gets the full-batch regime
    only.  ``lrs`` (K,) are the runs' base learning rates (the lr of epoch k
    is ``lrs * lr_mult[k]`` under a schedule).
    """
    k = len(lrs)
    if not opt.linear:
        return [(None, "adaptive")] * k
    lrs = np.asarray(lrs, dtype=np.float64)

    # every regime in one array expression over the K runs (the spectrum is read once)
    if lr_mult is not None:
        regimes = ["scheduled"] * k
    elif not opt.may_rise:
        regimes = stab.regimes(lrs)
    else:
        regimes = stab.optimizer_regimes(opt, lrs)

    if batch_size is not None:  # stochastic: only the full-batch regime is predictable
        return [(None, g) for g in regimes]
    if lr_mult is None and analysis.transition_order(opt) == 1:
        found = analysis.predicted_converged_epochs(stab.eigenvalues, a, lrs, rtol, opt)
    else:
        gaps = predicted_curves(stab, a, lrs, opt, epochs, lr_mult)
        hit = gaps <= rtol * gaps[:, :1] if gaps[0, 0] > 0 else np.ones_like(gaps, dtype=bool)
        found = np.where(hit.any(axis=1), hit.argmax(axis=1), -1)
    return [(None if f < 0 else f, g) for f, g in zip(np.asarray(found).tolist(), regimes)]


def predicted_curves(stab, a, lrs, opt, epochs, lr_mult=None) -> np.ndarray:
    """Predicted loss gaps ``L(w_k) - L*``, (K, epochs + 1), of K runs of a linear optimizer.

    Parameters
    ----------
    stab : gdcore.analysis.Stability
        The analysis; its eigenvalues are read.
    a : numpy.ndarray, (d,)
        The loss-gap weights of ``w0`` (:func:`gdcore.analysis.gap_weights`).
    lrs : array_like, (K,)
        The runs' learning rates; under a schedule their base learning rates.
    opt : gdcore.core.Optimizer
        The optimizer; its hyperparameters numbers or one value per run (K,).
    epochs : int
        The curves cover epochs 0..epochs.
    lr_mult : array_like, optional
        At least ``epochs`` factors: the lr of run j at epoch k is
        ``lrs[j] * lr_mult[k]``.  None: constant learning rates.

    Returns
    -------
    numpy.ndarray
        Float64 gaps (add ``L*`` for losses); inf or nan once a divergent
        run overflows.  Plain GD at a constant lr (any 1 x 1 transition) is
        the closed form :func:`gdcore.analysis.predicted_gaps`, every other
        case the exact simulation :func:`gdcore.analysis.simulate`.

    Raises
    ------
    ValueError
        When ``opt`` is not linear (Adam): the spectrum does not predict it.
    """
    if not opt.linear:
        raise ValueError(
            f"{opt.name} has no predicted loss curves: its step is not a linear map of the "
            "error, so the Hessian's spectrum does not predict it."
        )
    lam = stab.eigenvalues
    lrs = np.asarray(lrs, dtype=np.float64).reshape(-1)
    k = lrs.size
    with np.errstate(all="ignore"):
        if lr_mult is None and analysis.transition_order(opt) == 1:
            if k == 0:
                return np.empty((0, epochs + 1))
            hyper = [np.broadcast_to(np.asarray(h, dtype=np.float64), (k,)) for h in opt]
            return np.stack([analysis.predicted_gaps(lam, a, lr, epochs,
                                                     type(opt)(*(h[j] for h in hyper)))
                             for j, lr in enumerate(lrs)])
        mult = np.ones(epochs) if lr_mult is None else np.asarray(lr_mult, dtype=np.float64)
        return analysis.simulate(opt, lam, lrs[:, None] * mult[None, :epochs], epochs, a=a)


def noise_floor(losses, loss_star, status) -> float | None:
    """Median loss gap over the last quarter of the epochs: where SGD settles."""
    if status == "diverged" or len(losses) < 8:
        return None
    tail = losses[-max(2, len(losses) // 4):] - loss_star
    return float(np.median(tail))
