"""gdcore's one entry to ``array_api_compat`` outside the backend modules.

The backend modules that wrap a library's namespace (``backends/_numpy.py``,
``_torch.py``, ``_dask.py``) import their ``array_api_compat`` namespace
themselves; everything else asks this module for a namespace (``xp``), an
array's device or the framework an array belongs to.  Framework detection
never imports a framework: ``array_api_compat``'s ``is_*_array`` helpers look
in ``sys.modules`` first, so asking "is this a torch tensor?" costs nothing
when torch was never imported.
"""

from __future__ import annotations

import sys

from array_api_compat import (
    array_namespace,
    device,
    is_array_api_obj,
    is_array_api_strict_namespace,
    is_dask_array,
    is_jax_array,
    is_numpy_array,
    is_torch_array,
    size,
    to_device,
)

__all__ = [
    "array_namespace",
    "device",
    "is_array_api_obj",
    "is_array_api_strict_array",
    "is_array_api_strict_namespace",
    "is_dask_array",
    "is_jax_array",
    "is_numpy_array",
    "is_torch_array",
    "library_of",
    "size",
    "to_device",
]


def is_array_api_strict_array(x: object) -> bool:
    """True for an ``array_api_strict`` array, without importing the package."""
    if "array_api_strict" not in sys.modules:
        return False
    return type(x).__module__.startswith("array_api_strict")


def library_of(x: object) -> str | None:
    """Name of the array library ``x`` belongs to, or ``None`` for plain data.

    Returns one of ``"numpy"``, ``"torch"``, ``"jax"``, ``"array_api_strict"``, ``"dask"``,
    ``"pandas"`` (pandas objects are numpy underneath) or ``None`` for Python
    scalars, lists and tuples.
    """
    if x is None or isinstance(x, (list, tuple, int, float)):
        return None
    if is_torch_array(x):
        return "torch"
    if is_dask_array(x):
        return "dask"
    if is_jax_array(x):
        return "jax"
    if is_array_api_strict_array(x):
        return "array_api_strict"
    if is_numpy_array(x):
        return "numpy"
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(x, (pd.DataFrame, pd.Series)):
        return "pandas"
    if is_array_api_obj(x):
        return type(x).__module__.split(".")[0]
    return None
