"""Every bad-input rule of docs/definitions.md, and how good input of every kind is handled."""

import math
import subprocess
import sys

import numpy as np
import pytest

import gdcore
from conftest import require

X, Y = gdcore.make_linear(n=20, seed=0)


@pytest.mark.parametrize(
    ("kwargs", "exc", "words"),
    [
        ({"X": np.where(np.arange(40).reshape(20, 2) == 7, np.nan, X)}, ValueError, ["X", "non-finite", "row 3"]),
        ({"y": np.where(np.arange(20) == 4, np.inf, Y)}, ValueError, ["y", "non-finite", "row 4"]),
        ({"X": X[:, 0]}, ValueError, ["X must be 2-D", "reshape"]),
        ({"X": X[None]}, ValueError, ["X must be 2-D"]),
        ({"X": np.zeros((0, 2)), "y": np.zeros(0)}, ValueError, ["empty"]),
        ({"X": np.zeros((20, 0))}, ValueError, ["empty"]),
        ({"y": Y[:-1]}, ValueError, ["y has 19 rows", "X has 20"]),
        ({"y": Y[:, None, None]}, ValueError, ["y must be 1-D"]),
        ({"lr": 0.0}, ValueError, ["lr", "> 0"]),
        ({"lr": -0.1}, ValueError, ["lr", "> 0"]),
        ({"lr": math.nan}, ValueError, ["lr", "finite"]),
        ({"lr": math.inf}, ValueError, ["lr", "finite"]),
        ({"lr": "fast"}, TypeError, ["lr"]),
        ({"epochs": -1}, ValueError, ["epochs", ">= 0"]),
        ({"epochs": 1.5}, TypeError, ["epochs"]),
        ({"backend": "tensorflow"}, ValueError, ["unknown backend", "numpy"]),
        ({"device": "tpu"}, ValueError, ["unknown device"]),
        ({"device": "cuda"}, ValueError, ["CPU only"]),
        ({"w0": np.zeros(3)}, ValueError, ["w0 must have shape (2,)"]),
        ({"w0": np.array([np.nan, 0.0])}, ValueError, ["w0", "non-finite"]),
        ({"X": np.array([["a", "b"]] * 20)}, TypeError, ["X", "real numbers"]),
        ({"dtype": "int8"}, ValueError, ["dtype"]),
        ({"rtol": 0}, ValueError, ["rtol"]),
        ({"rtol": 1.5}, ValueError, ["rtol"]),
        ({"divergence_factor": 0.5}, ValueError, ["divergence_factor"]),
        ({"method": "fast"}, ValueError, ["method"]),
    ],
)
def test_bad_input_is_refused_with_a_useful_message(kwargs, exc, words):
    args = {"X": X, "y": Y, "lr": 0.1}
    args.update(kwargs)
    with pytest.raises(exc) as info:
        gdcore.fit(args.pop("X"), args.pop("y"), **args)
    for w in words:
        assert w in str(info.value), f"{w!r} not in {info.value}"


def test_two_array_libraries_in_one_call_are_refused():
    require("torch")
    import torch

    with pytest.raises(TypeError, match="different array libraries.*X is torch, y is numpy"):
        gdcore.fit(torch.as_tensor(X), Y, lr=0.1, backend="torch")


@pytest.mark.parametrize("name", ["torch", "jax"])
def test_gpu_device_runs_where_present_and_is_a_clear_error_elsewhere(name):
    require(name)
    if name == "torch":
        import torch

        present = torch.cuda.is_available()
    else:
        import jax

        present = any(d.platform == "gpu" for d in jax.devices())
    if present:
        r = gdcore.fit(X, Y, lr=0.7, backend=name, device="cuda")
        assert r.status == "converged"
    else:
        with pytest.raises(ValueError, match="GPU"):
            gdcore.fit(X, Y, lr=0.1, backend=name, device="cuda")


def test_missing_backend_package_names_the_extra():
    # Run in a subprocess where importing jax fails, as on a numpy-only install.
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'jax':\n"
        "            raise ModuleNotFoundError(\"No module named 'jax'\")\n"
        "sys.meta_path.insert(0, Block())\n"
        "import gdcore\n"
        "X, y = gdcore.make_linear(seed=0)\n"
        "try:\n"
        "    gdcore.fit(X, y, lr=0.1, backend='jax')\n"
        "except gdcore.BackendUnavailable as e:\n"
        "    assert isinstance(e, ImportError)\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "gdcore[jax]"' in out.stdout


