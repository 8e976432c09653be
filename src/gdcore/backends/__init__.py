"""Backend registry: one module per array library, imported only when asked for.

``import gdcore`` imports none of torch, jax, array_api_strict or dask; the
first ``fit(..., backend="torch")`` (or the first torch ``X``) imports
:mod:`gdcore.backends._torch`, which imports torch.  A backend whose package is
missing raises :class:`BackendUnavailable` naming the extra to install.

Everything that names a backend is one row of :data:`TABLE`: adding a backend
is one module defining ``BACKEND`` (a :class:`~gdcore.backends._base.BackendBase`)
and one row here.  The default backend (``backend=None``, or ``"auto"``)
follows the inputs: the library of ``X``, else that of the user's model, else
numpy (:func:`resolve_name`).
"""

from __future__ import annotations

import enum
import importlib
import sys
from typing import NamedTuple

import numpy as np

from gdcore._errors import BackendUnavailable

__all__ = [
    "TABLE",
    "Backend",
    "BackendRow",
    "BackendUnavailable",
    "available",
    "for_library",
    "get",
    "host",
    "library_of_model",
    "resolve_name",
    "wrap_model",
]


class BackendRow(NamedTuple):
    """One backend: how users spell it, what it needs, where it lives, whose arrays it holds."""

    name: str  #: the ``backend=`` spelling and the :class:`Backend` value
    package: str  #: top-level import name of the third-party package it needs
    extra: str | None  #: the ``gdcore[...]`` extra that installs it (None: a dependency of gdcore)
    module: str  #: the gdcore module whose ``BACKEND`` implements it
    library: str  #: its arrays' library as :func:`gdcore._compat.library_of` names it
    aliases: tuple[str, ...] = ()  #: other accepted spellings of ``name``


# Order matters twice: it is the order of Backend (and of the tests' backend fixture), and
# wrap_model asks the backends in this order, so torch (a Module is callable) precedes jax
# (which takes any other callable as a function model apply(params, X)).
TABLE: tuple[BackendRow, ...] = (
    BackendRow("numpy", "numpy", None, "gdcore.backends._numpy", "numpy", ("np",)),
    BackendRow("torch", "torch", "torch", "gdcore.backends._torch", "torch"),
    BackendRow("jax", "jax", "jax", "gdcore.backends._jax", "jax"),
    BackendRow("array-api-strict", "array_api_strict", "strict", "gdcore.backends._strict",
               "array_api_strict", ("array_api_strict", "strict")),
    BackendRow("dask", "dask", "dask", "gdcore.backends._dask", "dask"),
)
_BY_NAME = {spelling: row for row in TABLE for spelling in (row.name, *row.aliases)}
_BY_LIBRARY = {row.library: row for row in TABLE}
_PLAIN = (None, "numpy", "pandas")  # inputs that leave the choice to the model, else numpy


class _BackendName(str):
    """What every :class:`Backend` member knows: its row of :data:`TABLE`."""

    __slots__ = ()

    @property
    def row(self) -> BackendRow:
        """The member's row of :data:`TABLE`."""
        return _BY_NAME[self.value]

    @property
    def package(self) -> str:
        """The third-party package the backend needs."""
        return self.row.package

    @property
    def extra(self) -> str | None:
        """The ``gdcore[...]`` extra that installs the package (None for numpy, a dependency)."""
        return self.row.extra

    @property
    def module(self) -> str:
        """The gdcore module that implements the backend."""
        return self.row.module

    @property
    def library(self) -> str:
        """The array library of the backend's arrays, as ``_compat.library_of`` names it."""
        return self.row.library


Backend = enum.Enum(
    "Backend", [(row.name.upper().replace("-", "_"), row.name) for row in TABLE],
    type=_BackendName, module=__name__, qualname="Backend",
)
Backend.__doc__ = """The backends gdcore runs on, one member per row of :data:`TABLE`.

A ``str`` enum: ``Backend("torch") == "torch"``; ``.package``, ``.extra``,
``.module`` and ``.library`` read the member's row.

Examples
--------
>>> from gdcore.backends import Backend
>>> Backend("array-api-strict").package, Backend.NUMPY.value
('array_api_strict', 'numpy')
"""

_loaded: dict = {}


def _choices() -> str:
    return ", ".join(repr(row.name) for row in TABLE)


