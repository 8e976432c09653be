"""Exact means exact: the least-squares answer on badly conditioned designs.

References are independent of gdcore: ``numpy.linalg.lstsq`` (LAPACK gelsd,
an SVD of X), designs whose exact ``w*`` is known by construction, and an
extended-precision solve in ``mpmath`` (60 digits).  "Digits" of an answer
are ``-log10(max|w - w_ref| / max|w_ref|)``, capped at 16.
"""

import math
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import gdcore
from gdcore import IllConditionedWarning

from conftest import require

FLOAT64_BACKENDS = ["numpy", "torch", "jax", "array-api-strict"]
EPS = float(np.finfo(np.float64).eps)
THRESHOLD64 = 1.0 / math.sqrt(EPS)  # 6.7e7


def rel_err(w, ref) -> float:
    w, ref = np.asarray(w, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    return float(np.max(np.abs(w - ref)) / np.max(np.abs(ref)))


def digits(w, ref) -> float:
    w, ref = np.asarray(w, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    err = np.max(np.abs(w - ref)) / np.max(np.abs(ref))
    return 16.0 if err == 0 else float(min(16.0, -math.log10(err)))


def prescribed(n, d, cond, seed, residual=0.0):
    """X = U diag(s) V^T with singular values from 1 to 1/cond; y = X w + r, r orthogonal to X."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.normal(size=(n, d + 1)))
    V, _ = np.linalg.qr(rng.normal(size=(d, d)))
    s = np.geomspace(1.0, 1.0 / cond, d)
    X = (U[:, :d] * s) @ V.T
    w = rng.uniform(1.0, 2.0, size=d) * rng.choice([-1.0, 1.0], size=d)
    y = X @ w + residual * U[:, d]  # the residual is orthogonal to the columns of X
    return X, y, w


def optimum(X, y, backend, **kw):
    """w* from gdcore (no epochs run), recording the warnings it emits."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = gdcore.fit(X, y, lr=1e-3, epochs=0, backend=backend, **kw)
    ill = [w for w in caught if issubclass(w.category, IllConditionedWarning)]
    others = [w for w in caught if not issubclass(w.category, IllConditionedWarning)]
    assert not others, [str(w.message) for w in others]
    return r, ill


def mp_lstsq(X, y, dps=60):
    """Least squares of the float64 X, y in ``dps``-digit arithmetic (normal equations are
    safe here: 60 digits leave 30 after squaring a condition number of 1e15)."""
    import mpmath

    with mpmath.workdps(dps):
        A = mpmath.matrix(X.tolist())
        b = mpmath.matrix(y.tolist())
        w = mpmath.lu_solve(A.T * A, A.T * b)
        return np.array([float(v) for v in w])


@pytest.mark.parametrize("backend", FLOAT64_BACKENDS)
@settings(max_examples=12)
@given(log_cond=st.floats(2.0, 13.0), seed=st.integers(0, 2**32 - 1),
       shape=st.sampled_from([(40, 4), (60, 6)]), residual=st.sampled_from([0.0, 1e-3, 1.0]))
def test_optimum_as_accurate_as_lstsq_on_prescribed_svd(backend, log_cond, seed, shape, residual):
    require(backend)
    cond = 10.0**log_cond
    assume(abs(math.log10(cond / THRESHOLD64)) > 0.05)  # away from the warning's threshold
    X, y, w_true = prescribed(*shape, cond, seed, residual)
    r, ill = optimum(X, y, backend)
    err_lstsq = rel_err(np.linalg.lstsq(X, y, rcond=None)[0], w_true)
    err = rel_err(r.optimum.weights, w_true)
    # Within one digit of lstsq, or of what any backward-stable solver can promise
    # (eps * (cond + cond**2 * |r| / |w|)) on the days when lstsq happens to do better:
    # measured over 810 designs, gdcore's error never exceeded 0.3x the larger of the two.
    bound = EPS * (cond + cond**2 * residual / np.linalg.norm(w_true))
    assert err <= 10.0 * max(err_lstsq, bound), (
        f"cond {cond:.2g}: gdcore error {err:.2g}, lstsq {err_lstsq:.2g}, bound {bound:.2g}")
    assert len(ill) == (1 if cond > THRESHOLD64 else 0), [str(w.message) for w in ill]
    # the true condition number of H = cond(X)**2, not that of a surviving subspace
    assert r.stability.rank == shape[1]
    assert r.stability.condition_number == pytest.approx(cond**2, rel=1e-3 * max(1.0, cond * 1e-9))


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
@pytest.mark.parametrize("degree,lo", [(5, 0.0), (8, 0.0), (10, 0.0), (6, 1.0), (8, 1.0)])
def test_polynomial_designs_against_extended_precision(backend, degree, lo):
    require(backend)
    x = np.linspace(lo, lo + 1.0, 40)
    X = np.stack([x**k for k in range(degree + 1)], axis=1)
    y = np.sin(3 * x) + 0.1 * np.cos(17 * x)
    ref = mp_lstsq(X, y)
    r, _ = optimum(X, y, backend)
    lst = digits(np.linalg.lstsq(X, y, rcond=None)[0], ref)
    got = digits(r.optimum.weights, ref)
    assert got >= lst - 1.0, f"degree {degree}: gdcore {got:.1f} digits, lstsq {lst:.1f}"
    # L* from the factor's residual, against the residual of the 60-digit solution
    import mpmath

    with mpmath.workdps(60):
        res = [mpmath.mpf(float(v)) for v in y]
        A = X.tolist()
        loss = sum((sum(mpmath.mpf(a) * mpmath.mpf(float(w)) for a, w in zip(row, ref)) - t) ** 2
                   for row, t in zip(A, res)) / len(res)
    assert r.optimum.loss == pytest.approx(float(loss), rel=1e-6)


def econometric_table():
    rng = np.random.default_rng(3)
    n = 120
    year = rng.integers(1990, 2024, size=n).astype(float)
    population = rng.lognormal(13.0, 1.0, size=n)  # ~4e5 people
    incidence = rng.uniform(1e-4, 5e-4, size=n)  # cases per person
    X = np.stack([year, population, incidence, np.ones(n)], axis=1)  # cond(X) ~ 1e9
    w_true = np.array([0.8, 3e-5, 4e3, -1500.0])
    return X, X @ w_true + rng.normal(0.0, 0.5, size=n)


def test_econometric_table_with_a_calendar_year_beside_the_intercept():
    X, y = econometric_table()
    ref = mp_lstsq(X, y)
    for backend in ("numpy", "torch", "jax"):
        require(backend)
        r, ill = optimum(X, y, backend)
        lst = digits(np.linalg.lstsq(X, y, rcond=None)[0], ref)
        assert digits(r.optimum.weights, ref) >= lst - 1.0
        assert len(ill) == 1 and "ill-conditioned" in str(ill[0].message)
        assert "standardize=True" in str(ill[0].message)
    # the remedy works: standardized, the warning is gone and GD converges
    r = gdcore.fit(X, y, lr=0.5, epochs=2000, standardize=True, stop_on_convergence=True)
    assert r.status == "converged"


@pytest.mark.parametrize("backend", FLOAT64_BACKENDS)
def test_rank_deficient_design_warns_and_reports_inf(backend):
    require(backend)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(50, 2))
    X = np.column_stack([x, x[:, 0] + x[:, 1], np.ones(50)])  # third column = first + second
    y = X[:, 0] * 2 + 1 + rng.normal(0, 0.1, 50)
    with pytest.warns(IllConditionedWarning, match="rank-deficient: 1 of its 4") as rec:
        s = gdcore.stability(X, backend=backend)
    assert len(rec) == 1
    assert s.rank == 3 and s.condition_number == math.inf and s.lambda_min == 0.0
    with pytest.warns(IllConditionedWarning):
        r = gdcore.fit(X, y, lr=0.5, epochs=0, backend=backend)
    ref = np.linalg.lstsq(X, y, rcond=None)[0]  # minimum-norm, like gdcore's
    np.testing.assert_allclose(np.asarray(r.optimum.weights), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("backend", FLOAT64_BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_no_false_alarm_on_well_conditioned_data(backend, dtype):
    require(backend)
    X, y = gdcore.make_linear(n=100, seed=0)
    Xd, yd = _diabetes_like()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        gdcore.fit(X, y, lr=0.7, backend=backend, dtype=dtype)
        gdcore.sweep(X, y, [0.1, 0.7, 1.01], backend=backend, dtype=dtype)
        gdcore.stability(X, backend=backend)
        gdcore.fit(Xd, yd, lr=0.2, backend=backend, dtype=dtype, standardize=True)
        X3, _, _ = prescribed(60, 5, 1e3 if dtype == "float32" else 1e7, 1)  # just below
        gdcore.stability(X3.astype(dtype), backend=backend)


def _diabetes_like():
    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(50, 13, 200), rng.normal(26, 4, 200), rng.normal(95, 14, 200),
                         np.ones(200)])
    y = X @ np.array([0.3, 5.0, 1.2, -80.0]) + rng.normal(0, 10, 200)
    return X, y


@pytest.mark.parametrize("call", ["fit", "sweep", "stability", "lr_find"])
def test_ill_conditioned_warns_once_per_call_and_names_the_remedy(call):
    X, y, _ = prescribed(50, 4, 1e10, 7)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        if call == "fit":
            gdcore.fit(X, y, lr=0.1, epochs=5)
        elif call == "sweep":
            gdcore.sweep(X, y, [0.1, 0.5], epochs=5)
        elif call == "stability":
            gdcore.stability(X)
        else:
            gdcore.lr_find(X, y, steps=20)
    ill = [w for w in rec if issubclass(w.category, IllConditionedWarning)]
    assert len(ill) == 1
    msg = str(ill[0].message)
    assert "cond(X) = 1e+10" in msg and "keep about 5 significant digits" in msg
    assert "standardize=True" in msg
    assert ill[0].filename == __file__  # points at the user's line, not into gdcore


def test_float32_warns_earlier_and_says_what_gd_can_reach():
    X, y, _ = prescribed(50, 4, 1e4, 2)  # fine in float64, 1e4 > 1/sqrt(eps32) = 2.9e3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gdcore.fit(X, y, lr=0.1, epochs=1)
    with pytest.warns(IllConditionedWarning, match=r"in float32 can match w\* to about 2 digits"):
        gdcore.fit(X.astype(np.float32), y.astype(np.float32), lr=0.1, epochs=1)


@pytest.mark.parametrize("backend", FLOAT64_BACKENDS)
@pytest.mark.parametrize("scale", [1e100, 1e-100, 1e150, 1e-140])
def test_extreme_scales_give_the_scaled_answer(backend, scale):
    """lr_crit scales as 1/s**2; w* as 1/s; the run at a fixed fraction of lr_crit is unchanged."""
    require(backend)
    X, y = gdcore.make_linear(n=100, seed=0)
    base = gdcore.fit(X, y, lr=0.7, epochs=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = gdcore.fit(X * scale, y, lr=0.7 / scale**2, epochs=30, backend=backend)
    assert r.stability.lr_crit == pytest.approx(base.stability.lr_crit / scale**2, rel=1e-12)
    np.testing.assert_allclose(np.asarray(r.optimum.weights) * scale, base.optimum.weights,
                               rtol=1e-12)
    assert r.status == base.status and r.converged_epoch == base.converged_epoch
    np.testing.assert_allclose(r.losses, base.losses, rtol=1e-9)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "dask"])
