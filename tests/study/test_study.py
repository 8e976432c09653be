"""sweep and lr_find: vectorised runs equal separate fits, theory equals measurement."""

import json
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import gdcore
from gdcore.testing import default_rtol, problems

from conftest import BACKENDS, assert_same_decisions, require, run_events

EXAMPLES = 15


def _rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ok = np.isfinite(b)
    assert np.array_equal(np.isfinite(a), ok), "finite in one, not in the other"
    scale = max(np.max(np.abs(b[ok])), 1e-300) if ok.any() else 1.0
    return np.max(np.abs(a[ok] - b[ok])) / scale if ok.any() else 0.0


@pytest.mark.parametrize("name", BACKENDS)
@settings(max_examples=EXAMPLES)
@given(p=problems(max_n=40, max_d=4), lo=st.floats(0.05, 0.9), hi=st.floats(1.0005, 1.5),
       k=st.integers(2, 7), epochs=st.integers(1, 60))
def test_sweep_equals_separate_fits_row_by_row(name, p, lo, hi, k, epochs):
    """The grid straddles lr_crit, so rows that diverge are part of the comparison."""
    require(name)
    X, y, dtype = p
    crit = gdcore.stability(X).lr_crit
    lrs = np.geomspace(lo * crit, hi * crit, k)
    s = gdcore.sweep(X, y, lrs, epochs=epochs, backend=name, dtype=dtype)
    rtol = default_rtol(dtype)
    for i, lr in enumerate(lrs):
        f = gdcore.fit(X, y, lr=lr, epochs=epochs, backend=name, dtype=dtype)
        n = len(f.losses)
        row = s.losses[i]
        assert s.regime[i] == f.regime
        assert np.all(np.isnan(row[n:])), "a stopped run's row must be nan afterwards"
        # same status at the same epoch, unless the deciding loss is within rounding of its threshold
        assert_same_decisions(run_events(s, i), run_events(f), loss_star=f.optimum.loss, rtol=f.rtol,
                              dtype=dtype, what=f"lr = {lr / crit:.6g} lr_crit:")
        if s.status[i] != f.status or s.converged_epoch[i] != f.converged_epoch:
            continue  # a rounding-level tie at a threshold: the runs stop at different epochs
        assert s.diverged_epoch[i] == f.diverged_epoch
        last = n - 1 if f.status == "diverged" else n  # the blow-up epoch itself may be inf
        assert _rel_err(row[:last], f.losses[:last]) <= rtol
        if f.status != "diverged":
            assert _rel_err(np.asarray(s.weights)[i], f.weights) <= rtol


@settings(max_examples=EXAMPLES)
@given(p=problems(dtypes=("float64",)))
def test_measured_epochs_match_predicted_over_an_lr_grid(backend, p):
    X, y, dtype = p
    stab = gdcore.stability(X)
    assume(stab.condition_number < 50)  # promised on well-conditioned problems
    lrs = stab.lr_crit * np.linspace(0.05, 0.98, 12)
    s = gdcore.sweep(X, y, lrs, epochs=3000, backend=backend, dtype=dtype)
    predicted = s.predicted_losses()
    for i in range(len(lrs)):
        assert s.status[i] == "converged"
        # the closed form is exact: the same epoch, unless the loss there is within rounding of the bound
        assert_same_decisions(run_events(s, i), (predicted[i], s.predicted_epochs[i], None),
                              loss_star=s.optimum.loss, rtol=s.rtol, dtype=dtype,
                              what=f"lr = {lrs[i]!r}, measured vs predicted:")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_status_flips_exactly_at_lr_crit(backend, seed):
    X, y = gdcore.make_linear(n=100, seed=seed)
    crit = gdcore.stability(X).lr_crit
    lrs = [crit * (1 - 1e-3), crit * (1 + 1e-3)]
    s = gdcore.sweep(X, y, lrs, epochs=5000, backend=backend, dtype="float64")
    assert s.regime == ("oscillating", "divergent")
    assert s.status == ("converged", "diverged")


def test_sweep_on_the_seed_data(backend):
    X, y = gdcore.make_linear(n=100, seed=0)
    lrs = np.linspace(0.05, 1.2, 24)
    s = gdcore.sweep(X, y, lrs, backend=backend)
    crit = s.stability.lr_crit
    assert all(st_ == "diverged" for lr, st_ in zip(lrs, s.status) if lr > crit)
    assert all(st_ == "converged" for lr, st_ in zip(lrs, s.status) if lr < crit)
    assert abs(s.best_lr - s.stability.lr_opt) < 0.2
    assert s.losses.shape == (24, 101)
    assert np.asarray(s.weights).shape == (24, 2)


