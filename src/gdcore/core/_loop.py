"""Convergence and divergence bookkeeping as pure functions.

A run of gradient descent is a state (:class:`RunState`) advanced by two pure
functions: :func:`observe` records the loss of the current epoch and decides
who converged or diverged, :func:`step` applies the update to the runs that
are still going.  Both use only ``xp.where`` and element-wise arithmetic, with
no Python branching on array values, so the eager backends call them from a
Python loop and the jax backend calls the very same functions inside
``lax.while_loop`` under ``jax.jit``.

Definitions (see docs/definitions.md, "Converged, diverged, status"):

* converged at the first epoch ``k`` with ``L_k - L* <= rtol * (L_0 - L*)``;
* diverged at the first epoch ``k`` whose loss is non-finite, exceeds
  ``divergence_factor * L_0``, or has risen above its starting value ``L_0``
  (by more than rounding).  The last rule is exact for a quadratic: for any
  ``lr <= lr_crit`` the loss gap is a sum of non-increasing geometric terms, so
  it can never rise; for ``lr > lr_crit`` it grows without bound, so a rise
  proves divergence long before the loss reaches ``divergence_factor * L_0``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from gdcore._compat import device

__all__ = [
    "RunState",
    "Thresholds",
    "gradient_point",
    "initial_state",
    "observe",
    "per_column",
    "run_eager",
    "safe_weights",
    "step",
    "thresholds",
]

# How far above L_0 the loss must climb before we call it a rise, in units of
# the working dtype's eps times L_0.  Rounding of the mean of n squares is a
# few eps; 1000 eps leaves a wide margin (float32: 1.2e-4 relative).
_RISE_EPS = 1000.0


class Thresholds(NamedTuple):
    """Loss levels that decide a run's status, per run (K,)."""

    converged: Any  # L* + rtol * (L_0 - L*)
    blowup: Any  # divergence_factor * L_0
    rise: Any  # L_0 plus rounding margin (inf when the rise rule does not apply)
    limit: Any  # min(blowup, rise): a run is fine while loss <= limit (False for nan/inf)


class RunState(NamedTuple):
    """State of K runs advanced together.

    ``W`` is (d, K*m), ``V`` the momentum buffer of the same shape (``None``
    for plain gradient descent); ``alive``, ``converged_epoch`` and
    ``diverged_epoch`` are (K,).  Epochs are ``-1`` until the event happens.
    """

    W: Any
    V: Any
    alive: Any
    converged_epoch: Any
    diverged_epoch: Any


def thresholds(loss0, loss_star, rtol, divergence_factor, eps, xp, *, rise_rule=True):
    """Per-run thresholds (K,) from the epoch-0 losses ``loss0`` (K,).

    ``rise_rule`` is for plain constant-lr full-batch GD only: with momentum,
    a schedule or mini-batches the loss may rise for a while and still
    converge, so only non-finite losses and ``divergence_factor`` count.
    """
    gap0 = loss0 - loss_star
    rise = loss0 + _RISE_EPS * eps * xp.abs(loss0) if rise_rule else xp.full_like(loss0, xp.inf)
    blowup = divergence_factor * loss0
    return Thresholds(converged=loss_star + rtol * gap0, blowup=blowup, rise=rise,
                      limit=xp.minimum(blowup, rise))


def initial_state(W0, k, xp, *, momentum=False):
    """All K runs alive, no events yet, zero velocity."""
    dev = device(W0)
    return RunState(
        W=W0,
        V=xp.zeros_like(W0) if momentum else None,
        alive=xp.ones((k,), dtype=xp.bool, device=dev),
        converged_epoch=xp.full((k,), -1, dtype=xp.int32, device=dev),
        diverged_epoch=xp.full((k,), -1, dtype=xp.int32, device=dev),
    )


def observe(state, loss, epoch, th, stop_on_convergence, xp, all_alive=False):
    """Record epoch ``epoch``'s per-run ``loss`` (K,); return (new state, row to store).

    The stored row is ``nan`` for runs that had already stopped.  A run has
    diverged when ``loss <= th.limit`` fails, which also catches nan and inf.
    ``all_alive`` is a host-side promise that no run has stopped yet; it only
    skips masking work.
    """
    ok = loss <= th.limit
    if all_alive:
        row, bad, still = loss, ~ok, ok
    else:
        alive = state.alive
        row = xp.where(alive, loss, xp.full_like(loss, xp.nan))
        bad, still = alive & ~ok, alive & ok
    hit = still & (state.converged_epoch < 0) & (loss <= th.converged)
    ep = xp.full_like(state.converged_epoch, epoch)
    conv = xp.where(hit, ep, state.converged_epoch)
    div = xp.where(bad, ep, state.diverged_epoch)
    if stop_on_convergence:  # a static Python flag, never a traced value
        still = still & ~hit
    return state._replace(alive=still, converged_epoch=conv, diverged_epoch=div), row


