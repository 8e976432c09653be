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

__all__ = ["Conditioning", "Quadratic", "analyse", "diagnose", "from_factor", "gap_weights",
           "warn_conditioning"]

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
    r_factor: np.ndarray | None = None  # (d, d) R factor of X itself: what diagnose() reads


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
    warn_conditioning(quad, prep.dtype, standardized=prep.scaling is not None)
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
                     loss_star, s, R[:d, :d].copy())


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


class Conditioning(NamedTuple):
    """Why ``X`` is ill-conditioned or rank-deficient: what :func:`diagnose` finds.

    Attributes
    ----------
    rank, d : int
        The numerical rank of ``X`` (``lstsq``'s rule) and its number of columns.
    cond : float
        ``cond(X)`` on the kept directions.
    zero_columns : tuple of int
        Columns that are exactly zero.
    norm_ratio : float
        Largest over smallest norm of the other columns.
    scaled_rank : int
        The rank once every non-zero column has norm 1 (scale-free: a
        deficiency left here is an exact linear relation between columns).
    scaled_cond : float
        ``cond`` of the kept directions once every column has norm 1: what the
        columns' scales alone cannot explain.
    collinear : tuple of int
        The columns that carry the (nearly) null directions of the scaled
        ``X``: those whose row of the null space's basis has at least a tenth
        of the largest norm.
    """

    rank: int
    d: int
    cond: float
    zero_columns: tuple
    norm_ratio: float
    scaled_rank: int
    scaled_cond: float
    collinear: tuple


def diagnose(quad: Quadratic, eps: float = _EPS64) -> Conditioning:
    """Tell column scales from (near) collinearity as the cause of ill-conditioning, from R alone.

    The R factor of ``X`` has the columns' norms (``||R e_j|| = ||X e_j||``).
    Dividing each column by its norm removes what scaling the columns could
    fix; what is left (a small singular value of the scaled factor) is a
    near linear relation among the columns its right singular vector weighs.
    ``eps`` sets "nearly": singular values below ``sqrt(eps)`` of the largest.
    Only the d x d factor is read: no pass over ``X``, no ``X^T X``.

    Examples
    --------
    >>> import numpy as np
    >>> from gdcore.analysis import diagnose, from_factor
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(50, 2))
    >>> X = np.column_stack([x[:, 0], 1e6 * x[:, 1], x[:, 0] - 2 * x[:, 1], np.zeros(50)])
    >>> c = diagnose(from_factor(np.linalg.qr(X, mode="r"), 50, 4, with_optimum=False))
    >>> c.rank, c.zero_columns, c.scaled_rank, c.collinear
    (2, (3,), 2, (0, 1, 2))
    """
    Rx = quad.r_factor
    s = quad.singular_values
    d = s.size
    rank = int(np.count_nonzero(quad.positive))
    kept = s[quad.positive[::-1]]
    cond = float(kept[0] / kept[-1]) if kept.size else math.inf
    norms = np.sqrt(np.sum(Rx * Rx, axis=0)) if Rx is not None else np.ones(d)
    nz = norms > 0
    zero = tuple(int(j) for j in np.nonzero(~nz)[0])
    if Rx is None or not nz.any():
        return Conditioning(rank, d, cond, zero, 1.0, int(nz.sum()), cond, ())
    ratio = float(norms[nz].max() / norms[nz].min())
    _, se, vt = np.linalg.svd(Rx[:, nz] / norms[nz])
    tol = max(quad.n, d) * _EPS64 * se[0]
    srank = int(np.count_nonzero(se > tol))
    skept = se[se > tol]
    scond = float(skept[0] / skept[-1]) if skept.size else math.inf
    bad = (se <= tol) | (se < math.sqrt(eps) * se[0])
    cols = ()
    if bad.any():
        weight = np.sqrt(np.sum(vt[bad] ** 2, axis=0))
        idx = np.nonzero(nz)[0]
        cols = tuple(int(j) for j in idx[weight >= 0.1 * weight.max()])
    return Conditioning(rank, d, cond, zero, ratio, srank, scond, cols)


def _names(cols, columns, limit=10) -> str:
    """``column 3`` / ``columns 1, 4 and 7`` (the user's names when given), at most ``limit``."""
    names = [str(columns[j]) if columns is not None else str(j) for j in cols]
    more = len(names) - limit
    if more > 0:
        names = names[:limit] + [f"{more} more"]
    body = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return ("column " if len(cols) == 1 else "columns ") + body


