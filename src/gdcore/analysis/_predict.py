"""Closed-form and simulated predictions of a linear optimizer's loss curve on a quadratic.

Everything the definitions call "predicted" (docs/definitions.md) is computed
here, on the host in float64, from the Hessian's spectrum and the loss-gap
weight of each eigen-direction (:func:`gdcore.analysis.gap_weights`).
"""

from __future__ import annotations


import numpy as np

__all__ = ["momentum_radii", "momentum_radius", "predicted_converged_epoch",
           "predicted_converged_epochs", "predicted_gaps", "simulate_gaps"]

def predicted_gaps(eigenvalues, a, lr, epochs) -> np.ndarray:
    """Predicted loss gap ``L(w_k) - L*`` for k = 0..epochs (exact for a quadratic)."""
    k = np.arange(epochs + 1, dtype=np.float64)[:, None]
    r = (1.0 - lr * eigenvalues) ** 2
    with np.errstate(all="ignore"):
        terms = np.where(a > 0, a * r**k, 0.0)
    return terms.sum(axis=1)


def simulate_gaps(eigenvalues, a, lrs, beta, nesterov, epochs) -> np.ndarray:
    """Predicted loss gap for k = 0..epochs with momentum and/or a schedule.

    In the eigenbasis of H the error components are independent scalars
    ``e_i`` with gradient ``lambda_i e_i``; each one follows the same update
    as the weights (heavy ball: ``v = beta v - lr_k lambda e``, ``e = e + v``;
    Nesterov: the gradient at ``e + beta v``), so simulating d scalars gives
    the exact loss curve ``sum_i a_i e_i(k)**2`` (``a_i = (lambda_i/2) c_i**2``)
    at O(d) per epoch, whatever n is.

    ``lrs`` is (epochs,) for one run, or (R, epochs) with ``beta`` (R,) for R
    runs at once; the result is then (R, epochs + 1).
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    lrs = np.asarray(lrs, dtype=np.float64)
    many = lrs.ndim == 2
    L = lrs if many else lrs[None, :]
    B = np.broadcast_to(np.asarray(beta, dtype=np.float64), (L.shape[0],))[:, None]
    e = np.ones((L.shape[0], lam.size))
    v = np.zeros_like(e)
    out = np.empty((L.shape[0], epochs + 1))
    with np.errstate(all="ignore"):
        out[:, 0] = np.sum(a)
        for k in range(epochs):
            point = e + B * v if nesterov else e
            v = B * v - L[:, k : k + 1] * lam * point
            e = e + v
            out[:, k + 1] = np.sum(a * e * e, axis=1)
    return out if many else out[0]


def momentum_radius(eigenvalues, lr, beta, nesterov=False) -> float:
    """Spectral radius of the momentum iteration over positive eigenvalues.

    Each eigen-direction follows ``e_{k+1} = (1 + beta) q e_k - beta q e_{k-1}``
    with ``q = 1 - lr lambda`` (Nesterov) or ``e_{k+1} = (1 + beta - lr lambda)
    e_k - beta e_{k-1}`` (heavy ball); the radius is the largest root modulus of
    its characteristic polynomial ``z^2 - t z + p``.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if nesterov:
        q = 1.0 - lr * lam
        t, p = (1.0 + beta) * q, beta * q
    else:
        t, p = 1.0 + beta - lr * lam, np.full_like(lam, beta)
    disc = np.sqrt((t * t - 4 * p).astype(complex))
    roots = np.abs(np.stack([(t + disc) / 2, (t - disc) / 2]))
    return float(roots.max()) if lam.size else 0.0


def momentum_radii(eigenvalues, lrs, betas, nesterov=False) -> np.ndarray:
    """:func:`momentum_radius` of every ``(lrs[j], betas[j])`` pair at once, (K,)."""
    lam = np.asarray(eigenvalues, dtype=np.float64)[None, :]
    lr = np.asarray(lrs, dtype=np.float64)[:, None]
    beta = np.broadcast_to(np.asarray(betas, dtype=np.float64), (lr.shape[0],))[:, None]
    if lam.size == 0:
        return np.zeros(lr.shape[0])
    if nesterov:
        q = 1.0 - lr * lam
        t, p = (1.0 + beta) * q, beta * q
    else:
        t, p = 1.0 + beta - lr * lam, np.broadcast_to(beta, (lr.shape[0], lam.size))
    disc = np.sqrt((t * t - 4 * p).astype(complex))
    return np.maximum(np.abs((t + disc) / 2), np.abs((t - disc) / 2)).max(axis=1)


def predicted_converged_epoch(eigenvalues, a, lr, rtol) -> int | None:
    """Smallest k whose predicted gap is <= ``rtol`` times the initial gap; None if never."""
    k = predicted_converged_epochs(eigenvalues, a, np.asarray([lr], dtype=np.float64), rtol)[0]
    return None if k < 0 else int(k)


