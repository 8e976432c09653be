"""Property tests: backends agree, autograd equals the formula, GD finds least squares.

Tolerances (see ``gdcore.testing.default_rtol``): ``4 * sqrt(eps)`` of the
dtype, 1.4e-3 for float32 and 6e-8 for float64, relative to the size of the
quantity compared.  Backends differ only in summation order, a few eps per
operation, and GD below ``lr_crit`` is a contraction so those differences do
not grow over epochs; a wrong gradient would be off by O(1).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gdcore
from gdcore.testing import assert_close, default_rtol, gradient, problems

from conftest import AUTOGRAD, BACKENDS, require

EXAMPLES = 25


def _scaled_close(a, b, rtol, what):
    """|a - b| <= rtol * max|b| (elementwise relative error is meaningless near 0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.max(np.abs(b)), 1e-300)
    err = np.max(np.abs(a - b)) / scale
    assert err <= rtol, f"{what}: relative difference {err:.3g} > {rtol:.3g}"


@pytest.mark.parametrize("other", [b for b in BACKENDS if b != "numpy"])
@settings(max_examples=EXAMPLES)
@given(p=problems(), frac=st.floats(0.05, 0.95), epochs=st.integers(0, 60))
def test_backends_agree_with_numpy(other, p, frac, epochs):
    require(other)
    X, y, dtype = p
    lr = frac * gdcore.stability(X).lr_crit
    ref = gdcore.fit(X, y, lr=lr, epochs=epochs, dtype=dtype)
    r = gdcore.fit(X, y, lr=lr, epochs=epochs, dtype=dtype, backend=other)
    rtol = default_rtol(dtype)
    assert r.weights.dtype == ref.weights.dtype  # numpy input -> numpy output, dtype kept
    _scaled_close(r.weights, ref.weights, rtol, "weights")
    _scaled_close(r.losses, ref.losses, rtol, "losses")
    assert r.status == ref.status or _near_threshold(ref, rtol)


def _near_threshold(ref, rtol):
    """True when the final loss gap sits within rounding of the convergence bound."""
    gap0 = ref.losses[0] - ref.optimum.loss
    bound = ref.rtol * gap0
    return np.any(np.abs((ref.losses - ref.optimum.loss) - bound) <= 10 * rtol * ref.losses[0])