@pytest.mark.parametrize("scale,word", [(1e200, "large"), (1e-200, "small"), (1e300, "large")])
def test_unrepresentable_hessian_is_a_clear_error(backend, scale, word):
    require(backend)
    X, y = gdcore.make_linear(n=100, seed=0)
    Xs = X * scale
    if backend == "dask":
        import dask.array as da

        Xs, y = da.from_array(Xs, chunks=(30, 2)), da.from_array(y, chunks=30)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow RuntimeWarning may leak out
        with pytest.raises(ValueError, match=f"X is too {word} for float64.*Rescale X"):
            gdcore.fit(Xs, y, lr=0.1, backend=backend)
        with pytest.raises(ValueError, match="lr_crit = 2 / lambda_max cannot be represented"):
            gdcore.stability(Xs, backend=backend)


def test_lr_that_rounds_away_in_the_working_dtype_is_a_clear_error():
    X, y = gdcore.make_linear(n=100, seed=0)
    X32 = (X * 1e25).astype(np.float32)  # lr_crit ~ 1e-50: zero in float32
    with pytest.raises(ValueError, match="rounds to 0 in float32"):
        gdcore.fit(X32, y.astype(np.float32), lr=0.5 * gdcore.stability(X * 1e25).lr_crit)
    with pytest.raises(ValueError, match="rounds to inf in float32"):
        gdcore.fit(X.astype(np.float32), y, lr=1e300, epochs=1)


