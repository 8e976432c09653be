"""The original experiment: lr 0.1 crawls, 0.7 converges fast, 1.01 blows up."""

import numpy as np
import pytest

import gdcore
from gdcore.testing import assert_close, default_rtol


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 7, 42])
def test_seed_study_on_every_backend(backend, dtype, seed):
    X, y = gdcore.make_linear(n=100, seed=seed)
    s = gdcore.stability(X)
    # lambda_max >= 2 comes from the bias column, so lr_crit <= 1 and 1.01 is divergent.
    assert 0.95 < s.lr_crit <= 1.0
    assert 0.65 < s.lr_opt < 0.85

    slow = gdcore.fit(X, y, lr=0.1, backend=backend, dtype=dtype)
    assert slow.status in ("converged", "max_epochs")
    assert slow.regime == "monotone"
    assert slow.converged_epoch is None or slow.converged_epoch >= 20  # "tens of epochs"

    fast = gdcore.fit(X, y, lr=0.7, backend=backend, dtype=dtype)
    assert fast.status == "converged"
    assert fast.converged_epoch < 10
    assert fast.converged_epoch == fast.predicted_epoch  # the closed form is exact

    boom = gdcore.fit(X, y, lr=1.01, backend=backend, dtype=dtype)
    assert boom.status == "diverged"
    assert boom.regime == "divergent"
    assert boom.losses[-1] > boom.losses[0]
    assert len(boom.losses) == boom.diverged_epoch + 1


def test_seed_numbers_are_the_same_on_every_backend(backend, dtype):
    X, y = gdcore.make_linear(n=100, seed=0)
    ref = gdcore.fit(X, y, lr=0.7, dtype=dtype)
    r = gdcore.fit(X, y, lr=0.7, backend=backend, dtype=dtype)
    assert (r.status, r.converged_epoch) == (ref.status, ref.converged_epoch)
    assert_close(r.weights, ref.weights)
    assert_close(r.losses, ref.losses, rtol=default_rtol(dtype))  # losses are host float64


def test_losses_start_at_the_first_guess_and_reach_the_optimum():
    X, y = gdcore.make_linear(n=100, seed=0)
    w0 = np.array([-1.0, 1.0])  # the original post's first guess
    r = gdcore.fit(X, y, lr=0.7, w0=w0, epochs=200)
    assert r.losses[0] == pytest.approx(np.mean((X @ w0 - y) ** 2), rel=1e-12)
    assert r.losses[-1] == pytest.approx(r.optimum.loss, rel=1e-10)
    np.testing.assert_allclose(r.weights, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-10)
    np.testing.assert_array_equal(w0, [-1.0, 1.0])  # not modified
