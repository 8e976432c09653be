"""Lanczos on Hessian-vector products: the curvature (sharpness) of the loss, batched over runs.

The weights are a (P, C) matrix whose columns are independent problems (one
per run and output), so the Hessian of the summed loss is block diagonal, one
(P, P) block per column, and every column is its own Lanczos problem.
:func:`lanczos` runs them all at once: one Hessian-vector product of a (P, C)
block per step, never a Hessian.

Only the array API standard is used; the small tridiagonal eigenproblems that
turn the coefficients into Ritz values are solved on the host
(:func:`gdcore._sharpness.ritz_top`).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from gdcore._compat import device
from gdcore.core._mse import PythonFold

__all__ = ["LanczosResult", "lanczos"]


class LanczosResult(NamedTuple):
    """What :func:`lanczos` returns, column by column (``s`` = steps, ``C`` = columns).

    * ``alphas`` (s, C): the diagonal of each column's tridiagonal ``T``;
    * ``betas`` (s-1, C): its off-diagonal (0 after a breakdown);
    * ``beta_last`` (C,): the norm of the residual left after the last step;
      the residual of a Ritz pair ``(theta, Q y)`` is ``beta_last * |y[-1]|``;
    * ``basis`` (s, P, C): the orthonormal Lanczos vectors (0 after a breakdown);
      a Ritz vector is ``sum_j y[j] * basis[j]``;
    * ``size`` (C,) int32: how many steps of each column are valid; a column
      broke down after ``size`` steps when ``size < s``, and only the leading
      ``size x size`` block of its ``T`` holds Ritz values.  ``size == 0``
      means a zero (or non-finite) start vector.

    Examples
    --------
    >>> from gdcore import backends
    >>> xp = backends.get("numpy").xp
    >>> from gdcore.core import lanczos
    >>> r = lanczos(lambda V: 2.0 * V, xp.ones((4, 1)), 3, xp)  # H = 2 I: invariant at once
    >>> r.alphas[:, 0].tolist(), int(r.size[0]), r.basis.shape
    ([2.0, 0.0, 0.0], 1, (3, 4, 1))
    """

    alphas: Any
    betas: Any
    beta_last: Any
    basis: Any
    size: Any


def lanczos(hvp, V0, steps, xp, fold=PythonFold) -> LanczosResult:
    """Batched Lanczos with full reorthogonalisation, ``steps`` Hessian-vector products.

    ``hvp(V) -> H V`` maps a (P, C) block to a (P, C) block, column by column
    (each column has its own symmetric ``H``).  Column ``c`` starts from
    ``V0[:, c]`` (normalised here).  Step ``j`` calls ``hvp`` once on the
    current Lanczos vectors, takes ``alpha_j = q_j . H q_j``, and
    orthogonalises ``H q_j`` against every earlier vector twice (classical
    Gram-Schmidt twice, which keeps the basis orthonormal to rounding, so no
    spurious copies of converged eigenvalues appear).

    **Breakdown.**  When a column's new residual norm ``beta_j`` is at most
    ``sqrt(P) * eps * scale`` (``scale``: the largest ``|alpha|`` or ``beta``
    seen in that column, ``eps`` of the dtype), its Krylov space is invariant
    (``P < steps``, or a start vector in an invariant subspace): the column
    stops, its later vectors, alphas and betas are exactly 0, and ``size``
    records where it stopped.  Nothing divides by zero and nothing branches on
    array values; every column is independent of the others.  Non-finite
    products (a diverged run) make their column non-finite, never another.

    ``fold`` loops over the steps (as in :func:`gdcore.core.blockwise`): a
    Python loop by default; a compiled backend passes its own (jax: a
    ``fori_loop``, so the step is traced once, not ``steps`` times).  All
    buffers have fixed shapes, written with ``where`` on a one-hot row.

    Examples
    --------
    >>> from gdcore import backends
    >>> xp = backends.get("numpy").xp
    >>> from gdcore.core import lanczos
    >>> H = xp.asarray([[2.0, 1.0, 0.0], [1.0, 3.0, 0.0], [0.0, 0.0, 1.0]])
    >>> r = lanczos(lambda V: H @ V, xp.ones((3, 2)), 10, xp)
    >>> r.alphas.shape, r.betas.shape, [int(k) for k in r.size]
    ((10, 2), (9, 2), [3, 3])
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1 (the number of Hessian-vector "
                         f"products), got {steps!r}.")
    if len(V0.shape) != 2:
        raise ValueError(f"V0 must be a (P, C) matrix of start vectors, one per column; "
                         f"got shape {tuple(V0.shape)}.")
    P, C = V0.shape
    dt, dev = V0.dtype, device(V0)
    eps = float(xp.finfo(dt).eps)
    tol = math.sqrt(P) * eps

    def norm(A):
        return xp.sqrt(xp.sum(A * A, axis=0))

    def safe(n, ok):  # n where ok, else 1: a divisor that is never 0
        return xp.where(ok, n, xp.ones_like(n))

    nrm0 = norm(V0)
    alive = (nrm0 > 0) & (nrm0 < math.inf)
    q = xp.where(alive, V0 / safe(nrm0, alive), xp.zeros_like(V0))
    slot = xp.arange(steps, device=dev)
    zeros = xp.zeros((steps, C), dtype=dt, device=dev)

    def step(j, carry):
        q, Q, A, B, scale, size, alive = carry
        here = slot == j  # (steps,): row j of the fixed-shape buffers (no in-place writes)
        Q = xp.where(here[:, None, None], q, Q)  # store q_j
        size = size + xp.astype(alive, xp.int32)
        w = hvp(q)
        alpha = xp.sum(q * w, axis=0)
        for _ in range(2):  # full reorthogonalisation, twice: removes alpha_j q_j, beta q_{j-1}, ...
            w = w - xp.sum(Q * xp.sum(Q * w, axis=1)[:, None, :], axis=0)
        beta = norm(w)
        scale = xp.maximum(scale, xp.maximum(xp.abs(alpha), beta))
        alive = alive & (beta > tol * scale)
        beta = xp.where(alive, beta, xp.zeros_like(beta))
        A = xp.where(here[:, None], alpha, A)
        B = xp.where(here[:, None], beta, B)
        q = xp.where(alive, w / safe(beta, alive), xp.zeros_like(w))
        return q, Q, A, B, scale, size, alive

    init = (q, xp.zeros((steps, P, C), dtype=dt, device=dev), zeros, zeros,
            xp.zeros((C,), dtype=dt, device=dev), xp.zeros((C,), dtype=xp.int32, device=dev), alive)
    _, Q, A, B, _, size, _ = fold.fold(steps, step, init)
    return LanczosResult(alphas=A, betas=B[: steps - 1, ...], beta_last=B[steps - 1, ...],
                         basis=Q, size=size)
