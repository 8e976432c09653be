"""numpy backend: the analytic gradient ``(2/n) X^T (X w - y)``."""

from __future__ import annotations

import numpy as np
from array_api_compat import numpy as xp_numpy

from gdcore.backends._base import BackendBase

__all__ = ["BACKEND"]


class NumpyBackend(BackendBase):
    name = "numpy"
    gradient = "analytic"
    xp = xp_numpy

    def asarray(self, data, dtype, device):
        return np.asarray(data, dtype=dtype)

    def check_input(self, obj, name, target):
        """A masked array's mask would be dropped by every read: refuse masked entries.

        ``numpy.asarray`` of a masked array returns the values under the mask
        too (a masked outlier would set lr_crit), so an array with masked
        entries is refused with what to do; one with none is its values.
        """
        if isinstance(obj, np.ma.MaskedArray):
            masked = int(np.count_nonzero(np.ma.getmaskarray(obj)))
            if masked:
                fill = f"fill them ({name}.filled(value))"
                if name in ("X", "y"):
                    rows = f"~numpy.ma.getmaskarray({name})" + (".any(axis=1)" if obj.ndim == 2 else "")
                    fill = f"drop the masked rows from X and y alike (keep = {rows}) or {fill}"
                raise ValueError(
                    f"{name} is a numpy masked array with {masked} masked "
                    f"{'entry' if masked == 1 else 'entries'}, and gdcore would read the values "
                    f"under the mask as data; {fill}, then pass a plain array."
                )
            return np.ma.getdata(obj)
        return obj

    def qr_r(self, A):
        return np.linalg.qr(A, mode="r")  # LAPACK geqrf without forming Q

    def context(self, dtype):
        # Divergent runs overflow by design; the run reports "diverged" instead
        # of letting RuntimeWarnings reach the user.
        return np.errstate(all="ignore")


BACKEND = NumpyBackend()
