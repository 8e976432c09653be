"""What every backend provides: how to get the gradient, and how to loop.

The epoch driver is :func:`gdcore.core.drive`, the same for every backend.  A
backend supplies the rest through methods (never flags tested by callers):
its arrays (:meth:`BackendBase.asarray`, :meth:`BackendBase.context`), the
gradient (:meth:`BackendBase.value_and_grad`: analytic here, autograd on
torch, ``jax.grad`` on jax), the loop primitive (:attr:`BackendBase.loop`:
a Python loop here, ``lax.while_loop`` under ``jax.jit`` on jax) and the
one-pass factor the analysis reads (:meth:`BackendBase.factor`).
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any, NamedTuple

from gdcore import core
from gdcore._compat import device

__all__ = ["BackendBase", "RunOutput"]


class RunOutput(NamedTuple):
    """What a backend's run returns: final weights (d, K*m), per-run epochs (backend ints),
    the (epochs_run + 1, K) loss rows (backend array) and the weight history or None."""

    W: Any
    converged_epoch: Any
    diverged_epoch: Any
    losses: Any
    history: Any


class BackendBase:
    """Base class: analytic gradients and the eager loop over :func:`gdcore.core.drive`.

    Subclasses set ``name``, ``xp``, implement :meth:`asarray` and
    :meth:`resolve_device`, and override :meth:`value_and_grad` (autograd) or
    :meth:`run` (a compiled loop).
    """

    name = "?"
    gradient = "analytic"
    loop = core.EagerLoop

    @property
    def state_backend(self):
        """Backend whose arrays hold the weights and run state (dask keeps them in numpy)."""
        return self

    def state_device(self, X):
        """Device of the run state for data ``X``: ``X``'s own, or None (the state backend's default)."""
        return device(X) if self.state_backend is self else None

    def validates_in_factor(self) -> bool:
        """True when checking X and y for non-finite values is folded into :meth:`factor` (dask)."""
        return False

    def default_method(self) -> str:
        """What ``fit(method=None)`` runs: "direct" (every epoch reads X) unless that is costly."""
        return "direct"

    def supports_minibatches(self) -> bool:
        """Whether ``batch_size=`` (mini-batch SGD) can run here."""
        return True

    def factor(self, X, Y):
        """Host float64 R factor of ``[X | Y]`` (of ``X`` when ``Y`` is None), one pass over X.

        CholeskyQR2 (:func:`gdcore.core.cholesky_qr2`: two passes of matrix
        products) when ``[X | Y]`` is well enough conditioned for it, else the
        Householder TSQR (:func:`gdcore.core.tsqr`, one pass); the analysis takes everything it reports
        (``w*``, ``L*``, the spectrum, the rank) from this small factor.
        """
        import numpy as np

        f64 = self.dtype("float64")
        R = core.cholesky_qr2(X, Y, self.xp, dtype=f64)  # None: too ill-conditioned for it
        if R is None:
            R = core.tsqr(X, Y, self.xp, dtype=f64, qr_r=self.qr_r)
        return self.to_numpy(R).astype(np.float64)

    def qr_r(self, A):
        """R factor of a tall matrix ``A`` (the standard's ``linalg.qr``; R-only where cheaper)."""
        return self.xp.linalg.qr(A)[1]

    def distribute(self, problem, W0, lrs, opt, devices):
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

    def dtype(self, name: str):
        return getattr(self.xp, name)

    def asarray(self, data, dtype: str, device):
        """``data`` (numpy or this library's array) as this library's array."""
        raise NotImplementedError

    @staticmethod
    def to_numpy(x):
        import numpy as np

        return np.asarray(x)

    def from_host(self, host, like=None):
        """A host (numpy) result as this library's array, on the device of ``like`` (the user's
        array of this library), or on the default device when ``like`` is None."""
        return self.asarray(host, str(host.dtype), None if like is None else device(like))

    # -- the user's inputs and models ---------------------------------------
    def check_input(self, obj, name: str, target):
        """This library's array ``obj`` (the argument ``name``), checked before anything reads it.

        Returns the array to read (e.g. detached from an autograd graph), or
        raises ``TypeError``/``ValueError`` saying what to do for an array that
        holds no values gdcore can read, or that the chosen backend ``target``
        (a :class:`BackendBase`) should not read.  Here: ``obj`` unchanged.
        """
        return obj

    def check_dtype(self, dtype: str, like=None) -> None:
        """Raise ``ValueError`` when this library cannot hold results of ``dtype`` (a name)
        right now; ``like`` is the user's array of this library, if any.  Here: never."""

    def wrap_model(self, obj):
        """``obj`` as a gdcore model when it is a model of this library, else None.

        The wrapped model has ``backend`` (the backend it runs on) and
        ``check_backend(name)`` (raises when asked to run on another).  Here:
        None (numpy has no models of its own).
        """
        return None

    def host_view(self, x):
        """``x`` as a numpy array *without a copy* when it lives in host memory, else None.

        Lets small glue (checks, reshapes) run in numpy instead of as this
        library's ops; on jax every eager op on a new shape is an XLA compile.
        """
        return None

    def context(self, dtype: str):
        """Context entered around all work of one call (e.g. jax's local x64)."""
        return contextlib.nullcontext()

    # -- running ----------------------------------------------------------
    def loss_fn(self, p):
        """Per-run loss as a function of W (the problem's own, written against the standard)."""
        return partial(p.loss, xp=self.xp)

    def value_and_grad(self, p):
        """Per-run losses and gradient at W; here the problem's analytic gradient.

        The direct path visits ``X`` in row blocks (:func:`gdcore.core.blockwise`),
        so each epoch reads ``X`` from memory once.
        """
        runs = self._runs(p)
        if runs:
            return partial(p.value_and_grad, xp=self.xp, **runs)
        if not isinstance(p, core.DataProblem):
            return partial(p.value_and_grad, xp=self.xp)

        xp, d, rows = self.xp, p.X.shape[1], {}

        def value_and_grad(W):
            cols = W.shape[1]
            if cols not in rows:
                rows[cols] = core.block_rows(d, cols)
            return p.value_and_grad(W, xp, rows=rows[cols])

        return value_and_grad

    # -- curvature ------------------------------------------------------
    def hvp(self, p):
        """``hvp(W, V) -> H(W) V``, column by column: the Hessian of the summed per-run loss.

        Here (numpy, array-api-strict): the problem's own exact ``p.hvp(W, V, xp)``
        when it has one: the linear problems (``(2/n) X^T X V``, ``2 G V``) and
        a model with its own products (an :class:`gdcore.core.MLPSpec`: the
        R-operator through its backpropagation, exact for tanh and ReLU), run
        in blocks of runs as the gradient is.  Only a problem with no exact
        product (nothing gdcore builds; e.g. a test's own problem) falls back to
        fourth-order central differences of the analytic gradient ``g``,
        ``(8 (g(W + hV) - g(W - hV)) - (g(W + 2hV) - g(W - 2hV))) / 12h``, with a
        step per column ``h = eps**(1/5) / 2 * max(1, rms(W_c)) / max|V_c|``
        (``eps`` of the dtype): about ``eps**(4/5)`` relative on a smooth loss
        (docs/definitions.md), but wrong across a kink (ReLU), which is why the
        MLP carries its exact product.  torch and jax override this with exact
        autodiff products.

        Examples
        --------
        >>> import numpy as np
        >>> from gdcore import backends, core
        >>> b = backends.get("numpy")
        >>> X = np.array([[1.0, 0.0], [0.0, 2.0]])
        >>> p = core.DataProblem(X, np.zeros((2, 1)))
        >>> HV = b.hvp(p)(np.zeros((2, 1)), np.array([[1.0], [1.0]]))  # H = X^T X
        >>> np.round(HV.ravel(), 8).tolist()
        [1.0, 4.0]
        """
        xp = self.xp
        if getattr(p, "hvp", None) is not None:
            return partial(p.hvp, xp=xp, **self._runs(p))
        vg = self.value_and_grad(p)

        def hvp(W, V):
            root = 0.5 * float(xp.finfo(W.dtype).eps) ** 0.2
            vmax = xp.max(xp.abs(V), axis=0)
            rms = xp.sqrt(xp.mean(W * W, axis=0))
            h = root * xp.maximum(rms, xp.ones_like(vmax))
            h = h / xp.where(vmax > 0, vmax, xp.ones_like(vmax))

            def diff(t):  # g(W + t h V) - g(W - t h V)
                return vg(W + (t * h) * V)[1] - vg(W - (t * h) * V)[1]

            return (8.0 * diff(1.0) - diff(2.0)) / (12.0 * h)

        return hvp

    def _runs(self, p):
        """``{"runs": r}``: the runs an eager backend evaluates at once on a model (else ``{}``)."""
        if isinstance(p, core.ModelProblem) and hasattr(p.model, "runs_per_block"):
            return {"runs": p.model.runs_per_block(p.X.shape[0], self.xp.finfo(p.X.dtype).bits // 8)}
        return {}

    def hvp_grad(self, p):
        """``hvp_grad(W, U) -> G`` (P, K): the gradient in W of ``U^T H(W) U`` per column, U fixed.

        That is the third derivative ``D^3 L(W)[U, U, .]`` of each column's
        loss (what a central flow's correction needs).  Here (numpy,
        array-api-strict): the problem's own exact ``p.hvp_grad(W, U, xp)``
        (an :class:`gdcore.core.MLPSpec`: second-order Taylor coefficients
        through its backpropagation), 0 for a quadratic loss (the linear
        problems); a problem with neither raises ``TypeError``: differencing
        a differenced product would keep too few digits.  torch and jax
        override this with autodiff of ``(U * hvp(W, U)).sum()``.

        Examples
        --------
        >>> import numpy as np
        >>> from gdcore import backends, core
        >>> b = backends.get("numpy")
        >>> p = core.ModelProblem(np.array([[1.0], [3.0]]), np.zeros((2, 1)), core.MLPSpec((1, 1)))
        >>> b.hvp_grad(p)(np.ones((2, 1)), np.ones((2, 1))).ravel().tolist()  # quadratic: 0
        [0.0, 0.0]
        """
        xp = self.xp
        if getattr(p, "hvp_grad", None) is not None:
            return partial(p.hvp_grad, xp=xp, **self._runs(p))
        if getattr(p, "quadratic", False):
            return lambda W, U: xp.zeros_like(W)
        raise TypeError(
            f"backend {self.name!r} has no exact third derivative for {type(p).__name__} (its model "
            "has no hvp_grad); use a model that has one (gdcore.models.mlp) or backend='torch' "
            "or 'jax', which differentiate by autodiff."
        )

    def _lanczos(self, p, W, V0, steps, S=None):
        """:func:`gdcore.core.lanczos` on the products of :meth:`hvp` at ``W`` (jax compiles it).

        With ``S`` (P, C): on ``V -> S * H(W) (S * V)``, the Hessian scaled by ``diag(S)`` on both sides.
        """
        hvp = partial(self.hvp(p), W)
        if S is not None:
            inner = hvp

            def hvp(V):
                return S * inner(S * V)

        return core.lanczos(hvp, V0, steps, self.xp)

    def _like(self, host, W):
        """A host float64 array as an array of ``W``'s library, dtype and device."""
        return self.xp.asarray(host, dtype=W.dtype, device=device(W))

    def sharpness(self, p, W, *, steps=30, V0=None, D=None):
        """Top Hessian eigenvalue of every column of ``W`` (P, C) by Lanczos, and its Ritz vector.

        With ``D`` (P, C, positive, this backend's array; an optimizer's
        ``precondition``): the top eigenvalue of ``D^(1/2) H D^(1/2)`` instead,
        the preconditioned sharpness (Adam's edge of stability refers to it).

        ``steps`` Hessian-vector products (:meth:`hvp`) of the whole (P, C)
        block, :func:`gdcore.core.lanczos` with full reorthogonalisation, then
        the small tridiagonals on the host (:func:`gdcore._sharpness.ritz_top`).
        ``V0`` (P, C, this backend's array) is the start: by default seeded
        random unit vectors drawn in numpy (the same on every backend); pass the
        Ritz vectors of the previous call to warm-start while tracking the
        sharpness during training.  Returns ``(top, ritz)``: ``top`` host float64
        (C,) (``nan`` for a non-finite column), ``ritz`` (P, C) unit vectors of
        this backend.  For a linear model the Hessian is ``(2/n) X^T X`` in every
        column and ``top`` is ``stability(X).lambda_max`` (exact once
        ``steps >= P``).

        Examples
        --------
        >>> import numpy as np
        >>> from gdcore import backends, core
        >>> b = backends.get("numpy")
        >>> X = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
        >>> p = core.DataProblem(X, np.ones((3, 1)))
        >>> top, ritz = b.sharpness(p, np.zeros((2, 3)))  # 3 runs; H = (2/3) X^T X
        >>> np.round(top, 6).tolist(), ritz.shape
        ([2.666667, 2.666667, 2.666667], (2, 3))
        """
        import numpy as np

        from gdcore.backends._ritz import ritz_top, start_vectors

        if len(W.shape) != 2:
            raise ValueError(f"W must be the (P, C) weight matrix, one column per run and "
                             f"output; got shape {tuple(W.shape)}.")
        if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
            raise ValueError(f"steps must be an integer >= 1 (Hessian-vector products per "
                             f"measurement, 30 by default), got {steps!r}.")
        P, C = W.shape
        if V0 is None:
            V0 = self._like(start_vectors(P, C), W)
        elif tuple(V0.shape) != (P, C):
            raise ValueError(f"V0 must have the shape of W, {(P, C)}, one start vector per "
                             f"column (e.g. the Ritz vectors of the previous call); got "
                             f"{tuple(V0.shape)}.")
        if D is not None and tuple(D.shape) != (P, C):
            raise ValueError(f"D must have the shape of W, {(P, C)}; got {tuple(D.shape)}.")
        r = self._lanczos(p, W, V0, int(steps), None if D is None else self.xp.sqrt(D))
        top, Y = ritz_top(self.to_numpy(r.alphas), self.to_numpy(r.betas), self.to_numpy(r.size))
        ritz = self.xp.sum(r.basis * self._like(Y, W)[:, None, :], axis=0)
        return top, ritz

    def index(self, host_idx, like):
        """A host integer array as an index array next to ``like``."""
        return self.xp.asarray(host_idx, device=device(like))

    def batches(self, p, batch_size, seed):
        """``batches(epoch)`` for SGD: a value_and_grad per mini-batch of a seeded shuffle."""
        import numpy as np

        n = p.X.shape[0]
        rng = np.random.default_rng(seed)

        def per_epoch(epoch):
            perm = rng.permutation(n)  # drawn in epoch order: the same on every backend
            for start in range(0, n, batch_size):
                idx = self.index(perm[start : start + batch_size], p.X)
                yield self.value_and_grad(p.take(idx, self.xp))

        return per_epoch

    def run(self, p, W0, lrs, opt, spec, *, loss_star, on_epoch=None) -> RunOutput:
        """K runs of optimizer ``opt`` on problem ``p`` from ``W0`` (d, K*m) at ``lrs`` (K,).

        ``opt``'s hyperparameters and ``lrs`` are arrays of the state backend;
        ``spec`` is the :class:`gdcore.core.RunSpec` (``spec.lr_mult``, host
        float64 with one factor per epoch, is a schedule; ``spec.batch_size``
        and ``spec.seed`` make it mini-batch SGD); ``on_epoch(epoch)`` is
        called after every epoch (the eager loop only).
        """
        epochs, stop_on_convergence, record_weights, batch_size, seed = spec.static()
        rtol, divergence_factor, lr_mult = spec.traced()
        xp = self.state_backend.xp
        if lr_mult is not None:
            lr_mult = xp.asarray(lr_mult, dtype=W0.dtype, device=device(W0))
        state, rows, hist, epoch = core.drive(
            self.value_and_grad(p), self.loss_fn(p), opt, W0, lrs, epochs=epochs,
            loss_star=loss_star, rtol=rtol, divergence_factor=divergence_factor,
            stop_on_convergence=stop_on_convergence, record_weights=record_weights, xp=xp,
            loop=self.loop if on_epoch is None else core.ReportingLoop(on_epoch), lr_mult=lr_mult,
            batches=self.batches(p, batch_size, seed) if batch_size else None,
            quadratic=p.quadratic,
        )
        ran = int(epoch) + 1
        return RunOutput(state.W, state.converged_epoch, state.diverged_epoch, rows[:ran, ...],
                         hist[:ran, ...] if record_weights else None)