@pytest.mark.parametrize("autograd", AUTOGRAD)
@settings(max_examples=EXAMPLES)
@given(p=problems(dtypes=("float64",)), data=st.data())
def test_autograd_equals_analytic_gradient(autograd, p, data):
    require(autograd)
    X, y, dtype = p
    w = np.asarray(data.draw(st.lists(st.floats(-10, 10), min_size=y.size // len(y) * X.shape[1],
                                      max_size=y.size // len(y) * X.shape[1])))
    w = w.reshape((X.shape[1],) + y.shape[1:])
    formula = (2.0 / len(X)) * X.T @ (X @ w - y)
    analytic = gradient(X, y, w, backend="numpy")
    auto = gradient(X, y, w, backend=autograd)
    _scaled_close(analytic, formula, 1e-12, "analytic vs formula")
    _scaled_close(auto, analytic, 1e-10, f"{autograd} autograd vs analytic")


@settings(max_examples=EXAMPLES)
@given(p=problems(), frac=st.floats(0.3, 0.95))
def test_converged_weights_match_lstsq(backend, p, frac):
    X, y, dtype = p
    s = gdcore.stability(X)
    lr = frac * s.lr_crit
    # enough epochs to shrink the error by 1e-9 even along the slowest direction
    rho = max(s.rho(lr), 1e-3)
    epochs = min(20000, int(np.ceil(np.log(1e-9) / np.log(rho))) + 1)
    r = gdcore.fit(X, y, lr=lr, epochs=epochs, dtype=dtype, backend=backend)
    w_ls = np.linalg.lstsq(X, y, rcond=None)[0]
    # float32 rounding of X itself moves w* by ~eps32 * cond(X) relative.
    tol = 1e-6 if dtype == "float64" else 50 * default_rtol(dtype) * min(s.condition_number, 1e3) / 10
    _scaled_close(r.weights, w_ls, tol, "GD weights vs lstsq")
    assert r.status == "converged"


@settings(max_examples=EXAMPLES)
@given(p=problems(dtypes=("float64",)), frac=st.floats(0.05, 0.99))
def test_predicted_converged_epoch_matches_measured(backend, p, frac):
    X, y, dtype = p
    s = gdcore.stability(X)
    lr = frac * s.lr_crit
    bound = s.predicted_epochs(lr)  # worst case, without data
    r = gdcore.fit(X, y, lr=lr, epochs=min(bound + 5, 5000), dtype=dtype, backend=backend)
    if bound > 5000:
        return  # too slow to measure in a test
    assert r.converged_epoch is not None
    assert abs(r.converged_epoch - r.predicted_epoch) <= 1
    assert r.predicted_epoch <= bound
    # the closed-form curve is the measured one
    _scaled_close(r.losses, r.predicted_losses()[: len(r.losses)], 1e-7, "predicted curve")


@settings(max_examples=15)
@given(p=problems(dtypes=("float64",), max_d=3))
def test_lr_crit_separates_convergence_from_divergence(backend, p):
    X, y, dtype = p
    s = gdcore.stability(X)
    below, above = s.lr_crit * (1 - 1e-3), s.lr_crit * (1 + 1e-3)
    assert s.regime(below) == "oscillating" and s.regime(above) == "divergent"
    # the stiffest component grows like (1 + 2e-3)^k: 20000 epochs is plenty
    up = gdcore.fit(X, y, lr=above, epochs=20000, backend=backend, dtype=dtype)
    assert up.status == "diverged"
    # below: the loss never rises, whatever the epoch count
    down = gdcore.fit(X, y, lr=below, epochs=up.diverged_epoch + 50, backend=backend, dtype=dtype)
    assert down.status in ("converged", "max_epochs")
    assert down.diverged_epoch is None
    assert np.all(np.diff(down.losses) <= 1e-12 * down.losses[0])


@settings(max_examples=EXAMPLES)
@given(p=problems(), frac=st.floats(0.05, 1.3), epochs=st.integers(0, 80))
def test_gram_path_gives_the_direct_path_iterates(backend, p, frac, epochs):
    X, y, dtype = p
    lr = frac * gdcore.stability(X).lr_crit
    direct = gdcore.fit(X, y, lr=lr, epochs=epochs, dtype=dtype, backend=backend, method="direct")
    gram = gdcore.fit(X, y, lr=lr, epochs=epochs, dtype=dtype, backend=backend, method="gram")
    assert (direct.method, gram.method) == ("direct", "gram")
    rtol = default_rtol(dtype)
    if direct.status == gram.status and direct.status != "diverged":
        _scaled_close(gram.weights, direct.weights, rtol, "weights")
        _scaled_close(gram.losses, direct.losses, rtol, "losses")
    elif direct.status == gram.status:  # diverged: same epoch, same losses until the blow-up
        assert abs(direct.diverged_epoch - gram.diverged_epoch) <= 1
        k = min(direct.diverged_epoch, gram.diverged_epoch)
        _scaled_close(gram.losses[:k], direct.losses[:k], rtol, "losses before divergence")
    else:
        assert _near_threshold(direct, rtol)


# Backends whose direct path visits X in row blocks (torch keeps the whole-array
# autograd graph: its blocked form measured slower, see benchmarks/README.md).
BLOCKED = [b for b in BACKENDS if b != "torch"]


@pytest.mark.parametrize("blocked_backend", BLOCKED)
@settings(max_examples=EXAMPLES)
@given(p=problems(max_n=80), data=st.data())
def test_row_blocks_give_the_whole_array_iterates(blocked_backend, p, data):
    """The one-pass blocked gradient is the same sum as the whole-array one.

    Blocks are forced small (any size from 1 row to n - 1, so a ragged last
    block is common) and K = 3 learning rates run together.
    """
    require(blocked_backend)
    X, y, dtype = p
    rows = data.draw(st.integers(1, X.shape[0] - 1), label="rows")
    epochs = data.draw(st.integers(0, 40), label="epochs")
    lrs = np.array([0.3, 0.7, 0.95]) * gdcore.stability(X).lr_crit
    kw = dict(epochs=epochs, dtype=dtype, backend=blocked_backend, method="direct")
    whole = gdcore.sweep(X, y, lrs, **kw)
    calls = []

    def small_blocks(d, cols):
        calls.append((d, cols))
        return rows

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gdcore.core, "block_rows", small_blocks)
        blocked = gdcore.sweep(X, y, lrs, **kw)
    assert calls, "the direct path did not ask for a block size"
    rtol = default_rtol(dtype)
    _scaled_close(blocked.losses, whole.losses, rtol, "losses")
    _scaled_close(blocked.weights, whole.weights, rtol, "weights")