def warn_conditioning(quad: Quadratic, dtype: str = "float64", standardized: bool = False, *,
                      centred: bool | None = None, columns=None) -> None:
    """Warn (:class:`gdcore.IllConditionedWarning`) when ``X`` is ill-conditioned or rank-deficient.

    The message says what is lost, the cause (:func:`diagnose`: zero
    columns, the columns' scales, or (nearly) collinear columns, named) and
    only the remedies that address that cause: ``standardize=True`` when the
    scales are the cause and ``X`` was not standardized; dropping or combining
    the columns named when they are collinear (scaling cannot change a linear
    relation); centring (``standardize=True`` with a constant column) only
    for a near relation in data not yet centred; ``dtype='float64'`` for a
    lower precision.

    Parameters
    ----------
    quad : Quadratic
    dtype : str
        The working dtype of the run.
    standardized : bool
        Whether ``X`` was standardized (its columns scaled, and centred when
        it has an intercept): ``standardize=True`` is then not suggested.
    centred : bool, optional
        Whether the columns are already centred (default: ``standardized``).
    columns : sequence, optional
        Names of the columns, for the message (default: their indices).
    """
    s = quad.singular_values
    d = s.size
    rank = int(np.count_nonzero(quad.positive))
    eps = float(np.finfo(np.dtype(dtype)).eps)
    kept = s[quad.positive[::-1]]
    cond = kept[0] / kept[-1] if kept.size else math.inf  # cond(X) itself when nothing was dropped
    ill = cond > 1.0 / math.sqrt(eps)
    if not ill and rank == d:
        return
    centred = standardized if centred is None else centred
    why = diagnose(quad, eps)
    nonzero = d - len(why.zero_columns)
    # the scales are the cause when the trouble (beyond zero columns) is gone once the norms are equal
    scale_cause = ((ill or rank < nonzero) and why.scaled_rank == nonzero
                   and why.scaled_cond <= 1.0 / math.sqrt(eps))
    collinear = why.collinear if not scale_cause else ()
    parts, remedies = [], []
    if rank < d:
        causes = []
        if why.zero_columns:
            causes.append(f"{_names(why.zero_columns, columns)} {'is' if len(why.zero_columns) == 1 else 'are'} "
                          "all zeros")
        if why.scaled_rank < nonzero:
            causes.append(f"{_names(collinear, columns)} are linearly dependent whatever their scales")
        elif rank < nonzero:
            causes.append(f"the columns' norms differ by a factor of {why.norm_ratio:.3g}, so the "
                          "smallest are lost beside the largest")
        parts.append(
            f"X is rank-deficient: {d - rank} of its {d} directions have a singular value at or "
            f"below max(n, d) * eps * sigma_max = {max(quad.n, d) * _EPS64 * s[0] * math.sqrt(quad.n):.3g} "
            "and are treated as exactly zero, so w* is the minimum-norm least-squares solution "
            "on the other directions, gradient descent cannot move along them, and "
            "condition_number is inf" + (" (" + "; ".join(causes) + ")" if causes else "")
        )
    if ill:
        what = "cond(X)" if rank == d else "on the kept directions cond(X)"
        if scale_cause:
            cause = (f"the cause is the columns' scales: their norms differ by a factor of "
                     f"{why.norm_ratio:.3g}, and with equal norms cond(X) would be {why.scaled_cond:.3g}")
        else:
            cause = (f"the cause is nearly collinear columns ({_names(collinear, columns)}): with equal "
                     f"column norms cond(X) is still {why.scaled_cond:.3g}")
        parts.append(
            f"X is ill-conditioned: {what} = {cond:.3g} (the Hessian's condition number is its "
            f"square); w* and the predictions (computed in float64) keep about "
            f"{_digits(_EPS64, cond)} significant digits"
            + (f", and gradient descent in {dtype} can match w* to about "
               f"{_digits(eps, cond)} digits at best" if dtype != "float64" else "")
            + "; " + cause
        )
    if why.zero_columns:
        remedies.append(f"drop {_names(why.zero_columns, columns)}")
    if scale_cause and not standardized:
        remedies.append("standardize=True")
    if collinear:
        remedies.append(f"drop or combine {_names(collinear, columns)} (e.g. orthogonal instead of "
                        "raw polynomial features)")
        if ill and not centred and why.scaled_rank == nonzero:
            remedies.append("if one of them is a constant (intercept) column, standardize=True, "
                            "which centres the others")
    if ill and dtype != "float64":
        remedies.append("dtype='float64'")
    remedy = "; remedy: " + "; or ".join(remedies) if remedies else ""
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


