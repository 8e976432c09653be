"""Backend registry: one module per array library, imported only when asked for.

``import gdcore`` imports none of torch, jax or array_api_strict; the first
``fit(..., backend="torch")`` imports :mod:`gdcore.backends._torch`, which
imports torch.  A backend whose package is missing raises
:class:`BackendUnavailable` naming the extra to install.
"""

from __future__ import annotations

import enum
import importlib

import numpy as np

from gdcore._errors import BackendUnavailable

__all__ = ["Backend", "BackendUnavailable", "available", "get", "host", "resolve_name"]


class Backend(str, enum.Enum):
    """The backends gdcore runs on; each value is the module that implements it."""

    NUMPY = "numpy"
    TORCH = "torch"
    JAX = "jax"
    ARRAY_API_STRICT = "array-api-strict"
    DASK = "dask"

    @property
    def package(self) -> str:
        """The third-party package the backend needs."""
        return {"array-api-strict": "array_api_strict"}.get(self.value, self.value)

    @property
    def extra(self) -> str:
        """The ``gdcore[...]`` extra that installs the package."""
        return {"array-api-strict": "strict"}.get(self.value, self.value)

    @property
    def module(self) -> str:
        return "gdcore.backends._" + {"array-api-strict": "strict"}.get(self.value, self.value)


_ALIASES = {"array_api_strict": "array-api-strict", "strict": "array-api-strict", "np": "numpy"}
_LIBRARY_TO_BACKEND = {
    "numpy": Backend.NUMPY,
    "pandas": Backend.NUMPY,
    "torch": Backend.TORCH,
    "jax": Backend.JAX,
    "array_api_strict": Backend.ARRAY_API_STRICT,
    "dask": Backend.DASK,
}
_loaded: dict = {}


def resolve_name(backend, library: str | None = None) -> Backend:
    """Turn a user's ``backend=`` argument into a :class:`Backend`.

    ``"auto"`` picks the backend of ``library`` (the array library of ``X``),
    numpy for plain lists.
    """
    if isinstance(backend, Backend):
        return backend
    if not isinstance(backend, str):
        raise TypeError(
            f"backend must be a string such as 'numpy', got {type(backend).__name__}; "
            f"choose one of {', '.join(repr(b.value) for b in Backend)} or 'auto'."
        )
    name = _ALIASES.get(backend.lower(), backend.lower())
    if name == "auto":
        if library is None:
            return Backend.NUMPY
        if library not in _LIBRARY_TO_BACKEND:
            raise TypeError(
                f"backend='auto' cannot run on arrays from {library!r}; convert X to numpy "
                "or pass backend='numpy', 'torch' or 'jax'."
            )
        return _LIBRARY_TO_BACKEND[library]
    try:
        return Backend(name)
    except ValueError:
        raise ValueError(
            f"unknown backend {backend!r}; choose one of "
            f"{', '.join(repr(b.value) for b in Backend)} or 'auto'."
        ) from None


def get(backend, library: str | None = None):
    """The backend implementation object for ``backend`` (imports it on first use).

    Raises
    ------
    BackendUnavailable
        When the backend's package is not installed.
    """
    b = resolve_name(backend, library)
    if b not in _loaded:
        try:
            importlib.import_module(b.package)
        except ImportError as exc:
            raise BackendUnavailable(
                f"backend {b.value!r} needs the {b.package!r} package, which is not installed "
                f"({exc}); install it with: pip install \"gdcore[{b.extra}]\""
            ) from exc
        _loaded[b] = importlib.import_module(b.module).BACKEND
    return _loaded[b]


def available() -> list[str]:
    """Names of the backends whose packages are importable, without importing them."""
    import importlib.util

    return [b.value for b in Backend if importlib.util.find_spec(b.package) is not None]


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
