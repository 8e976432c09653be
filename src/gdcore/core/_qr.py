"""Tall-skinny QR of the data in one pass over the rows: the stable way to least squares.

The analysis never forms ``X^T X``: that squares the condition number, so a
design with ``cond(X) = 1e8`` would have lost every digit of its smallest
direction before any solver saw it.  Instead the rows of ``[X | Y]`` are
visited in blocks and folded into one small upper-triangular factor
``R_aug`` ((d+m) x (d+m)) by repeated QR of ``[R_aug; block]`` (the classic
tall-skinny QR, TSQR).  From it::

    [X | Y] = Q [[R, Z],
                 [0, S]]

``R`` (d x d) is the R factor of ``X`` (same singular values), ``Z = Q^T Y``
and ``||S||_F**2`` is the residual sum of squares of the least-squares fit.
Every block is cast to the accumulation dtype (float64) on its own, so no
float64 copy of ``X`` and no n x d temporary is ever made.
"""

from __future__ import annotations

from gdcore._compat import device

__all__ = ["qr_rows", "tsqr"]


def qr_rows(d):
    """Rows per block of :func:`tsqr`: about 2**20 elements, at least 1024 rows."""
    return max(1024, (1 << 20) // max(d, 1))


def _standard_qr_r(xp):
    def qr_r(A):
        return xp.linalg.qr(A)[1]  # the standard's linalg extension: (Q, R), mode="reduced"

    return qr_r


def tsqr(X, Y, xp, *, dtype, rows=None, qr_r=None):
    """The (d+m) x (d+m) R factor of ``[X | Y]`` (just ``X`` when ``Y`` is None).

    ``qr_r(A)`` returns the R factor of a tall matrix ``A``; by default the
    standard's ``xp.linalg.qr`` (backends pass a cheaper R-only QR where their
    library has one).  The factor is unique up to the signs of its rows, which
    change nothing downstream (singular values, ``R^T R``, ``||S||``,
    and ``w*`` all come out the same).

    Examples
    --------
    >>> from gdcore import backends
    >>> xp = backends.get("numpy").xp
    >>> X = xp.asarray([[3.0, 0.0], [4.0, 0.0], [0.0, 2.0]])
    >>> R = tsqr(X, None, xp, dtype=xp.float64, rows=1)   # one row at a time
    >>> [abs(float(v)) for v in (R[0, 0], R[0, 1], R[1, 1])]
    [5.0, 0.0, 2.0]
    """
    n, d = X.shape
    k = d + (0 if Y is None else Y.shape[1])
    rows = rows or qr_rows(k)
    qr_r = qr_r or _standard_qr_r(xp)
    R = xp.zeros((k, k), dtype=dtype, device=device(X))
    for start in range(0, n, rows):
        stop = min(start + rows, n)  # the standard leaves out-of-bounds stops unspecified
        block = xp.astype(X[start:stop, :], dtype)
        if Y is not None:
            block = xp.concat([block, xp.astype(Y[start:stop, :], dtype)], axis=1)
        R = qr_r(xp.concat([R, block], axis=0))
        del block  # never hold two float64 blocks at once
    return R
