"""The optimizer protocol and the one prediction hook (``transition``): radius, simulation, curves."""

from typing import Any, NamedTuple

import numpy as np
import pytest

import gdcore
from gdcore import analysis, core, optimizers, schedules
from gdcore.study._engine import predict_runs, predicted_curves

LINEAR = [optimizers.gd(), optimizers.momentum(0.7), optimizers.momentum(0.7, nesterov=True)]
IDS = ["gd", "momentum", "nesterov"]


def _roots_radius(t, p):
    """Largest root modulus of z^2 - t z + p, root by root with numpy.roots."""
    return max(abs(z) for z in np.roots([1.0, -t, p]))


def test_radius_equals_the_closed_forms_and_the_companion_eigenvalues():
    rng = np.random.default_rng(0)
    lam = np.sort(rng.uniform(0.05, 4.0, 7))
    lrs = rng.uniform(0.01, 1.2, 25)
    betas = rng.uniform(0.0, 0.99, 25)
    for nesterov in (False, True):
        opt = optimizers.momentum(0.0, nesterov)._replace(beta=betas)
        got = analysis.spectral_radius(opt, lam, lrs, per_direction=True)  # (K, d), vectorised
        assert got.shape == (25, 7)
        for j, (lr, b) in enumerate(zip(lrs, betas)):
            for i, lv in enumerate(lam):
                if nesterov:  # e_{k+1} = (1 + b) q e_k - b q e_{k-1}, q = 1 - lr lam
                    q = 1.0 - lr * lv
                    c1, c2 = (1.0 + b) * q, -b * q
                else:  # e_{k+1} = (1 + b - lr lam) e_k - b e_{k-1}
                    c1, c2 = 1.0 + b - lr * lv, -b
                companion = np.array([[c1, c2], [1.0, 0.0]])
                dense = np.max(np.abs(np.linalg.eigvals(companion)))
                closed = _roots_radius(c1, -c2)
                # a double root moves by sqrt(rounding): compare to 1e-7
                assert got[j, i] == pytest.approx(dense, abs=1e-7), (nesterov, lr, b, lv)
                assert got[j, i] == pytest.approx(closed, abs=1e-7), (nesterov, lr, b, lv)
        np.testing.assert_array_equal(analysis.spectral_radius(opt, lam, lrs), got.max(axis=1))
    gd = analysis.spectral_radius(optimizers.gd(), lam, lrs)
    np.testing.assert_array_equal(gd, np.max(np.abs(1.0 - lrs[:, None] * lam), axis=1))


def test_stability_momentum_methods_keep_their_closed_forms():
    X, _ = gdcore.make_linear(n=100, seed=1)
    s = gdcore.stability(X)
    lam = s.eigenvalues[s.eigenvalues > 0]
    for lr in np.linspace(0.05, 3.0, 13):
        for b in (0.0, 0.2, 0.5, 0.9):
            hb = max(_roots_radius(1.0 + b - lr * lv, b) for lv in lam)
            ne = max(_roots_radius((1.0 + b) * (1.0 - lr * lv), b * (1.0 - lr * lv)) for lv in lam)
            assert s.momentum_rho(lr, b) == pytest.approx(hb, abs=1e-7)
            assert s.momentum_rho(lr, b, nesterov=True) == pytest.approx(ne, abs=1e-7)
            if abs(lr * s.lambda_max - 2 * (1 + b)) > 1e-6:
                assert s.momentum_stable(lr, b) == (0 < lr * s.lambda_max < 2 * (1 + b))


class _PaddedMomentum(NamedTuple):
    """Heavy ball carrying an extra decaying coordinate: a 3 x 3 transition (the general path)."""

    beta: Any = 0.5
    decay: Any = 0.25

    name = "padded"
    may_rise = True
    linear = True
    lookahead = False
    init = optimizers.momentum().init
    update = optimizers.momentum().update

    def transition(self, lam, lr):
        return ((1 - lr * lam, self.beta, 0.0 * lam), (-lr * lam, self.beta, 0.0 * lam),
                (lr * lam, 0.0 * lam, self.decay + 0.0 * lam))


