"""Validation and conversion of user input, done before any work.

Every rule of docs/definitions.md "Bad input" lives here, so each error is raised in one
place with a message that names the argument and says what to do.
"""

from __future__ import annotations

import math
import sys
from typing import Any, NamedTuple

import numpy as np

from gdcore import backends, core
from gdcore._compat import array_namespace, library_of
from gdcore._compat import device as device_of

__all__ = ["Prepared", "check_batch", "check_betas", "check_epochs", "check_finite", "check_lr",
           "check_lrs", "check_numbers", "check_positive", "check_real", "check_representable",
           "check_run_options", "check_y", "dtype_name", "host", "prepare", "schedule_table",
           "to_library"]

_FLOAT_NAMES = ("float32", "float64")


class Prepared(NamedTuple):
    """Validated inputs as arrays of the chosen backend."""

    backend: Any  # BackendBase
    X: Any  # (n, d)
    Y: Any  # (n, m)
    w0: Any  # (d, m)
    y_was_1d: bool
    dtype: str
    device: Any
    out_library: str  # library the results are returned in
    out_like: Any  # the user's X when it is an array of out_library (for its device)
    scaling: Any = None  # (mean, scale) host float64 arrays when standardize=True
    state: Any = None  # backend of the weights and run state (numpy for dask)


def host(x) -> np.ndarray:
    """Any array library's array (or a list, or a pandas object) as a numpy array.

    torch tensors are detached and moved to the CPU; anything numpy cannot
    read directly goes through DLPack.
    """
    if hasattr(x, "detach"):  # torch
        return x.detach().cpu().numpy()
    if hasattr(x, "to_numpy"):  # pandas
        return x.to_numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError, RuntimeError):
        return np.from_dlpack(x)


def check_y(y, fn="fit"):
    """``y`` is required by everything but :func:`gdcore.stability`."""
    if y is None:
        raise TypeError(
            f"{fn}: y (the targets) is required, got None; pass one target per row of X, or call "
            "gdcore.stability(X) for the analysis of X alone."
        )


def check_real(value, name, example="0.1"):
    """``value`` as a float; text and bools are refused (``float("0.5")`` and ``True`` are not numbers here)."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"{name} must be a number such as {example}, got {value!r}.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number such as {example}, got {value!r}.") from None


def check_lr(lr, name="lr"):
    """A learning rate must be a finite number > 0 (not a bool, not text)."""
    lr = check_real(lr, name)
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(
            f"{name} must be a finite number > 0 (try 0.1, or gdcore.stability(X).lr_opt); got {lr!r}."
        )
    return float(lr)


def check_epochs(epochs):
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)):
        raise TypeError(f"epochs must be an integer >= 0, got {epochs!r}.")
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}; use e.g. epochs=100.")
    return int(epochs)


def check_positive(value, name, *, below=None):
    v = check_real(value, name, "1e-3" if below == 1.0 else "10")
    if not math.isfinite(v) or v <= 0 or (below is not None and v >= below):
        rng = f"in (0, {below})" if below is not None else "> 0"
        raise ValueError(f"{name} must be a finite number {rng}, got {value!r}.")
    return v


def dtype_name(dtype) -> str | None:
    """'float32' / 'float64' from a string or any library's dtype object or class.

    Accepts ``"float32"``, ``np.float32``, ``np.dtype("float32")``,
    ``torch.float32``, ``jnp.float32`` and the array-api-strict dtypes.

    Examples
    --------
    >>> import numpy as np
    >>> dtype_name(np.float32), dtype_name(np.dtype("float64")), dtype_name("float32")
    ('float32', 'float64', 'float32')
    """
    if dtype is None:
        return None
    name = None
    if not isinstance(dtype, str):
        try:  # numpy and jax dtypes, their scalar classes, and Python's float
            name = np.dtype(dtype).name
        except TypeError:
            pass
    if name is None:  # strings, torch.float32, array_api_strict.float32
        name = str(dtype).rsplit(".", 1)[-1]
    if name not in _FLOAT_NAMES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}.")
    return name


def _pandas_numpy(obj, name):
    """A pandas DataFrame/Series as a float64 numpy array (``pd.NA`` becomes NaN).

    Nullable ``Float64``/``Int64``/``boolean`` columns are numbers; text,
    categorical and other columns are refused by name.
    """
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    dtypes = obj.dtypes.items() if hasattr(obj, "columns") else [(obj.name, obj.dtype)]
    bad = [f"{col!r} ({dt})" for col, dt in dtypes if not (is_numeric_dtype(dt) or is_bool_dtype(dt))]
    if bad:
        raise TypeError(
            f"{name} must hold real numbers, but column(s) {', '.join(bad)} do not; convert text "
            "or categorical columns to numbers (or drop them) first."
        )
    if all(isinstance(dt, np.dtype) and dt.kind in "biuf" for _, dt in
           (obj.dtypes.items() if hasattr(obj, "columns") else [(None, obj.dtype)])):
        return obj.to_numpy()  # plain numpy columns keep their dtype (float32 stays float32)
    return obj.to_numpy(dtype=np.float64, na_value=np.nan)


def _check_torch(obj, name):
    """Sparse and meta tensors hold no dense values gdcore could read: say what to do."""
    layout = str(getattr(obj, "layout", "torch.strided"))
    if layout != "torch.strided":
        raise TypeError(
            f"{name} is a sparse torch tensor ({layout}); gdcore needs dense arrays: pass "
            f"{name}.to_dense()."
        )
    if getattr(obj, "is_meta", False):
        raise ValueError(
            f"{name} is on torch's 'meta' device, which holds shapes but no values; materialise it "
            "on a real device first (e.g. build it with device='cpu' or 'cuda')."
        )
    # A tensor in an autograd graph: gdcore reads its values only (fit never backpropagates).
    return obj.detach() if getattr(obj, "requires_grad", False) else obj


def _as_numpy(obj, name):
    """Lists, tuples, pandas and other non-array input as a numpy array."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(obj, (pd.DataFrame, pd.Series)):
        return _pandas_numpy(obj, name)
    try:
        arr = np.asarray(obj.to_numpy() if hasattr(obj, "to_numpy") else obj)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} could not be read as a numeric array ({exc}); pass a numpy array, "
            "a pandas DataFrame/Series of numbers, or a nested list of equal-length rows."
        ) from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{name} must hold real numbers, got dtype {arr.dtype}; convert text or "
            "categorical columns to numbers (or drop them) first."
        )
    return arr


