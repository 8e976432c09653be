"""Test helpers users can reuse: ``assert_close``, ``gradient`` and hypothesis strategies.

Hypothesis is only needed for :func:`problems`; it is imported when that
function is called.
"""

from __future__ import annotations

import math

import numpy as np

from gdcore._compat import library_of
from gdcore.backends import host

__all__ = ["assert_close", "default_rtol", "gradient", "problems"]


def default_rtol(dtype) -> float:
    """``4 * sqrt(eps)`` of ``dtype``: 1.4e-3 for float32, 6e-8 for float64.

    Runs that differ only in summation order (BLAS versus autograd, one
    backend versus another) differ by a few eps per operation; gradient
    descent below ``lr_crit`` is a contraction, so those differences do not
    grow with the epochs.  ``sqrt(eps)`` leaves a wide margin for that while
    still catching any real error (a wrong gradient is off by O(1)).
    """
    name = str(dtype).rsplit(".", 1)[-1]
    eps = {"float32": 2.0**-23, "float64": 2.0**-52, "float16": 2.0**-10}.get(name, 2.0**-52)
    return 4.0 * math.sqrt(eps)


def assert_close(actual, desired, *, rtol=None, atol=0.0, check_namespace=True,
                 check_dtype=True, err_msg=""):
    """Assert two arrays are equal within ``rtol``/``atol``, same library, dtype and shape.

    ``rtol`` defaults to :func:`default_rtol` of the looser of the two dtypes.

    Examples
    --------
    >>> import numpy as np
    >>> from gdcore.testing import assert_close
    >>> assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-12]))
    """
    if check_namespace:
        la, ld = library_of(actual), library_of(desired)
        assert la == ld, f"array libraries differ: {la} vs {ld}. {err_msg}"
    a, d = host(actual), host(desired)
    if check_dtype:
        assert str(a.dtype) == str(d.dtype), f"dtypes differ: {a.dtype} vs {d.dtype}. {err_msg}"
    assert a.shape == d.shape, f"shapes differ: {a.shape} vs {d.shape}. {err_msg}"
    if rtol is None:
        rtol = max(default_rtol(a.dtype), default_rtol(d.dtype))
    np.testing.assert_allclose(a.astype(np.float64), d.astype(np.float64), rtol=rtol, atol=atol,
                               equal_nan=True, err_msg=err_msg)


def gradient(X, y, w, *, backend="numpy", dtype="float64"):
    """The gradient of the MSE at ``w`` as the backend computes it, as numpy.

    numpy and array-api-strict use the analytic formula, torch autograd,
    jax ``jax.grad``: comparing them checks autograd against the formula.

    Examples
    --------
    >>> import numpy as np
    >>> from gdcore.testing import gradient
    >>> X = np.array([[1.0, 0.0], [0.0, 2.0]]); y = np.array([1.0, 1.0])
    >>> gradient(X, y, np.zeros(2))            # (2/n) X^T (X w - y)
    array([-1., -2.])
    """
    from gdcore import core
    from gdcore.study._prepare import prepare

    prep = prepare(X, y, w, backend=backend, dtype=dtype)
    be = prep.backend
    with be.context(prep.dtype):
        _, g = be.value_and_grad(core.DataProblem(prep.X, prep.Y))(prep.w0)
        out = be.to_numpy(g)
    return out[:, 0] if prep.y_was_1d else out


def problems(*, max_n=60, max_d=5, max_m=3, dtypes=("float32", "float64")):
    """Hypothesis strategy of well-posed least-squares problems.

    Draws ``(X, y, dtype)`` with numpy float64 data: X (n, d) with n >= d + 2,
    a bias column, feature scales spread over two decades and condition
    number below ~1e3; y (n,) or (n, m) from random true weights plus noise.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from gdcore.testing import problems
    >>> @settings(max_examples=3, database=None)
    ... @given(problems())
    ... def check(p):
    ...     X, y, dtype = p
    ...     assert X.shape[0] == y.shape[0]
    >>> check()
    """
    from hypothesis import strategies as st

    @st.composite
    def _problems(draw):
        d = draw(st.integers(1, max_d))
        n = draw(st.integers(d + 2, max(d + 2, max_n)))
        m = draw(st.sampled_from([0] + list(range(2, max_m + 1))))  # 0 means 1-D y
        seed = draw(st.integers(0, 2**32 - 1))
        scale = draw(st.floats(0.1, 10.0))
        dtype = draw(st.sampled_from(dtypes))
        rng = np.random.default_rng(seed)
        X = rng.uniform(-1.0, 1.0, size=(n, d)) * scale * rng.uniform(0.3, 3.0, size=d)
        X[:, -1] = scale  # a bias column keeps the problem like the seed one
        s = np.linalg.svd(X, compute_uv=False)
        if s[-1] < 1e-3 * s[0]:  # keep problems well posed; hypothesis shrinks elsewhere
            X = X + scale * np.eye(n, d)
        w = rng.normal(size=(d,) if m == 0 else (d, m))
        y = X @ w + 0.1 * rng.normal(size=(n,) if m == 0 else (n, m))
        return X, y, dtype

    return _problems()
