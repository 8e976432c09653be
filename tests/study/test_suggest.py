"""suggest_lr: the closed form's choice for the linear model, the sweep's for a network."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import gdcore
from gdcore import analysis, optimizers
from gdcore.study import _pipeline


def _strict(obj):
    def bad(name):
        raise AssertionError(f"not strict JSON: {name}")
    return json.loads(json.dumps(obj, allow_nan=False), parse_constant=bad)


def _linear_data(n=200, seed=3):
    rng = np.random.default_rng(seed)
    X = np.c_[rng.normal(size=(n, 3)) * [1.0, 3.0, 0.3], np.ones(n)]
    y = X @ [1.0, -2.0, 0.5, 1.0] + 0.1 * rng.normal(size=n)
    return X, y


@pytest.mark.parametrize("opt", [None, optimizers.momentum(0.5)], ids=["gd", "momentum"])
def test_linear_suggestion_is_best_at_budget_and_converges_where_predicted(opt):
    X, y = _linear_data()
    epochs = 300
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gdcore.IllConditionedWarning)
        s = gdcore.suggest_lr(X, y, epochs=epochs, optimizer=opt)
        study = _pipeline.begin(X, y)
    quad = study.quad
    lam = np.where(quad.positive, quad.eigenvalues, 0.0)
    want = analysis.best_at_budget(lam, _pipeline.gap_weights(study), epochs, rtol=1e-3,
                                   optimizer=optimizers.resolve(opt), tune_momentum=opt is not None)
    assert s.method == "closed form" and s.cost == 0
    assert s.lr == want.lr
    assert s.momentum == (None if opt is None else float(want.beta))
    assert s.optimizer == want.optimizer
    assert [c["lr"] for c in s.candidates] == sorted(c["lr"] for c in s.candidates)
    assert sum(c["chosen"] for c in s.candidates) == 1
    assert want.converged_epoch is not None and want.converged_epoch <= epochs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gdcore.IllConditionedWarning)
        fit = gdcore.fit(X, y, lr=s.lr, epochs=epochs, optimizer=s.optimizer)
    assert fit.status == "converged"
    assert abs(fit.converged_epoch - want.converged_epoch) <= 2
    assert str(want.converged_epoch) in s.reason.replace(",", "")


def _tanh_net():
    x = np.linspace(-1, 1, 50)[:, None]
    return x, np.sin(3 * x[:, 0]), gdcore.models.mlp((20,), "tanh")


def test_tanh_net_suggestion_is_near_the_grid_best_and_never_diverged():
    X, y, model = _tanh_net()
    epochs = 200
    s = gdcore.suggest_lr(X, y, epochs=epochs, model=model)
    assert s.method == "sweep" and s.cost == len(s.candidates) >= 16
    grid = gdcore.sweep(X, y, np.geomspace(1e-3, 10, 20) * s.lr_crit, epochs=epochs, model=model)
    ok = np.array([st != "diverged" for st in grid.status]) & np.isfinite(grid.final_loss)
    best = float(np.min(grid.final_loss[ok]))
    assert s.final_loss <= 1.25 * best
    chosen = [c for c in s.candidates if c["chosen"]]
    assert len(chosen) == 1 and chosen[0]["lr"] == s.lr and chosen[0]["status"] != "diverged"
    assert s.lr not in [c["lr"] for c in s.candidates if c["status"] == "diverged"]
    # the lowest final loss of its own candidates, up to the 10% safety margin
    own = min(c["final_loss"] for c in s.candidates if c["status"] != "diverged")
    assert s.final_loss <= 1.1 * own
    # the measured final loss is a fit's at that lr
    fit = gdcore.fit(X, y, lr=s.lr, epochs=epochs, model=model)
    assert fit.losses[-1] == pytest.approx(s.final_loss, rel=1e-6)


def test_safety_rule_steps_back_from_a_diverged_neighbour():
    from gdcore.study._suggest import _pick

    rows = [(0.1, 1.0, "max_epochs"), (0.2, 0.5, "max_epochs"), (0.3, 0.48, "max_epochs"),
            (0.4, np.nan, "diverged")]
    assert _pick(rows) == 1              # 0.5 is within 10% of 0.48, next to a divergence
    rows[1] = (0.2, 0.6, "max_epochs")
    assert _pick(rows) == 2              # not within 10%: the lowest loss stands
    assert _pick([(0.1, np.nan, "diverged")]) is None
    # the lowest loss wins wherever it lies, and a catapult spike above it counts as unsafe
    assert _pick([(0.1, 1.0, "max_epochs"), (0.2, 0.3, "max_epochs"), (0.3, 0.9, "max_epochs"),
                  (0.4, 0.95, "max_epochs")]) == 1
    assert _pick([(0.1, 1.0, "max_epochs"), (0.2, 0.31, "max_epochs"), (0.3, 0.3, "max_epochs"),
                  (0.4, 5.0, "max_epochs")]) == 1


def test_to_dict_is_strict_json_and_repr_reads():
    X, y, model = _tanh_net()
    s = gdcore.suggest_lr(X, y, epochs=50, model=model)
    d = _strict(s.to_dict())
    assert d["lr"] == s.lr and d["method"] == "sweep" and len(d["candidates"]) == len(s.candidates)
    assert any(c["status"] == "diverged" for c in d["candidates"])  # their losses stay finite/None
    r = repr(s)
    assert r.startswith("LRSuggestion(lr=") and "sweep" in r and "runs" in r
    X, y = gdcore.make_linear(seed=0)
    _strict(gdcore.suggest_lr(X, y, epochs=20).to_dict())


def test_bad_budget_is_refused():
    X, y = gdcore.make_linear(seed=0)
    with pytest.raises(ValueError, match="epochs"):
        gdcore.suggest_lr(X, y, epochs=0)


def test_lr_find_budget_adds_the_suggestion_and_warns_when_they_disagree():
    X, y = gdcore.make_linear(seed=0)
    with warnings.catch_warnings(record=True) as plain:
        warnings.simplefilter("always")
        a = gdcore.lr_find(X, y)
    with warnings.catch_warnings(record=True) as asked:
        warnings.simplefilter("always")
        b = gdcore.lr_find(X, y, budget=100)
    assert a.suggested is None and "suggested" not in a.to_dict()
    assert a.suggestions == b.suggestions and np.array_equal(a.losses, b.losses)
    assert b.suggested.lr == gdcore.suggest_lr(X, y, epochs=100).lr
    new = [str(w.message) for w in asked[len(plain):]]
    assert len(asked) == len(plain) + 1 and "disagree" in new[0]
    assert f"{b.suggestion:.3g}" in new[0] and f"{b.suggested.lr:.3g}" in new[0]
    _strict(b.to_dict())
