"""Closed-form analysis of the quadratic: optimum, Hessian spectrum, predictions.

Everything here comes from a factorisation of ``X`` itself, never from
``X^T X`` (which squares the condition number): one pass over the rows folds
``[X | Y]`` into its small R factor (:func:`gdcore.core.tsqr`, in the
backend's own arrays, float64), and the host takes the SVD of the d x d part.
The singular values ``sigma_i`` of ``X / sqrt(n)`` give the Hessian's
eigenvalues ``lambda_i = 2 sigma_i**2``; ``w*`` is solved from the SVD with
the rank decided on ``sigma`` by ``lstsq``'s rule; ``L*`` is the norm of the
factor's residual block.  Everything the definitions call "predicted"
(``docs/definitions.md``) is computed here from that spectrum.
"""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from gdcore._errors import IllConditionedWarning

__all__ = [
    "Quadratic",
    "Stability",
    "analyse",
    "gap_weights",
    "predicted_converged_epoch",
    "predicted_converged_epochs",
    "predicted_gaps",
    "simulate_gaps",
]

_EPS64 = float(np.finfo(np.float64).eps)


class Quadratic(NamedTuple):
    """Host float64 description of one least-squares problem."""

    n: int
    eigenvalues: np.ndarray  # of H, ascending, (d,)
    eigenvectors: np.ndarray  # (d, d), columns
    positive: np.ndarray  # bool (d,): direction kept (sigma above lstsq's rank tolerance)
    G: np.ndarray  # R^T R / n = X^T X / n, for the Gram-path epochs
    w_star: np.ndarray | None  # (d, m) minimum-norm least squares
    loss_star: float | None
    singular_values: np.ndarray | None = None  # of X / sqrt(n), descending, (d,)


def analyse(prep, *, with_optimum=True) -> Quadratic:
    """Spectrum (and optimum, when ``prep.Y`` is given) of the prepared problem.

    Warns once (:class:`gdcore.IllConditionedWarning`) when ``cond(X)`` exceeds
    ``1/sqrt(eps)`` of the working dtype or when directions were dropped as
    numerically zero; raises ``ValueError`` when the Hessian of a finite ``X``
    is not representable in float64.
    """
    be = prep.backend
    Y = prep.Y if with_optimum else None
    with be.context("float64"):
        R = be.factor(prep.X, Y)
    n, d = prep.X.shape
    if not np.all(np.isfinite(R)):
        if be.validates_in_factor():  # validation was folded into this pass: locate a problem if any
            _check_stats(prep, Y)
        raise ValueError(
            "the entries of X (or y) are too large to factor in float64 (the QR of the data "
            "overflowed); divide X and y by a power of ten first (a scale s on X scales lr_crit "
            "by 1/s**2), or use standardize=True."
        )
    quad = from_factor(R, n, d, with_optimum=Y is not None)
    _warn_conditioning(quad, prep.dtype, standardized=prep.scaling is not None)
    return quad