def predicted_converged_epochs(eigenvalues, a, lrs, rtol) -> np.ndarray:
    """:func:`predicted_converged_epoch` for many learning rates at once, -1 for never.

    The gap ``sum_i a_i r_i**k`` (``r_i = (1 - lr lambda_i)**2``) is non-increasing
    in k when every ``r_i <= 1``, so the answer is found by bisection, vectorised
    over the learning rates: about 60 numpy passes over a (K, d) array, whatever K.
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    out = np.full(lrs.shape, -1, dtype=np.int64)
    gap0 = float(np.sum(a))
    if gap0 <= 0:
        return np.zeros(lrs.shape, dtype=np.int64)
    target = rtol * gap0
    live = a > 0
    av = a[live]
    r = (1.0 - lrs[:, None] * eigenvalues[live][None, :]) ** 2  # (K, d')
    stuck = np.where(r == 1.0, av, 0.0).sum(axis=1)  # components that never shrink
    ok = ~np.any(r > 1.0, axis=1) & (stuck <= target)
    moving = r < 1.0

    def gap(k, rows=slice(None)):
        with np.errstate(all="ignore"):
            return stuck[rows] + np.sum(np.where(moving[rows], av * r[rows] ** k[:, None], 0.0),
                                        axis=1)

    rho2 = np.max(np.where(moving, r, 0.0), axis=1)
    with np.errstate(all="ignore"):
        bound = np.log((target - stuck) / (gap0 - stuck)) / np.log(rho2)
    hi = np.where(ok & (rho2 > 0), np.ceil(np.nan_to_num(bound, nan=1.0, posinf=1.0)) + 1, 1.0)
    hi = np.maximum(hi, 1.0)
    lo = np.zeros_like(hi)
    for _ in range(64):  # guard against rounding in the bound
        short = ok & (gap(hi) > target)
        if not short.any():
            break
        lo, hi = np.where(short, hi, lo), np.where(short, 2 * hi, hi)
    lo, hi = _newton_bracket(lo, hi, ok, moving, av, r, stuck, target, gap)
    # Bisection, vectorised over the learning rates still open: a near-critical lr
    # takes ~50 halvings while most take a few, so each pass only evaluates the
    # open ones (a settled lr, lo == hi, would not change).
    open_ = np.nonzero(lo < hi)[0]
    for _ in range(64):
        if open_.size == 0:
            break
        l, h = lo[open_], hi[open_]
        mid = np.floor((l + h) / 2)
        below = gap(mid, open_) <= target
        h, l = np.where(below, mid, h), np.where(below, l, mid + 1)
        hi[open_], lo[open_] = h, l
        open_ = open_[l < h]
    out[ok] = lo[ok].astype(np.int64)
    return out


def _newton_bracket(lo, hi, ok, moving, av, r, stuck, target, gap, steps=4):
    """Narrow the bisection bracket ``[lo, hi]`` of :func:`predicted_converged_epochs`.

    ``log(gap(k) - stuck)`` is a log-sum-exp of functions linear in k, so convex
    and decreasing: Newton's iterates from the left of its crossing of
    ``log(target - stuck)`` stay on the left, so the crossing is never passed
    and ``floor(k) - 1`` (less a relative margin for rounding) remains a lower
    bound of the answer.  Components with ``r = 0`` (gone after one epoch) are
    left out, which only lowers the curve and keeps the bound a bound.  An upper
    end 3 epochs above is kept where the exact ``gap`` confirms it.  The
    bisection then decides every answer with ``gap`` as before, in a few passes
    instead of ~log2(hi).
    """
    with np.errstate(all="ignore"):
        use = moving & (r > 0)
        logr = np.where(use, np.log(np.where(use, r, 1.0)), 0.0)
        aw = np.where(use, av, 0.0)
        level = np.log(np.where(ok, target - stuck, 1.0))
        k = lo.copy()
        for _ in range(steps):
            t = aw * np.exp(k[:, None] * logr)
            S = np.sum(t, axis=1)
            slope = np.sum(t * logr, axis=1) / S
            step = (level - np.log(S)) / slope
            k = np.where(ok & (S > 0) & np.isfinite(step) & (step > 0), k + step, k)
    new_lo = np.maximum(lo, np.floor(k * (1.0 - 1e-9)) - 1.0)
    new_lo = np.where(ok & np.isfinite(new_lo), np.minimum(new_lo, hi), lo)
    cand = np.minimum(new_lo + 3.0, hi)
    rows = np.nonzero(ok & (cand < hi))[0]
    if rows.size:
        fits = gap(cand[rows], rows) <= target
        hi = hi.copy()
        hi[rows[fits]] = cand[rows[fits]]
    return new_lo, hi



def contraction(eigenvalues, lr, beta):
    """Per-direction contraction factor per epoch: |1 - lr lambda| (plain), the root modulus (momentum)."""
    lam = np.asarray(eigenvalues, dtype=np.float64)
    lr = np.asarray(lr, dtype=np.float64)[..., None]
    beta = np.asarray(beta, dtype=np.float64)[..., None]
    t = 1.0 + beta - lr * lam
    disc = np.sqrt((t * t - 4.0 * beta).astype(complex))
    return np.maximum(np.abs((t + disc) / 2), np.abs((t - disc) / 2))
