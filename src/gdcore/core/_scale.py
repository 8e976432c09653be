"""Column standardization, the cure for badly conditioned features."""

from __future__ import annotations

__all__ = ["standardize"]


def standardize(X, xp):
    """Centre and scale every non-constant column of ``X`` to mean 0, variance 1.

    Constant columns (a bias column of ones, say) are left as they are: a
    centred bias would be all zeros.  Returns ``(Z, mean, scale)`` with
    ``Z = (X - mean) / scale`` and ``mean = 0``, ``scale = 1`` on constant
    columns.

    Why it helps gradient descent: the Hessian ``(2/n) X^T X`` of raw features
    mixes their scales and their means, so its eigenvalues spread over many
    decades; ``lr_crit`` is set by the largest and the convergence speed by
    the smallest.  After standardizing, the feature block of the Hessian is
    twice the correlation matrix and the bias direction is decoupled from it
    (its eigenvalue is exactly 2), so the condition number is that of the
    correlations alone and ``lr_crit`` is close to 1.
    """
    mean = xp.mean(X, axis=0)
    std = xp.std(X, axis=0)
    const = std <= 1e-12 * (xp.abs(mean) + 1.0)
    mean = xp.where(const, xp.zeros_like(mean), mean)
    scale = xp.where(const, xp.ones_like(std), std)
    return (X - mean) / scale, mean, scale
