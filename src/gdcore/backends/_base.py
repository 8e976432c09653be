"""What every backend provides, and the shared eager driver."""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any, NamedTuple

from gdcore import core

__all__ = ["BackendBase", "Problem", "RunOutput", "Update"]


class Problem(NamedTuple):
    """A batch of K runs, in one backend's arrays (built by the front end).

    ``method="direct"`` evaluates the loss from ``X`` and ``Y`` every epoch;
    ``method="gram"`` from ``G = X^T X / n``, ``W_star`` and ``loss_star``.
    """

    X: Any  # (n, d) or None on the gram path
    Y: Any  # (n, m) or None on the gram path
    G: Any  # (d, d) or None on the direct path
    W_star: Any  # (d, m) or None on the direct path
    loss_star: float
    W0: Any  # (d, K*m)
    lrs: Any  # (K,)
    m: int
    method: str
    n: int | None = None  # real rows when X was padded with zero rows (sharding)


class Update(NamedTuple):
    """How the weights move: plain GD by default.

    ``betas`` (backend (K,) array) turns on heavy-ball momentum, with
    ``nesterov`` the look-ahead variant; ``lr_mult`` (host float64, one factor
    per epoch) is a learning-rate schedule; ``batch_size``/``seed`` make it
    mini-batch SGD with a seeded shuffle of the rows every epoch.
    """

    betas: Any = None
    nesterov: bool = False
    lr_mult: Any = None
    batch_size: int | None = None
    seed: int | None = None


class RunOutput(NamedTuple):
    """What a backend's run returns: final weights (d, K*m), per-run epochs (host ints),
    the (epochs_run + 1, K) loss rows (backend array) and the weight history or None."""

    W: Any
    converged_epoch: Any
    diverged_epoch: Any
    losses: Any
    history: Any


class BackendBase:
    """Base class: eager epoch loop over :mod:`gdcore.core`, analytic gradients.

    Subclasses set ``name``, ``xp``, implement :meth:`asarray` and
    :meth:`resolve_device`, and override :meth:`value_and_grad` (autograd) or
    :meth:`run` (a compiled loop).
    """

    name = "?"
    gradient = "analytic"
    lazy = False  # True: validation is folded into the analysis pass (dask)
    default_method = "direct"  # what fit(method=None) runs

    @property
    def state_backend(self):
        """Backend whose arrays hold the weights and run state (dask keeps them in numpy)."""
        return self

    def factor(self, X, Y):
        """Host float64 R factor of ``[X | Y]`` (of ``X`` when ``Y`` is None), one pass over X.

        See :func:`gdcore.core.tsqr`; the analysis takes everything it reports
        (``w*``, ``L*``, the spectrum, the rank) from this small factor.
        """
        import numpy as np

        R = core.tsqr(X, Y, self.xp, dtype=self.dtype("float64"), qr_r=self.qr_r)
        return self.to_numpy(R).astype(np.float64)

    def qr_r(self, A):
        """R factor of a tall matrix ``A`` (the standard's ``linalg.qr``; R-only where cheaper)."""
        return self.xp.linalg.qr(A)[1]

    def distribute(self, problem, update, devices):
        """Spread the rows of X over several devices (jax only)."""
        raise ValueError(
            f"devices= is for backend='jax' (row sharding over jax devices); backend "
            f"{self.name!r} runs on one device. Drop devices= or use backend='jax'."
        )

    # -- arrays ---------------------------------------------------------
    def resolve_device(self, device):
        """Native device for ``device`` (None/'cpu'/'cuda'/'gpu'), or a clear error."""
        if device is None or device == "cpu":
            return None
        if device in ("cuda", "gpu"):
            raise ValueError(
                f"device={device!r} is not available on backend {self.name!r}, which runs on the "
                "CPU only; use backend='torch' or backend='jax' for a GPU, or device='cpu'."
            )
        raise ValueError(f"unknown device {device!r}; use None, 'cpu', 'cuda' or 'gpu'.")

    def default_float(self) -> str:
        return "float64"

    def float_dtypes(self) -> tuple[str, ...]:
        return ("float32", "float64")

    def dtype(self, name: str):
        return getattr(self.xp, name)

    def asarray(self, data, dtype: str, device):
        """``data`` (numpy or this library's array) as this library's array."""
        raise NotImplementedError

    @staticmethod
    def to_numpy(x):
        import numpy as np

        return np.asarray(x)

    def context(self, dtype: str):
        """Context entered around all work of one call (e.g. jax's local x64)."""
        return contextlib.nullcontext()

    # -- running ----------------------------------------------------------
    def loss_fn(self, p: Problem):
        """Per-run loss as a function of W, written once against the standard."""
        if p.method == "gram":
            return partial(core.gram_loss, p.G, p.W_star, p.loss_star, xp=self.xp)
        return partial(core.direct_loss, p.X, p.Y, xp=self.xp, n=p.n)

    def value_and_grad(self, p: Problem):
        """Per-run losses and gradient at W; here the analytic gradient.

        The direct path visits ``X`` in row blocks (:func:`gdcore.core.blockwise`),
        so each epoch reads ``X`` from memory once.
        """
        if p.method == "gram":
            return partial(core.gram_grad, p.G, p.W_star, p.loss_star, xp=self.xp)
        n = p.X.shape[0] if p.n is None else p.n
        block = partial(core.direct_grad, xp=self.xp, n=n)
        return partial(core.blockwise, block, p.X, p.Y, rows=self.block_rows(p))

    def block_rows(self, p: Problem) -> int:
        """Rows per block of the direct path's one-pass gradient."""
        return core.block_rows(p.X.shape[1], p.W0.shape[1])

    def index(self, host_idx, like):
        """A host integer array as an index array next to ``like``."""
        from gdcore._compat import device

        return self.xp.asarray(host_idx, device=device(like))

    def batches(self, p: Problem, upd: Update):
        """``batches(epoch)`` for SGD: a value_and_grad per mini-batch of a seeded shuffle."""
        import numpy as np

        n = p.X.shape[0]
        rng = np.random.default_rng(upd.seed)
        xp = self.xp

        def per_epoch(epoch):
            perm = rng.permutation(n)  # drawn in epoch order: the same on every backend
            for start in range(0, n, upd.batch_size):
                idx = self.index(perm[start : start + upd.batch_size], p.X)
                sub = p._replace(X=xp.take(p.X, idx, axis=0), Y=xp.take(p.Y, idx, axis=0))
                yield self.value_and_grad(sub)

        return per_epoch

    def run(self, p: Problem, upd: Update, *, epochs, rtol, divergence_factor,
            stop_on_convergence, record_weights) -> RunOutput:
        xp = self.xp
        state, rows, history = core.run_eager(
            self.value_and_grad(p), self.loss_fn(p), p.W0, p.lrs, p.m, epochs=epochs,
            loss_star=p.loss_star, rtol=rtol, divergence_factor=divergence_factor,
            stop_on_convergence=stop_on_convergence, record_weights=record_weights, xp=xp,
            betas=upd.betas, nesterov=upd.nesterov, lr_mult=upd.lr_mult,
            batches=self.batches(p, upd) if upd.batch_size else None,
        )
        hist = xp.stack(history) if record_weights else None
        return RunOutput(state.W, state.converged_epoch, state.diverged_epoch, rows, hist)
