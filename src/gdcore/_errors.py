"""Exceptions users can catch."""

__all__ = ["BackendUnavailable", "IllConditionedWarning"]


class BackendUnavailable(ImportError):
    """A backend was asked for whose array library is not installed.

    The message names the extra to install, e.g. ``pip install "gdcore[jax]"``.
    """


class IllConditionedWarning(UserWarning):
    """The least-squares answer has lost digits to a badly conditioned ``X``.

    Emitted once per call when ``cond(X) = sigma_max / sigma_min`` exceeds about
    ``1 / sqrt(eps)`` of the working dtype, or when directions of ``X`` are
    numerically zero (rank-deficient) and were dropped.  The message says how
    many significant digits of ``w*`` and of the predictions can be trusted and
    what to do (``standardize=True``, float64, or removing collinear columns).

    Examples
    --------
    >>> import warnings, numpy as np, gdcore
    >>> x = np.linspace(0.0, 1.0, 50)
    >>> X = np.stack([x ** k for k in range(12)], axis=1)   # polynomial degree 11
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     s = gdcore.stability(X)
    >>> [w.category.__name__ for w in caught]
    ['IllConditionedWarning']
    """