def _native_kind(arr, library, name) -> str:
    """'float', 'int' (bool/integer), or raises for complex/text/other dtypes."""
    if library in (None, "pandas", "numpy"):
        if arr.dtype.kind in "biuf":
            return "float" if arr.dtype.kind == "f" else "int"
    else:
        try:  # jax's dtypes are numpy's; array_namespace(jax array) costs two XLA compiles
            kind = np.dtype(arr.dtype).kind
        except TypeError:
            kind = None
        if kind in ("b", "i", "u", "f"):
            return "float" if kind == "f" else "int"
        xp = array_namespace(arr)
        if xp.isdtype(arr.dtype, "real floating"):
            return "float"
        if xp.isdtype(arr.dtype, ("integral", "bool")):
            return "int"
    raise TypeError(
        f"{name} must hold real numbers, got dtype {arr.dtype}; convert text, complex or "
        "categorical columns to real numbers (or drop them) first."
    )


def _name_of_float(arr) -> str:
    name = str(arr.dtype).rsplit(".", 1)[-1]
    if name in _FLOAT_NAMES:
        return name
    # Wider than float64 (np.longdouble): the widest supported float.  float16/bfloat16 are
    # too coarse for the stability analysis: promote to float32.
    return "float64" if getattr(arr.dtype, "itemsize", 0) > 8 else "float32"


def check_finite(arr, name, xp, to_numpy, host_view=None):
    """Raise ValueError naming the first non-finite entry of ``arr`` (row, column), if any.

    ``host_view`` (a backend's :meth:`host_view`): when it gives a numpy view
    of ``arr``, the check runs in numpy on that view (on jax: no XLA compiles).
    """
    view = None if host_view is None else host_view(arr)
    if view is not None:
        arr, xp, to_numpy = view, np, np.asarray
    # The sum is finite exactly when every entry is, unless finite values overflow it;
    # it needs no n x d temporary (X may be most of the machine's memory).
    if bool(xp.isfinite(xp.sum(arr))):
        return
    ok = xp.isfinite(arr)
    if bool(xp.all(ok)):
        return
    bad = np.argwhere(~to_numpy(ok))
    where = f"row {bad[0][0]}" + (f", column {bad[0][1]}" if bad.shape[1] > 1 else "")
    raise ValueError(
        f"{name} contains {len(bad)} missing or non-finite value(s) (NaN, NA or inf), the first "
        f"at {where}; remove or impute them before fitting."
    )


