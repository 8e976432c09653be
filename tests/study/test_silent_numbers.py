"""Issue 20, section 4: no wrong number without a word.

Every test here failed on the code before its fix: a number that was wrong,
or a warning that leaked, with nothing said about it.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import gdcore
from conftest import require

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
