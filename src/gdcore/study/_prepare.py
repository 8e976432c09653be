"""Conversion of the user's arrays into a backend's, done before any work.

:func:`prepare` checks ``X``, ``y`` and ``w0`` (shapes, finiteness, one array
library per call), picks the backend and returns a :class:`Prepared` value;
:func:`to_library` converts a result back to the user's array library.  What
is particular to one array library (torch's sparse tensors, jax's x64 mode,
dask's distributed arrays, putting a result on the user's device) is asked of
that library's backend, never spelled out here.
"""

from __future__ import annotations

import array
import numbers
import sys
from typing import Any, NamedTuple

import numpy as np

from gdcore import backends, core
from gdcore._checks import _FLOAT_NAMES, check_finite, dtype_name
from gdcore._compat import array_namespace, library_of

__all__ = ["Prepared", "prepare", "to_library"]


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

    def to_user(self, x):
        """A host (numpy) or state-backend array as an array of the user's library, on X's device."""
        be = self.backend
        with be.context(self.dtype):
            if isinstance(x, np.ndarray):
                x = self.state.asarray(np.ascontiguousarray(x), self.dtype, be.state_device(self.X))
            return to_library(x, self)




def _pandas_numpy(obj, name):
    """A pandas DataFrame/Series as a numpy array (``pd.NA`` becomes NaN).

    Every numeric and bool column is a number, whatever the mix: the float
    and bool columns of ``pd.get_dummies``, nullable ``Float64``/``Int64``/
    ``boolean`` columns, object columns that hold only numbers.  Text,
    categorical, datetime and other columns are refused by name, with a value
    of the first one.
    """
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    frame = hasattr(obj, "columns")
    obj = obj.infer_objects()  # object columns holding only numbers (or bools) become numbers
    dtypes = list(obj.dtypes.items()) if frame else [(obj.name, obj.dtype)]
    bad = [col for col, dt in dtypes if not (is_numeric_dtype(dt) or is_bool_dtype(dt))]
    if bad:
        column = obj[bad[0]] if frame else obj
        shown = column.dropna()
        holder = repr(bad[0]) if frame else "it"
        example = f" ({holder} holds e.g. {shown.iloc[0]!r})" if len(shown) else ""
        what = (f"column(s) {', '.join(f'{col!r} ({dt})' for col, dt in dtypes if col in bad)} do not"
                if frame else f"its dtype is {obj.dtype}")
        raise TypeError(
            f"{name} must hold real numbers, but {what}{example}; convert them "
            "to numbers (pandas.get_dummies for categories, pandas.to_numeric for numbers stored "
            "as text) or drop them first."
        )
    kinds = [dt for _, dt in dtypes]
    if kinds and all(isinstance(dt, np.dtype) and dt.kind in "biuf" for dt in kinds):
        # Plain numpy columns: one dtype for all of them (float32 stays float32; bool next to
        # float becomes float); to_numpy() alone gives an object array for such a mix.
        return obj.to_numpy(dtype=np.result_type(*kinds))
    return obj.to_numpy(dtype=np.float64, na_value=np.nan)


# Plain data numpy reads exactly: Python containers, numbers and the standard library's buffers.
_PLAIN_TYPES = (list, tuple, numbers.Number, memoryview, array.array)


def _library(obj, name) -> str | None:
    """The array library of the argument ``name`` (None: plain data), or a TypeError.

    An array of a library no backend holds (an object with ``__array__`` or
    ``__dlpack__``, an array-API array of another library) is refused, never
    silently read as numpy.
    """
    lib = library_of(obj)
    if lib is None and (obj is None or isinstance(obj, _PLAIN_TYPES)):
        return None
    if lib == "pandas" or lib in {row.library for row in backends.TABLE}:
        return lib
    kind = type(obj).__qualname__
    if type(obj).__module__ != "builtins":
        kind = f"{type(obj).__module__}.{kind}"
    raise TypeError(
        f"{name} is a {kind}, which gdcore does not know how to "
        f"read; convert it to a numpy array (e.g. numpy.asarray({name}) or {name}.to_numpy()), "
        "a torch tensor or a jax array first, or pass a nested list of numbers."
    )


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