def from_factor(R, n, d, *, with_optimum=True) -> Quadratic:
    """The :class:`Quadratic` of the data whose ``[X | Y]`` has the R factor ``R``.

    ``R`` is (d+m) x (d+m) host float64 (just d x d without ``Y``).  The SVD
    ``R_X = U diag(s) V^T`` of its top-left block has the singular values of
    ``X``; directions with ``s <= max(n, d) * eps * s_max`` (``lstsq``'s rule)
    are numerically zero.  ``w* = V diag(1/s) U^T Z`` over the kept directions
    (the minimum-norm solution), and ``n L* = ||S||^2 + ||U_dropped^T Z||^2``.
    """
    root_n = math.sqrt(n)
    U, sx, Vt = np.linalg.svd(R[:d, :d])  # singular values of X itself: no square is formed
    s = sx / root_n
    tol = max(n, d) * _EPS64 * (sx[0] if sx.size else 0.0)
    keep = sx > tol
    lam = _square_over_n(sx, n, scale=2.0)  # descending
    G = _gram_over_n(R[:d, :d], n)
    if sx[0] > 0 and not (np.isfinite(lam[0]) and lam[0] > 0 and 0 < 2.0 / lam[0] < np.inf):
        raise ValueError(
            f"X is too {'large' if s[0] > 1 else 'small'} for float64: its largest singular "
            f"value over sqrt(n) is {s[0]:.3g}, so the Hessian's largest eigenvalue "
            f"2 sigma**2 = {2 * s[0] ** 2 if np.isfinite(lam[0]) else float('inf'):.3g} and "
            "lr_crit = 2 / lambda_max cannot be represented in float64. Rescale X "
            "(standardize=True, or divide it by a power of ten: a scale s on X scales lr_crit "
            "by 1/s**2)."
        )
    keep &= lam > 0  # a kept direction whose eigenvalue underflows cannot move GD either
    if not keep.any():
        raise ValueError(
            "X is zero (every singular value is 0): gradient descent has no direction to move "
            "along and there is no learning rate to study; check that X holds your features."
        )
    w_star = loss_star = None
    if with_optimum:
        Z = R[:d, d:]
        S = R[d:, d:]
        UZ = U.T @ Z
        w_star = Vt.T[:, keep] @ (UZ[keep] / sx[keep][:, None])
        resid = np.concatenate([S.ravel(), UZ[~keep].ravel()])
        loss_star = float(np.sum(_square_over_n(resid, n)))
    # ascending order, as eigh gives it
    return Quadratic(n, lam[::-1].copy(), Vt.T[:, ::-1].copy(), keep[::-1].copy(), G, w_star,
                     loss_star, s)


def _square_over_n(v, n, scale=1.0):
    """``scale * v**2 / n`` elementwise, without overflow in ``v**2`` when the result fits."""
    with np.errstate(over="ignore", under="ignore"):
        out = scale * (v * v) / n
        if not np.all(np.isfinite(out)):
            w = v / math.sqrt(n)
            out = scale * (w * w)
    return out


def _gram_over_n(Rx, n):
    """``R^T R / n`` (= ``X^T X / n``), without overflow in ``R^T R`` when the result fits."""
    with np.errstate(over="ignore", under="ignore"):
        G = (Rx.T @ Rx) / n
        if not np.all(np.isfinite(G)):
            Rs = Rx / math.sqrt(n)
            G = Rs.T @ Rs
    return G


def _digits(eps: float, cond: float) -> int:
    """Significant decimal digits left after an error of ``eps * cond`` (0 .. 16)."""
    if not math.isfinite(cond):
        return 0
    return int(max(0.0, math.floor(-math.log10(eps * cond))))