def test_multi_output_sweep_and_early_stop(backend):
    X, Y = gdcore.make_linear(n=50, weights=[[3.0, -1.0, 0.0], [2.0, 0.5, 1.0]], seed=4)
    lrs = [0.1, 0.5, 0.9, 1.2]
    s = gdcore.sweep(X, Y, lrs, epochs=400, backend=backend, stop_on_convergence=True, dtype="float64")
    assert np.asarray(s.weights).shape == (4, 2, 3)
    for i, lr in enumerate(lrs):
        f = gdcore.fit(X, Y, lr=lr, epochs=400, stop_on_convergence=True, dtype="float64")
        assert s.status[i] == f.status
        n = len(f.losses)
        np.testing.assert_allclose(s.losses[i, :n], f.losses, rtol=1e-9)
        assert np.all(np.isnan(s.losses[i, n:]))


def test_direct_and_gram_sweeps_agree(backend):
    X, y = gdcore.make_linear(n=200, seed=9)
    lrs = np.geomspace(0.01, 1.5, 9)
    a = gdcore.sweep(X, y, lrs, backend=backend, method="direct", dtype="float64")
    b = gdcore.sweep(X, y, lrs, backend=backend, method="gram", dtype="float64")
    assert a.method == "direct" and b.method == "gram"
    assert a.status == b.status and a.converged_epoch == b.converged_epoch
    np.testing.assert_allclose(a.losses, b.losses, rtol=1e-9)


def test_sweep_results_export():
    pytest.importorskip("pandas")
    X, y = gdcore.make_linear(seed=0)
    s = gdcore.sweep(X, y, [0.1, 0.7, 1.01])
    d = json.loads(json.dumps(s.to_dict()))
    assert [r["status"] for r in d["runs"]] == ["converged", "converged", "diverged"]
    df = s.to_dataframe()
    assert list(df.lr) == [0.1, 0.7, 1.01] and df.converged_epoch.isna().tolist() == [False, False, True]


@pytest.mark.parametrize("lrs", [[], [0.1, -1.0], [0.1, float("nan")], [[0.1]], "fast"])
def test_bad_lr_grids_are_refused(lrs):
    X, y = gdcore.make_linear(seed=0)
    with pytest.raises((ValueError, TypeError), match="lr"):
        gdcore.sweep(X, y, lrs)


def test_sweep_never_loops_over_learning_rates_in_python(monkeypatch):
    """One value_and_grad call per epoch for all K runs, whatever K."""
    from gdcore.backends import _numpy

    calls = []
    orig = _numpy.NumpyBackend.value_and_grad

    def counting(self, p):
        f = orig(self, p)

        def wrapped(W):
            calls.append(W.shape)
            return f(W)

        return wrapped

    monkeypatch.setattr(_numpy.NumpyBackend, "value_and_grad", counting)
    X, y = gdcore.make_linear(seed=0)
    gdcore.sweep(X, y, np.linspace(0.01, 0.9, 500), epochs=20)
    assert len(calls) == 21 and calls[0] == (2, 500)


# -- lr_find ---------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_lr_find_suggestion_is_between_lr_opt_over_10_and_lr_crit(backend, seed):
    X, y = gdcore.make_linear(n=100, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gdcore.LRFinderWarning)
        r = gdcore.lr_find(X, y, backend=backend)
    assert r.lr_opt / 10 <= r.suggestion <= r.lr_crit
    assert r.suggest == "steep" and r.stopped_early
    assert r.distance["steep"] == pytest.approx(r.suggestion / r.lr_opt)


def test_lr_find_warns_when_suggestions_disagree_and_is_deterministic():
    X, y = gdcore.make_linear(n=100, seed=0)
    w0 = np.array([-1.0, 1.0])
    with pytest.warns(gdcore.LRFinderWarning, match="disagree by"):
        a = gdcore.lr_find(X, y, w0=w0)
    with pytest.warns(gdcore.LRFinderWarning):
        b = gdcore.lr_find(X, y, w0=w0)
    assert a.suggestions == b.suggestions
    np.testing.assert_array_equal(a.losses, b.losses)
    np.testing.assert_array_equal(w0, [-1.0, 1.0])
    assert a.disagreement > 10