def step(state, grad, lr_cols, m, xp, beta_cols=None, all_alive=False):
    """One update for the runs still alive; stopped runs keep their weights.

    Plain GD: ``W - lr * g``.  With ``beta_cols`` (heavy ball / Nesterov, the
    gradient then taken at the look-ahead point): ``V = beta V - lr g``,
    ``W = W + V``.  ``lr_cols``/``beta_cols`` are (K*m,): each run's value
    repeated over its outputs.
    """
    if beta_cols is None:
        W = state.W - lr_cols * grad
        if all_alive:
            return state._replace(W=W)
        return state._replace(W=xp.where(per_column(state.alive, m, xp), W, state.W))
    V = beta_cols * state.V - lr_cols * grad
    if all_alive:
        return state._replace(W=state.W + V, V=V)
    alive_cols = per_column(state.alive, m, xp)
    return state._replace(
        W=xp.where(alive_cols, state.W + V, state.W), V=xp.where(alive_cols, V, state.V)
    )


def safe_weights(state, m, xp, all_alive=False):
    """Weights to evaluate: stopped runs' columns replaced by zeros.

    Diverged runs may hold huge values; evaluating zeros instead keeps the
    arithmetic finite (no overflow warnings, no slow non-finite math) while
    their recorded loss is ``nan`` anyway.
    """
    if all_alive:
        return state.W
    return xp.where(per_column(state.alive, m, xp), state.W, xp.zeros_like(state.W))


def gradient_point(state, m, beta_cols, nesterov, xp, all_alive=False):
    """Where the gradient is taken: ``W``, or Nesterov's look-ahead ``W + beta V``."""
    if not nesterov:
        return safe_weights(state, m, xp, all_alive)
    P = state.W + beta_cols * state.V
    if all_alive:
        return P
    return xp.where(per_column(state.alive, m, xp), P, xp.zeros_like(P))


def per_column(v, m, xp):
    """(K,) per-run values -> (K*m,) per-column values (each repeated m times)."""
    k = v.shape[0]
    return xp.reshape(xp.broadcast_to(xp.reshape(v, (k, 1)), (k, m)), (k * m,))


def run_eager(value_and_grad, loss_fn, W0, lrs, m, *, epochs, loss_star, rtol,
              divergence_factor, stop_on_convergence, record_weights, xp, betas=None,
              nesterov=False, lr_mult=None, batches=None):
    """Run K optimisation runs with a Python loop over epochs (never over runs).

    ``value_and_grad(W)`` returns the per-run losses (K,) and the gradient
    (d, K*m) at ``W``; it is where backends differ (analytic, autograd).
    ``loss_fn(W)`` is the loss alone.  Optional: ``betas`` (K,) momentum
    (heavy ball, or Nesterov with ``nesterov=True``), ``lr_mult`` (host
    sequence, one factor per epoch: a schedule), ``batches(epoch)`` (an
    iterable of value_and_grad functions, one per mini-batch: SGD).

    Returns the final :class:`RunState`, the (epochs_run + 1, K) loss rows and,
    when ``record_weights``, the list of weights at every epoch.
    """
    k = lrs.shape[0]
    lr_cols = per_column(lrs, m, xp)
    beta_cols = None if betas is None else per_column(betas, m, xp)
    rise_rule = betas is None and lr_mult is None and batches is None
    separate_loss = nesterov or batches is not None
    eps = xp.finfo(W0.dtype).eps
    state = initial_state(W0, k, xp, momentum=betas is not None)
    rows, history, th = [], [W0] if record_weights else None, None
    full = True  # host-side: every run still alive, so no masking is needed
    for epoch in range(epochs + 1):
        if separate_loss:
            loss = loss_fn(safe_weights(state, m, xp, full))
        else:
            loss, grad = value_and_grad(safe_weights(state, m, xp, full))
        if th is None:
            th = thresholds(loss, loss_star, rtol, divergence_factor, eps, xp, rise_rule=rise_rule)
        state, row = observe(state, loss, epoch, th, stop_on_convergence, xp, full)
        rows.append(row)
        alive = int(xp.sum(xp.astype(state.alive, xp.int32)))  # the one host sync per epoch
        if epoch == epochs or alive == 0:
            break
        full = alive == k
        lr_now = lr_cols if lr_mult is None else lr_cols * float(lr_mult[epoch])
        if batches is None:
            if nesterov:
                _, grad = value_and_grad(gradient_point(state, m, beta_cols, nesterov, xp, full))
            state = step(state, grad, lr_now, m, xp, beta_cols, full)
        else:
            for batch_value_and_grad in batches(epoch):
                _, g = batch_value_and_grad(gradient_point(state, m, beta_cols, nesterov, xp, full))
                state = step(state, g, lr_now, m, xp, beta_cols, full)
        if record_weights:
            history.append(state.W)
    return state, xp.stack(rows), history