def prepare(X, y, w0=None, *, backend="numpy", device=None, dtype=None,
            standardize=False) -> Prepared:
    """Check ``X``, ``y``, ``w0`` and convert them to the backend's arrays.

    ``y`` may be ``None`` (for :func:`gdcore.stability`).  Raises ``TypeError``
    or ``ValueError`` (or :class:`gdcore.BackendUnavailable`) naming the
    argument and the fix, before any work is done.
    """
    libs = {}
    for name, obj in (("X", X), ("y", y), ("w0", w0)):
        lib = library_of(obj)
        if lib is not None:
            libs[name] = "numpy" if lib == "pandas" else lib
    if len(set(libs.values())) > 1:
        pairs = ", ".join(f"{k} is {v}" for k, v in libs.items())
        raise TypeError(
            f"arrays from different array libraries in one call ({pairs}); convert them all "
            "to one library (e.g. all torch tensors) before calling gdcore."
        )
    x_lib = library_of(X)
    be = backends.get(backend, x_lib)
    if x_lib == "dask" and be.name != "dask":
        raise TypeError(
            f"X is a dask array but backend={be.name!r} would load all of it into this process's "
            "memory; pass backend='dask' (or 'auto') to keep it distributed, or X.compute() if "
            "it fits in memory."
        )
    dev = be.resolve_device(device)

    def native(obj, name):
        lib = library_of(obj)
        if lib in (None, "pandas"):
            return _as_numpy(obj, name), None
        return (_check_torch(obj, name) if lib == "torch" else obj), lib

    Xn, _ = native(X, "X")
    if len(Xn.shape) != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features), got shape {tuple(Xn.shape)}; "
            "for a single feature use X.reshape(-1, 1)."
        )
    n, d = Xn.shape
    if n == 0 or d == 0:
        raise ValueError(f"X is empty (shape {tuple(Xn.shape)}); gdcore needs at least one row and one column.")
    kind = _native_kind(Xn, x_lib, "X")
    dt = dtype_name(dtype) or (_name_of_float(Xn) if kind == "float" else be.default_float())
    if dt == "float64" and x_lib == "jax" and "float64" not in str(Xn.dtype):
        import jax

        if not jax.config.jax_enable_x64:
            raise ValueError(
                "dtype='float64' with jax arrays needs jax's x64 mode, which is off; enable it with "
                "jax.config.update('jax_enable_x64', True) or pass numpy arrays (gdcore then runs "
                "jax in float64 locally and returns numpy results)."
            )

    with be.context(dt):
        Xb = be.asarray(Xn, dt, dev)
        xp = be.xp
        sb = be.state_backend
        if not be.validates_in_factor():  # else checked in the analysis pass
            check_finite(Xb, "X", xp, be.to_numpy, be.host_view)
        scaling = None
        if standardize:
            Xb, mean, scale = core.standardize(Xb, xp)
            scaling = (be.to_numpy(mean).astype(np.float64), be.to_numpy(scale).astype(np.float64))
        Yb, y_1d, m = None, False, 1
        if y is not None:
            yn, _ = native(y, "y")
            _native_kind(yn, library_of(yn), "y")
            if len(yn.shape) not in (1, 2):
                raise ValueError(f"y must be 1-D (n,) or 2-D (n, m), got shape {tuple(yn.shape)}.")
            if yn.shape[0] != n:
                raise ValueError(
                    f"y has {yn.shape[0]} rows but X has {n}; y needs one row per row of X."
                )
            y_1d = len(yn.shape) == 1
            m = 1 if y_1d else yn.shape[1]
            if m == 0:
                raise ValueError("y has no columns; pass at least one target column.")
            Yb = be.asarray(yn, dt, dev)
            if not be.validates_in_factor():
                check_finite(Yb, "y", xp, be.to_numpy, be.host_view)
            if tuple(Yb.shape) != (n, m):
                view = be.host_view(Yb)
                Yb = xp.reshape(Yb, (n, m)) if view is None else be.asarray(
                    view.reshape(n, m), dt, be.state_device(Xb))
        if w0 is None:  # made in numpy: no op of the backend's (an XLA compile on jax)
            W0 = sb.asarray(np.zeros((d, m)), dt, be.state_device(Xb))
        else:
            wn, _ = native(w0, "w0")
            shape = tuple(wn.shape)
            if shape not in ((d,), (d, m)) or (len(shape) == 1 and m != 1):
                want = f"({d},)" if m == 1 else f"({d}, {m})"
                raise ValueError(f"w0 must have shape {want} to match X and y, got {shape}.")
            W0 = sb.asarray(wn, dt, dev)
            check_finite(W0, "w0", sb.xp, sb.to_numpy)
            W0 = sb.xp.reshape(W0, (d, m))
    out_lib = "numpy" if x_lib in (None, "pandas", "dask") else x_lib
    return Prepared(be, Xb, Yb, W0, y_1d, dt, dev, out_lib, X if out_lib == x_lib else None,
                    scaling, sb)


