"""array-api-strict backend: the core on the minimal standard namespace.

It exists to prove that :mod:`gdcore.core` uses nothing outside the array API
standard: any non-standard call fails here.  Gradients are analytic.
"""

from __future__ import annotations

import array_api_strict as xp_strict
import numpy as np

from gdcore.backends._base import BackendBase

__all__ = ["BACKEND"]


class StrictBackend(BackendBase):
    name = "array-api-strict"
    gradient = "analytic"
    xp = xp_strict

    def asarray(self, data, dtype, device):
        if type(data).__module__.startswith("array_api_strict"):
            return xp_strict.astype(data, getattr(xp_strict, dtype))
        return xp_strict.asarray(np.asarray(data, dtype=dtype))

    def context(self, dtype):
        return np.errstate(all="ignore")  # array_api_strict computes with numpy


BACKEND = StrictBackend()
