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
from gdcore.backends._base import BackendBase, RunOutput
from gdcore.backends._numpy import BACKEND as NUMPY

__all__ = ["BACKEND"]

_DEFAULT_CHUNK_ROWS = 100_000


class DaskBackend(BackendBase):
    name = "dask"
    gradient = "analytic"
    lazy = True  # validation and analysis happen in one distributed pass
    default_method = "auto"  # a direct epoch is a distributed pass: only on request
    xp = _compat_dask_array
    state_backend = NUMPY  # weights and run state live in numpy on the client

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
        if p.method == "gram":
            return NUMPY.value_and_grad(p)

        def value_and_grad(W):  # one distributed pass per call
            loss, grad = dask.compute(*core.direct_grad(p.X, p.Y, W, xp=self.xp))
            return np.asarray(loss), np.asarray(grad)

        return value_and_grad

    def loss_fn(self, p):
        if p.method == "gram":
            return NUMPY.loss_fn(p)
        return lambda W: np.asarray(dask.compute(core.direct_loss(p.X, p.Y, W, xp=self.xp))[0])

    def run(self, p, upd, *, epochs, rtol, divergence_factor, stop_on_convergence,
            record_weights) -> RunOutput:
        if upd.batch_size:
            raise ValueError(
                "mini-batch SGD is not available on the dask backend (each batch would be a "
                "distributed pass); fit a sample with backend='numpy', or drop batch_size."
            )
        if p.method == "gram":
            return NUMPY.run(p, upd, epochs=epochs, rtol=rtol,
                             divergence_factor=divergence_factor,
                             stop_on_convergence=stop_on_convergence,
                             record_weights=record_weights)
        xp = NUMPY.xp
        with NUMPY.context("float64"):
            state, rows, history = core.run_eager(
                self.value_and_grad(p), self.loss_fn(p), p.W0, p.lrs, p.m, epochs=epochs,
                loss_star=p.loss_star, rtol=rtol, divergence_factor=divergence_factor,
                stop_on_convergence=stop_on_convergence, record_weights=record_weights, xp=xp,
                betas=upd.betas, nesterov=upd.nesterov, lr_mult=upd.lr_mult,
            )
        hist = xp.stack(history) if record_weights else None
        return RunOutput(state.W, state.converged_epoch, state.diverged_epoch, rows, hist)


BACKEND = DaskBackend()
