"""Momentum, Nesterov, schedules and mini-batch SGD: against references and against theory."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gdcore
from gdcore import schedules
from gdcore.testing import default_rtol, problems

from conftest import assert_same_decisions, run_events


def _reference(X, y, w0, lrs, beta, nesterov, epochs):
    """Plain numpy heavy ball / Nesterov, written out longhand."""
    n = len(X)
    w, v = w0.astype(np.float64).copy(), np.zeros_like(w0, dtype=np.float64)
    ws = [w.copy()]
    for k in range(epochs):
        point = w + beta * v if nesterov else w
        g = (2.0 / n) * X.T @ (X @ point - y)
        v = beta * v - lrs[k] * g
        w = w + v
        ws.append(w.copy())
    return np.array(ws)


@pytest.mark.parametrize("nesterov", [False, True])
@settings(max_examples=10)
@given(p=problems(), frac=st.floats(0.05, 1.5), beta=st.floats(0.0, 0.95), epochs=st.integers(1, 40))
def test_momentum_matches_a_numpy_reference_iterate_by_iterate(backend, nesterov, p, frac, beta, epochs):
    X, y, dtype = p
    s = gdcore.stability(X)
    lr = frac * s.lr_crit
    r = gdcore.fit(X, y, lr=lr, momentum=beta, nesterov=nesterov, epochs=epochs, backend=backend,
                   dtype=dtype, record_weights=True, divergence_factor=1e30)
    ref = _reference(X, y, np.zeros(X.shape[1:2] + y.shape[1:]), np.full(epochs, lr), beta, nesterov, epochs)
    hist = np.asarray(r.history, dtype=np.float64)
    ref = ref[: len(hist)]
    scale = np.max(np.abs(ref), axis=tuple(range(1, ref.ndim)), keepdims=True) + 1e-300
    assert np.max(np.abs(hist - ref) / scale) <= 10 * default_rtol(dtype) * max(1, len(hist) / 10)
    if r.status != "diverged":
        assert len(hist) == epochs + 1


def test_measured_stability_boundary_matches_the_analytic_one(backend):
    X, y = gdcore.make_linear(n=100, seed=0)
    s = gdcore.stability(X)
    lrs = np.linspace(0.1, 3.9, 20)
    betas = np.linspace(0.0, 0.95, 12)
    sw = gdcore.sweep(X, y, lrs, momentums=betas, epochs=3000, backend=backend, dtype="float64",
                      stop_on_convergence=True)
    assert sw.grid_shape == (20, 12)
    for lr, b, st_ in zip(sw.lrs, sw.momentums, sw.status):
        lam = s.lambda_max * lr
        if abs(lam - 2 * (1 + b)) < 0.05:
            continue  # on the boundary itself convergence takes arbitrarily long
        assert (st_ != "diverged") == s.momentum_stable(lr, b), (lr, b, st_)
        assert (st_ == "converged") == s.momentum_stable(lr, b), (lr, b, st_)


def test_polyak_pair_is_optimal_and_predicted(backend):
    X, y = gdcore.make_linear(n=100, seed=1)
    s = gdcore.stability(X)
    lr, beta = s.polyak()
    assert s.momentum_rho(lr, beta) == pytest.approx(np.sqrt(beta), rel=1e-6)
    # better than the best plain-GD contraction
    assert s.momentum_rho(lr, beta) < s.rho(s.lr_opt)
    r = gdcore.fit(X, y, lr=lr, momentum=beta, backend=backend, dtype="float64")
    assert r.status == "converged" and r.converged_epoch == r.predicted_epoch
    np.testing.assert_allclose(r.losses, r.predicted_losses()[: len(r.losses)], rtol=1e-9)


@pytest.mark.parametrize(
    ("sched", "torch_factory"),
    [
        (schedules.step(0.8, step_size=7, gamma=0.5),
         lambda opt: __import__("torch").optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)),
        (schedules.exponential(0.8, gamma=0.97),
         lambda opt: __import__("torch").optim.lr_scheduler.ExponentialLR(opt, gamma=0.97)),
        (schedules.cosine(0.8, epochs=40, lr_min=0.01),
         lambda opt: __import__("torch").optim.lr_scheduler.CosineAnnealingLR(opt, T_max=40, eta_min=0.01)),
        (schedules.one_cycle(0.8, epochs=41),
         lambda opt: __import__("torch").optim.lr_scheduler.OneCycleLR(
             opt, max_lr=0.8, total_steps=41, cycle_momentum=False)),
    ],
)
def test_schedules_match_torch_schedulers(sched, torch_factory):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.8)
    tsched = torch_factory(opt)
    theirs = []
    for _ in range(40):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        tsched.step()
    np.testing.assert_allclose(sched.table(40), theirs, rtol=1e-12)
    # pure: no hidden state, so calls in any order, repeated or after others, give torch's values
    order = [13, 39, 0, 13, 27, 5, 13, 39]
    np.testing.assert_allclose([sched(k) for k in order], [theirs[k] for k in order], rtol=1e-12)
    np.testing.assert_allclose(sched.table(40), theirs, rtol=1e-12)


def test_schedule_documented_values_and_warmup():
    assert schedules.constant(0.3)(1000) == 0.3
    assert schedules.cosine(1.0, epochs=10)(5) == pytest.approx(0.5)
    w = schedules.linear_warmup(0.9, warmup=3, after=schedules.exponential(0.9, gamma=0.5))
    assert [w(k) for k in range(5)] == pytest.approx([0.3, 0.6, 0.9, 0.9, 0.45])


def test_scheduled_fit_on_every_backend_matches_the_prediction(backend):
    X, y = gdcore.make_linear(n=100, seed=0)
    sched = schedules.linear_warmup(1.5, warmup=10, after=schedules.cosine(0.9, epochs=90))
    r = gdcore.fit(X, y, lr=sched, epochs=100, backend=backend, dtype="float64")
    assert r.schedule is sched and r.regime == "scheduled"
    # lr 1.5 > lr_crit during the warm-up: the loss may rise, yet the run is not called diverged
    assert r.status == "converged"
    predicted = r.predicted_losses()
    np.testing.assert_allclose(r.losses, predicted, rtol=1e-8)
    # the simulation is exact: the same epoch, unless the loss there is within rounding of the bound
    assert_same_decisions(run_events(r), (predicted, r.predicted_epoch, None), loss_star=r.optimum.loss,
                          rtol=r.rtol, dtype="float64", rise_rule=False, what="measured vs predicted:")
    lam = gdcore.fit(X, y, lr=lambda k: 0.5 / (1 + k), epochs=20, backend=backend)
    assert lam.status in ("converged", "max_epochs")


def test_bad_schedules_and_momentum_are_refused():
    X, y = gdcore.make_linear(seed=0)
    with pytest.raises(ValueError, match="schedule gave lr"):
        gdcore.fit(X, y, lr=lambda k: -0.1)
    with pytest.raises(ValueError, match="momentum must be in"):
        gdcore.fit(X, y, lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="batch_size"):
        gdcore.fit(X, y, lr=0.1, batch_size=0)


def test_sgd_with_batch_size_n_is_full_batch_gd(backend):
    X, y = gdcore.make_linear(n=64, seed=2)
    sgd = gdcore.fit(X, y, lr=0.4, batch_size=64, backend=backend, dtype="float64")
    gd = gdcore.fit(X, y, lr=0.4, backend=backend, dtype="float64")
    np.testing.assert_allclose(sgd.losses, gd.losses, rtol=1e-12)


def test_sgd_is_reproducible_across_backends_given_the_seed(backend):
    X, y = gdcore.make_linear(n=60, seed=2)
    ref = gdcore.fit(X, y, lr=0.2, batch_size=8, seed=11, epochs=30, dtype="float64")
    r = gdcore.fit(X, y, lr=0.2, batch_size=8, seed=11, epochs=30, backend=backend, dtype="float64")
    np.testing.assert_allclose(r.losses, ref.losses, rtol=1e-10)
    other = gdcore.fit(X, y, lr=0.2, batch_size=8, seed=12, epochs=30, dtype="float64")
    assert not np.allclose(other.losses[1:], ref.losses[1:], rtol=1e-10)


def test_sgd_noise_floor_grows_with_lr_and_shrinks_with_batch_size():
    X, y = gdcore.make_linear(n=200, seed=5)
    lrs = [0.05, 0.1, 0.2, 0.4]
    floors = {}
    for b in (10, 40):
        sw = gdcore.sweep(X, y, lrs, batch_size=b, epochs=200, dtype="float64")
        assert all(s == "converged" for s in sw.status)
        floors[b] = sw.noise_floor
        assert np.all(np.diff(sw.noise_floor) > 0)  # larger lr, higher floor
    assert np.all(floors[40] < floors[10])  # larger batches, lower floor


# ---------------------------------------------------------------------------
# optimizers as values (gdcore.optimizers)

from typing import NamedTuple  # noqa: E402

from gdcore import optimizers  # noqa: E402


@pytest.mark.parametrize(("value", "shorthand"), [
    (optimizers.gd(), {}),
    (optimizers.momentum(0.4), {"momentum": 0.4}),
    (optimizers.momentum(0.4, nesterov=True), {"momentum": 0.4, "nesterov": True}),
    (optimizers.momentum(0.0, nesterov=True), {"nesterov": True}),
])
def test_optimizer_values_mean_exactly_what_the_shorthands_mean(backend, value, shorthand):
    X, y = gdcore.make_linear(n=50, seed=3)
    a = gdcore.fit(X, y, lr=0.6, epochs=30, backend=backend, dtype="float64", optimizer=value,
                   record_weights=True)
    b = gdcore.fit(X, y, lr=0.6, epochs=30, backend=backend, dtype="float64", **shorthand,
                   record_weights=True)
    np.testing.assert_array_equal(a.losses, b.losses)
    np.testing.assert_array_equal(np.asarray(a.history), np.asarray(b.history))
    assert (a.status, a.converged_epoch, a.predicted_epoch, a.regime, a.momentum, a.nesterov) == \
        (b.status, b.converged_epoch, b.predicted_epoch, b.regime, b.momentum, b.nesterov)
    assert a.optimizer == b.optimizer == value


def test_sweep_with_an_optimizer_value_equals_the_momentums_grid(backend):
    X, y = gdcore.make_linear(n=50, seed=3)
    lrs = [0.2, 0.6, 1.5, 2.5]
    a = gdcore.sweep(X, y, lrs, epochs=40, backend=backend, dtype="float64",
                     optimizer=optimizers.momentum(0.5))
    b = gdcore.sweep(X, y, lrs, epochs=40, backend=backend, dtype="float64", momentums=[0.5])
    np.testing.assert_array_equal(a.losses, b.losses)
    assert a.status == b.status and a.predicted_epochs == b.predicted_epochs
    np.testing.assert_allclose(a.predicted_losses(), b.predicted_losses(), rtol=1e-12)


@pytest.mark.parametrize("value", [optimizers.gd(), optimizers.momentum(0.6),
                                   optimizers.momentum(0.3, nesterov=True)],
                         ids=["gd", "momentum", "nesterov"])
def test_sweep_rows_equal_one_fit_per_lr(backend, value):
    X, y = gdcore.make_linear(n=40, seed=4)
    lrs = [0.1, 0.5, 0.9, 1.3]
    sw = gdcore.sweep(X, y, lrs, epochs=25, backend=backend, dtype="float64", method="direct",
                      optimizer=value)
    for i, lr in enumerate(lrs):
        r = gdcore.fit(X, y, lr=lr, epochs=25, backend=backend, dtype="float64", optimizer=value)
        row = sw.losses[i, : len(r.losses)]
        np.testing.assert_allclose(row, r.losses, rtol=1e-12)
        assert (sw.status[i], sw.converged_epoch[i], sw.diverged_epoch[i]) == \
            (r.status, r.converged_epoch, r.diverged_epoch)
        assert sw.predicted_epochs[i] == r.predicted_epoch


@optimizers.Optimizer.register
class _GDThatMayRise(NamedTuple):
    """Plain GD declaring that its loss may rise: the driver must then not use the rise rule."""

    name = "gd-may-rise"
    may_rise = True
    linear = True
    lookahead = False
    init = optimizers.gd().init
    update = optimizers.gd().update
    transition = optimizers.gd().transition



def test_the_divergence_rule_is_read_from_the_optimizer(backend):
    X, y = gdcore.make_linear(n=100, seed=0)
    plain = gdcore.fit(X, y, lr=1.01, epochs=400, backend=backend, dtype="float64")
    assert plain.diverged_epoch == 3  # the loss rose above L(w0): proof of divergence for GD
    rising = gdcore.fit(X, y, lr=1.01, epochs=400, backend=backend, dtype="float64",
                        optimizer=_GDThatMayRise())
    np.testing.assert_array_equal(rising.losses[:4], plain.losses)  # same iterates
    assert rising.diverged_epoch > 100  # only the millionfold blow-up counts


def test_optimizer_and_shorthands_together_are_refused():
    X, y = gdcore.make_linear(seed=0)
    with pytest.raises(ValueError, match="either optimizer= or"):
        gdcore.fit(X, y, lr=0.1, momentum=0.5, optimizer=optimizers.gd())
    with pytest.raises(ValueError, match="either optimizer= or"):
        gdcore.sweep(X, y, [0.1], momentums=[0.5], optimizer=optimizers.gd())
    with pytest.raises(TypeError, match="optimizer must be an optimizer value"):
        gdcore.fit(X, y, lr=0.1, optimizer="adam")
    with pytest.raises(ValueError, match="momentum must be in"):
        optimizers.momentum(1.0)


def test_jax_does_not_recompile_for_a_new_momentum():
    pytest.importorskip("jax")
    from gdcore.backends._jax import trace_count

    X, y = gdcore.make_linear(n=41, seed=6)  # a shape no other test uses
    gdcore.fit(X, y, lr=0.3, momentum=0.2, backend="jax", epochs=13)
    before = trace_count()
    for lr, beta in ((0.4, 0.5), (0.9, 0.8), (0.1, 0.05)):
        gdcore.fit(X, y, lr=lr, optimizer=optimizers.momentum(beta), backend="jax", epochs=13)
    assert trace_count() == before


@pytest.mark.filterwarnings("ignore::gdcore.LRFinderWarning")
def test_lr_find_runs_any_optimizer_on_the_driver(backend):
    X, y = gdcore.make_linear(n=100, seed=0)
    plain = gdcore.lr_find(X, y, backend=backend, dtype="float64", steps=40)
    same = gdcore.lr_find(X, y, backend=backend, dtype="float64", steps=40,
                          optimizer=optimizers.gd())
    np.testing.assert_array_equal(plain.losses, same.losses)
    heavy = gdcore.lr_find(X, y, backend=backend, dtype="float64", steps=40,
                           optimizer=optimizers.momentum(0.9))
    # a hand-written momentum ramp, longhand
    ramp = np.geomspace(1e-6, 10.0, 40)
    w, v, ref = np.zeros(2), np.zeros(2), []
    for lr in ramp[: len(heavy.losses)]:
        ref.append(np.mean((X @ w - y) ** 2))
        v = 0.9 * v - lr * (2 / len(X)) * X.T @ (X @ w - y)
        w = w + v
    np.testing.assert_allclose(heavy.losses, ref, rtol=1e-10)
