"""The learning rate (and momentum) predicted best for a given number of epochs.

The classical choices, gradient descent's ``lr_opt = 2 / (lambda_max +
lambda_min)`` and Polyak's heavy-ball pair, minimise the *asymptotic*
contraction per epoch.  On a near-singular Hessian that asymptote is reached
only after tens of thousands of epochs: Polyak's ``beta`` is then close to 1
and its transient makes the loss after a budget of a thousand epochs far
larger than plain gradient descent's, even above its start.  For a quadratic
the loss at any epoch is known in advance (:mod:`._predict`), so the pair can
be chosen for the budget the run will actually have.

Everything here is host float64 and costs ``O(candidates * d * log(epochs))``:
the loss gap at epoch k of a linear optimizer is ``sum_i a_i (A_i^k)_{00}^2``
with ``A_i`` its transition along eigen-direction i, and ``A_i^k`` is taken by
repeated squaring.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from gdcore.analysis._predict import (
    predicted_converged_epochs,
    simulate,
    spectral_radius,
    transition_matrices,
    transition_order,
)
from gdcore.core._optim import GD, Momentum, Nesterov

__all__ = ["BudgetChoice", "best_at_budget", "lr_edge", "predicted_epochs_to", "predicted_gap_at"]

_CHUNK = 1 << 19  # candidates x directions per batched matrix power (memory ~ 8 * 4 * _CHUNK bytes)


class BudgetChoice(NamedTuple):
    """What :func:`best_at_budget` chose, and what it predicts.

    Attributes
    ----------
    lr : float
        The learning rate.
    optimizer : gdcore.core.Optimizer
        The optimizer value with the chosen hyperparameters (``GD()``, or
        ``Momentum(beta)`` / ``Nesterov(beta)``; ``beta`` may be 0).
    beta : float
        Its momentum coefficient (0 for gradient descent).
    gap : float
        Predicted loss gap ``L(w_K) - L*`` at the budget ``K = epochs``.
    converged_epoch : int or None
        Predicted first epoch with ``gap <= rtol * gap_0``; ``None`` when that is
        beyond the budget.
    baseline_gap, baseline_epoch
        The same two predictions for plain gradient descent at ``lr_opt``.
    """

    lr: float
    optimizer: Any
    beta: float
    gap: float
    converged_epoch: int | None
    baseline_gap: float
    baseline_epoch: int | None


def _family(optimizer, tune_momentum):
    """``betas -> optimizer`` with one momentum coefficient per candidate (ignored when fixed)."""
    if tune_momentum:
        kind = Nesterov if isinstance(optimizer, Nesterov) else Momentum
        return lambda betas: kind(np.asarray(betas, dtype=np.float64))
    return lambda betas: optimizer


def predicted_gap_at(eigenvalues, a, lrs, optimizer, k) -> np.ndarray:
    """Predicted loss gap ``L(w_k) - L*`` at one epoch ``k`` for K runs, in O(K d log k).

    Parameters
    ----------
    eigenvalues, a : array_like, (d,)
        The Hessian's eigenvalues and the loss-gap weights of ``w0``
        (:func:`gdcore.analysis.gap_weights`).
    lrs : array_like, (K,)
        One learning rate per run.
    optimizer : gdcore.core.Optimizer
        A linear optimizer; its hyperparameters numbers or one value per run.
    k : int
        The epoch.

    Returns
    -------
    numpy.ndarray, (K,)
        inf where a run's gap overflows (a divergent run).

    Examples
    --------
    >>> from gdcore import optimizers
    >>> from gdcore.analysis import predicted_gap_at, simulate
    >>> lam, a = [1.0, 0.1], [0.5, 0.05]
    >>> g = predicted_gap_at(lam, a, [1.0], optimizers.momentum(0.3), 7)
    >>> bool(abs(g[0] - simulate(optimizers.momentum(0.3), lam, [1.0] * 7, 7, a=a)[-1]) < 1e-15)
    True
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    lrs = np.atleast_1d(np.asarray(lrs, dtype=np.float64))
    live = a > 0
    lam, a = lam[live], a[live]
    if k == 0 or lam.size == 0:
        return np.full(lrs.shape, float(np.sum(a)))
    hyper = [np.broadcast_to(np.asarray(h, dtype=np.float64), lrs.shape) for h in optimizer]
    out = np.empty(lrs.shape)
    step = max(1, _CHUNK // lam.size)
    with np.errstate(all="ignore"):
        for s in range(0, lrs.size, step):
            part = slice(s, s + step)
            opt = type(optimizer)(*(h[part] for h in hyper))
            A = transition_matrices(opt, lam, lrs[part])  # (k', d, m, m)
            e = np.linalg.matrix_power(A, int(k))[..., 0, 0]
            g = np.sum(a * e * e, axis=-1)
            out[part] = np.where(np.isfinite(g), g, np.inf)
    return out


def predicted_epochs_to(eigenvalues, a, lr, optimizer, rtol, *, limit=10**15) -> int | None:
    """About how many epochs ``optimizer`` at ``lr`` needs to bring the gap to ``rtol`` of its start.

    Exact for plain gradient descent (:func:`gdcore.analysis.predicted_converged_epochs`);
    for a 2 x 2 transition (momentum) the first epoch of a doubling-and-bisection
    search on :func:`predicted_gap_at`, which can miss an earlier crossing of
    an oscillating curve by a few epochs.  ``None`` when not within ``limit``
    epochs (or divergent).

    Examples
    --------
    >>> from gdcore import optimizers
    >>> from gdcore.analysis import predicted_epochs_to
    >>> predicted_epochs_to([1.0, 0.01], [0.5, 0.005], 1.0, optimizers.gd(), 1e-3)
    115
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    gap0 = float(np.sum(a))
    if gap0 <= 0:
        return 0
    pos = lam > 0
    if spectral_radius(optimizer, lam[pos], float(lr)) >= 1.0:
        return None
    if transition_order(optimizer) == 1:
        k = int(predicted_converged_epochs(lam, a, np.asarray([lr]), rtol, optimizer)[0])
        return None if k < 0 or k > limit else k
    target = rtol * gap0

    def ok(k):
        return predicted_gap_at(lam, a, [lr], optimizer, k)[0] <= target

    if ok(0):
        return 0
    lo, hi = 0, 1
    while not ok(hi):
        lo, hi = hi, 2 * hi
        if hi > limit:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def lr_edge(eigenvalue, optimizer) -> np.ndarray:
    """The largest stable learning rate of ``optimizer`` for the eigenvalue ``lambda_max``.

    Found by bisection on the spectral radius of the optimizer's transition,
    so it holds for any linear optimizer whose stable learning rates form an
    interval ``(0, edge)``: ``2 / lambda`` for gradient descent, ``2 (1 +
    beta) / lambda`` for heavy ball, ``2 (1 + beta) / ((1 + 2 beta) lambda)``
    for Nesterov.  ``optimizer``'s hyperparameters may be one value per
    candidate; the result has their shape.

    Examples
    --------
    >>> from gdcore import optimizers
    >>> from gdcore.analysis import lr_edge
    >>> round(float(lr_edge(4.0, optimizers.gd())), 12), round(float(lr_edge(4.0, optimizers.momentum(0.5))), 12)
    (0.5, 0.75)
    """
    lam = np.asarray([float(eigenvalue)])
    shape = np.broadcast_shapes(*(np.shape(h) for h in optimizer)) if len(optimizer) else ()
    hi = np.full(shape, 1.0 / lam[0])
    lo = np.zeros(shape)

    def stable(lr):
        return np.asarray(spectral_radius(optimizer, lam, lr.reshape(-1))).reshape(shape) < 1.0

    for _ in range(64):
        s = stable(hi)
        if not s.any():
            break
        hi = np.where(s, 2.0 * hi, hi)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        s = stable(mid)
        lo, hi = np.where(s, mid, lo), np.where(s, hi, mid)
    return lo


def best_at_budget(eigenvalues, a, epochs, *, rtol, optimizer=None, lr=None,
                   tune_momentum=False) -> BudgetChoice:
    """The ``(lr, beta)`` predicted best after ``epochs`` epochs, never worse than GD at ``lr_opt``.

    "Best" is read the way a run is judged (docs/definitions.md): among the
    candidates predicted to reach ``rtol`` of the starting gap within the
    budget, the one predicted to reach it first; when none is, the one with
    the smallest predicted gap at epoch ``epochs``.  The candidates are a grid
    over ``beta = 1 - 10**-u`` (from 0 to a little beyond Polyak's ``beta``)
    and over the learning rate as a fraction ``1 - 10**-v`` of the optimizer's
    stable edge (:func:`lr_edge`), plus ``lr_opt`` with ``beta = 0`` and
    Polyak's pair; the best grid point is refined three times on a finer
    local grid.  (The gap at one epoch of an under-damped run oscillates
    with ``(lr, beta)``, so a denser grid can land on a slightly luckier
    phase: the choice is near the best, and its prediction is exact.)  The
    search costs ``O(2000 d log(epochs))`` host operations: about as much as
    a few epochs of a full-batch run.  The choice is then checked against plain gradient descent at
    ``lr_opt`` on the exact predicted curves (:func:`gdcore.analysis.simulate`
    or the closed form): where gradient descent is one of the candidates and
    the choice is not at least as good, gradient descent at ``lr_opt`` is
    returned.

    Parameters
    ----------
    eigenvalues : array_like, (d,)
        The Hessian's eigenvalues; those <= 0 are ignored (pass 0 for the
        directions an analysis dropped as numerically zero, as
        ``np.where(quad.positive, quad.eigenvalues, 0)``).
    a : array_like, (d,)
        The loss-gap weight of each eigen-direction from the starting point
        (:func:`gdcore.analysis.gap_weights`; 0 for a dropped direction).
    epochs : int
        The budget: the number of steps the run will take at most.
    rtol : float
        The run's convergence tolerance.
    optimizer : gdcore.core.Optimizer, optional
        A linear optimizer: ``GD()`` (default), ``Momentum(beta)`` or
        ``Nesterov(beta)``.  With ``tune_momentum`` only its kind is read.
    lr : float, optional
        A fixed learning rate; ``None`` searches it.
    tune_momentum : bool, default False
        Search ``beta`` in ``[0, 1)`` too (heavy ball, or Nesterov when
        ``optimizer`` is a ``Nesterov``).

    Returns
    -------
    BudgetChoice

    Examples
    --------
    A near-singular spectrum (kappa = 2e8) and a budget of 1000 epochs:
    Polyak's ``beta`` is 0.9997, whose transient lasts far longer than the
    budget; the choice is predicted better than both Polyak's pair and plain
    gradient descent at ``lr_opt``.

    >>> import numpy as np
    >>> from gdcore import optimizers
    >>> from gdcore.analysis import best_at_budget, predicted_gap_at
    >>> lam = np.geomspace(1e-8, 2.0, 30)
    >>> a = lam / 2                                     # w0 - w* = 1 along every direction
    >>> c = best_at_budget(lam, a, 1000, rtol=1e-6, tune_momentum=True)
    >>> r = (2.0 / 1e-8) ** 0.5
    >>> beta, lr = ((r - 1) / (r + 1)) ** 2, 4 / (2 ** 0.5 + 1e-4) ** 2
    >>> polyak = predicted_gap_at(lam, a, [lr], optimizers.momentum(beta), 1000)[0]
    >>> bool(c.gap < c.baseline_gap and c.gap < polyak), 0 < c.beta < beta
    (True, True)
    """
    lam_all = np.asarray(eigenvalues, dtype=np.float64).reshape(-1)
    a_all = np.asarray(a, dtype=np.float64).reshape(-1)
    pos = lam_all > 0
    if not pos.any():
        raise ValueError("best_at_budget: no positive eigenvalue; there is nothing to descend.")
    lam, w = lam_all[pos], np.where(a_all[pos] > 0, a_all[pos], 0.0)
    lam_max, lam_min = float(lam.max()), float(lam.min())
    lr_opt = 2.0 / (lam_max + lam_min)
    optimizer = GD() if optimizer is None else optimizer
    if not optimizer.linear:
        raise ValueError(f"{optimizer.name} is not a linear recurrence; the spectrum does not predict it.")
    family = _family(optimizer, tune_momentum)
    epochs = int(epochs)
    gap0 = float(np.sum(w))
    target = rtol * gap0

    def gaps(betas, lrs, k):
        return predicted_gap_at(lam, w, lrs, family(betas), k)

    def stable(betas, lrs):  # no direction grows (one whose lr * lambda underflows stays put)
        return spectral_radius(family(betas), lam, lrs) <= 1.0

    base_gap = float(predicted_gap_at(lam, w, [lr_opt], GD(), epochs)[0])
    base_ep = _first_epoch(lam, w, lr_opt, GD(), rtol, epochs)
    fixed_beta = float(getattr(optimizer, "beta", 0.0)) if not tune_momentum else None

    def result(lr_c, beta_c):
        opt = type(family(0.0))(float(beta_c)) if tune_momentum else optimizer
        g = float(predicted_gap_at(lam, w, [lr_c], opt, epochs)[0])
        ep = _first_epoch(lam, w, lr_c, opt, rtol, epochs)
        return BudgetChoice(float(lr_c), opt, float(beta_c), g, ep, base_gap, base_ep)

    gd_in_space = lr is None and (tune_momentum or isinstance(optimizer, GD))
    if epochs <= 0 or gap0 <= 0:  # nothing to gain: the classical choice
        return result(lr_opt if lr is None else lr, 0.0 if tune_momentum else (fixed_beta or 0.0))

    # -- the coarse grid, in (u, v): beta = 1 - 10**-u, lr = edge(beta) * (1 - 10**-v)
    kappa = lam_max / lam_min
    beta_polyak = ((math.sqrt(kappa) - 1.0) / (math.sqrt(kappa) + 1.0)) ** 2
    lr_polyak = 4.0 / (math.sqrt(lam_max) + math.sqrt(lam_min)) ** 2
    u_max = min(15.0, max(1.0, -math.log10(max(1.0 - beta_polyak, 1e-16)) + 0.5))
    v_lo, v_hi = 0.02, max(4.0, math.log10(epochs) + 2.0)
    nu = 25 if tune_momentum else 1
    nv = 1 if lr is not None else 25 if tune_momentum else 41
    us = np.linspace(0.0, u_max, nu)
    vs = np.linspace(v_lo, v_hi, nv)

    def candidates(u, v):
        """The grid points ``(u, v)``, flattened, with their ``(betas, lrs)``."""
        U, V = np.meshgrid(u, v, indexing="ij")
        U, V = U.ravel(), V.ravel()
        betas = 1.0 - 10.0 ** (-U) if tune_momentum else np.full(U.shape, fixed_beta or 0.0)
        if lr is None:
            edge = lr_edge(lam_max, family(betas)) if tune_momentum else np.full(
                U.shape, float(lr_edge(lam_max, optimizer)))
            lrs = edge * (1.0 - 10.0 ** (-V))
        else:
            lrs = np.full(U.shape, float(lr))
        return U, V, betas, lrs

    U, V, B, L = candidates(us, vs)
    extra_b, extra_l = [], []
    if lr is None and (tune_momentum or isinstance(optimizer, GD)):
        extra_b.append(0.0)
        extra_l.append(lr_opt)
    if tune_momentum:
        extra_b.append(beta_polyak)
        extra_l.append(lr_polyak if lr is None else float(lr))
    B = np.concatenate([B, extra_b])
    L = np.concatenate([L, extra_l])
    U = np.concatenate([U, -np.log10(np.maximum(1.0 - np.asarray(extra_b), 1e-300))])
    V = np.concatenate([V, np.full(len(extra_b), np.nan)])
    keep = stable(B, L) & (L > 0)
    if not keep.any():  # a fixed lr that no beta in [0, 1) makes stable: the run will say so
        return result(lr_opt if lr is None else float(lr), 0.0)
    U, V, B, L = U[keep], V[keep], B[keep], L[keep]

    checkpoints = np.unique(np.round(np.geomspace(1, epochs, 64)).astype(np.int64))

    def pick(B, L):
        """Index of the best candidate, and the epoch it is judged at."""
        g = gaps(B, L, epochs)
        if not np.min(g) <= target:
            return int(np.argmin(g)), epochs
        lo, hi = 0, checkpoints.size - 1  # the first checkpoint at which one is within target
        while lo < hi:
            mid = (lo + hi) // 2
            if np.min(gaps(B, L, int(checkpoints[mid]))) <= target:
                hi = mid
            else:
                lo = mid + 1
        k = int(checkpoints[lo])
        return int(np.argmin(gaps(B, L, k))), k

    best, _ = pick(B, L)
    du = (us[1] - us[0]) if us.size > 1 else 0.0
    dv = (vs[1] - vs[0]) if vs.size > 1 else 0.0
    for _ in range(3):
        u0 = U[best]
        v0 = V[best] if np.isfinite(V[best]) else None
        if v0 is None and lr is None:  # an extra candidate: place it on the grid's v axis
            edge = lr_edge(lam_max, family(np.asarray([B[best]])))[0] if tune_momentum else float(
                lr_edge(lam_max, optimizer))
            v0 = -math.log10(max(1.0 - L[best] / edge, 1e-300))
        u_loc = np.clip(u0 + np.linspace(-du, du, 9), 0.0, u_max) if tune_momentum else np.zeros(1)
        v_loc = np.clip(v0 + np.linspace(-dv, dv, 9), 1e-3, v_hi + 1.0) if lr is None else np.zeros(1)
        u2, v2, b2, l2 = candidates(np.unique(u_loc), np.unique(v_loc))
        ok = stable(b2, l2) & (l2 > 0)
        U = np.concatenate([U[best:best + 1], u2[ok]])
        V = np.concatenate([V[best:best + 1], v2[ok]])
        B = np.concatenate([B[best:best + 1], b2[ok]])
        L = np.concatenate([L[best:best + 1], l2[ok]])
        best, _ = pick(B, L)
        du, dv = du / 4.0, dv / 4.0
    choice = result(L[best], B[best])
    if gd_in_space and not _at_least_as_good(choice, base_gap, base_ep):
        return result(lr_opt, 0.0)
    return choice


def _at_least_as_good(choice, base_gap, base_ep) -> bool:
    """Whether ``choice`` converges no later than the baseline (or ends no higher, when neither does)."""
    if base_ep is not None:
        return choice.converged_epoch is not None and choice.converged_epoch <= base_ep
    return choice.converged_epoch is not None or choice.gap <= base_gap


def _first_epoch(lam, w, lr, opt, rtol, epochs) -> int | None:
    """The exact predicted converged epoch (first k with gap <= rtol * gap_0), None beyond ``epochs``."""
    if transition_order(opt) == 1:
        k = int(predicted_converged_epochs(lam, w, np.asarray([lr], dtype=np.float64), rtol, opt)[0])
        return k if 0 <= k <= epochs else None
    curve = simulate(opt, lam, np.full(epochs, float(lr)), epochs, a=w)
    hit = np.nonzero(curve <= rtol * curve[0])[0]
    return int(hit[0]) if hit.size else None
