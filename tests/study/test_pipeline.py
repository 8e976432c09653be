"""One pipeline for every model: one family of results, run options as one value, one factor per call."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gdcore
from gdcore.analysis import CurvatureResult

X, Y = gdcore.make_linear(n=100, seed=0)
XS = np.linspace(-1, 1, 30)[:, None]
YS = np.sin(3 * XS[:, 0])
MLP = gdcore.models.mlp((8,), seed=0)


def test_every_model_returns_the_same_result_types():
    lin, net = gdcore.fit(X, Y, lr=0.7), gdcore.fit(XS, YS, lr=0.1, epochs=20, model=MLP)
    assert type(lin) is type(net) is gdcore.FitResult
    assert lin.optimum is not None and lin.predicted_epoch == 5 and lin.sharpness is None
    assert net.optimum is None and net.predicted_epoch is None and net.model == "mlp[8] tanh"
    s_lin = gdcore.sweep(X, Y, [0.1, 0.7])
    s_net = gdcore.sweep(XS, YS, [0.1, 0.2], epochs=20, model=MLP, sharpness_every=10)
    assert type(s_lin) is type(s_net) is gdcore.SweepResult
    assert s_net.predicted_epochs == (None, None) and s_net.optimum is None
    assert s_net.sharpness[1].shape == (2, 3) and s_lin.sharpness is None
    with pytest.raises(ValueError, match="no predicted loss curve"):
        net.predicted_losses()


def test_stability_and_curvature_answer_one_protocol():
    stab = gdcore.stability(X)
    curv = gdcore.stability(XS, YS, model=MLP)
    for c in (stab, curv):
        assert isinstance(c, CurvatureResult)
        assert c.lr_crit == pytest.approx(2 / c.lambda_max)
        assert c.regimes([0.5 * c.lr_crit]) == [c.regime(0.5 * c.lr_crit)]
        assert set(c.to_dict()) >= {"lambda_max", "lr_crit"}
    assert not isinstance(object(), CurvatureResult)


@pytest.mark.filterwarnings("ignore::gdcore.LRFinderWarning")
def test_every_result_type_is_exported_under_the_name_its_repr_shows():
    results = [gdcore.fit(X, Y, lr=0.7, epochs=3), gdcore.sweep(X, Y, [0.7], epochs=3),
               gdcore.lr_find(X, Y, steps=10), gdcore.stability(X),
               gdcore.stability(XS, YS, model=MLP), gdcore.fit(X, Y, lr=0.7, epochs=3).optimum]
    for r in results:
        name = repr(r).split("(", 1)[0]
        assert getattr(gdcore, name) is type(r), name
        assert name in gdcore.__all__


def test_run_spec_splits_into_the_loop_shape_and_its_traced_numbers():
    spec = gdcore.RunSpec(epochs=50, rtol=1e-4, record_weights=True, lr_mult=np.ones(50))
    assert spec.static() == (50, False, True, None, 0)
    rtol, factor, mult = spec.traced()
    assert rtol == 1e-4 and factor == 1e6 and mult.shape == (50,)
    # method picks the problem (the engine's business); every other field reaches the loop
    assert len(spec.static()) + len(spec.traced()) == len(gdcore.RunSpec._fields) - 1


def test_a_new_rtol_or_schedule_does_not_recompile_on_jax():
    pytest.importorskip("jax")
    from gdcore.backends._jax import trace_count

    step = gdcore.schedules.step
    gdcore.fit(X, Y, lr=0.7, epochs=40, backend="jax", rtol=1e-3)
    gdcore.fit(X, Y, lr=step(0.7, step_size=10, gamma=0.5), epochs=40, backend="jax")
    before = trace_count()  # one program without a schedule, one with
    gdcore.fit(X, Y, lr=0.5, epochs=40, backend="jax", rtol=1e-5, divergence_factor=1e3)
    gdcore.fit(X, Y, lr=step(0.3, step_size=5, gamma=0.1), epochs=40, backend="jax", rtol=1e-4)
    assert trace_count() == before  # the traced part of RunSpec is an argument, not the program
    gdcore.fit(X, Y, lr=0.5, epochs=41, backend="jax")
    assert trace_count() == before + 1  # its static part (here epochs) shapes the program


def test_a_sweeps_recorded_weights_are_each_runs_own_path():
    lrs = [0.1, 0.7, 1.01]
    sw = gdcore.sweep(X, Y, lrs, epochs=30, record_weights=True)
    assert sw.history.shape == (31, 3, 2)
    for i, lr in enumerate(lrs):
        fit = gdcore.fit(X, Y, lr=lr, epochs=30, record_weights=True)
        ran = fit.history.shape[0]
        np.testing.assert_allclose(sw.history[:ran, i], fit.history, rtol=1e-12, atol=1e-12)
        assert np.all(np.isnan(sw.history[ran:, i]))  # nothing after a run stopped


def _count_factors(monkeypatch):
    from gdcore import backends

    be = type(backends.get("numpy"))
    calls = []
    orig = be.factor

    def factor(self, *a, **k):
        calls.append(1)
        return orig(self, *a, **k)

    monkeypatch.setattr(be, "factor", factor)
    return calls


def test_explore_factors_x_once_and_reuses_its_sweeps(monkeypatch):
    pytest.importorskip("bokeh")
    calls = _count_factors(monkeypatch)
    ex = gdcore.explore(X, Y, epochs=20, betas=[0, 0.5])
    assert len(calls) == 1
    assert ex.sweep.history is not None and ex.momentum.history.shape == (21, 41, 2)
    np.testing.assert_array_equal(ex.sweep.losses, gdcore.sweep(X, Y, ex.lrs, epochs=20).losses)


def test_fit_and_sweep_factor_x_once(monkeypatch):
    calls = _count_factors(monkeypatch)
    gdcore.fit(X, Y, lr=0.7)
    gdcore.sweep(X, Y, [0.1, 0.7])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gdcore.LRFinderWarning)
        gdcore.lr_find(X, Y, steps=10)
    assert len(calls) == 3
