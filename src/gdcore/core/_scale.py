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
    are divided by their magnitude, so a bias column of ones is left exactly as
    it is and one of 1e200s becomes ones.  Returns ``(Z, mean, scale)`` with
    ``Z = (X - mean) / scale``; ``mean`` is 0 wherever nothing was centred and
    ``scale`` is the magnitude of a constant column.

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
    mean, std, size = _moments(X, xp)
    const = std <= 1e-12 * size  # relative to the column's own size: a column of 1e-200s is data
    intercept = xp.any(const & (mean != 0))
    rms = xp.sqrt(mean * mean + std * std)
    mean = xp.where(const | ~intercept, xp.zeros_like(mean), mean)
    # a constant column becomes +-1 (a bias column of ones is left exactly as it is)
    unit = xp.where(size > 0, size, xp.ones_like(size))
    scale = xp.where(const, unit, xp.where(intercept, std, rms))
    return (X - mean) / scale, mean, scale


def _moments(X, xp):
    """Column means, standard deviations and largest magnitudes, safe at any scale.

    ``xp.std`` squares deviations: columns of entries near 1e200 (or 1e-200
    in float64, 1e20 / 1e-20 in float32) overflow (underflow) there.  Such
    columns are divided by their largest magnitude first, at the cost of one
    temporary copy of ``X`` that ordinary data never pays for.
    """
    n = X.shape[0]
    info = xp.finfo(X.dtype)
    size = xp.maximum(xp.abs(xp.max(X, axis=0)), xp.abs(xp.min(X, axis=0)))
    ok = (size == 0) | ((size >= info.smallest_normal ** 0.5 / info.eps)
                        & (size <= (info.max / n) ** 0.5))
    if bool(xp.all(ok)):
        return xp.mean(X, axis=0), xp.std(X, axis=0), size
    unit = xp.where(size > 0, size, xp.ones_like(size))
    Xs = X / unit
    return xp.mean(Xs, axis=0) * unit, xp.std(Xs, axis=0) * unit, size
