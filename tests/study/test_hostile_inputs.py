"""Hostile input (issue 11, "Exact means exact"): a clear error or a correct result, never a
raw traceback from deep inside, a silent misreading, or a result that aliases the input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import gdcore
from conftest import require

X, Y = gdcore.make_linear(n=20, seed=0)


# ---------------------------------------------------------------------------
# y is required


@pytest.mark.parametrize("call", [
    lambda: gdcore.fit(X, None, lr=0.1),
    lambda: gdcore.sweep(X, None, [0.1, 0.2]),
    lambda: gdcore.lr_find(X, None),
])
def test_a_missing_y_says_y_is_required(call):
    with pytest.raises(TypeError, match=r"y \(the targets\) is required.*gdcore.stability\(X\)"):
        call()


# ---------------------------------------------------------------------------
# dtypes


def test_longdouble_runs_in_float64_and_float16_in_float32():
    r = gdcore.fit(X.astype(np.longdouble), Y.astype(np.longdouble), lr=0.7)
    assert r.dtype == "float64" and r.weights.dtype == np.float64
    np.testing.assert_allclose(r.weights, gdcore.fit(X, Y, lr=0.7).weights, rtol=1e-12)
    assert gdcore.fit(X.astype(np.float16), Y, lr=0.7).dtype == "float32"


@pytest.mark.parametrize("dt", [np.float32, np.dtype("float32"), "float32"])
def test_numpy_dtype_objects_and_classes_are_accepted(dt):
    assert gdcore.fit(X, Y, lr=0.7, dtype=dt).dtype == "float32"
    assert gdcore.fit(X, Y, lr=0.7, dtype=np.float64).dtype == "float64"


@pytest.mark.parametrize("lib", ["torch", "jax"])
def test_torch_and_jax_dtype_objects_are_accepted(lib):
    require(lib)
    if lib == "torch":
        import torch

        dts = [torch.float32, torch.float64]
    else:
        import jax.numpy as jnp

        dts = [jnp.float32, jnp.dtype("float32"), jnp.float64]
    for dt in dts:
        assert gdcore.fit(X, Y, lr=0.7, dtype=dt).dtype == str(np.dtype(dt) if lib == "jax"
                                                                 else dt).rsplit(".")[-1]


@pytest.mark.parametrize("dt", [np.int32, np.longdouble, bool, "float16"])
def test_other_dtypes_are_refused(dt):
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        gdcore.fit(X, Y, lr=0.7, dtype=dt)


# ---------------------------------------------------------------------------
# pandas nullable columns


def test_pandas_nullable_float_and_int_columns_are_numbers():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"x": pd.array(X[:, 0], dtype="Float64"),
                       "bias": pd.array(np.ones(20, dtype=int), dtype="Int64")})
    r = gdcore.fit(df, pd.Series(Y, dtype="Float64"), lr=0.7)
    np.testing.assert_allclose(r.weights, gdcore.fit(X, Y, lr=0.7).weights)


def test_pandas_na_is_a_missing_value_with_its_place():
    pd = pytest.importorskip("pandas")
    x = pd.array(X[:, 0], dtype="Float64")
    x[3] = pd.NA
    df = pd.DataFrame({"x": x, "bias": pd.array(np.ones(20, dtype=int), dtype="Int64")})
    with pytest.raises(ValueError, match=r"X contains 1 missing.*row 3, column 0") as info:
        gdcore.fit(df, Y, lr=0.7)
    assert "text" not in str(info.value)
    y = pd.Series(pd.array(Y, dtype="Float64"))
    y[5] = pd.NA
    with pytest.raises(ValueError, match=r"y contains 1 missing.*row 5"):
        gdcore.fit(X, y, lr=0.7)


def test_pandas_text_columns_are_named():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"x": X[:, 0], "city": ["a"] * 20})
    with pytest.raises(TypeError, match=r"X.*'city'.*convert"):
        gdcore.fit(df, Y, lr=0.7)


# ---------------------------------------------------------------------------
# numeric options


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"momentum": "0.5"}, "momentum"),
    ({"momentum": True}, "momentum"),
    ({"rtol": "1e-3"}, "rtol"),
    ({"divergence_factor": "1e6"}, "divergence_factor"),
    ({"lr": True}, "lr"),
    ({"lr": "0.1"}, "lr"),
    ({"lr": np.bool_(True)}, "lr"),
])
def test_numeric_options_refuse_text_and_bools(kwargs, words):
    args = {"lr": 0.1, **kwargs}
    with pytest.raises(TypeError, match=f"{words} must be"):
        gdcore.fit(X, Y, **args)


@pytest.mark.parametrize("lrs", [[True, 0.5], [0.1, "0.2"], np.array([True, False])])
def test_sweep_lrs_refuse_bools_and_text(lrs):
    with pytest.raises(TypeError, match="lrs must be"):
        gdcore.sweep(X, Y, lrs)


def test_lr_find_range_refuses_bools():
    with pytest.raises(TypeError, match="lr_max must be"):
        gdcore.lr_find(X, Y, lr_max=True)


# ---------------------------------------------------------------------------
# torch tensors the numpy backend must still read


def test_a_tensor_requiring_grad_works_on_the_numpy_backend():
    require("torch")
    import torch

    Xt = torch.tensor(X, requires_grad=True)
    yt = torch.tensor(Y, requires_grad=True)
    w0 = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    r = gdcore.fit(Xt, yt, lr=0.7, w0=w0, backend="numpy")
    assert r.backend == "numpy" and isinstance(r.weights, torch.Tensor)
    np.testing.assert_allclose(r.weights.numpy(), gdcore.fit(X, Y, lr=0.7).weights)
    assert gdcore.fit(Xt, yt, lr=0.7, backend="torch").status == "converged"


def test_sparse_and_meta_tensors_are_clear_errors():
    require("torch")
    import torch

    Xt = torch.tensor(X)
    with pytest.raises(TypeError, match=r"sparse.*to_dense\(\)"):
        gdcore.fit(Xt.to_sparse(), torch.tensor(Y), lr=0.7, backend="torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: "CSR support is in beta"
        csr = Xt.to_sparse_csr()
    with pytest.raises(TypeError, match=r"sparse.*to_dense\(\)"):
        gdcore.fit(csr, torch.tensor(Y), lr=0.7)
    with pytest.raises(ValueError, match=r"meta.*real device"):
        gdcore.fit(Xt.to("meta"), torch.tensor(Y).to("meta"), lr=0.7, backend="torch")
    with pytest.raises(ValueError, match=r"y.*meta.*real device"):
        gdcore.fit(Xt, torch.tensor(Y).to("meta"), lr=0.7, backend="torch")


def test_jax_input_on_the_torch_backend_gives_no_warning():
    require("torch")
    require("jax")
    import jax.numpy as jnp

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = gdcore.fit(jnp.asarray(X, dtype=jnp.float32), jnp.asarray(Y, dtype=jnp.float32),
                       lr=0.7, backend="torch")
    assert r.status == "converged"


# ---------------------------------------------------------------------------
# results never alias the user's arrays


@pytest.mark.parametrize("epochs", [0, 50])
def test_numpy_weights_never_share_memory_with_w0(epochs):
    w_opt = np.linalg.lstsq(X, Y, rcond=None)[0]
    for w0 in (np.array([-1.0, 1.0]), w_opt.copy()):
        r = gdcore.fit(X, Y, lr=0.7, w0=w0, epochs=epochs, stop_on_convergence=True)
        assert not np.shares_memory(r.weights, w0)
        r.weights[0] = 123.0  # writable, and writing it leaves w0 alone
        assert w0[0] != 123.0
        s = gdcore.sweep(X, Y, [0.1, 0.7], w0=w0, epochs=epochs)
        assert not np.shares_memory(s.weights, w0)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_torch_weights_never_alias_w0(backend):
    require("torch")
    import torch

    w0 = torch.tensor([-1.0, 1.0], dtype=torch.float64)
    r = gdcore.fit(torch.tensor(X), torch.tensor(Y), lr=0.7, w0=w0, epochs=0, backend=backend)
    w = r.weights
    w += 10  # the user's result is theirs to write
    assert w0.tolist() == [-1.0, 1.0]


# ---------------------------------------------------------------------------
# lr_find with nothing to learn


@pytest.mark.parametrize("case", ["exact", "zeros"])
def test_lr_find_with_nothing_to_learn_says_so(case):
    w0 = np.array([3.0, 2.0]) if case == "exact" else None
    y = X @ np.array([3.0, 2.0]) if case == "exact" else np.zeros(20)
    with pytest.warns(gdcore.LRFinderWarning, match="nothing to learn"):
        r = gdcore.lr_find(X, y, w0=w0, lr_min=1e-4, lr_max=1.0)
    assert r.suggestion is None
    assert all(v is None for v in r.suggestions.values())
    assert r.to_dict()["suggestion"] is None


def test_lr_find_suggestions_stay_in_range():
    Xb, yb = gdcore.make_linear(n=100, seed=0)
    # the smoothed loss is lowest near lr = 1, so minimum/10 would be ~0.1 < lr_min
    with pytest.warns(gdcore.LRFinderWarning, match=r"minimum/10=.*outside the range tested"):
        r = gdcore.lr_find(Xb, yb, lr_min=0.3, lr_max=1.5, steps=50)
    assert r.suggestions["minimum/10"] is None
    for v in r.suggestions.values():
        assert v is None or 0.3 <= v <= 1.5


# ---------------------------------------------------------------------------
# gdcore.io.read


def test_io_read_refuses_the_target_as_a_feature(tmp_path):
    pytest.importorskip("dask.dataframe")
    import gdcore.io

    (tmp_path / "a.csv").write_text("x,y\n1,2\n2,4\n")
    with pytest.raises(ValueError, match=r"'y' is the target and also in features"):
        gdcore.io.read(tmp_path, target="y", features=["x", "y"])


def test_io_read_refuses_a_folder_of_mixed_csv_and_parquet(tmp_path):
    import gdcore.io

    (tmp_path / "a.csv").write_text("x,y\n1,2\n2,4\n")
    (tmp_path / "b.parquet").write_bytes(b"")
    with pytest.raises(ValueError, match=r"both CSV \(1\) and Parquet \(1\).*glob"):
        gdcore.io.read(tmp_path, target="y")


# ---------------------------------------------------------------------------
# the command line


def _cli(args, capsys):
    from gdcore.cli import main

    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def small_csv(tmp_path):
    x = np.linspace(-1, 1, 30)
    path = tmp_path / "d.csv"
    path.write_text("x,y\n" + "\n".join(f"{a},{3 * a + 2}" for a in x) + "\n")
    return str(path)


def test_cli_fit_stops_at_convergence_by_default(small_csv, capsys):
    code, out, err = _cli(["fit", small_csv, "--target", "y", "--lr", "0.5",
                           "--epochs", "10000000"], capsys)
    assert code == 0, err
    row = next(line for line in out.splitlines() if "converged" in line)
    epoch = int(row.split()[3])
    assert epoch < 1000
    code, out, err = _cli(["fit", small_csv, "--target", "y", "--lr", "0.5", "--epochs", "300",
                           "--no-stop", "--out", str(pathlib_parent(small_csv) / "o"),
                           "--no-plots"], capsys)
    assert code == 0, err
    import json

    runs = json.loads((pathlib_parent(small_csv) / "o" / "fit.json").read_text())["runs"]
    assert runs[0]["epochs_run"] == 300


def pathlib_parent(path):
    import pathlib

    return pathlib.Path(path).parent


CLI_BAD = [
    (["fit", "{csv}", "--target", "y", "--epochs", "100000000"], "--epochs"),
    (["fit", "{csv}", "--target", "y", "--epochs", "20000000", "--no-stop"], "1,000,000"),
    (["sweep", "{csv}", "--target", "y", "--lrs", "0.1:1:100000000"], "100,000"),
    (["sweep", "{csv}", "--target", "y", "--lrs", "0.1:1:1000", "--epochs", "1000000",
      "--no-stop"], "--lrs"),
    (["demo", "--epochs", "0"], "--epochs"),
    (["demo", "--seed", "-1"], "--seed"),
    (["fit", "{csv}", "--target", "y", "--lr", "0.1,,0.7"], "empty"),
    (["fit", "{csv}", "--target", "y", "--lr", "0.1,"], "empty"),
    (["sweep", "{csv}", "--target", "y", "--lrs", "0.1,,0.7"], "empty"),
]


@pytest.mark.parametrize(("args", "word"), CLI_BAD)
def test_cli_bad_options_exit_2_with_one_line(args, word, small_csv, capsys):
    code, out, err = _cli([a.format(csv=small_csv) for a in args], capsys)
    assert code == 2
    assert err.startswith("gdcore: error: ") and err.count("\n") == 1, err
    assert word in err
    assert out == ""


def test_cli_help_documents_the_limits(capsys):
    from gdcore.cli import main

    for command in ("fit", "sweep"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "--no-stop" in text and "10,000,000" in text
    assert "100,000" in text


def test_cli_version():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "gdcore.cli", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0
    assert proc.stdout == f"gdcore {gdcore.__version__}\n"


# ---------------------------------------------------------------------------
# standardize keeps the model: centre only with an intercept column


def _original_units(weights, scaling):
    """Weights of the scaled columns as (slopes, intercept) of the original columns."""
    mean, scale = scaling
    w = np.asarray(weights, dtype=np.float64) / scale
    return w, -float(mean @ w)


@pytest.mark.parametrize("name", ["numpy", "torch", "array-api-strict"])
def test_standardize_centres_only_with_an_intercept(name):
    require(name)
    rng = np.random.default_rng(0)
    F = rng.uniform(5, 15, (80, 2))  # large means: centring would matter
    y = F @ np.array([1.5, -0.5]) + 4.0 + rng.normal(0, 0.1, 80)
    kw = dict(lr=0.5, epochs=10, standardize=True,
              backend=name, dtype="float64")

    # no intercept: the model is y ~ F w through the origin; scaled, never centred
    r = gdcore.fit(F, y, **kw)
    mean, scale = r.scaling
    np.testing.assert_array_equal(mean, 0.0)
    np.testing.assert_allclose(scale, np.sqrt(np.mean(F**2, axis=0)))
    slopes, shift = _original_units(r.optimum.weights, r.scaling)
    assert shift == 0.0
    np.testing.assert_allclose(slopes, np.linalg.lstsq(F, y, rcond=None)[0], rtol=1e-6)

    # with a ones column: centred and scaled; the bias absorbs the means
    X1 = np.hstack([F, np.ones((80, 1))])
    r = gdcore.fit(X1, y, **kw)
    mean, scale = r.scaling
    np.testing.assert_allclose(mean, [*F.mean(axis=0), 0.0])
    np.testing.assert_allclose(scale, [*F.std(axis=0), 1.0])
    slopes, shift = _original_units(r.optimum.weights, r.scaling)
    ref = np.linalg.lstsq(X1, y, rcond=None)[0]
    np.testing.assert_allclose(slopes[:2], ref[:2], rtol=1e-6)
    np.testing.assert_allclose(slopes[2] + shift, ref[2], rtol=1e-6)