def test_integer_and_list_inputs_are_promoted_to_the_default_float(backend):
    Xi = [[i % 3, 1] for i in range(12)]
    yi = [2 * (i % 3) + 1 for i in range(12)]
    r = gdcore.fit(Xi, yi, lr=0.3, backend=backend, epochs=200)
    assert isinstance(r.weights, np.ndarray)  # lists come back as numpy
    assert r.dtype == gdcore.backends.get(backend).default_float()
    np.testing.assert_allclose(r.weights, [2.0, 1.0], rtol=1e-3)


def test_pandas_input():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"x": X[:, 0], "bias": X[:, 1]})
    r = gdcore.fit(df, pd.Series(Y), lr=0.7)
    np.testing.assert_allclose(r.weights, gdcore.fit(X, Y, lr=0.7).weights)


def test_nothing_the_user_passed_is_modified(backend):
    Xc, yc, w0 = X.copy(), Y.copy(), np.array([-1.0, 1.0])
    gdcore.fit(Xc, yc, lr=0.7, w0=w0, backend=backend)
    np.testing.assert_array_equal(Xc, X)
    np.testing.assert_array_equal(yc, Y)
    np.testing.assert_array_equal(w0, [-1.0, 1.0])


def test_native_arrays_come_back_in_their_own_library(backend, dtype):
    if backend == "jax" and dtype == "float64":
        import jax

        if not jax.config.jax_enable_x64:  # jax cannot hold float64 arrays: say so, don't truncate
            with pytest.raises(ValueError, match="x64"):
                gdcore.make_linear(n=50, seed=1, backend=backend, dtype=dtype)
            return
    Xb, yb = gdcore.make_linear(n=50, seed=1, backend=backend, dtype=dtype)
    r = gdcore.fit(Xb, yb, lr=0.7, backend="auto")
    assert r.backend == backend
    assert type(r.weights) is type(Xb)
    assert str(r.weights.dtype) == str(Xb.dtype)
    assert r.weights.shape == (2,)
    assert r.losses.dtype == np.float64


def test_multi_output_is_independent_columns(backend):
    Xm, Ym = gdcore.make_linear(n=60, weights=[[3.0, -1.0], [2.0, 0.5]], seed=3)
    r = gdcore.fit(Xm, Ym, lr=0.5, epochs=300, backend=backend, dtype="float64")
    assert r.weights.shape == (2, 2)
    cols = [gdcore.fit(Xm, Ym[:, j], lr=0.5, epochs=300, dtype="float64") for j in range(2)]
    np.testing.assert_allclose(np.asarray(r.weights), np.stack([c.weights for c in cols], 1), rtol=1e-9)
    np.testing.assert_allclose(r.losses, cols[0].losses + cols[1].losses, rtol=1e-9)


def test_record_weights_and_early_stop(backend):
    r = gdcore.fit(X, Y, lr=0.7, record_weights=True, stop_on_convergence=True, backend=backend)
    assert r.status == "converged"
    assert r.epochs_run == r.converged_epoch
    assert np.asarray(r.history).shape == (r.epochs_run + 1, 2)
    np.testing.assert_allclose(np.asarray(r.history)[-1], np.asarray(r.weights))
    np.testing.assert_array_equal(np.asarray(r.history)[0], [0.0, 0.0])


def test_divergent_runs_are_results_without_warnings(backend):
    # pytest runs with filterwarnings=error: an overflow warning would fail this test
    r = gdcore.fit(X, Y, lr=1e30, epochs=50, backend=backend, divergence_factor=1e300)
    assert r.status == "diverged" and r.diverged_epoch == 1


def test_epochs_zero_only_scores_the_start():
    r = gdcore.fit(X, Y, lr=0.1, epochs=0)
    assert r.losses.shape == (1,) and r.status == "max_epochs"


def test_to_dict_is_json_ready():
    import json

    r = gdcore.fit(X, Y, lr=1.01)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["status"] == "diverged" and d["regime"] == "divergent"