def _user_stacklevel() -> int:
    """Stack level of the first frame outside gdcore (so a warning names the user's line)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("gdcore"):
        frame, level = frame.f_back, level + 1
    return level


def _warn_conditioning(quad: Quadratic, dtype: str, standardized: bool = False) -> None:
    s = quad.singular_values
    d = s.size
    rank = int(np.count_nonzero(quad.positive))
    eps = float(np.finfo(np.dtype(dtype)).eps)
    kept = s[quad.positive[::-1]]
    cond = kept[0] / kept[-1] if kept.size else math.inf  # cond(X) itself when nothing was dropped
    ill = cond > 1.0 / math.sqrt(eps)
    if not ill and rank == d:
        return
    parts = []
    if rank < d:
        parts.append(
            f"X is rank-deficient: {d - rank} of its {d} directions have a singular value at or "
            f"below max(n, d) * eps * sigma_max = {max(quad.n, d) * _EPS64 * s[0] * math.sqrt(quad.n):.3g} "
            "and are treated as exactly zero, so w* is the minimum-norm least-squares solution "
            "on the other directions, gradient descent cannot move along them, and "
            "condition_number is inf; drop or combine collinear columns"
        )
    if ill:
        what = "cond(X)" if rank == d else "on the kept directions cond(X)"
        parts.append(
            f"X is ill-conditioned: {what} = {cond:.3g} (the Hessian's condition number is its "
            f"square); w* and the predictions (computed in float64) keep about "
            f"{_digits(_EPS64, cond)} significant digits"
            + (f", and gradient descent in {dtype} can match w* to about "
               f"{_digits(eps, cond)} digits at best" if dtype != "float64" else "")
        )
    remedies = [] if standardized else ["standardize=True"]
    if dtype != "float64":
        remedies.append("dtype='float64'")
    remedies.append("removing or combining nearly collinear columns (e.g. orthogonal instead of raw "
                    "polynomial features)" if ill else "")
    remedies = [r for r in remedies if r]
    remedy = "; remedy: " + ", ".join(remedies) if remedies else ""
    warnings.warn("; ".join(parts) + remedy + ".", IllConditionedWarning,
                  stacklevel=_user_stacklevel())


def _check_stats(prep, Y):
    from gdcore._inputs import check_finite

    be = prep.backend
    check_finite(prep.X, "X", be.xp, be.to_numpy)
    if Y is not None:
        check_finite(Y, "y", be.xp, be.to_numpy)


def gap_weights(quad: Quadratic, w0: np.ndarray) -> np.ndarray:
    """Loss-gap weight of each eigen-direction: ``(lambda_i / 2) * sum_j c_ij**2``."""
    c = quad.eigenvectors.T @ (w0 - quad.w_star)
    return np.where(quad.positive, quad.eigenvalues / 2.0, 0.0) * np.sum(c * c, axis=1)


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


@dataclass(frozen=True)
class Stability:
    """What the Hessian ``H = (2/n) X^T X`` says about constant-lr gradient descent.

    Build it with :func:`gdcore.stability`.  All numbers are host float64.

    Attributes
    ----------
    eigenvalues : numpy.ndarray
        Eigenvalues of H, ascending.
    n_samples : int
        Rows of X.

    Examples
    --------
    >>> import gdcore
    >>> X, y = gdcore.make_linear(n=100, seed=0)
    >>> s = gdcore.stability(X)
    >>> round(s.lr_crit, 3), s.regime(0.7), s.regime(1.01)
    (0.986, 'oscillating', 'divergent')
    """

    eigenvalues: np.ndarray
    n_samples: int
    _quad: Any = field(default=None, repr=False, compare=False)

    # -- the spectrum ----------------------------------------------------
    @property
    def _positive(self) -> np.ndarray:
        if self._quad is not None:
            return self.eigenvalues[self._quad.positive]
        return self.eigenvalues[self.eigenvalues > 0]

    @property
    def lambda_max(self) -> float:
        """Largest eigenvalue of H."""
        return float(self.eigenvalues[-1])

    @property
    def lambda_min(self) -> float:
        """Smallest eigenvalue of H (0 when X is rank-deficient)."""
        pos = self._positive
        return float(self.eigenvalues[0]) if pos.size == self.eigenvalues.size else 0.0

    @property
    def lambda_min_positive(self) -> float:
        """Smallest positive eigenvalue of H: the slowest direction GD can move in."""
        pos = self._positive
        return float(pos[0]) if pos.size else 0.0

    @property
    def rank(self) -> int:
        """Number of positive eigenvalues (the rank of X)."""
        return int(self._positive.size)

    @property
    def condition_number(self) -> float:
        """``lambda_max / lambda_min = cond(X)**2``, ``inf`` when X is (numerically) rank-deficient.

        The true ratio of the whole spectrum, taken from the singular values of
        X (never from ``X^T X``, whose own rounding would cap it near 1e16).
        """
        if self.rank < self.eigenvalues.size:
            return math.inf
        q = self._quad
        if q is not None and q.singular_values is not None:
            s = q.singular_values
            return float((s[0] / s[-1]) ** 2)
        return self.lambda_max / self.lambda_min if self.lambda_min > 0 else math.inf

    @property
    def lr_crit(self) -> float:
        """``2 / lambda_max``: GD converges below it and diverges above it."""
        return 2.0 / self.lambda_max if self.lambda_max > 0 else math.inf

    @property
    def lr_opt(self) -> float:
        """``2 / (lambda_max + lambda_min_positive)``: the fastest constant learning rate."""
        s = self.lambda_max + self.lambda_min_positive
        return 2.0 / s if s > 0 else math.inf

    # -- per learning rate -----------------------------------------------
    @staticmethod
    def _check_lrs(lr) -> np.ndarray:
        """``lr`` (a number or an array) as float64, every value finite and > 0."""
        try:
            lr_arr = np.asarray(lr, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"lr must be a positive number such as 0.1, got {lr!r}.") from None
        if not np.all(np.isfinite(lr_arr) & (lr_arr > 0)):
            raise ValueError(
                f"lr must be a finite number > 0 (try 0.1, or the lr_opt of this analysis); got {lr!r}."
            )
        return lr_arr

    def rho(self, lr):
        """Contraction factor ``max_i |1 - lr * lambda_i|`` over positive eigenvalues.

        The loss gap shrinks like ``rho ** (2k)``.  ``lr`` may be an array;
        every value must be a finite number > 0 (``ValueError`` otherwise).

        Examples
        --------
        >>> import gdcore
        >>> s = gdcore.stability([[1.0, 0.0], [0.0, 1.0]])
        >>> s.rho(0.5), s.rho(1.0)
        (0.5, 0.0)
        """
        lam = self._positive
        lr_arr = self._check_lrs(lr)
        if lam.size == 0:
            out = np.ones_like(lr_arr)
        else:
            out = np.max(np.abs(1.0 - lr_arr[..., None] * lam), axis=-1)
        return float(out) if out.ndim == 0 else out

    def regime(self, lr) -> str:
        """``"monotone"``, ``"oscillating"``, ``"critical"`` or ``"divergent"`` for ``lr``.

        Examples
        --------
        >>> import gdcore
        >>> s = gdcore.stability([[1.0, 0.0], [0.0, 1.0]])   # lambda = 1, 1
        >>> [s.regime(lr) for lr in (0.5, 1.5, 2.0, 2.5)]
        ['monotone', 'oscillating', 'critical', 'divergent']

        A nan, infinite or non-positive ``lr`` has no regime: ``ValueError``.
        """
        from gdcore._inputs import check_lr

        return self.regimes([check_lr(lr)])[0]

    def regimes(self, lrs) -> list[str]:
        """:meth:`regime` of every lr in ``lrs``, checked once (a sweep has thousands).

        Examples
        --------
        >>> import gdcore
        >>> gdcore.stability([[1.0, 0.0], [0.0, 1.0]]).regimes([0.5, 1.5, 2.5])
        ['monotone', 'oscillating', 'divergent']
        """
        lr = np.atleast_1d(self._check_lrs(lrs))
        crit, lam_max = self.lr_crit, self.lambda_max
        critical = np.abs(lr - crit) <= 1e-12 * crit if math.isfinite(crit) else np.zeros(lr.shape, bool)
        monotone = np.ones(lr.shape, bool) if lam_max == 0 else lr <= 1.0 / lam_max
        return np.select([critical, lr > crit, monotone], ["critical", "divergent", "monotone"],
                         "oscillating").tolist()

    def momentum_regimes(self, lrs, betas, nesterov=False) -> list[str]:
        """:meth:`momentum_regime` of every ``(lrs[j], betas[j])`` pair, vectorised."""
        r = momentum_radii(self._positive, lrs, betas, nesterov)
        return np.select([np.abs(r - 1.0) <= 1e-12, r < 1.0], ["critical", "stable"],
                         "divergent").tolist()

    # -- momentum ----------------------------------------------------------
    def momentum_stable(self, lr, beta) -> bool:
        """Heavy ball converges iff ``0 < lr * lambda < 2 (1 + beta)`` for every eigenvalue, ``0 <= beta < 1``.

        Examples
        --------
        >>> import gdcore
        >>> s = gdcore.stability([[1.0, 0.0], [0.0, 1.0]])   # lambda = 1, 1
        >>> s.momentum_stable(3.0, 0.6), s.momentum_stable(3.0, 0.4)
        (True, False)
        """
        return bool(0.0 <= beta < 1.0 and 0 < lr * self.lambda_max < 2.0 * (1.0 + beta))

    def momentum_rho(self, lr, beta, nesterov=False) -> float:
        """Predicted contraction per epoch of heavy ball (or Nesterov) momentum.

        The loss gap shrinks like ``rho ** (2k)`` asymptotically; ``rho >= 1``
        means divergence.  At Polyak's pair it equals ``sqrt(beta)``.

        Examples
        --------
        >>> import gdcore
        >>> X, _ = gdcore.make_linear(seed=0)
        >>> s = gdcore.stability(X)
        >>> lr, beta = s.polyak()
        >>> round(s.momentum_rho(lr, beta), 6) == round(beta ** 0.5, 6)
        True
        """
        return momentum_radius(self._positive, float(lr), float(beta), nesterov)

    def momentum_regime(self, lr, beta, nesterov=False) -> str:
        """``"stable"``, ``"critical"`` or ``"divergent"`` for momentum ``beta`` at ``lr``."""
        r = self.momentum_rho(lr, beta, nesterov)
        if abs(r - 1.0) <= 1e-12:
            return "critical"
        return "stable" if r < 1.0 else "divergent"

    def polyak(self) -> tuple[float, float]:
        """Polyak's optimal heavy-ball pair ``(lr, beta)`` for this spectrum.

        ``lr = 4 / (sqrt(lambda_max) + sqrt(lambda_min))**2`` and
        ``beta = ((sqrt(kappa) - 1) / (sqrt(kappa) + 1))**2``, giving the
        contraction ``sqrt(beta)`` per epoch against plain GD's best
        ``(kappa - 1) / (kappa + 1)``.

        Examples
        --------
        >>> import gdcore
        >>> s = gdcore.stability([[1.0, 0.0], [0.0, 3.0]])   # H = diag(1, 9): kappa = 9
        >>> lr, beta = s.polyak()
        >>> round(beta, 4), s.momentum_stable(lr, beta)
        (0.25, True)
        """
        L, mu = self.lambda_max, self.lambda_min_positive
        if mu <= 0:
            raise ValueError("X has no positive Hessian eigenvalue; there is nothing to optimise.")
        kappa = L / mu
        lr = 4.0 / (math.sqrt(L) + math.sqrt(mu)) ** 2
        beta = ((math.sqrt(kappa) - 1.0) / (math.sqrt(kappa) + 1.0)) ** 2
        return lr, beta

    def predicted_epochs(self, lr, rtol=1e-3, *, X=None, y=None, w0=None, backend="numpy"):
        """Predicted converged epoch for ``lr``; ``None`` if GD will not converge.

        With ``X`` and ``y`` (and optionally ``w0``, default zeros) the
        prediction is exact for this problem: the smallest k with
        ``sum_i (lambda_i/2) c_i**2 (1 - lr lambda_i)**(2k) <= rtol * gap_0``,
        where ``lambda_i`` and the eigenvectors are this object's own and
        ``c = V^T (w0 - w*)``.  Without data it is the worst-case bound
        ``ceil(ln(rtol) / (2 ln rho))``.

        ``X`` must be the matrix this object analysed, given as it was given
        to :func:`gdcore.stability` (or ``fit``/``sweep``): when the analysis
        was of the standardized columns (``standardize=True``), ``X`` is
        standardized the same way here and ``w0`` refers to the standardized
        columns, as in ``fit``.  The data enter the analysis only through
        ``X^T X / n``, so that is what is checked: ``X`` (as given, else
        standardized) must have the Gram matrix analysed, to float64
        accumulation; then the object's spectrum and eigenvectors are exactly
        this ``X``'s and the answer is exact for it.  Any other ``X`` raises
        ``ValueError`` (analyse the new data with ``gdcore.stability``).
        ``lr`` must be a finite number > 0 and ``rtol`` in (0, 1).

        Examples
        --------
        >>> import gdcore
        >>> X, y = gdcore.make_linear(n=100, seed=0)
        >>> s = gdcore.stability(X)
        >>> s.predicted_epochs(0.7, X=X, y=y) <= s.predicted_epochs(0.7)
        True
        """
        from gdcore._inputs import check_lr, check_positive

        lr = check_lr(lr)
        rtol = check_positive(rtol, "rtol", below=1.0)
        if X is None:
            rho = self.rho(lr)
            if rho >= 1.0:
                return None
            if rho == 0.0:
                return 1
            return max(0, math.ceil(math.log(rtol) / (2.0 * math.log(rho))))
        if y is None:
            raise ValueError("predicted_epochs: pass y together with X (or neither, for the data-free bound).")
        quad = self._quad
        if quad is None or quad.eigenvectors is None or quad.G is None:
            raise ValueError(
                "predicted_epochs(X=..., y=...) needs the eigenvectors of the analysis; build this "
                "object with gdcore.stability(X) rather than by hand."
            )
        w_star, w0h = self._data_stats(X, y, w0, backend, quad.G)
        lam, V, pos = quad.eigenvalues, quad.eigenvectors, quad.positive
        c = V.T @ (w0h - w_star)
        a = np.where(pos, lam / 2.0, 0.0) * np.sum(c * c, axis=1)
        return predicted_converged_epoch(lam, a, lr, rtol)

    @staticmethod
    def _data_stats(X, y, w0, backend, G_ref):
        """Host float64 ``w*`` and ``w0`` (d, m) of the analysed ``X`` with targets ``y``.

        Tries ``X`` as given, then standardized; the first whose Gram matrix
        ``R^T R / n`` is ``G_ref`` (to within float64 accumulation) is the matrix
        analysed.  ``w*`` comes from the same factorisation of ``[X | y]`` as
        :func:`analyse` (never from the normal equations).
        """
        from gdcore._inputs import prepare

        scale = max(float(np.max(np.abs(G_ref))), np.finfo(np.float64).tiny) if G_ref.size else 1.0
        for standardize in (False, True):
            prep = prepare(X, y, w0, backend=backend, standardize=standardize)
            n, d = prep.X.shape
            if d != G_ref.shape[0]:
                break
            be = prep.backend
            with be.context("float64"):
                R = be.factor(prep.X, prep.Y)
            if not np.all(np.isfinite(R)):
                break
            quad = from_factor(R, n, d)
            if np.max(np.abs(quad.G - G_ref), initial=0.0) <= 1e-9 * scale:
                return quad.w_star, np.asarray(prep.state.to_numpy(prep.w0), dtype=np.float64)
        raise ValueError(
            "predicted_epochs: X is not the matrix this Stability object analysed (its X^T X / n "
            "differs, raw or standardized); pass the same X, or use gdcore.stability(X) of the new data."
        )

    def to_dict(self) -> dict:
        """The analysis as plain Python numbers (JSON-ready)."""
        return {
            "eigenvalues": [float(v) for v in self.eigenvalues],
            "lambda_max": self.lambda_max,
            "lambda_min": self.lambda_min,
            "lambda_min_positive": self.lambda_min_positive,
            "rank": self.rank,
            "condition_number": self.condition_number,
            "lr_crit": self.lr_crit,
            "lr_opt": self.lr_opt,
        }


def stability_of(quad: Quadratic) -> Stability:
    return Stability(eigenvalues=quad.eigenvalues, n_samples=quad.n, _quad=quad)
