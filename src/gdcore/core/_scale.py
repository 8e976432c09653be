"""Column standardization, the cure for badly conditioned features."""

from __future__ import annotations

__all__ = ["standardize"]


def standardize(X, xp):
    """Scale every non-constant column of ``X``; centre them only when ``X`` has an intercept.

    With an intercept (a constant, non-zero column such as the bias column of
    ones) every non-constant column is centred and scaled to mean 0, variance
    1: the intercept absorbs the means, so the model's predictions and its
    least-squares fit are the same.  Without one, centring would change the
    model (``y ~ X w`` through the origin would gain a hidden intercept), so
    the columns are only scaled, by their root mean square, which keeps the
    model and still gives every column unit ``mean(x**2)``.  Constant columns
    are left as they are.  Returns ``(Z, mean, scale)`` with
    ``Z = (X - mean) / scale``; ``mean`` is 0 wherever nothing was centred and
    ``scale`` is 1 on constant columns.

    Why it helps gradient descent: the Hessian ``(2/n) X^T X`` of raw features
    mixes their scales and their means, so its eigenvalues spread over many
    decades; ``lr_crit`` is set by the largest and the convergence speed by
    the smallest.  After standardizing with an intercept, the feature block of
    the Hessian is twice the correlation matrix and the bias direction is
    decoupled from it (its eigenvalue is exactly 2), so the condition number
    is that of the correlations alone and ``lr_crit`` is close to 1.  Without
    an intercept the diagonal of ``X^T X / n`` becomes all ones (Jacobi
    scaling).

    Examples
    --------
    >>> from gdcore import backends
    >>> xp = backends.get("numpy").xp
    >>> X = xp.asarray([[1.0, 1.0], [3.0, 1.0]])        # a feature and the bias column
    >>> Z, mean, scale = standardize(X, xp)
    >>> Z.tolist(), mean.tolist(), scale.tolist()
    ([[-1.0, 1.0], [1.0, 1.0]], [2.0, 0.0], [1.0, 1.0])
    >>> Z, mean, scale = standardize(X[:, :1], xp)    # no intercept: scaled, not centred
    >>> mean.tolist(), scale.tolist()
    ([0.0], [2.23606797749979])
    """
    mean = xp.mean(X, axis=0)
    std = xp.std(X, axis=0)
    const = std <= 1e-12 * (xp.abs(mean) + 1.0)
    intercept = xp.any(const & (mean != 0))
    rms = xp.sqrt(mean * mean + std * std)
    mean = xp.where(const | ~intercept, xp.zeros_like(mean), mean)
    scale = xp.where(const, xp.ones_like(std), xp.where(intercept, std, rms))
    return (X - mean) / scale, mean, scale
