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

import numpy as np
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
# dask has its own tests (tests/backends/test_scale_out.py, on a LocalCluster); the per-backend
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


# -- decisions: where two runs may legitimately disagree ----------------------

# How close (in units of the dtype's eps times the size of the loss compared)
# the decisive loss must sit to a decision threshold for two runs to disagree
# on status or epoch.  The loss of an epoch is a mean of n squares, rounded a
# few eps, and runs that differ only in summation order have iterates within a
# few eps of each other; DECISION_ULPS leaves room for that and no more.  A
# gradient off by 1e-3 relative is an lr off by 1e-3, which moves the loss at
# the convergence threshold by ~1e-5 of L0 (~100 eps in float32), far outside.
DECISION_ULPS = 16


def run_events(result, i=None):
    """``(losses, converged_epoch, diverged_epoch)`` of a FitResult, or of run ``i`` of a SweepResult."""
    if i is None:
        return np.asarray(result.losses, dtype=np.float64), result.converged_epoch, result.diverged_epoch
    row = np.asarray(result.losses[i], dtype=np.float64)
    return row, result.converged_epoch[i], result.diverged_epoch[i]


def assert_same_decisions(a, b, *, loss_star, rtol, dtype, divergence_factor=1e6, rise_rule=True,
                          what=""):
    """Two runs (``run_events`` triples) reach the same decisions at the same epochs.

    They may differ only where it is a matter of rounding: at the first epoch
    where their decisions differ (the *decisive* epoch), the loss of each run
    must lie within ``DECISION_ULPS * eps * max(|L_k|, L0)`` of the threshold
    that decides there -- ``L* + rtol (L0 - L*)`` for convergence, the rise
    level just above ``L0`` or ``divergence_factor * L0`` for divergence (the
    thresholds of ``gdcore.core.thresholds``; definitions in
    docs/definitions.md).  Otherwise the disagreement is a real difference
    between the runs and the assertion fails.
    """
    from gdcore.core import thresholds

    (la, ca, da), (lb, cb, db) = a, b
    ca, da, cb, db = (None if e is None or e < 0 else int(e) for e in (ca, da, cb, db))
    if (ca, da) == (cb, db):
        return
    never = 1 << 60
    decisive = []
    if ca != cb:
        decisive.append((min(never if ca is None else ca, never if cb is None else cb), "converged"))
    if da != db:
        decisive.append((min(never if da is None else da, never if db is None else db), "diverged"))
    k, kind = min(decisive)
    eps = float(np.finfo(np.dtype(str(dtype).rsplit(".", 1)[-1])).eps)
    loss0 = float(la[0])
    th = thresholds(np.asarray([loss0]), loss_star, rtol, divergence_factor, eps, np,
                    rise_rule=rise_rule)
    levels = [float(th.converged[0])] if kind == "converged" else [float(th.rise[0]), float(th.blowup[0])]
    report = []
    near = True
    for name, losses in (("a", la), ("b", lb)):
        lk = float(losses[k]) if k < len(losses) else float("nan")
        tol = DECISION_ULPS * eps * max(abs(lk), abs(loss0))
        dist = min(abs(lk - t) for t in levels) if np.isfinite(lk) else float("inf")
        near = near and dist <= tol
        report.append(f"{name}: L_{k} = {lk!r}, {dist / (eps * max(abs(lk), abs(loss0))):.3g} eps from "
                      f"the {kind} threshold")
    assert near, (
        f"{what} decisions differ at epoch {k} ({kind}: a converged {ca}, diverged {da}; "
        f"b converged {cb}, diverged {db}) and the loss is not within {DECISION_ULPS} eps of the "
        f"threshold: " + "; ".join(report)
    )