def prepare(X, y, w0=None, *, backend=None, device=None, dtype=None,
            standardize=False, model=None) -> Prepared:
    """Check ``X``, ``y``, ``w0`` and convert them to the backend's arrays.

    ``y`` may be ``None`` (for :func:`gdcore.stability`).  ``backend=None`` (or
    ``"auto"``) runs in the library of ``X``; when ``X`` is numpy, a list or
    pandas, in the library of ``model`` (a ``torch.nn.Module`` runs on torch),
    else on numpy.  Raises ``TypeError`` or ``ValueError`` (or
    :class:`gdcore.BackendUnavailable`) naming the argument and the fix, before
    any work is done.

    Examples
    --------
    >>> from gdcore.study._prepare import prepare
    >>> p = prepare([[1.0, 0.0], [0.0, 1.0]], [1.0, 2.0])
    >>> p.backend.name, p.out_library, tuple(p.X.shape), tuple(p.Y.shape)
    ('numpy', 'numpy', (2, 2), (2, 1))
    """
    libs = {}
    for name, obj in (("X", X), ("y", y), ("w0", w0)):
        lib = _library(obj, name)
        if lib is not None:
            libs[name] = "numpy" if lib == "pandas" else lib
    if len(set(libs.values())) > 1:
        pairs = ", ".join(f"{k} is {v}" for k, v in libs.items())
        raise TypeError(
            f"arrays from different array libraries in one call ({pairs}); convert them all "
            "to one library (e.g. all torch tensors) before calling gdcore."
        )
    x_lib = library_of(X)
    be = backends.get(backend, x_lib, model=model)
    dev = be.resolve_device(device)

    def native(obj, name):
        lib = library_of(obj)
        if lib in (None, "pandas"):
            return _as_numpy(obj, name), None
        return backends.for_library(lib).check_input(obj, name, be), lib

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
    # Results come back in the library of X's backend's run state: X's own, numpy for lists,
    # pandas and dask (whose weights live in numpy).
    out = backends.for_library(x_lib).state_backend
    out_lib = backends.Backend(out.name).library
    out.check_dtype(dt, Xn if out_lib == x_lib else None)  # can results come back in dt?

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
                if len(yn.shape) == 2 and yn.shape[1] == n:  # the targets along a row
                    fix = "y.ravel()" if yn.shape[0] == 1 else f"y.T (shape ({n}, {yn.shape[0]}))"
                    raise ValueError(
                        f"y has shape {tuple(yn.shape)}: its targets lie along a row, but y needs "
                        f"one row per row of X ({n} rows); pass {fix}."
                    )
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
            _native_kind(wn, library_of(wn), "w0")  # a complex w0 would lose its imaginary part
            shape = tuple(wn.shape)
            if shape not in ((d,), (d, m)) or (len(shape) == 1 and m != 1):
                want = f"({d},)" if m == 1 else f"({d}, {m})"
                raise ValueError(f"w0 must have shape {want} to match X and y, got {shape}.")
            W0 = sb.asarray(wn, dt, dev)
            check_finite(W0, "w0", sb.xp, sb.to_numpy)
            W0 = sb.xp.reshape(W0, (d, m))
    return Prepared(be, Xb, Yb, W0, y_1d, dt, dev, out_lib, X if out_lib == x_lib else None,
                    scaling, sb)


def to_library(x, prep: Prepared):
    """A state-backend array ``x`` as an array of the user's library (the library of ``X``),
    on the device of the user's ``X``."""
    out = backends.for_library(prep.out_library)
    if out is prep.state:
        return x
    return out.from_host(prep.state.to_numpy(x), prep.out_like)