def to_library(x, prep: Prepared):
    """A state-backend array ``x`` as an array of the user's library (the library of ``X``)."""
    be = prep.state
    if prep.out_library == _backend_library(be):
        return x
    host = be.to_numpy(x)
    lib = prep.out_library
    if lib == "numpy":
        return host
    if lib == "torch":
        import torch

        return torch.as_tensor(host, device=device_of(prep.out_like))
    if lib == "jax":
        import jax

        return jax.device_put(host, device_of(prep.out_like))
    if lib == "array_api_strict":
        import array_api_strict

        return array_api_strict.asarray(host)
    return host


def _backend_library(be) -> str:
    return {"array-api-strict": "array_api_strict"}.get(be.name, be.name)


# -- options of a run -------------------------------------------------------

_METHODS = ("direct", "gram", "auto", None)


def check_run_options(epochs, rtol, divergence_factor, method):
    """``epochs``, ``rtol``, ``divergence_factor`` and ``method`` of a run, checked."""
    epochs = check_epochs(epochs)
    rtol = check_positive(rtol, "rtol", below=1.0)
    divergence_factor = check_positive(divergence_factor, "divergence_factor")
    if divergence_factor <= 1:
        raise ValueError(f"divergence_factor must be > 1 (default 1e6), got {divergence_factor!r}.")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")
    return epochs, rtol, divergence_factor


def check_batch(batch_size, seed, n):
    """``(batch_size, seed)`` of mini-batch SGD (``(None, 0)`` for full batch)."""
    if batch_size is None:
        return None, 0
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer (or None for full batch), got {batch_size!r}.")
    if seed is None:
        seed = 0
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    return min(int(batch_size), n), int(seed)


def schedule_table(sched, epochs) -> np.ndarray:
    """The schedule's lr for every epoch, each a finite number >= 0."""
    table = sched.table(max(epochs, 1))
    bad = ~np.isfinite(table) | (table < 0)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(
            f"the learning-rate schedule gave lr={table[k]!r} at epoch {k}; every lr must be a "
            "finite number >= 0."
        )
    return table


def check_representable(lrs, dtype) -> None:
    """Every learning rate must stay a finite number > 0 in the working dtype."""
    lrs = np.asarray(lrs, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        cast = lrs.astype(dtype)
    bad = (cast == 0) | ~np.isfinite(cast)
    if bad.any():
        lr = float(lrs[np.argmax(bad)])
        where = "0" if cast[np.argmax(bad)] == 0 else "inf"
        raise ValueError(
            f"lr={lr:.3g} rounds to {where} in {dtype}, so gradient descent could not move "
            f"(or would jump to inf); use dtype='float64', or rescale X so that lr_crit is "
            "closer to 1 (standardize=True: a scale s on X scales lr_crit by 1/s**2)."
        )


def check_numbers(values, name) -> np.ndarray:
    """``values`` as a float64 array; text and bools are refused, not converted."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        return values.astype(np.float64)  # a numeric array holds no text or bools: no scan
    bad = TypeError(f"{name} must be a sequence of numbers (not text or bools), got {values!r}.")
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError):
        raise bad from None
    if arr.dtype.kind in "bSU" or any(isinstance(v, (bool, np.bool_, str, bytes))
                                      for v in np.ravel(np.asarray(values, dtype=object))):
        raise bad
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        raise bad from None


def check_lrs(lrs) -> np.ndarray:
    """A non-empty 1-D sequence of finite learning rates > 0, as host float64."""
    arr = check_numbers(lrs, "lrs")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"lrs must be a non-empty 1-D sequence of learning rates, got shape {arr.shape}; "
            "e.g. numpy.geomspace(0.01, 2, 50)."
        )
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        raise ValueError(
            f"every lr must be a finite number > 0; lrs[{int(np.argmax(bad))}] = {arr[bad][0]!r}."
        )
    return arr


def check_betas(betas, default=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)) -> np.ndarray:
    """The explorer's momentum grid: values in [0, 1), sorted, with 0 (plain GD) first."""
    if betas is None:
        return np.asarray(default)
    try:
        arr = np.atleast_1d(np.asarray(betas, dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"betas must be a sequence of numbers in [0, 1), got {betas!r}.") from None
    if arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any((arr < 0) | (arr >= 1)):
        raise ValueError(f"every momentum in betas must be a number in [0, 1), got {arr.tolist()}; "
                         "e.g. betas=[0, 0.5, 0.9].")
    return np.unique(np.concatenate([[0.0], arr]))  # sorted, 0 (plain GD) first
