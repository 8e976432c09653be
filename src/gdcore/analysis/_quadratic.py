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
from typing import NamedTuple

import numpy as np

from gdcore._checks import check_finite
from gdcore._errors import IllConditionedWarning

__all__ = ["Quadratic", "analyse", "from_factor", "gap_weights"]

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
    be = prep.backend
    check_finite(prep.X, "X", be.xp, be.to_numpy)
    if Y is not None:
        check_finite(Y, "y", be.xp, be.to_numpy)



def gap_weights(quad: Quadratic, w0: np.ndarray) -> np.ndarray:
    """Loss-gap weight of each eigen-direction: ``(lambda_i / 2) * sum_j c_ij**2``."""
    c = quad.eigenvectors.T @ (w0 - quad.w_star)
    return np.where(quad.positive, quad.eigenvalues / 2.0, 0.0) * np.sum(c * c, axis=1)


