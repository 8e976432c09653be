"""The two kinds of least-squares problem the driver runs on, each with its own fields.

* :class:`DataProblem` holds the data ``X`` (n, d) and ``Y`` (n, m): every
  epoch reads ``X`` (the "direct" method).
* :class:`ReducedProblem` holds what the analysis reduced the data to: the
  Gram matrix ``G = X^T X / n``, the optimum ``W*`` and ``L*``; an epoch costs
  O(d^2) per run and gives the same iterates up to rounding (the "gram" method).

Both are ``NamedTuple`` s of arrays (jax pytrees) with the same two pure
methods, so the driver and the backends never ask which one they hold:
``loss(W, xp)`` (per-run loss, (K,)) and ``value_and_grad(W, xp)`` (the loss
and its analytic gradient), and the optional ``hvp(W, V, xp)`` (exact
Hessian-vector products, read by the analytic backends' curvature).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from gdcore.core._mse import (
    blockwise,
    direct_grad,
    direct_loss,
    gram_grad,
    gram_loss,
)

__all__ = ["DataProblem", "ReducedProblem"]


class DataProblem(NamedTuple):
    """Loss and gradient from the data, ``X`` (n, d) and ``Y`` (n, m).

    ``n`` is the number of real rows when ``X`` was padded with zero rows
    (row sharding); ``None`` means all rows of ``X``.

    Examples
    --------
    >>> from gdcore import backends
    >>> xp = backends.get("numpy").xp
    >>> from gdcore.core import DataProblem
    >>> p = DataProblem(xp.ones((4, 1)), xp.ones((4, 1)))
    >>> float(p.loss(xp.zeros((1, 1)), xp)[0]), p.method
    (1.0, 'direct')
    """

    X: Any
    Y: Any
    n: int | None = None

    method = "direct"
    quadratic = True

    def loss(self, W, xp):
        """Per-run MSE (K,) at the stacked weights ``W`` (d, K*m)."""
        return direct_loss(self.X, self.Y, W, xp, n=self.n)

    def value_and_grad(self, W, xp, rows=None):
        """Per-run loss and analytic gradient ``(2/n) X^T (X W - Y)``.

        With ``rows``, summed over row blocks of that many rows
        (:func:`gdcore.core.blockwise`), so that one evaluation reads ``X``
        from memory once.
        """
        n = self.X.shape[0] if self.n is None else self.n
        if rows is None:
            return direct_grad(self.X, self.Y, W, xp, n=n)

        def block(Xb, Yb, W):
            return direct_grad(Xb, Yb, W, xp, n=n)

        return blockwise(block, self.X, self.Y, W, rows, xp)

    def hvp(self, W, V, xp):
        """Exact Hessian-vector product ``(2/n) X^T (X V)`` per column (constant in ``W``).

        Optional in the problem protocol: the analytic backends (numpy,
        array-api-strict) use it when a problem has it, and difference the
        gradient otherwise.

        Examples
        --------
        >>> from gdcore import backends
        >>> xp = backends.get("numpy").xp
        >>> from gdcore.core import DataProblem
        >>> p = DataProblem(xp.asarray([[1.0, 0.0], [0.0, 2.0]]), xp.zeros((2, 1)))
        >>> p.hvp(xp.zeros((2, 1)), xp.ones((2, 1)), xp).ravel().tolist()
        [1.0, 4.0]
        """
        n = self.X.shape[0] if self.n is None else self.n
        return (2.0 / n) * (self.X.T @ (self.X @ V))

    def take(self, idx, xp):
        """The problem restricted to the rows ``idx`` (a mini-batch)."""
        return DataProblem(xp.take(self.X, idx, axis=0), xp.take(self.Y, idx, axis=0))


class ReducedProblem(NamedTuple):
    """Loss and gradient from ``G = X^T X / n``, ``W*`` (d, m) and ``L*``.

    The loss is ``L* + e^T G e`` with ``e = W - W*``: exact for a quadratic,
    O(d^2) per run, without cancellation.

    Examples
    --------
    >>> from gdcore import backends
    >>> xp = backends.get("numpy").xp
    >>> from gdcore.core import ReducedProblem
    >>> p = ReducedProblem(xp.eye(1), xp.ones((1, 1)), 0.5)
    >>> float(p.loss(xp.zeros((1, 1)), xp)[0]), p.method
    (1.5, 'gram')
    """

    G: Any
    W_star: Any
    loss_star: Any

    method = "gram"
    quadratic = True

    def loss(self, W, xp):
        """Per-run loss (K,) from the Gram matrix."""
        return gram_loss(self.G, self.W_star, self.loss_star, W, xp)

    def value_and_grad(self, W, xp, rows=None):
        """Per-run loss and analytic gradient ``2 G (W - W*)`` (``rows`` changes nothing)."""
        return gram_grad(self.G, self.W_star, self.loss_star, W, xp)

    def hvp(self, W, V, xp):
        """Exact Hessian-vector product ``2 G V`` per column (constant in ``W``).

        Examples
        --------
        >>> from gdcore import backends
        >>> xp = backends.get("numpy").xp
        >>> from gdcore.core import ReducedProblem
        >>> p = ReducedProblem(xp.eye(2), xp.ones((2, 1)), 0.0)
        >>> p.hvp(xp.zeros((2, 1)), xp.ones((2, 1)), xp).ravel().tolist()
        [2.0, 2.0]
        """
        return 2.0 * (self.G @ V)
