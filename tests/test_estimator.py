"""GDRegressor: a real scikit-learn estimator."""

import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_diabetes  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import PolynomialFeatures  # noqa: E402
from sklearn.utils.estimator_checks import check_estimator  # noqa: E402

import gdcore  # noqa: E402
from gdcore import GDRegressor  # noqa: E402


def test_passes_sklearns_estimator_checks():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the checks warn about what they skip
        results = check_estimator(GDRegressor(), on_fail=None, on_skip=None)
    failed = {r["check_name"]: str(r["exception"])[:200] for r in results if r["status"] == "failed"}
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert not failed, failed
    # only the array-API input check is skipped: sklearn runs it when SCIPY_ARRAY_API=1 is set
    # before scipy is imported, which this process cannot do.
    assert skipped <= {"check_array_api_input"}
    assert len(results) > 40


@pytest.mark.parametrize("name", ["numpy", "torch", "jax"])
def test_diabetes_matches_linear_regression(name):
    from conftest import require

    require(name)
    X, y = load_diabetes(return_X_y=True, scaled=False)
    ref = LinearRegression().fit(X, y)
    est = GDRegressor(epochs=20000, stop_on_convergence=False, backend=name).fit(X, y)
    assert est.result_.status == "converged" and est.n_iter_ == 20000
    np.testing.assert_allclose(est.coef_, ref.coef_, rtol=1e-5)
    assert est.intercept_ == pytest.approx(ref.intercept_, rel=1e-6)
    assert est.score(X, y) == pytest.approx(ref.score(X, y), rel=1e-9)


def test_momentum_auto_converges_faster():
    X, y = load_diabetes(return_X_y=True, scaled=False)
    plain = GDRegressor(epochs=5000, rtol=1e-8).fit(X, y)
    heavy = GDRegressor(epochs=5000, rtol=1e-8, momentum="auto").fit(X, y)
    assert heavy.result_.momentum > 0.5
    assert heavy.n_iter_ < plain.n_iter_ / 3


def test_in_a_pipeline_and_a_grid_search():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(120, 1))
    y = 1.0 - 2.0 * x[:, 0] + 0.5 * x[:, 0] ** 2 + 0.01 * rng.normal(size=120)
    pipe = make_pipeline(PolynomialFeatures(degree=2, include_bias=False), GDRegressor(epochs=3000))
    search = GridSearchCV(pipe, {"gdregressor__momentum": [0.0, 0.5]}, cv=3).fit(x, y)
    assert search.best_score_ > 0.99
    coef = search.best_estimator_[-1].coef_
    np.testing.assert_allclose(coef, [-2.0, 0.5], atol=0.02)


def test_multi_output_and_no_intercept():
    X, Y = gdcore.make_linear(n=80, weights=[[1.0, 2.0], [0.0, -1.0]], noise_scale=0.0, seed=3)
    est = GDRegressor(fit_intercept=False, epochs=2000, rtol=1e-12).fit(X, Y)
    assert est.coef_.shape == (2, 2)
    np.testing.assert_allclose(est.coef_, [[1.0, 0.0], [2.0, -1.0]], atol=1e-6)
    assert est.predict(X).shape == (80, 2)


def test_import_gdcore_does_not_import_sklearn():
    import subprocess
    import sys

    code = "import sys, gdcore; assert 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_warns_like_sgdregressor_when_it_does_not_converge():
    from sklearn.exceptions import ConvergenceWarning

    X, y = load_diabetes(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match="before converging.*increase epochs"):
        est = GDRegressor(epochs=3).fit(X, y)
    assert est.result_.status == "max_epochs" and est.n_iter_ == 3
    with pytest.warns(ConvergenceWarning, match="diverged"):
        GDRegressor(lr=50.0, epochs=50).fit(X, y)


def test_no_warning_when_it_converges():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = GDRegressor().fit(X, y)
    assert est.result_.status == "converged"
