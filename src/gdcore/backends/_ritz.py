"""Host side of the sharpness measurement: Ritz values from Lanczos coefficients (numpy, float64).

:func:`gdcore.core.lanczos` runs on the backend and returns, per column, the
tridiagonal coefficients of the Hessian restricted to its Krylov space; the
eigenproblems of those small (at most ``steps x steps``) tridiagonals are
solved here, batched by size with ``np.linalg.eigh``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ritz_top", "start_vectors"]


def start_vectors(P: int, C: int, seed: int = 0) -> np.ndarray:
    """Seeded random unit start vectors, one per column, (P, C) float64 on the host.

    Drawn in numpy so that every backend starts Lanczos from the same vectors.

    Examples
    --------
    >>> V = start_vectors(4, 2)
    >>> V.shape, bool(np.allclose((V * V).sum(axis=0), 1.0))
    ((4, 2), True)
    """
    V = np.random.default_rng(seed).standard_normal((P, C))
    return V / np.linalg.norm(V, axis=0)


def ritz_top(alphas, betas, size):
    """Top Ritz value of every column and the coefficients of its Ritz vector.

    ``alphas`` (s, C), ``betas`` (s-1, C) and ``size`` (C,) are those of
    :class:`gdcore.core.LanczosResult` (host arrays).  Column ``c``'s
    tridiagonal is truncated at its breakdown, to its leading
    ``size[c] x size[c]`` block, so the zeros after a breakdown never pose as
    eigenvalues.  Returns ``(top, Y)``: ``top`` (C,) float64, the largest
    eigenvalue of each truncated tridiagonal, and ``Y`` (s, C) float64, its unit
    eigenvector padded with zeros (the Ritz vector is ``sum_j Y[j] * basis[j]``).
    A column with ``size == 0`` or non-finite coefficients (a diverged run)
    gets ``nan`` and a zero ``Y``.

    Examples
    --------
    >>> top, Y = ritz_top(np.array([[2.0], [2.0]]), np.array([[1.0]]), np.array([2]))
    >>> float(top[0]), [round(float(v), 6) for v in Y[:, 0]]
    (3.0, [0.707107, 0.707107])
    """
    a = np.asarray(alphas, dtype=np.float64)
    b = np.asarray(betas, dtype=np.float64)
    k = np.asarray(size, dtype=np.int64)
    s, C = a.shape
    top = np.full(C, np.nan)
    Y = np.zeros((s, C))
    for m in np.unique(k):
        m = int(m)
        if m == 0:
            continue
        cols = np.flatnonzero(k == m)
        am, bm = a[:m, cols], b[: m - 1, cols]
        ok = np.isfinite(am).all(axis=0) & np.isfinite(bm).all(axis=0)
        cols, am, bm = cols[ok], am[:, ok], bm[:, ok]
        if cols.size == 0:
            continue
        T = np.zeros((cols.size, m, m))
        i = np.arange(m)
        T[:, i, i] = am.T
        T[:, i[:-1], i[1:]] = bm.T
        T[:, i[1:], i[:-1]] = bm.T
        vals, vecs = np.linalg.eigh(T)
        top[cols] = vals[:, -1]
        Y[:m, cols] = vecs[:, :, -1].T
    return top, Y
