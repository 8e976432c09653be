"""Issue 20, section 4: no wrong number without a word.

Every test here failed on the code before its fix: a number that was wrong,
or a warning that leaked, with nothing said about it.
"""

from __future__ import annotations

import warnings

import pytest

import gdcore

X, Y = gdcore.make_linear(n=100, seed=0)


# ---------------------------------------------------------------------------
# an overflowing prediction does not leak a RuntimeWarning


def test_fit_at_a_huge_lr_says_diverged_without_an_overflow_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning fails the test
        r = gdcore.fit(X, Y, lr=1e300)
    assert r.status == "diverged" and r.regime == "divergent" and r.predicted_epoch is None


def test_sweep_with_a_huge_lr_says_divergent_without_an_overflow_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = gdcore.sweep(X, Y, [0.1, 1e300])
    assert s.status == ("converged", "diverged")
    assert s.regime[1] == "divergent" and s.predicted_epochs[1] is None


@pytest.mark.parametrize("kw", [{}, {"momentum": 0.5}, {"momentum": 0.5, "nesterov": True}])
@pytest.mark.parametrize("lr", [1e300, 1e308])
def test_any_linear_optimizer_at_a_huge_lr_is_divergent_without_an_overflow_warning(kw, lr):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = gdcore.fit(X, Y, lr=lr, **kw)
        s = gdcore.stability(X)
        rho, mrho = s.rho(lr), s.momentum_rho(lr, 0.5)
    assert r.status == "diverged" and r.regime == "divergent" and r.predicted_epoch is None
    assert rho > 1.0 and mrho > 1.0

