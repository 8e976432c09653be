"""The eager driver's blocks of epochs record exactly what the epoch-by-epoch driver records.

``core.drive`` on an eager loop settles statuses once per block of epochs
(``EagerLoop.block``) instead of after every epoch.  Every run must come out
the same, bit for bit: the loss rows (``nan`` after a run stopped), the
converged and diverged epochs, the weights (a stopped run keeps those of its
stop epoch), the number of epochs observed and the epochs reported.  The grids
straddle lr_crit so that runs diverge at many epochs, inside blocks and at
their edges.
"""

from __future__ import annotations

import numpy as np
import pytest

import gdcore
from gdcore import backends, core
from tests.conftest import require

EAGER = ["numpy", "torch", "array-api-strict"]


class PerEpoch(core.ReportingLoop):
    """The epoch-by-epoch driver (no blocks), reporting every epoch."""

    block = 0


class Blocks(core.ReportingLoop):
    """The block driver with small blocks, so that runs stop in many of them."""

    block = 5


def _problem(be, method, m, dtype):
    X, y = gdcore.make_linear(n=30, seed=3)
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    if m == 2:
        Y = np.hstack([Y, -0.5 * Y + 0.1 * X[:, :1]])
    n = X.shape[0]
    G = X.T @ X / n
    W_star = np.linalg.lstsq(X, Y, rcond=None)[0]
    loss_star = float(core.direct_loss(X, Y, W_star, backends.get("numpy").xp)[0])
    crit = 2.0 / np.linalg.eigvalsh(2 * G)[-1]
    if method == "gram":
        p = core.ReducedProblem(be.asarray(G, dtype, None), be.asarray(W_star, dtype, None),
                                be.asarray(np.float64(loss_star), dtype, None))
    else:
        p = core.DataProblem(be.asarray(X, dtype, None), be.asarray(Y, dtype, None))
    return p, X.shape[1], loss_star, crit


OPTIMIZERS = {
    "gd": lambda k: core.GD(),
    "momentum": lambda k: core.Momentum(beta=np.linspace(0.0, 0.95, k)),
    "nesterov": lambda k: core.Nesterov(beta=np.full(k, 0.6)),
    "adam": lambda k: core.Adam(b1=0.9, b2=0.999, eps=1e-8),
}


def _run(be, loop, p, d, m, lrs, opt, lr_mult, epochs, loss_star, stop, dtype, rtol=1e-3):
    k = len(lrs)
    xp = be.xp
    W0 = be.asarray(np.tile(np.array([[-1.0], [1.0]])[:d], (1, k * m)), dtype, None)
    opt = type(opt)(*(be.asarray(np.broadcast_to(np.asarray(h, dtype=np.float64), (k,)).copy(),
                                 dtype, None) for h in opt))
    mult = None if lr_mult is None else be.asarray(lr_mult, dtype, None)
    with be.context(dtype):
        state, rows, _, last = core.drive(
            be.value_and_grad(p), be.loss_fn(p), opt, W0, be.asarray(lrs, dtype, None),
            epochs=epochs, loss_star=loss_star, rtol=rtol, divergence_factor=1e3,
            stop_on_convergence=stop, record_weights=False, xp=xp, loop=loop, lr_mult=mult)
    host = be.to_numpy
    return (host(rows), host(state.converged_epoch), host(state.diverged_epoch), host(state.W),
            int(last))


@pytest.mark.parametrize("name", EAGER)
@pytest.mark.parametrize("method", ["gram", "direct"])
@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("stop", [False, True])
def test_blocks_record_exactly_what_epoch_by_epoch_records(name, method, opt_name, stop):
    require(name)
    be = backends.get(name)
    for m, epochs, schedule, dtype in [(1, 0, False, "float64"), (1, 1, False, "float64"),
                                       (1, 23, False, "float32"), (2, 60, False, "float64"),
                                       (1, 41, True, "float64")]:
        p, d, loss_star, crit = _problem(be, method, m, dtype)
        lrs = crit * np.concatenate([np.geomspace(0.02, 0.999, 9), np.geomspace(1.0005, 1.6, 9),
                                     [50.0, 1e4]])
        opt = OPTIMIZERS[opt_name](len(lrs))
        if opt_name == "adam":
            lrs = lrs * 0.3
        lr_mult = 0.5 + np.cos(np.arange(max(epochs, 1)) / 3.0) ** 2 if schedule else None
        seen_a, seen_b = [], []
        a = _run(be, PerEpoch(seen_a.append), p, d, m, lrs, opt, lr_mult, epochs, loss_star, stop,
                 dtype)
        b = _run(be, Blocks(seen_b.append), p, d, m, lrs, opt, lr_mult, epochs, loss_star, stop,
                 dtype)
        case = f"m={m} epochs={epochs} schedule={schedule} {dtype}"
        np.testing.assert_array_equal(b[0], a[0], err_msg=f"loss rows, {case}")
        np.testing.assert_array_equal(b[1], a[1], err_msg=f"converged epochs, {case}")
        np.testing.assert_array_equal(b[2], a[2], err_msg=f"diverged epochs, {case}")
        np.testing.assert_array_equal(b[3], a[3], err_msg=f"weights, {case}")
        assert b[4] == a[4], case
        assert seen_b == seen_a, case
        if epochs >= 23:  # the grid is meant to make runs converge and diverge inside the loop
            assert (a[2] >= 0).any(), case
            assert (a[1] >= 0).any() or opt_name == "adam", case
