"""The backend table, and the default backend following the inputs (backend=None)."""

from __future__ import annotations

import importlib
import pathlib

import numpy as np
import pytest
from conftest import require

import gdcore
from gdcore import backends
from gdcore.backends import TABLE, Backend, BackendUnavailable
from gdcore.study._prepare import prepare

X, Y = gdcore.make_linear(n=20, seed=0)


# ---------------------------------------------------------------------------
# the table


def test_the_table_has_one_row_per_backend_and_every_spelling_once():
    assert [row.name for row in TABLE] == [b.value for b in Backend]
    spellings = [s for row in TABLE for s in (row.name, *row.aliases)]
    assert len(spellings) == len(set(spellings))
    assert len({row.library for row in TABLE}) == len(TABLE)
    for row in TABLE:
        b = Backend(row.name)
        assert (b.package, b.extra, b.module, b.library) == (row.package, row.extra, row.module,
                                                             row.library)
        for alias in row.aliases:
            assert backends.resolve_name(alias) is b


@pytest.mark.parametrize("member", list(Backend), ids=lambda b: b.value)
def test_every_backend_module_imports_or_says_which_extra_is_missing(member):
    try:
        be = backends.get(member)
    except BackendUnavailable as exc:
        assert member.package in str(exc)
        return
    assert be.name == member.value
    assert importlib.import_module(member.module).BACKEND is be
    assert backends.for_library(member.library).state_backend is be.state_backend


# ---------------------------------------------------------------------------
# the default backend follows the inputs


@pytest.mark.parametrize("backend", [None, "auto", "AUTO"])
def test_torch_x_with_no_backend_runs_on_torch_and_returns_torch(backend):
    require("torch")
    import torch

    r = gdcore.fit(torch.tensor(X), torch.tensor(Y), lr=0.7, backend=backend)
    assert r.backend == "torch"
    assert isinstance(r.weights, torch.Tensor) and r.weights.dtype == torch.float64
    np.testing.assert_allclose(r.weights.numpy(), gdcore.fit(X, Y, lr=0.7).weights, rtol=1e-10)


def test_jax_x_with_no_backend_runs_on_jax_and_returns_jax():
    require("jax")
    import jax
    import jax.numpy as jnp

    r = gdcore.fit(jnp.asarray(X, dtype=jnp.float32), jnp.asarray(Y, dtype=jnp.float32),
                   lr=0.7, backend=None)
    assert r.backend == "jax" and r.dtype == "float32"
    assert isinstance(r.weights, jax.Array)


def test_lists_and_pandas_with_no_backend_run_on_numpy():
    r = gdcore.fit(X.tolist(), Y.tolist(), lr=0.7, backend=None)
    assert r.backend == "numpy" and isinstance(r.weights, np.ndarray)
    pd = pytest.importorskip("pandas")
    r = gdcore.fit(pd.DataFrame(X), pd.Series(Y), lr=0.7, backend=None)
    assert r.backend == "numpy" and isinstance(r.weights, np.ndarray)


def test_dask_x_with_no_backend_runs_on_dask():
    require("dask")
    import dask.array as da

    p = prepare(da.from_array(X), da.from_array(Y))
    assert p.backend.name == "dask" and p.out_library == "numpy"
    with pytest.raises(TypeError, match="backend='numpy' would load all of it"):
        prepare(da.from_array(X), da.from_array(Y), backend="numpy")


def test_a_torch_module_with_numpy_x_picks_torch_and_backend_overrides():
    require("torch")
    import torch

    module = torch.nn.Linear(2, 1)
    assert prepare(X, Y, model=module).backend.name == "torch"
    assert prepare(X.tolist(), Y, model=module, backend="auto").backend.name == "torch"
    assert prepare(X, Y, model=module, backend="numpy").backend.name == "numpy"
    assert prepare(X, Y, model=gdcore.models.mlp((3,))).backend.name == "numpy"
    assert backends.get(None, "numpy", model=module).name == "torch"
    assert backends.get(None, None, model=None).name == "numpy"


def test_an_explicit_backend_still_overrides_the_inputs():
    require("torch")
    import torch

    r = gdcore.fit(torch.tensor(X), torch.tensor(Y), lr=0.7, backend="numpy")
    assert r.backend == "numpy" and isinstance(r.weights, torch.Tensor)


# ---------------------------------------------------------------------------
# arrays of a library gdcore does not know


class _ForeignArray:
    """An array of some library no backend holds: numpy could read it, gdcore must not guess."""

    def __init__(self, data):
        self.data = np.asarray(data)
        self.shape = self.data.shape

    def __array__(self, dtype=None, copy=None):
        return self.data

    def __dlpack__(self, stream=None):
        return self.data.__dlpack__()

    def __dlpack_device__(self):
        return self.data.__dlpack_device__()


class _ForeignArrayAPI(_ForeignArray):
    """An array-API array of a library no backend holds."""

    def __array_namespace__(self, api_version=None):
        return np


@pytest.mark.parametrize("kind", [_ForeignArray, _ForeignArrayAPI])
@pytest.mark.parametrize("which", ["X", "y", "w0"])
@pytest.mark.parametrize("backend", [None, "numpy"])
def test_an_unknown_array_type_is_refused_by_name(kind, which, backend):
    args = {"X": X, "y": Y, "w0": np.zeros(2)}
    args[which] = kind(args[which])
    with pytest.raises(TypeError, match=rf"{which} is a .*{kind.__name__}.*convert it to a numpy"):
        prepare(args["X"], args["y"], args["w0"], backend=backend)


def test_stdlib_buffers_and_scalars_stay_readable():
    import array

    p = prepare(memoryview(X), array.array("d", Y))
    assert p.backend.name == "numpy" and tuple(p.Y.shape) == (20, 1)


# ---------------------------------------------------------------------------
# models of a library


def test_wrap_model_asks_the_backend_of_the_models_library():
    require("torch")
    import torch

    module = torch.nn.Linear(2, 1)
    wrapped = backends.wrap_model(module)
    assert wrapped.backend == "torch" and wrapped.module is module
    assert backends.library_of_model(module) == "torch"
    for not_a_library_model in (None, "mlp", gdcore.models.mlp((3,)), gdcore.models.linear()):
        assert backends.library_of_model(not_a_library_model) is None
    with pytest.raises(ValueError, match="runs on backend='torch'"):
        gdcore.models.resolve(module, "numpy")
    assert gdcore.models.resolve(module, "torch").module is module


def test_wrap_model_takes_a_function_as_a_jax_model():
    require("jax")
    import jax  # noqa: F401  (the function's library is imported)

    def apply(params, X):
        return X @ params

    assert backends.wrap_model(apply).backend == "jax"
    assert backends.library_of_model(apply) == "jax"
    with pytest.raises(ValueError, match="runs on backend='jax'"):
        gdcore.models.resolve(apply, "numpy")


def test_public_modules_never_import_a_backends_private_module():
    src = pathlib.Path(gdcore.__file__).parent
    for path in [src / "models.py", src / "study" / "_prepare.py"]:
        text = path.read_text()
        assert "backends._" not in text and "from gdcore.backends import _" not in text, path.name