def test_lr_find_survives_non_finite_losses():
    X, y = gdcore.make_linear(n=100, seed=0)
    # a huge diverge threshold: the loss overflows to inf before the stop rule fires
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gdcore.LRFinderWarning)
        r = gdcore.lr_find(X, y, lr_max=1e12, steps=200, stop_factor=1e300)
    assert r.stopped_early
    assert all(np.isfinite(v) for v in r.suggestions.values())
    assert np.all(np.isfinite(r.losses))


def test_lr_find_linear_mode_and_bad_arguments():
    X, y = gdcore.make_linear(n=100, seed=0)
    r = gdcore.lr_find(X, y, lr_min=0.01, lr_max=2.0, mode="linear", steps=50)
    assert np.allclose(np.diff(r.lrs), np.diff(r.lrs)[0])
    for kwargs in ({"mode": "log2"}, {"lr_max": 1e-7}, {"steps": 2}, {"suggest": "median"}):
        with pytest.raises(ValueError):
            gdcore.lr_find(X, y, **kwargs)


# -- badly conditioned real data ---------------------------------------------


def test_standardizing_fixes_the_conditioning_of_the_diabetes_data():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_diabetes(return_X_y=True, scaled=False)  # bundled, no download
    X = np.hstack([X, np.ones((len(X), 1))])
    raw = gdcore.stability(X)
    std = gdcore.stability(X, standardize=True)
    assert raw.condition_number > 1e6 and std.condition_number < 1e3
    assert std.eigenvalues.max() < raw.eigenvalues.max() / 1e3  # lr_crit moves from ~1e-5 to ~0.25
    assert raw.lr_crit < 1e-4 and 0.1 < std.lr_crit <= 1.0
    # the same budget of 2000 epochs at each problem's lr_opt: raw barely moves, standardized converges
    a = gdcore.fit(X, y, lr=raw.lr_opt, epochs=2000)
    b = gdcore.fit(X, y, lr=std.lr_opt, epochs=2000, standardize=True)
    assert a.status == "max_epochs" and b.status == "converged"
    assert b.optimum.loss == pytest.approx(a.optimum.loss, rel=1e-9)  # same model, reparametrised
    mean, scale = b.scaling
    assert scale[-1] == 1.0 and mean[-1] == 0.0  # the bias column is kept as it is


def _badly_scaled(seed=0):
    X, y = gdcore.make_linear(n=100, seed=seed)
    X = X.copy()
    X[:, 0] = 40.0 * X[:, 0] + 7.0  # lr_crit ~ 1e-3 raw, ~ 1 standardized
    return X, y


@pytest.mark.parametrize("standardize", [False, True])
def test_stability_predicts_with_its_own_analysis(standardize):
    """predicted_epochs(X=...) answers for the object's spectrum: standardized if it was built so."""
    X, y = _badly_scaled()
    s = gdcore.stability(X, standardize=standardize)
    w0 = np.array([0.5, -2.0])
    for frac in (0.1, 0.5, 0.9):
        lr = frac * s.lr_crit
        r = gdcore.fit(X, y, lr=lr, w0=w0, epochs=20000, standardize=standardize, dtype="float64")
        assert r.status == "converged"
        assert s.predicted_epochs(lr, X=X, y=y, w0=w0) == r.predicted_epoch == r.converged_epoch
        # the data-free bound is a bound for the same spectrum
        assert s.predicted_epochs(lr, X=X, y=y, w0=w0) <= s.predicted_epochs(lr)


def test_stability_refuses_data_it_did_not_analyse():
    """An X whose Gram matrix (raw or standardized) is not the one analysed is refused."""
    X, y = _badly_scaled()
    rng = np.random.default_rng(1)
    X3 = np.hstack([rng.normal(size=(100, 1)) * 5.0, X])  # two features: a real correlation matrix
    for data, std in ((X, False), (X3, False), (X3, True)):
        s = gdcore.stability(data, standardize=std)
        assert s.predicted_epochs(0.5 * s.lr_crit, X=data, y=y) is not None
        # standardized, 2 * data is the same problem (the bias column of 2s becomes ones again)
        for other in (data[:, ::-1], data[:50]) + (() if std else (2.0 * data,)):
            with pytest.raises(ValueError, match="not the matrix this Stability"):
                s.predicted_epochs(0.5 * s.lr_crit, X=other, y=y[: len(other)])
        with pytest.raises(ValueError, match="y"):
            s.predicted_epochs(0.5 * s.lr_crit, X=data)