core.Optimizer.register(_PaddedMomentum)


def test_radius_of_a_larger_transition_is_its_largest_eigenvalue_modulus():
    lam, lrs = np.array([0.3, 1.0, 2.5]), np.array([0.1, 0.7, 1.9])
    opt = _PaddedMomentum(beta=np.array([0.2, 0.6, 0.95]), decay=0.99)
    got = analysis.spectral_radius(opt, lam, lrs, per_direction=True)
    A = analysis.transition_matrices(opt, lam, lrs)
    assert A.shape == (3, 3, 3, 3) and analysis.transition_order(opt) == 3
    np.testing.assert_allclose(got, np.abs(np.linalg.eigvals(A)).max(axis=-1), rtol=1e-12)
    assert np.all(got >= 0.99 - 1e-12)  # the decaying coordinate's own eigenvalue


def _direct(opt, lam, a, table, epochs, e0):
    """Longhand: the optimizer's own init/update on the eigen-components, in float64 numpy."""
    xp = np
    W = np.asarray(e0, dtype=np.float64)[:, None] * np.ones((1, 1))  # (d, 1): one column
    state = opt.init(W, xp)
    gaps, comps = [float(np.sum(a * W[:, 0] ** 2))], [W[:, 0].copy()]
    for k in range(epochs):
        P = opt.gradient_point(W, state, xp) if opt.lookahead else W
        delta, state = opt.update(lam[:, None] * P, state, table[k], xp)
        W = W + delta
        gaps.append(float(np.sum(a * W[:, 0] ** 2)))
        comps.append(W[:, 0].copy())
    return np.array(gaps), np.array(comps)


@pytest.mark.parametrize("opt", LINEAR, ids=IDS)
def test_simulation_equals_the_optimizers_own_update_under_a_schedule(opt):
    rng = np.random.default_rng(1)
    lam = np.sort(rng.uniform(0.0, 3.0, 6))
    a = rng.uniform(0.0, 1.0, 6)
    epochs = 60
    table = schedules.linear_warmup(0.9, warmup=8, after=schedules.cosine(0.6, epochs=52)).table(epochs)
    want_gaps, want_comps = _direct(opt, lam, a, table, epochs, np.ones(6))
    np.testing.assert_allclose(analysis.simulate(opt, lam, table, epochs, a=a), want_gaps, rtol=1e-12)
    e0 = rng.normal(size=6)
    _, want_comps = _direct(opt, lam, a, table, epochs, e0)
    got = analysis.simulate(opt, lam, table, epochs, e0=e0)
    np.testing.assert_allclose(got, want_comps, rtol=1e-11, atol=1e-13)
    # R runs at once: each row is its own run
    two = np.stack([table, 0.5 * table])
    many = analysis.simulate(opt, lam, two, epochs, a=a)
    np.testing.assert_allclose(many[1], _direct(opt, lam, a, 0.5 * table, epochs, np.ones(6))[0],
                               rtol=1e-12)


