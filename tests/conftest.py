"""Shared fixtures: one ``backend`` fixture over every backend, hypothesis profiles.

A backend whose package is missing is skipped locally, but in CI
(``GDCORE_REQUIRE_ALL_BACKENDS=1``, set by ``.ci/run``) it is an error: CI
installs numpy, torch, jax and array-api-strict, so nothing may be skipped.

``GDCORE_BACKENDS=numpy`` (a comma list) selects backends instead: the
``backend`` fixture yields only those, and every test that asks for another
backend through :func:`require` is skipped, installed or not.  The
minimum-versions run (``.ci/min-versions``) uses it to test the numpy backend
on the oldest declared numpy, pandas and scikit-learn, without torch or jax.
"""

from __future__ import annotations

import importlib.util
import os

import pytest
from hypothesis import HealthCheck, settings

from gdcore.backends import Backend

settings.register_profile(
    "deterministic",
    derandomize=True,
    database=None,
    deadline=None,  # jax compiles on the first call of each shape
    # the backend fixture returns a constant name, safe to share between examples
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,
)
settings.register_profile("nondeterministic", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile(os.environ.get("GDCORE_HYPOTHESIS_PROFILE", "deterministic"))

REQUIRE_ALL = os.environ.get("GDCORE_REQUIRE_ALL_BACKENDS") == "1"
SELECTED = [b.strip() for b in os.environ.get("GDCORE_BACKENDS", "").split(",") if b.strip()]
for _name in SELECTED:
    Backend(_name)  # an unknown name fails here, not as silently skipped tests
if SELECTED and REQUIRE_ALL:
    raise pytest.UsageError("GDCORE_BACKENDS selects backends; it cannot be combined with "
                            "GDCORE_REQUIRE_ALL_BACKENDS=1, which requires all of them")
# dask has its own tests (tests/test_scale_out.py, on a LocalCluster); the per-backend
# fixture covers the in-memory backends.
BACKENDS = [b.value for b in Backend if b is not Backend.DASK and (not SELECTED or b.value in SELECTED)]
AUTOGRAD = ["torch", "jax"]


def require(name: str) -> None:
    """Skip (locally) or fail (CI) when a backend's package is missing; skip unselected ones."""
    if SELECTED and name not in SELECTED:
        pytest.skip(f"backend {name!r} not selected (GDCORE_BACKENDS={','.join(SELECTED)})")
    pkg = Backend(name).package
    if importlib.util.find_spec(pkg) is None:
        if REQUIRE_ALL:
            pytest.fail(f"backend {name!r} is required in CI but {pkg!r} is not installed")
        pytest.skip(f"{pkg} not installed")


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Every backend, by name."""
    require(request.param)
    return request.param


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture
def seed_data():
    import gdcore

    return gdcore.make_linear(n=100, seed=0)
