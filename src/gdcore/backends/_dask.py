"""dask backend: data larger than one machine, on whatever dask scheduler is active.

X and y are ``dask.array`` arrays chunked by rows; the computation runs on the
default dask scheduler, i.e. on the ``dask.distributed`` Client the user has
created (a LocalCluster, or a real cluster), else dask's threads.

The MSE makes this cheap: one distributed pass computes the R factor of ``[X | y]`` (a tall-skinny QR
over row chunks, in float64), and from then on the optimum, the spectrum and *every* epoch of every learning rate run locally on
the d x d result with numpy (``method="auto"`` or ``"gram"``).  The weights,
losses and all other state are small numpy arrays, and results come back as
numpy.  ``method="direct"`` stays available for honesty: it builds and computes
one graph per epoch (one distributed pass each), so it is slow — use it to
check the Gram path, not for work.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import array_api_compat.dask.array as _compat_dask_array

from gdcore import core
from gdcore.backends._base import BackendBase
from gdcore.backends._numpy import BACKEND as NUMPY

__all__ = ["BACKEND"]

_DEFAULT_CHUNK_ROWS = 100_000


class DaskBackend(BackendBase):
    name = "dask"
    gradient = "analytic"
    xp = _compat_dask_array
    state_backend = NUMPY  # weights and run state live in numpy on the client

    def validates_in_factor(self):
        """Yes: the one distributed pass checks X and y for non-finite values too."""
        return True

    def default_method(self):
        """"auto": a direct epoch is a distributed pass, so only on request."""
        return "auto"

    def supports_minibatches(self):
        """No: each mini-batch would be a distributed pass."""
        return False

    def context(self, dtype):
        return NUMPY.context(dtype)  # the run state is numpy's

    def check_input(self, obj, name, target):
        """A dask array stays distributed: only the dask backend may read it."""
        if target is not self:
            raise TypeError(
                f"{name} is a dask array but backend={target.name!r} would load all of it into "
                "this process's memory; pass backend='dask' (or leave backend= unset) to keep it "
                f"distributed, or {name}.compute() if it fits in memory."
            )
        return obj

    def asarray(self, data, dtype, device):
        if isinstance(data, da.Array):
            return data.astype(dtype)
        arr = np.asarray(data, dtype=dtype)
        if arr.ndim == 2 and arr.shape[0] > _DEFAULT_CHUNK_ROWS:
            return da.from_array(arr, chunks=(_DEFAULT_CHUNK_ROWS, -1))
        return da.from_array(arr, chunks=arr.shape or ())

    @staticmethod
    def to_numpy(x):
        return np.asarray(x.compute() if isinstance(x, da.Array) else x)

    def factor(self, X, Y):
        """R factor of ``[X | Y]`` in float64 by ``dask.array.linalg.tsqr``: one distributed pass.

        Each row chunk is factored where it lives and only the small R factors
        travel, so the pass never gathers X (see :func:`gdcore.core.tsqr`).
        """
        A = X.astype(np.float64)
        if Y is not None:
            A = da.concatenate([A, Y.astype(np.float64)], axis=1)
        _, R = da.linalg.tsqr(A.rechunk({1: -1}))
        R = np.asarray(R.compute())
        k = A.shape[1]
        if R.shape[0] < k:  # fewer rows than columns: pad the factor to square
            R = np.vstack([R, np.zeros((k - R.shape[0], k))])
        return R

    def value_and_grad(self, p):
        """The reduced problem runs locally in numpy; the data problem makes one pass per call."""
        if isinstance(p, core.ReducedProblem):
            return NUMPY.value_and_grad(p)

        def value_and_grad(W):  # one distributed pass per call
            loss, grad = dask.compute(*p.value_and_grad(W, self.xp))
            return np.asarray(loss), np.asarray(grad)

        return value_and_grad

    def loss_fn(self, p):
        if isinstance(p, core.ReducedProblem):
            return NUMPY.loss_fn(p)
        return lambda W: np.asarray(dask.compute(p.loss(W, self.xp))[0])


BACKEND = DaskBackend()