@pytest.mark.parametrize("opt", LINEAR, ids=IDS)
def test_predicted_curves_are_the_closed_form_or_the_simulation(opt):
    X, y = gdcore.make_linear(seed=0)
    r = gdcore.fit(X, y, lr=0.5, optimizer=opt, epochs=40, dtype="float64")
    stab, a, e = r.stability, r._gap_weights, 40
    lrs = np.array([0.2, 0.5, 0.9, 1.2])
    curves = predicted_curves(stab, a, lrs, opt, e)
    assert curves.shape == (4, e + 1)
    np.testing.assert_allclose(r.optimum.loss + curves[1], r.predicted_losses(), rtol=1e-12)
    np.testing.assert_allclose(r.losses, r.optimum.loss + curves[1][: len(r.losses)], rtol=1e-9)
    sim = analysis.simulate(opt, stab.eigenvalues, np.repeat(lrs[:, None], e, axis=1), e, a=a)
    np.testing.assert_allclose(curves, sim, rtol=1e-9)
    if analysis.transition_order(opt) == 1:  # gd: the closed form itself
        for lr, c in zip(lrs, curves):
            np.testing.assert_array_equal(c, analysis.predicted_gaps(stab.eigenvalues, a, lr, e))
    mult = np.linspace(1.0, 0.3, e + 5)  # a schedule: lr of run j at epoch k is lrs[j] * mult[k]
    sched = predicted_curves(stab, a, lrs, opt, e, lr_mult=mult)
    np.testing.assert_allclose(sched, analysis.simulate(opt, stab.eigenvalues, lrs[:, None] * mult[:e],
                                                        e, a=a), rtol=1e-12)
    preds = predict_runs(stab, a, lrs, opt, 1e-3, e)
    for (epoch, _), c in zip(preds, curves):
        hit = np.nonzero(c <= 1e-3 * c[0])[0]
        assert epoch == (int(hit[0]) if hit.size else None)


def test_predicted_curves_take_one_hyperparameter_per_run():
    X, y = gdcore.make_linear(seed=0)
    stab = gdcore.stability(X)
    a = np.full(stab.eigenvalues.size, 0.5)
    lrs, betas = np.array([0.3, 0.6, 0.9]), np.array([0.0, 0.4, 0.8])
    both = predicted_curves(stab, a, lrs, optimizers.momentum(0.0)._replace(beta=betas), 30)
    for j in range(3):
        one = predicted_curves(stab, a, lrs[j : j + 1], optimizers.momentum(betas[j]), 30)
        np.testing.assert_allclose(both[j], one[0], rtol=1e-14)


def test_no_prediction_for_a_non_linear_optimizer():
    X, _ = gdcore.make_linear(seed=0)
    stab = gdcore.stability(X)
    a = np.ones(stab.eigenvalues.size)
    with pytest.raises(ValueError, match="adam has no predicted loss curves"):
        predicted_curves(stab, a, [0.1], optimizers.adam(), 5)
    with pytest.raises(ValueError, match="adam is not a linear recurrence"):
        analysis.spectral_radius(optimizers.adam(), stab.eigenvalues, 0.1)
    assert predict_runs(stab, a, [0.1, 0.2], optimizers.adam(), 1e-3, 5) == [(None, "adaptive")] * 2


class _LooksLikeGD(NamedTuple):
    """Every attribute name of an optimizer, but never declared one."""

    name = "impostor"
    may_rise = False
    linear = True
    lookahead = False
    init = optimizers.gd().init
    update = optimizers.gd().update
    transition = optimizers.gd().transition



def test_an_optimizer_is_declared_not_guessed():
    for opt in LINEAR + [optimizers.adam()]:
        assert isinstance(opt, core.Optimizer) and isinstance(opt, optimizers.Optimizer)
        assert opt.linear == hasattr(opt, "transition")
    impostor = _LooksLikeGD()
    assert not isinstance(impostor, core.Optimizer)
    with pytest.raises(TypeError, match="optimizer must be an optimizer value"):
        optimizers.resolve(impostor)
    X, y = gdcore.make_linear(seed=0)
    with pytest.raises(TypeError, match="optimizer must be an optimizer value"):
        gdcore.fit(X, y, lr=0.1, optimizer=impostor)

    class Declared(_LooksLikeGD):
        pass

    core.Optimizer.register(Declared)
    assert optimizers.resolve(Declared()) == Declared()
    r = gdcore.fit(X, y, lr=0.7, optimizer=Declared(), dtype="float64")
    assert r.converged_epoch == r.predicted_epoch == 5


def test_shorthands_name_only_what_momentum_returns():
    assert optimizers.shorthands(optimizers.momentum(0.3)) == (0.3, False)
    assert optimizers.shorthands(optimizers.momentum(0.0, nesterov=True)) == (0.0, True)
    assert optimizers.shorthands(optimizers.gd()) is None
    assert optimizers.shorthands(optimizers.adam()) is None