def test_gram_path_falls_back_to_direct_when_the_gram_matrix_overflows_the_dtype():
    X, y = gdcore.make_linear(n=100, seed=0)
    X32 = (X * 1e20).astype(np.float32)  # X^T X / n ~ 1e40 > float32's max
    lr = 0.7e-40
    r = gdcore.fit(X32, y.astype(np.float32), lr=lr, method="auto", epochs=20)
    assert r.method == "direct" and r.status == "converged"
    with pytest.raises(ValueError, match="method='gram' needs X\\^T X / n in float32"):
        gdcore.fit(X32, y.astype(np.float32), lr=lr, method="gram", epochs=20)


def test_cli_prints_each_warning_once_as_one_line(tmp_path, capsys):
    from gdcore.cli import main

    X, y = econometric_table()
    rows = ["year,population,incidence,y"] + [
        ",".join(f"{v:.17g}" for v in (*row[:3], t)) for row, t in zip(X, y)]
    (tmp_path / "table.csv").write_text("\n".join(rows) + "\n")
    code = main(["fit", str(tmp_path / "table.csv"), "--target", "y", "--lr", "1e-12,2e-12",
                 "--epochs", "5"])
    err = capsys.readouterr().err.splitlines()
    assert code == 0
    lines = [e for e in err if e.startswith("gdcore: warning: X is ill-conditioned")]
    assert len(lines) == 1, err  # two fits, one line
    assert "standardize=True" in lines[0]
    code = main(["fit", str(tmp_path / "table.csv"), "--target", "y", "--lr", "0.1",
                 "--standardize", "--epochs", "5"])
    assert code == 0
    assert "warning" not in capsys.readouterr().err  # the remedy silences it


def test_zero_design_is_a_clear_error():
    with pytest.raises(ValueError, match="X is zero"):
        gdcore.fit(np.zeros((10, 2)), np.ones(10), lr=0.1)


@pytest.mark.parametrize("backend", FLOAT64_BACKENDS)
@pytest.mark.parametrize("dtype,scale", [("float64", 1e200), ("float64", 1e-200), ("float64", 1e300),
                                         ("float32", 1e20), ("float32", 1e-20), ("float32", 1e30)])
def test_standardize_rescues_extreme_scales(backend, dtype, scale):
    """The remedy the errors name works: standardized, a scaled X is the seed problem again."""
    require(backend)
    X, y = gdcore.make_linear(n=100, seed=0)
    base = gdcore.fit(X, y, lr=0.5, standardize=True, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = gdcore.fit((X * scale).astype(dtype), y.astype(dtype), lr=0.5, standardize=True,
                       backend=backend)
    assert r.stability.lr_crit == pytest.approx(base.stability.lr_crit, rel=1e-6)
    assert (r.status, r.converged_epoch) == (base.status, base.converged_epoch)
    np.testing.assert_allclose(r.losses, base.losses, rtol=1e-5 if dtype == "float32" else 1e-12)