def resolve_name(backend=None, library: str | None = None,
                 model_library: str | None = None) -> Backend:
    """Turn a user's ``backend=`` argument into a :class:`Backend` (imports nothing).

    Parameters
    ----------
    backend : str, Backend or None
        A backend's name or alias; ``None`` or ``"auto"`` follows the inputs.
    library : str or None
        The array library of ``X`` (:func:`gdcore._compat.library_of`).
    model_library : str or None
        The array library of the user's model (:func:`library_of_model`).

    Returns
    -------
    Backend
        ``backend`` itself when given; else the backend of ``library`` when
        that is an array library other than numpy, else that of
        ``model_library``, else numpy.

    Examples
    --------
    >>> from gdcore.backends import resolve_name
    >>> resolve_name("np").value, resolve_name(None, "torch").value
    ('numpy', 'torch')
    >>> resolve_name(None, "numpy", model_library="torch").value, resolve_name("auto").value
    ('torch', 'numpy')
    """
    if isinstance(backend, Backend):
        return backend
    if backend is None:
        name = "auto"
    elif isinstance(backend, str):
        name = backend.lower()
    else:
        raise TypeError(
            f"backend must be a string such as 'numpy', got {type(backend).__name__}; "
            f"choose one of {_choices()}, or None to follow the inputs."
        )
    if name == "auto":
        for lib in (library, model_library):
            if lib in _PLAIN:
                continue
            if lib not in _BY_LIBRARY:
                raise TypeError(
                    f"no backend runs on arrays from {lib!r}; convert them to numpy (or torch, "
                    f"jax) first, or pass backend= one of {_choices()}."
                )
            return Backend(_BY_LIBRARY[lib].name)
        return Backend.NUMPY
    row = _BY_NAME.get(name)
    if row is None:
        raise ValueError(
            f"unknown backend {backend!r}; choose one of {_choices()}, or None to follow the "
            "inputs."
        )
    return Backend(row.name)


def get(backend=None, library: str | None = None, *, model=None):
    """The backend implementation object for ``backend`` (imports it on first use).

    Parameters
    ----------
    backend : str, Backend or None
        As in :func:`resolve_name`: ``None`` or ``"auto"`` follows the inputs.
    library : str or None
        The array library of ``X``.
    model : object, optional
        The user's model: when ``backend`` is None and ``X`` is numpy (or a
        list, pandas), a model of another library (a ``torch.nn.Module``)
        picks that library's backend.

    Raises
    ------
    BackendUnavailable
        When the backend's package is not installed.

    Examples
    --------
    >>> from gdcore import backends
    >>> backends.get().name, backends.get("auto", "numpy").name
    ('numpy', 'numpy')
    """
    model_library = None
    if model is not None and library in _PLAIN and (
            backend is None or (isinstance(backend, str) and backend.lower() == "auto")):
        model_library = library_of_model(model)
    b = resolve_name(backend, library, model_library)
    if b not in _loaded:
        try:
            importlib.import_module(b.package)
        except ImportError as exc:
            how = f'"gdcore[{b.extra}]"' if b.extra else b.package
            raise BackendUnavailable(
                f"backend {b.value!r} needs the {b.package!r} package, which is not installed "
                f"({exc}); install it with: pip install {how}"
            ) from exc
        _loaded[b] = importlib.import_module(b.module).BACKEND
    return _loaded[b]


def for_library(library: str | None):
    """The backend object of an array library as ``_compat.library_of`` names it.

    ``None`` (lists, scalars) and ``"pandas"`` are numpy's.

    Raises
    ------
    TypeError
        For a library no backend holds.

    Examples
    --------
    >>> from gdcore import backends
    >>> backends.for_library("pandas").name
    'numpy'
    """
    if library in _PLAIN:
        return get("numpy")
    if library not in _BY_LIBRARY:
        raise TypeError(
            f"no backend holds arrays from {library!r}; convert them to numpy (or torch, jax) first."
        )
    return get(_BY_LIBRARY[library].name)


def _imported():
    """The backends whose package the user has already imported, in :data:`TABLE` order.

    Never imports a package: a user's model of a library can only exist once
    that library is imported.
    """
    for row in TABLE:
        if row.package in sys.modules:
            try:
                yield get(row.name)
            except BackendUnavailable:  # a package blocked or half-imported: not its model
                continue


def wrap_model(obj):
    """A user's model of an array library as a gdcore model, or None when no backend knows it.

    Each backend whose library is imported is asked in turn
    (:meth:`~gdcore.backends._base.BackendBase.wrap_model`): torch wraps a
    ``torch.nn.Module``, jax a callable ``apply(params, X)``.  The wrapped
    model's ``backend`` attribute names the backend it runs on.

    Examples
    --------
    >>> from gdcore import backends
    >>> backends.wrap_model("mlp") is None
    True
    """
    for be in _imported():
        wrapped = be.wrap_model(obj)
        if wrapped is not None:
            return wrapped
    return None


def library_of_model(obj) -> str | None:
    """The array library of a user's model (``"torch"``, ``"jax"``), or None for anything else.

    Examples
    --------
    >>> from gdcore import backends
    >>> backends.library_of_model(None) is None
    True
    """
    if obj is None:
        return None
    wrapped = wrap_model(obj)
    return None if wrapped is None else Backend(wrapped.backend).library


def available() -> list[str]:
    """Names of the backends whose packages are importable, without importing them."""
    import importlib.util

    return [row.name for row in TABLE if importlib.util.find_spec(row.package) is not None]


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
