"""Issue 20, section 4: no wrong number without a word.

Every test here failed on the code before its fix (a number that was wrong,
a warning that leaked, data misread with nothing said about it), except the
three marked "guard", which check that a fix leaves valid input alone, and
momentum and Nesterov at lr=1e300, which were already quiet (1e308 was not).
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


# ---------------------------------------------------------------------------
# every to_dict is strict JSON: a non-finite number becomes None


def _strict(d):
    return json.loads(json.dumps(d, allow_nan=False))  # raises on NaN and Infinity


def _rank_deficient():
    return np.hstack([X, X[:, :1]])  # a repeated column: lambda_min = 0, condition_number inf


def test_stability_to_dict_of_rank_deficient_x_is_strict_json():
    with pytest.warns(gdcore.IllConditionedWarning):
        s = gdcore.stability(_rank_deficient())
    assert s.condition_number == np.inf
    d = _strict(s.to_dict())
    assert d["condition_number"] is None and d["lr_crit"] == s.lr_crit and d["rank"] == 2


def test_curvature_to_dict_with_no_positive_sharpness_is_strict_json():
    c = gdcore.Curvature(0.0, "mlp(2)", "numpy", "float64", 30)  # lr_crit = inf
    d = _strict(c.to_dict())
    assert d["lr_crit"] is None and d["bracket"] == [None, None] and d["lambda_max"] == 0.0


def test_fit_and_sweep_to_dict_are_strict_json_for_rank_deficient_x_and_inf_weights():
    with pytest.warns(gdcore.IllConditionedWarning):
        r = gdcore.fit(_rank_deficient(), Y, lr=0.1)
    assert _strict(r.to_dict())["stability"]["condition_number"] is None
    huge = gdcore.fit(X, Y, lr=1e308)  # the weights of the diverged run overflow to inf
    assert huge.status == "diverged" and np.isinf(huge.weights).all()
    assert _strict(huge.to_dict())["weights"] == [None, None]
    with pytest.warns(gdcore.IllConditionedWarning):
        s = gdcore.sweep(_rank_deficient(), Y, [0.1, 1e308])
    d = _strict(s.to_dict())
    assert d["stability"]["condition_number"] is None
    assert [run["status"] for run in d["runs"]] == ["converged", "diverged"]


def test_lr_find_to_dict_with_nothing_to_learn_is_strict_json():
    with pytest.warns(gdcore.LRFinderWarning, match="nothing to learn"):
        r = gdcore.lr_find(X, np.zeros(len(Y)))
    assert np.isnan(r.disagreement)
    d = _strict(r.to_dict())
    assert d["disagreement"] is None and d["suggestion"] is None


# ---------------------------------------------------------------------------
# values gdcore would misread: complex w0, numpy masked arrays


def test_a_complex_w0_is_refused_not_cast_to_its_real_part():
    w0 = np.array([1.0 + 2.0j, 0.5 - 1.0j])
    with pytest.raises(TypeError, match=r"w0 must hold real numbers, got dtype complex128"):
        gdcore.fit(X, Y, lr=0.1, w0=w0)
    with pytest.raises(TypeError, match=r"w0 must hold real numbers"):
        gdcore.sweep(X, Y, [0.1], w0=w0)


@pytest.mark.parametrize("name", ["torch", "jax"])
def test_a_complex_w0_of_torch_or_jax_is_refused(name):
    require(name)
    if name == "torch":
        import torch

        Xb, Yb = torch.tensor(X), torch.tensor(Y)
        w0 = torch.tensor([1.0 + 2.0j, 0.5 - 1.0j])
    else:
        import jax.numpy as jnp

        Xb, Yb = jnp.asarray(X), jnp.asarray(Y)
        w0 = jnp.asarray([1.0 + 2.0j, 0.5 - 1.0j])
    with pytest.raises(TypeError, match=r"w0 must hold real numbers"):
        gdcore.fit(Xb, Yb, lr=0.1, w0=w0)


def _masked_outlier():
    Xm = np.ma.masked_array(X.copy(), mask=np.zeros(X.shape, bool))
    Xm[3, 1] = 1e4  # an outlier the user masked out
    Xm[3, 1] = np.ma.masked
    return Xm


def test_a_masked_x_is_refused_not_read_under_its_mask():
    Xm = _masked_outlier()
    assert Xm.data[3, 1] == 1e4  # what np.asarray would read: lr_crit 1e-6 instead of ~1
    for call in (lambda: gdcore.stability(Xm), lambda: gdcore.fit(Xm, Y, lr=0.1),
                 lambda: gdcore.sweep(Xm, Y, [0.1]), lambda: gdcore.lr_find(Xm, Y)):
        with pytest.raises(ValueError, match=r"X is a numpy masked array with 1 masked entry.*"
                                             r"compressed|filled"):
            call()


def test_a_masked_y_or_w0_is_refused():
    ym = np.ma.masked_array(Y, mask=np.arange(len(Y)) < 2)
    with pytest.raises(ValueError, match=r"y is a numpy masked array with 2 masked entries"):
        gdcore.fit(X, ym, lr=0.1)
    w0 = np.ma.masked_array([1.0, 2.0], mask=[False, True])
    with pytest.raises(ValueError, match=r"w0 is a numpy masked array with 1 masked entry"):
        gdcore.fit(X, Y, lr=0.1, w0=w0)


def test_a_masked_array_with_nothing_masked_is_read_as_its_values():  # guard
    Xm = np.ma.masked_array(X)  # no entry masked: the values are the data
    assert gdcore.stability(Xm).lr_crit == gdcore.stability(X).lr_crit
    np.testing.assert_array_equal(gdcore.fit(Xm, Y, lr=0.7).weights, gdcore.fit(X, Y, lr=0.7).weights)


# ---------------------------------------------------------------------------
# momentum's numbers only for a valid (lr, beta); optimizers checked when a run starts


def _factory_message(call):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize("lr", [float("nan"), -1.0, 0.0, float("inf")])
def test_momentum_rho_and_stable_refuse_an_lr_that_is_not_a_positive_number(lr):
    s = gdcore.stability(X)
    for method in (s.momentum_rho, s.momentum_stable, s.momentum_regime):
        with pytest.raises(ValueError, match=r"lr must be a finite number > 0"):
            method(lr, 0.5)
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0"):
        s.momentum_regimes([0.1, lr], [0.5, 0.5])


@pytest.mark.parametrize("beta", [1.5, 1.0, -0.1, float("nan")])
def test_momentum_rho_and_stable_refuse_the_betas_the_factory_refuses(beta):
    s = gdcore.stability(X)
    expected = _factory_message(lambda: gdcore.optimizers.momentum(beta))
    for method in (s.momentum_rho, s.momentum_stable, s.momentum_regime):
        assert _factory_message(lambda m=method: m(0.5, beta)) == expected
    assert _factory_message(lambda: s.momentum_regimes([0.5, 0.5], [0.5, beta])) == expected


def test_momentum_rho_still_answers_valid_pairs():  # guard
    s = gdcore.stability([[1.0, 0.0], [0.0, 1.0]])  # lambda = 1, 1
    assert s.momentum_rho(1.0, 0.25) == pytest.approx(0.5)
    assert s.momentum_stable(3.0, 0.6) and not s.momentum_stable(3.0, 0.4)


@pytest.mark.parametrize("make, field, value, factory", [
    (lambda: gdcore.optimizers.momentum(0.5), "beta", 1.5, lambda v: gdcore.optimizers.momentum(v)),
    (lambda: gdcore.optimizers.momentum(0.5, nesterov=True), "beta", -0.5,
     lambda v: gdcore.optimizers.momentum(v, nesterov=True)),
    (lambda: gdcore.optimizers.adam(), "b1", 1.0, lambda v: gdcore.optimizers.adam(b1=v)),
    (lambda: gdcore.optimizers.adam(), "b2", 1.5, lambda v: gdcore.optimizers.adam(b2=v)),
    (lambda: gdcore.optimizers.adam(), "eps", 0.0, lambda v: gdcore.optimizers.adam(eps=v)),
    (lambda: gdcore.optimizers.adam(), "b2", float("nan"), lambda v: gdcore.optimizers.adam(b2=v)),
])
def test_an_optimizer_changed_by_replace_is_checked_when_a_run_starts(make, field, value, factory):
    bad = make()._replace(**{field: value})
    expected = _factory_message(lambda: factory(value))
    for call in (lambda: gdcore.fit(X, Y, lr=0.1, optimizer=bad),
                 lambda: gdcore.sweep(X, Y, [0.1, 0.2], optimizer=bad),
                 lambda: gdcore.lr_find(X, Y, optimizer=bad),
                 lambda: gdcore.optimizers.resolve(bad)):
        assert _factory_message(call) == expected


def test_one_bad_value_per_run_is_caught_where_every_run_starts():
    from gdcore.study._engine import execute
    from gdcore.study._pipeline import begin
    from gdcore.study._spec import run_spec

    study = begin(X, Y)
    bad = gdcore.optimizers.momentum(0.5)._replace(beta=np.array([0.5, 1.5]))
    expected = _factory_message(lambda: gdcore.optimizers.momentum(1.5))
    assert _factory_message(lambda: execute(study, [0.1, 0.2], bad, run_spec(epochs=5))) == expected
    ok = gdcore.optimizers.momentum(0.5)._replace(beta=np.array([0.0, 0.5]))
    assert execute(study, [0.1, 0.2], ok, run_spec(epochs=5)).losses.shape == (2, 6)


# ---------------------------------------------------------------------------
# a run of a momentum grid is its single run: beta = 0 is plain gradient descent


GRID_BACKENDS = ["numpy", "torch", "jax", "array-api-strict"]


def _events(r):
    return r.status, r.converged_epoch, r.diverged_epoch


@pytest.mark.parametrize("name", GRID_BACKENDS)
def test_the_beta_0_run_of_a_grid_diverges_when_its_single_run_does(name):
    require(name)
    s = gdcore.sweep(X, Y, [1.4], momentums=[0.0, 0.5], backend=name, dtype="float64")
    single = gdcore.fit(X, Y, lr=1.4, momentum=0.0, backend=name, dtype="float64")
    assert _events(single) == ("diverged", None, 1)  # a rise above L0 proves it at epoch 1
    assert (s.status[0], s.converged_epoch[0], s.diverged_epoch[0]) == _events(single)


@pytest.mark.parametrize("name", GRID_BACKENDS)
@pytest.mark.parametrize("nesterov", [False, True])
def test_every_run_of_a_momentum_grid_equals_its_single_run(name, nesterov):
    require(name)
    lrs = [0.3, 0.9, 1.0, 1.2, 1.9, 2.5, 4.0]  # lr_crit = 0.986: both sides of every edge
    betas = [0.0, 0.5, 0.9]
    kw = dict(epochs=300, backend=name, dtype="float64")
    s = gdcore.sweep(X, Y, lrs, momentums=betas, nesterov=nesterov, **kw)
    for i, (lr, beta) in enumerate(zip(s.lrs, s.momentums)):
        single = gdcore.fit(X, Y, lr=float(lr), momentum=float(beta),
                            nesterov=bool(nesterov and beta > 0), **kw)
        assert (s.status[i], s.converged_epoch[i], s.diverged_epoch[i]) == _events(single), (lr, beta)
        n = len(single.losses)
        np.testing.assert_allclose(s.losses[i, :n], single.losses, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", GRID_BACKENDS)
def test_momentum_or_nesterov_at_beta_0_is_plain_gd_in_a_single_run_too(name):
    require(name)
    gd = gdcore.fit(X, Y, lr=1.4, backend=name, dtype="float64")
    for opt in (gdcore.optimizers.momentum(0.0), gdcore.optimizers.momentum(0.0, nesterov=True)):
        assert _events(gdcore.fit(X, Y, lr=1.4, optimizer=opt, backend=name,
                                  dtype="float64")) == _events(gd)


@pytest.mark.parametrize("name", ["numpy", "torch", "array-api-strict"])
def test_the_per_run_rise_rule_is_the_same_in_blocks_and_epoch_by_epoch(name):
    require(name)
    from gdcore import backends, core

    class PerEpoch(core.ReportingLoop):
        block = 0

    class Blocks(core.ReportingLoop):
        block = 5

    be = backends.get(name)
    k = 4
    betas = be.asarray(np.array([0.0, 0.5, 0.0, 0.9]), "float64", None)
    lrs = be.asarray(np.array([1.4, 1.4, 0.5, 2.5]), "float64", None)
    p = core.DataProblem(be.asarray(X, "float64", None), be.asarray(Y.reshape(-1, 1), "float64", None))
    out = []
    for loop in (PerEpoch(lambda e: None), Blocks(lambda e: None)):
        W0 = be.asarray(np.zeros((2, k)), "float64", None)
        with be.context("float64"):
            state, rows, _, last = core.drive(
                be.value_and_grad(p), be.loss_fn(p), core.Momentum(beta=betas), W0, lrs, epochs=40,
                loss_star=0.0, rtol=1e-3, divergence_factor=1e6, stop_on_convergence=False,
                record_weights=False, xp=be.xp, loop=loop)
        out.append((be.to_numpy(rows), be.to_numpy(state.diverged_epoch),
                    be.to_numpy(state.converged_epoch), be.to_numpy(state.W), int(last)))
    (r0, d0, c0, w0, l0), (r1, d1, c1, w1, l1) = out
    np.testing.assert_array_equal(r0, r1)
    np.testing.assert_array_equal(w0, w1)
    assert d0.tolist() == d1.tolist() and c0.tolist() == c1.tolist() and l0 == l1
    assert d0[0] == 1  # beta = 0 above lr_crit: plain gd, its rise proves divergence at once


# ---------------------------------------------------------------------------
# lr_find never hands back, without a word, an lr its own analysis says diverges


def test_lr_find_does_not_suggest_an_lr_above_the_lr_crit_it_reports():
    with pytest.warns(gdcore.LRFinderWarning) as caught:
        r = gdcore.lr_find(X, Y, lr_min=1e-8, lr_max=1e300)
    above = [str(w.message) for w in caught if "above lr_crit" in str(w.message)]
    assert len(above) == 1, [str(w.message) for w in caught]
    # names both numbers: the suggestions dropped (steep 21.5, minimum/10 2.15) and lr_crit 0.986
    assert "steep=21.5" in above[0] and "lr_crit=0.986" in above[0] and "lr_opt=0.726" in above[0]
    assert r.suggestion is None and r.suggestions["steep"] is None
    assert r.suggestions["minimum/10"] is None
    for v in r.suggestions.values():  # what is left is an lr at which gd converges
        assert v is None or gdcore.fit(X, Y, lr=v).status != "diverged"


def test_lr_find_judges_a_momentum_suggestion_by_the_momentum_edge():
    # heavy ball at beta = 0.9 is stable up to 2 (1 + beta) / lambda_max = 1.9 lr_crit
    opt = gdcore.optimizers.momentum(0.9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = gdcore.lr_find(X, Y, lr_min=1e-8, lr_max=1e300, optimizer=opt)
    s = r.stability
    for v in r.suggestions.values():
        assert v is None or s.momentum_stable(v, 0.9)
    assert any("above" in str(w.message) and "momentum" in str(w.message) for w in caught)


def test_lr_find_keeps_a_suggestion_below_lr_crit():  # guard
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = gdcore.lr_find(X, Y)  # the default range: steep lands near lr_opt / 4
    assert r.suggestion is not None and r.suggestion < r.lr_crit
    assert not any("above lr_crit" in str(w.message) for w in caught)


# ---------------------------------------------------------------------------
# the command line: distinct column names, one analysis, progress, readable weights


def _csv(tmp_path, n=60, d=1, name="data.csv", seed=0):
    rng = np.random.default_rng(seed)
    Xc = rng.uniform(-1, 1, (n, d))
    yc = Xc @ np.arange(1.0, d + 1) + 1 + rng.uniform(0, 0.1, n)
    cols = [f"x{j}" for j in range(d)]
    lines = [",".join(cols + ["target"])]
    lines += [",".join(f"{v:.6f}" for v in row) + f",{t:.6f}" for row, t in zip(Xc, yc)]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path, cols


def test_cli_fit_losses_csv_tells_lrs_that_print_alike_apart(tmp_path):
    from gdcore.cli import main

    path, _ = _csv(tmp_path)
    out = tmp_path / "out"
    assert main(["fit", str(path), "--target", "target", "--lr", "0.1,0.10000001,0.7,0.1",
                 "--epochs", "20", "--out", str(out), "--no-plots"]) == 0
    header = (out / "losses.csv").read_text().splitlines()[0].split(",")
    assert header == ["epoch", "loss_lr=0.1", "loss_lr=0.10000001", "loss_lr=0.7", "loss_lr=0.1#2"]
    assert len(set(header)) == len(header)


def _count_begins(monkeypatch):
    from gdcore.study import _pipeline

    calls = []
    real = _pipeline.begin

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_pipeline, "begin", counting)
    return calls


@pytest.mark.parametrize("command", ["fit", "sweep"])
def test_the_cli_prepares_and_analyses_x_once(command, tmp_path, monkeypatch, capsys):
    from gdcore.cli import main

    path, _ = _csv(tmp_path, d=2)
    calls = _count_begins(monkeypatch)
    flag = "--lr" if command == "fit" else "--lrs"
    assert main([command, str(path), "--target", "target", flag, "0.1,0.5,0.7",
                 "--epochs", "30"]) == 0
    assert len(calls) == 1  # was 1 + one per lr for fit (stability, then every fit), 2 for sweep
    text = capsys.readouterr().out
    # the runs are the library's, on the same data
    data = np.genfromtxt(path, delimiter=",", names=True)
    Xd = np.column_stack([data["x0"], data["x1"], np.ones(len(data))])
    r = gdcore.fit(Xd, data["target"], lr=0.7, epochs=30, stop_on_convergence=True)
    assert f"{r.converged_epoch}" in text and r.status in text


def test_the_cli_fit_of_a_network_measures_its_curvature_once(tmp_path, monkeypatch, capsys):
    from gdcore.cli import main

    path, _ = _csv(tmp_path, n=30, d=1)
    calls = _count_begins(monkeypatch)
    assert main(["fit", str(path), "--target", "target", "--model", "mlp:4", "--lr", "0.05,0.1",
                 "--epochs", "10"]) == 0
    assert len(calls) == 1


def test_the_cli_prints_at_most_ten_weights_and_says_where_all_of_them_are(tmp_path, capsys):
    from gdcore.cli import main

    path, cols = _csv(tmp_path, n=80, d=30)
    out = tmp_path / "out"
    assert main(["fit", str(path), "--target", "target", "--lr", "0.01", "--epochs", "5",
                 "--out", str(out), "--no-plots"]) == 0
    text = capsys.readouterr().out
    lines = [ln for ln in text.splitlines() if ln.startswith(("weights (", "least-squares"))]
    assert len(lines) == 2
    for ln in lines:
        assert ln.count("=") <= 12 and "..." in ln and "31 weights" in ln and "fit.json" in ln
        assert len(ln) < 400
    assert "x0=" in lines[0] and "bias=" in lines[0] and "x15=" not in lines[0]
    data_line = next(ln for ln in text.splitlines() if ln.startswith("data:"))
    assert len(data_line) < 300 and "(30 columns)" in data_line
    runs = json.loads((out / "fit.json").read_text())["runs"]
    assert list(runs[0]["weights_by_name"]) == cols + ["bias"]  # the full vector is written
    assert main(["fit", str(path), "--target", "target", "--lr", "0.01", "--epochs", "5"]) == 0
    assert "pass --out DIR to write all of them" in capsys.readouterr().out


def test_the_cli_says_before_a_long_analysis_and_counts_the_epochs_of_a_long_run(
        tmp_path, monkeypatch, capsys):
    from gdcore.cli import _common, _fit, main

    class Bar:
        def __init__(self):
            self.n, self.closed = 0, False

        def update(self, k):
            self.n += k

        def close(self):
            self.closed = True

    bars = []

    def epoch_bar(*, enabled, total, desc):
        if not enabled:
            return None
        bars.append(Bar())
        return bars[-1]

    path, _ = _csv(tmp_path, d=2)
    monkeypatch.setattr(_common, "LONG_ANALYSIS_FLOPS", 0)
    monkeypatch.setattr(_fit, "LONG_RUN_WORK", 0)
    monkeypatch.setattr(_fit, "_epoch_bar", epoch_bar)
    assert main(["fit", str(path), "--target", "target", "--lr", "0.1", "--epochs", "40",
                 "--no-stop"]) == 0
    err = capsys.readouterr().err
    assert "gdcore: analysing X (60 rows x 3 columns) once" in err
    assert len(bars) == 1 and bars[0].n == 40 and bars[0].closed
    assert main(["fit", str(path), "--target", "target", "--lr", "0.1", "--epochs", "40",
                 "--no-progress"]) == 0
    assert "analysing" not in capsys.readouterr().err and len(bars) == 1
