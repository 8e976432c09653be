"""The mean squared error of a linear model, its gradient, and its Gram form.

Shapes used throughout (K learning rates trained at once, m outputs):

* ``X``: (n, d), ``Y``: (n, m)
* ``W``: (d, K*m), column ``k*m + j`` is output ``j`` of run ``k``
* per-run loss: (K,)

The loss of one run is ``(1/n) * ||X @ w - Y||_F**2``: the mean squared error
for one output, summed over outputs, so that every output is an independent
least-squares problem with the same Hessian ``H = (2/n) X^T X`` and
``grad = (2/n) X^T (X @ w - Y)`` exactly as in docs/definitions.md.
"""

from __future__ import annotations

from gdcore._compat import device

__all__ = [
    "block_rows",
    "PythonFold",
    "blockwise",
    "direct_grad",
    "direct_loss",
    "gram_grad",
    "gram_loss",
]


def _per_run(col_sums, m, xp):
    """(K*m,) column sums -> (K,) per-run sums."""
    if m == 1:
        return col_sums
    k = col_sums.shape[0] // m
    return xp.sum(xp.reshape(col_sums, (k, m)), axis=1)


def _residual(X, Y, W, xp):
    """``X @ W - Y`` for every run, as (n, K*m), without tiling ``Y``."""
    n, m = Y.shape
    # Plain X @ W.  (W^T X^T)^T makes one isolated jax value_and_grad 2.7x faster on
    # CPU, but inside jax's compiled epoch loop it is 2x slower (103 vs 53 ms per epoch
    # at 1e6 x 64 float32) and materialises X^T: measured, so not used.
    P = X @ W
    if m == 1:  # broadcasting (n, 1) against (n, K) needs no reshape
        return P - Y
    k = P.shape[1] // m
    R = xp.reshape(P, (n, k, m)) - xp.reshape(Y, (n, 1, m))
    return xp.reshape(R, (n, k * m))


def direct_loss(X, Y, W, xp, n=None):
    """Per-run MSE, shape (K,), computed from the data (one pass over ``X``).

    ``n`` (default: rows of ``X``) is the number of real rows when ``X`` was
    padded with zero rows, which add nothing to the sum.
    """
    R = _residual(X, Y, W, xp)
    return _per_run(xp.sum(R * R, axis=0), Y.shape[1], xp) / (X.shape[0] if n is None else n)


def direct_grad(X, Y, W, xp, n=None):
    """Per-run loss and its analytic gradient ``(2/n) X^T (X W - Y)``."""
    n = X.shape[0] if n is None else n
    R = _residual(X, Y, W, xp)
    loss = _per_run(xp.sum(R * R, axis=0), Y.shape[1], xp) / n
    return loss, (2.0 / n) * (X.T @ R)


def block_rows(d, cols):
    """Rows per block of the one-pass direct gradient (:func:`blockwise`).

    About 2**20 elements of ``X`` plus the residual (4 MB in float32): small
    enough that a block is still in the CPU's cache when ``X_b^T R_b`` reads it
    again right after ``X_b @ W``, large enough that the per-block call
    overhead is negligible.  At least 1024 rows.
    """
    return max(1024, (1 << 20) // max(d + cols, 1))


class PythonFold:
    """How :func:`blockwise` visits full blocks eagerly: a Python loop and standard slicing.

    A compiled backend passes its own (jax: ``lax.fori_loop`` and
    ``dynamic_slice``, whose start may be traced).
    """

    @staticmethod
    def fold(count, body, init):
        acc = init
        for i in range(count):
            acc = body(i, acc)
        return acc

    @staticmethod
    def take(A, start, rows):
        return A[start : start + rows, ...]


def blockwise(block_value_and_grad, X, Y, W, rows, xp, fold=PythonFold):
    """Per-run loss and gradient summed over blocks of at most ``rows`` rows.

    ``block_value_and_grad(X_b, Y_b, W)`` returns one block's share of the
    loss (K,) and of the gradient (d, K*m), both already divided by the full
    row count.  The MSE and its gradient are sums over rows, so the total is
    the exact sum of the blocks' shares; only the order of the additions
    changes.  Visiting ``X`` block by block reads it from memory once per
    epoch instead of twice (``X @ W``, then ``X^T R``): on a tall ``X`` that
    does not fit in cache this is what bounds an epoch.  ``fold`` says how to
    loop over the full blocks (:class:`PythonFold`, or a compiled loop); the
    ragged tail, if any, is one more block after them.
    """
    n = X.shape[0]
    if n <= rows:
        return block_value_and_grad(X, Y, W)
    full = n // rows

    def body(i, acc):
        start = i * rows
        loss, grad = block_value_and_grad(fold.take(X, start, rows), fold.take(Y, start, rows), W)
        return acc[0] + loss, acc[1] + grad

    zeros = (xp.zeros((W.shape[1] // Y.shape[1],), dtype=W.dtype, device=device(W)),
             xp.zeros_like(W))
    loss, grad = fold.fold(full, body, zeros)
    if full * rows < n:  # the standard leaves out-of-bounds stops unspecified: slice exactly
        tail_loss, tail_grad = block_value_and_grad(X[full * rows : n, ...], Y[full * rows : n, ...], W)
        loss, grad = loss + tail_loss, grad + tail_grad
    return loss, grad


def _error(W, W_star, xp):
    """``W - W*`` for every run, as (d, K*m); ``W_star`` is (d, m)."""
    d, m = W_star.shape
    if m == 1:
        return W - W_star
    k = W.shape[1] // m
    E = xp.reshape(W, (d, k, m)) - xp.reshape(W_star, (d, 1, m))
    return xp.reshape(E, (d, k * m))


def gram_loss(G, W_star, loss_star, W, xp):
    """Per-run loss from the Gram matrix ``G = X^T X / n``: ``L* + e^T G e``.

    ``e = W - W*`` is the distance to the optimum ``W*`` (d, m).  For a
    quadratic this equals :func:`direct_loss` exactly, costs O(d^2) per column
    instead of O(n d), and has no cancellation between large terms.
    """
    E = _error(W, W_star, xp)
    return loss_star + _per_run(xp.sum(E * (G @ E), axis=0), W_star.shape[1], xp)


def gram_grad(G, W_star, loss_star, W, xp):
    """Per-run Gram loss and its analytic gradient ``2 G (W - W*)``."""
    E = _error(W, W_star, xp)
    GE = G @ E
    return loss_star + _per_run(xp.sum(E * GE, axis=0), W_star.shape[1], xp), 2.0 * GE