@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -float("inf"), 0.0, -0.1])
def test_stability_refuses_lrs_without_a_regime(lr):
    X, y = gdcore.make_linear(n=50, seed=0)
    s = gdcore.stability(X)
    calls = [lambda: s.regime(lr), lambda: s.rho(lr), lambda: s.rho([0.1, lr]),
             lambda: s.predicted_epochs(lr), lambda: s.predicted_epochs(lr, X=X, y=y)]
    for call in calls:
        with pytest.raises(ValueError, match="lr must be a finite number > 0"):
            call()


@pytest.mark.parametrize("rtol", [0.0, 1.0, -1e-3, 2.0, float("nan")])
def test_stability_refuses_rtol_outside_0_1(rtol):
    X, y = gdcore.make_linear(n=50, seed=0)
    s = gdcore.stability(X)
    for kw in ({}, {"X": X, "y": y}):
        with pytest.raises(ValueError, match=r"rtol must be a finite number in \(0, 1"):
            s.predicted_epochs(0.5, rtol=rtol, **kw)


def test_diabetes_example_runs(capsys):
    pytest.importorskip("sklearn")
    import pathlib
    import runpy

    path = pathlib.Path(__file__).parents[2] / "examples" / "diabetes.py"
    runpy.run_path(str(path), run_name="example")["main"](epochs=1500)
    out = capsys.readouterr().out
    assert "standardized" in out and "max_epochs" in out and "converged" in out


@pytest.mark.filterwarnings("ignore::gdcore.LRFinderWarning")
def test_lr_find_options_reach_the_test_and_the_old_aliases_are_gone():
    X, y = gdcore.make_linear(n=100, seed=0)
    new = gdcore.lr_find(X, y, smoothing=0.9, stop_factor=3.0, suggest="valley", steps=60)
    assert new.suggest == "valley" and new.suggestion == new.suggestions["valley"]
    assert new.to_dict()["suggest"] == "valley"
    default = gdcore.lr_find(X, y, steps=60)
    assert not np.array_equal(default.smoothed, new.smoothed)  # the names do reach the test
    for old in ({"beta": 0.9}, {"diverge_th": 3.0}, {"method": "valley"}):
        with pytest.raises(TypeError, match="unexpected keyword"):
            gdcore.lr_find(X, y, steps=60, **old)
    sw = gdcore.sweep(X, y, [0.1, 0.7])
    assert not hasattr(sw, "analysis") and not hasattr(new, "method")
    assert sw.stability.lr_opt == pytest.approx(0.7263, abs=1e-4)
    with pytest.raises(ValueError, match="suggest must be"):
        gdcore.lr_find(X, y, suggest="fast")


def test_jax_sweep_of_a_new_shape_compiles_two_programs():
    """The analysis pass and the epoch loop: glue ops (checks, reshapes, tiling w0) stay in numpy.

    Counted with ``jax.monitoring`` (a number of compiles, not a time).
    """
    require("jax")
    import jax

    X, y = gdcore.make_linear(n=43, weights=(1.0, -2.0, 0.5), seed=7, backend="jax",
                              dtype="float32")  # a shape no other test uses
    lrs = np.geomspace(1e-3, 0.5, 17)
    compiles, counting = [], [False]

    def listener(event, duration, **_kw):
        if counting[0] and event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        counting[0] = True
        first = gdcore.sweep(X, y, lrs, epochs=11, backend="jax")
        assert len(compiles) <= 2, len(compiles)
        compiles.clear()
        again = gdcore.sweep(X, y, lrs * 1.5, epochs=11, backend="jax")
        assert compiles == []  # new lrs, same shapes: nothing compiles
    finally:
        counting[0] = False
    assert type(first.weights) is type(X) and first.weights.shape == (17, 3)
    assert again.weights.shape == (17, 3)


@pytest.mark.parametrize("name", BACKENDS)
def test_sweep_callback_reports_epochs_and_changes_nothing(name):
    require(name)
    X, y = gdcore.make_linear(n=40, seed=2)
    lrs = [0.1, 0.7, 1.01]
    seen = []
    with_cb = gdcore.sweep(X, y, lrs, epochs=25, backend=name, callback=seen.append)
    plain = gdcore.sweep(X, y, lrs, epochs=25, backend=name)
    # eager loops: every epoch in order; jax's compiled loop: once, at its last epoch
    assert seen == ([25] if name == "jax" else list(range(1, 26)))
    assert with_cb.status == plain.status and with_cb.converged_epoch == plain.converged_epoch
    np.testing.assert_array_equal(with_cb.losses, plain.losses)
    with pytest.raises(TypeError, match="callback must be a function"):
        gdcore.sweep(X, y, lrs, backend=name, callback=3)
