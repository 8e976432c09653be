"""The classic data set of the learning-rate experiment."""

from __future__ import annotations

import numpy as np

from gdcore import backends
from gdcore._checks import dtype_name

__all__ = ["make_linear"]


def make_linear(n=100, weights=(3.0, 2.0), noise="uniform", noise_scale=1.0, seed=None,
                backend="numpy", *, dtype=None, device=None):
    """Data for ``y = X @ weights + noise``, as in the original experiment.

    The first d-1 columns of ``X`` are uniform on [-1, 1); the last column is
    ones (the bias).  With the default ``weights=(3, 2)`` that is ``y = 3x + 2 +
    noise``.

    Parameters
    ----------
    n : int
        Rows.
    weights : sequence of float, shape (d,) or (d, m)
        True weights; the last row multiplies the bias column.
    noise : {"uniform", "gaussian"}
        "uniform" draws on [0, noise_scale) like the original code;
        "gaussian" draws N(0, noise_scale**2).
    noise_scale : float
    seed : int or None
        Seed of ``numpy.random.default_rng``; the data are the same on every backend.
    backend : str
        Library of the returned arrays (numpy, torch, jax, array-api-strict).
    dtype : {None, "float32", "float64"}
        Default: the backend's default float (float64 numpy, float32 torch/jax).
    device : {None, "cpu", "cuda", "gpu"}

    Returns
    -------
    X : array, shape (n, d)
    y : array, shape (n,) or (n, m)

    Examples
    --------
    >>> import gdcore
    >>> X, y = gdcore.make_linear(n=5, seed=0)
    >>> X.shape, y.shape, bool((X[:, 1] == 1).all())
    ((5, 2), (5,), True)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}.")
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim not in (1, 2) or w.shape[0] < 1:
        raise ValueError(f"weights must have shape (d,) or (d, m), got {w.shape}.")
    if noise not in ("uniform", "gaussian"):
        raise ValueError(f"noise must be 'uniform' or 'gaussian', got {noise!r}.")
    if not np.isfinite(noise_scale) or noise_scale < 0:
        raise ValueError(f"noise_scale must be a finite number >= 0, got {noise_scale!r}.")
    rng = np.random.default_rng(seed)
    d = w.shape[0]
    X = np.ones((n, d))
    X[:, : d - 1] = rng.uniform(-1.0, 1.0, size=(n, d - 1))
    shape = (n,) if w.ndim == 1 else (n, w.shape[1])
    if noise == "uniform":
        eps = rng.uniform(0.0, noise_scale, size=shape)
    else:
        eps = rng.normal(0.0, noise_scale, size=shape)
    y = X @ w + eps
    be = backends.get(backend)
    dt = dtype_name(dtype) or be.default_float()
    dev = be.resolve_device(device)
    be.check_dtype(dt)  # e.g. jax without x64 mode holds no float64 arrays: say so, don't truncate
    with be.context(dt):
        return be.asarray(X, dt, dev), be.asarray(y, dt, dev)
