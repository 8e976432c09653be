"""jax backend: ``jax.value_and_grad`` with the whole epoch loop in one ``jax.jit``.

jax is not a second engine: it runs :func:`gdcore.core.drive`, the driver
every backend runs, with ``jax.grad`` for the gradient and ``lax.while_loop``
as the loop primitive, the whole driver compiled by one ``jax.jit``.  The loop
exits as soon as every run has diverged (or, with ``stop_on_convergence``,
converged).  Learning rates, the optimizer's hyperparameters (momentum,
Adam's b1/b2/eps), the schedule's per-epoch factors, ``rtol``,
``divergence_factor`` and ``L*`` are traced arguments, so a new lr with the
same shapes reuses the compiled program; the optimizer's kind is static.  ``epochs`` is static only because it sets the length of the
loss buffer.  Mini-batch SGD loops over epochs in Python and compiles the
mini-batch step.

float64: jax computes in float32 unless x64 is enabled.  gdcore never flips
the global flag: a float64 run (e.g. numpy float64 input, the default) is done
inside the scoped ``jax.enable_x64(True)`` context and its results come back
as numpy arrays.  Passing float64 *jax* arrays needs x64 already enabled by
you, since jax cannot create them otherwise.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from gdcore import core
from gdcore.backends._base import BackendBase, RunOutput

__all__ = ["BACKEND", "trace_count"]

_TRACES = {"run": 0}

# A model problem is a pytree of its data; the model (a static description, or the user's
# apply function) is part of the structure, so a new model recompiles, new data does not.
jax.tree_util.register_pytree_node(
    core.ModelProblem,
    lambda p: ((p.X, p.Y), (p.model, p.n)),
    lambda aux, leaves: core.ModelProblem(leaves[0], leaves[1], aux[0], aux[1]),
)


def trace_count() -> int:
    """How many times the compiled epoch loop has been traced (i.e. compiled) so far."""
    return _TRACES["run"]


def _value_and_grad(loss_fn):
    def summed(W):
        loss = loss_fn(W)
        return jnp.sum(loss), loss

    vg = jax.value_and_grad(summed, has_aux=True)

    def value_and_grad(W):
        (_, loss), grad = vg(W)
        return loss, grad

    return value_and_grad


class JaxFold:
    """:func:`gdcore.core.blockwise`'s loop over full blocks under ``jax.jit``: a ``fori_loop``
    over ``dynamic_slice`` blocks (a traced start; no copy of ``X``)."""

    @staticmethod
    def fold(count, body, init):
        return jax.lax.fori_loop(0, count, body, init)

    @staticmethod
    def take(A, start, rows):
        return jax.lax.dynamic_slice_in_dim(A, start, rows)


def _blocked_value_and_grad(X, Y, n, rows):
    """``jax.value_and_grad`` of the direct loss, block by block (:func:`gdcore.core.blockwise`).

    Each block's forward ``X_b @ W`` and backward ``X_b^T R_b`` run while the
    block is in cache, so an epoch reads ``X`` from memory once.  On a CPU at
    1e6 x 64 float32 this measured 27.6 against 47.4 ms per epoch for the
    whole-array gradient.
    """
    n = X.shape[0] if n is None else n

    def block(Xb, Yb, W):
        return _value_and_grad(partial(core.direct_loss, Xb, Yb, xp=jnp, n=n))(W)

    return partial(core.blockwise, block, X, Y, rows=rows, xp=jnp, fold=JaxFold)


# Runs of a model differentiated together inside the compiled loop.  At K = 64 (1-100-1
# tanh MLP, n = 100, float32) every activation is 2.5 MB, more than a core's 2 MB of L2, and
# a run-epoch cost 23-25 us against 17-18 us in blocks of 4-16 runs (measured on this CPU).
_MODEL_RUNS = 16


def _model_value_and_grad(p):
    """``jax.value_and_grad`` of a model's loss, ``_MODEL_RUNS`` runs (columns) at a time."""
    vg = _value_and_grad(partial(p.loss, xp=jnp))

    def value_and_grad(W):
        k = W.shape[1]  # static under jit
        if k <= _MODEL_RUNS:
            return vg(W)
        parts = [vg(W[:, i : i + _MODEL_RUNS]) for i in range(0, k, _MODEL_RUNS)]
        return (jnp.concatenate([loss for loss, _ in parts]),
                jnp.concatenate([grad for _, grad in parts], axis=1))

    return value_and_grad


def _problem_vg(p, rows):
    """The epoch's ``jax.value_and_grad``: by blocks of ``rows`` rows on a data problem if set,
    by blocks of runs on a model."""
    if rows is not None and isinstance(p, core.DataProblem):
        return _blocked_value_and_grad(p.X, p.Y, p.n, rows)
    if isinstance(p, core.ModelProblem):
        return _model_value_and_grad(p)
    return _value_and_grad(partial(p.loss, xp=jnp))


def _with_n(p, n):
    return p._replace(n=n) if isinstance(p, core.DataProblem) else p


@partial(jax.jit, static_argnames=("n", "rows"))
def _vg_jit(p, W, *, n=None, rows=None):
    """``jax.value_and_grad`` of the loss, compiled once per shape (SGD batches)."""
    return _problem_vg(_with_n(p, n), rows)(W)


@partial(jax.jit, static_argnames=("n",))
def _loss_jit(p, W, *, n=None):
    return _with_n(p, n).loss(W, jnp)


class JaxLoop:
    """The loop primitive under ``jax.jit``: ``lax.while_loop`` and ``.at[i].set``."""

    @staticmethod
    def while_loop(alive, body, carry, steps):
        return jax.lax.while_loop(lambda c: (c[0] < steps) & (alive(c) > 0),
                                  lambda c: body(c, None), carry)

    @staticmethod
    def buffer(first, length, xp):
        buf = jnp.full((length, *first.shape), jnp.nan, dtype=first.dtype)
        return buf.at[0].set(first)

    @staticmethod
    def store(buffer, i, value):
        return buffer.at[i].set(value)

    @staticmethod
    def stack(buffer, xp):
        return buffer


@partial(jax.jit, static_argnames=("epochs", "stop_on_convergence", "record_weights", "n",
                                   "rows"))
def _run(p, W0, lrs, opt, lr_mult, loss_star, rtol, divergence_factor, *, epochs,
         stop_on_convergence, record_weights, n=None, rows=None):
    """:func:`gdcore.core.drive` with the ``lax.while_loop`` primitive, as one compiled program.

    Everything numeric (the problem's arrays, lrs, the optimizer's
    hyperparameters, the schedule's factors, ``L*``, ``rtol``,
    ``divergence_factor``) is traced; the optimizer's class is part of the
    pytree's structure, so only a new kind of optimizer recompiles.
    """
    _TRACES["run"] += 1  # Python side effect: runs once per trace, not per call
    p = _with_n(p, n)
    return core.drive(
        _problem_vg(p, rows), partial(p.loss, xp=jnp), opt, W0, lrs, epochs=epochs,
        loss_star=loss_star, rtol=rtol, divergence_factor=divergence_factor,
        stop_on_convergence=stop_on_convergence, record_weights=record_weights, xp=jnp,
        loop=JaxLoop, lr_mult=lr_mult, quadratic=p.quadratic,
    )


def _hvp(p, W, V, n=None):
    """``H(W) V`` per column: ``jax.jvp`` of ``jax.grad`` of the summed loss (forward over reverse)."""
    q = _with_n(p, n)
    grad = jax.grad(lambda W: jnp.sum(q.loss(W, jnp)))
    return jax.jvp(grad, (W,), (V,))[1]


_hvp_jit = jax.jit(_hvp, static_argnames=("n",))


@partial(jax.jit, static_argnames=("n",))
def _hvp_grad_jit(p, W, U, n=None):
    """``jax.grad`` of ``sum(U * H(W) U)`` in W: per column the gradient of ``U^T H(W) U``."""
    return jax.grad(lambda W: jnp.sum(U * _hvp(p, W, U, n)))(W)


@partial(jax.jit, static_argnames=("steps", "n"))
def _lanczos_jit(p, W, V0, S=None, *, steps, n=None):
    """:func:`gdcore.core.lanczos` on :func:`_hvp` products, compiled once per shape and ``steps``.

    With ``S``: on ``V -> S * H(W) (S * V)`` (the preconditioned Hessian).
    """
    if S is None:
        return core.lanczos(partial(_hvp, p, W, n=n), V0, steps, jnp, fold=JaxFold)
    return core.lanczos(lambda V: S * _hvp(p, W, S * V, n=n), V0, steps, jnp, fold=JaxFold)


def _fold(R, Xc, Yc):
    """Fold one block of rows of ``[X | Y]`` into the running R factor (float64)."""
    A = Xc.astype(jnp.float64)
    if Yc is not None:
        A = jnp.concatenate([A, Yc.astype(jnp.float64)], axis=1)
    return jnp.linalg.qr(jnp.concatenate([R, A], axis=0), mode="r")


@partial(jax.jit, static_argnames=("rows",))
def _tsqr_jit(X, Y, rows):
    """:func:`gdcore.core.tsqr` as one compiled pass over row blocks (float64).

    Each block is cast to float64 on its own, so no float64 copy of X is ever
    made; an op-by-op Python loop over blocks was slow and held more memory on jax.
    """
    n, d = X.shape
    k = d + (0 if Y is None else Y.shape[1])
    full = n // rows

    def body(i, R):
        Xc = jax.lax.dynamic_slice_in_dim(X, i * rows, rows)
        Yc = None if Y is None else jax.lax.dynamic_slice_in_dim(Y, i * rows, rows)
        return _fold(R, Xc, Yc)

    R = jax.lax.fori_loop(0, full, body, jnp.zeros((k, k), dtype=jnp.float64))
    if full * rows < n:
        R = _fold(R, X[full * rows :], None if Y is None else Y[full * rows :])
    return R


@partial(jax.jit, static_argnames=("rows",))
def _gram_jit(X, Y, M, rows):
    """``sum_b (A_b M)^T (A_b M)`` over float64 row blocks ``A_b`` of ``[X | Y]``.

    The two passes of :func:`gdcore.core.cholesky_qr2`, each one compiled loop.
    """
    n, d = X.shape
    k = d + (0 if Y is None else Y.shape[1])
    full = n // rows

    def gram(Xc, Yc):
        A = Xc.astype(jnp.float64)
        if Yc is not None:
            A = jnp.concatenate([A, Yc.astype(jnp.float64)], axis=1)
        A = A @ M
        return A.T @ A

    def body(i, G):
        Xc = jax.lax.dynamic_slice_in_dim(X, i * rows, rows)
        Yc = None if Y is None else jax.lax.dynamic_slice_in_dim(Y, i * rows, rows)
        return G + gram(Xc, Yc)

    G = jax.lax.fori_loop(0, full, body, jnp.zeros((k, k), dtype=jnp.float64))
    if full * rows < n:
        G = G + gram(X[full * rows :], None if Y is None else Y[full * rows :])
    return G


class JaxBackend(BackendBase):
    name = "jax"
    gradient = "jax.grad"
    xp = jnp
    # the eager path (mini-batch SGD) is the base class's Python loop; full-batch runs
    # use JaxLoop inside the compiled _run

    def factor(self, X, Y):
        """CholeskyQR2 (:func:`gdcore.core.cholesky_qr2`) with each pass one compiled loop and the
        small factors in numpy; the compiled Householder TSQR when ``cond([X | Y])`` exceeds what
        CholeskyQR2 keeps accurate."""
        from array_api_compat import numpy as host_xp

        k = X.shape[1] + (0 if Y is None else Y.shape[1])
        dev = next(iter(X.sharding.device_set))
        with jax.enable_x64(True):
            rows = min(X.shape[0], core.gram_rows(k))

            def gram(M):
                # pass 1 multiplies by the identity so that both passes are one compiled program
                # (a new shape compiles 2 programs in all: this one and the epoch loop)
                M = np.eye(k) if M is None else M
                return np.asarray(_gram_jit(X, Y, jax.device_put(M, dev), rows), dtype=np.float64)

            R = core.cholesky_qr2(X, Y, host_xp, dtype=np.float64, gram=gram)
            if R is None:
                R = _tsqr_jit(X, Y, min(X.shape[0], core.qr_rows(k)))
            return np.asarray(R, dtype=np.float64)

    def resolve_device(self, device):
        if device is None:
            return None
        if device == "cpu":
            return jax.devices("cpu")[0]
        if device in ("cuda", "gpu"):
            try:
                return jax.devices("gpu")[0]
            except RuntimeError:
                raise ValueError(
                    f"device={device!r}: jax sees no GPU on this machine (devices: "
                    f"{[d.platform for d in jax.devices()]}); use device='cpu' or install "
                    "a CUDA build of jax (pip install \"jax[cuda12]\")."
                ) from None
        raise ValueError(f"unknown device {device!r}; use None, 'cpu', 'cuda' or 'gpu'.")

    def default_float(self):
        return "float64" if jax.config.jax_enable_x64 else "float32"

    def check_dtype(self, dtype, like=None):
        """float64 jax arrays need x64 mode (unless ``like`` already is one): say so, never truncate."""
        if dtype != "float64" or jax.config.jax_enable_x64:
            return
        if like is not None and "float64" in str(like.dtype):
            return
        raise ValueError(
            "float64 jax arrays need jax's x64 mode, which is off; enable it with "
            "jax.config.update('jax_enable_x64', True), or use dtype='float32', or pass numpy "
            "arrays with backend='jax' (gdcore then runs jax in float64 locally and returns numpy "
            "results)."
        )

    def wrap_model(self, obj):
        """A callable ``apply(params, X)`` as a :class:`JaxApplyModel`; None for anything else."""
        return JaxApplyModel(obj) if callable(obj) else None

    def dtype(self, name):
        return jnp.dtype(name)

    def context(self, dtype):
        if dtype == "float64" and not jax.config.jax_enable_x64:
            return jax.enable_x64(True)  # scoped: the user's global setting is untouched
        return super().context(dtype)

    def host_view(self, x):
        """A read-only numpy view of a jax array on one CPU device (no copy, no XLA compile)."""
        if not isinstance(x, jax.Array):
            return None
        devices = x.sharding.device_set
        if len(devices) != 1 or next(iter(devices)).platform != "cpu":
            return None
        return np.asarray(x)

    def asarray(self, data, dtype, device):
        if isinstance(data, jax.Array):
            out = data.astype(dtype)
            return jax.device_put(out, device) if device is not None else out
        return jax.device_put(np.asarray(data, dtype=dtype), device)

    def _block_rows(self, p, cols):
        """Rows per block of the direct gradient for ``cols`` weight columns, or None (whole array).

        Blocks pay off on a CPU, where an epoch is bound by reading ``X`` from
        memory; a GPU would run the blocks as a string of small kernels, and a
        row-sharded ``X`` is already split across devices, so both keep the
        whole-array gradient.
        """
        if not isinstance(p, core.DataProblem):
            return None
        devices = p.X.sharding.device_set
        if len(devices) > 1 or any(dev.platform != "cpu" for dev in devices):
            return None
        return core.block_rows(p.X.shape[1], cols)

    @staticmethod
    def _split_n(p):
        """The problem without its static row count, and that count."""
        if isinstance(p, core.DataProblem):
            return p._replace(n=None), p.n
        return p, None

    def value_and_grad(self, p):
        q, n = self._split_n(p)

        def value_and_grad(W):
            return _vg_jit(q, W, n=n, rows=self._block_rows(p, W.shape[1]))

        return value_and_grad

    def hvp(self, p):
        """``hvp(W, V) -> H(W) V``: ``jax.jvp`` over ``jax.grad``, exact to rounding, jitted once per shape.

        Examples
        --------
        >>> import jax.numpy as jnp
        >>> from gdcore import backends, core
        >>> b = backends.get("jax")
        >>> p = core.DataProblem(jnp.asarray([[1.0, 0.0], [0.0, 2.0]]), jnp.zeros((2, 1)))
        >>> b.hvp(p)(jnp.zeros((2, 1)), jnp.ones((2, 1))).ravel().tolist()  # H = X^T X
        [1.0, 4.0]
        """
        q, n = self._split_n(p)
        return partial(_hvp_jit, q, n=n)

    def hvp_grad(self, p):
        """``hvp_grad(W, U)``: ``jax.grad`` of ``sum(U * hvp(W, U))`` in W, jitted once per shape."""
        q, n = self._split_n(p)
        return partial(_hvp_grad_jit, q, n=n)

    def _lanczos(self, p, W, V0, steps, S=None):
        q, n = self._split_n(p)
        return _lanczos_jit(q, W, V0, S, steps=steps, n=n)

    def _like(self, host, W):
        return jax.device_put(np.asarray(host, dtype=W.dtype), next(iter(W.sharding.device_set)))

    def loss_fn(self, p):
        q, n = self._split_n(p)
        return partial(_loss_jit, q, n=n)

    def distribute(self, p, W0, lrs, opt, devices):
        """Shard the rows of X (and y) over ``devices`` jax devices; replicate the rest.

        Rows are padded with zero rows up to a multiple of the device count
        (zero rows add nothing to the loss or gradient; the mean uses the real
        row count), so any n works.  XLA's SPMD partitioner turns ``X^T r`` into
        per-device partial products plus an all-reduce.
        """
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        have = jax.devices()
        if devices == "all":
            count = len(have)
        elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool) and devices >= 1:
            count = int(devices)
        else:
            raise ValueError(f"devices must be a positive integer or 'all', got {devices!r}.")
        if count > len(have):
            raise ValueError(
                f"devices={devices} but jax sees {len(have)} device(s) "
                f"({', '.join(d.platform for d in have)}); on a CPU, set "
                "XLA_FLAGS=--xla_force_host_platform_device_count=N before jax is imported."
            )
        mesh = Mesh(np.array(have[:count]), ("rows",))
        rows = NamedSharding(mesh, PartitionSpec("rows", None))
        replicated = NamedSharding(mesh, PartitionSpec())
        put = partial(jax.device_put, device=replicated)
        W0, lrs, opt = put(W0), put(lrs), type(opt)(*(put(h) for h in opt))
        if isinstance(p, core.ReducedProblem):  # d x d: nothing worth sharding
            return type(p)(*(put(a) for a in p)), W0, lrs, opt
        n, d = p.X.shape
        pad = (-n) % count
        X, Y = p.X, p.Y
        if pad:
            X = jnp.concatenate([X, jnp.zeros((pad, d), dtype=X.dtype)])
            Y = jnp.concatenate([Y, jnp.zeros((pad, Y.shape[1]), dtype=Y.dtype)])
        p = core.DataProblem(jax.device_put(X, rows), jax.device_put(Y, rows), n)
        return p, W0, lrs, opt

    def run(self, p, W0, lrs, opt, spec, *, loss_star, on_epoch=None):
        if spec.batch_size:  # SGD: a Python loop over epochs, each mini-batch step compiled
            return super().run(p, W0, lrs, opt, spec, loss_star=loss_star, on_epoch=on_epoch)
        # the spec's static part shapes the compiled program; its traced part is its arguments
        epochs, stop_on_convergence, record_weights, _, _ = spec.static()
        rtol, divergence_factor, lr_mult = spec.traced()
        dt = W0.dtype

        def scalar(v):  # cast in numpy: jnp.asarray(v, dtype=dt) is an XLA compile per dtype
            return jax.device_put(np.asarray(v, dtype=dt))

        if lr_mult is not None:
            lr_mult = scalar(np.asarray(lr_mult)[: max(epochs, 1)])
        q, n = self._split_n(p)
        state, rows, hist, end = _run(
            q, W0, lrs, opt, lr_mult, scalar(loss_star), scalar(rtol),
            scalar(divergence_factor), epochs=epochs,
            stop_on_convergence=stop_on_convergence, record_weights=record_weights, n=n,
            rows=self._block_rows(p, W0.shape[1]),
        )
        ran = int(end) + 1  # epochs observed = epochs_run + 1
        if on_epoch is not None:  # the compiled loop reports once, at its end
            on_epoch(ran - 1)
        return RunOutput(
            state.W, state.converged_epoch, state.diverged_epoch, rows[:ran],
            hist[:ran] if record_weights else None,
        )


class JaxApplyModel:
    """A user's jax function ``apply(params, X)`` as a gdcore model (backend "jax", ``w0=params``).

    ``params`` is any pytree of arrays; gdcore flattens it into the (P, K)
    column layout of every gdcore model and ``jax.vmap`` s ``apply`` over the K
    runs; the output is reshaped to (n, m).  Results give parameters back in
    ``w0``'s tree structure.
    """

    name = "jax-function"
    quadratic = False
    backend = "jax"

    def __init__(self, apply):
        self.apply = apply

    @staticmethod
    def check_backend(name: str) -> None:
        """Raise ``ValueError`` unless ``name`` is the jax backend's (``apply`` needs ``jax.grad``)."""
        if name != "jax":
            raise ValueError(
                f"a function model apply(params, X) runs on backend='jax' (jax.grad of it), not "
                f"{name!r}; pass backend='jax' and w0=params, or use gdcore.models.mlp()."
            )

    def describe(self) -> str:
        return f"jax {getattr(self.apply, '__name__', 'function')}"

    def bind(self, prep, w0):
        if w0 is None:
            raise ValueError(
                "a jax function model needs its initial parameters: pass w0=params (the pytree "
                "apply(params, X) takes)."
            )
        leaves, treedef = jax.tree_util.tree_flatten(w0)
        if not leaves:
            raise ValueError("w0 has no arrays; pass the pytree of parameters apply(params, X) takes.")
        host = [np.asarray(leaf, dtype=np.float64) for leaf in leaves]
        flat = np.concatenate([h.reshape(-1) for h in host])
        if not np.all(np.isfinite(flat)):
            raise ValueError("w0 contains nan or inf; pass finite initial parameters.")
        return _BoundApply(self.apply, treedef, tuple(h.shape for h in host), flat)


class _BoundApply:
    """``apply`` bound to its parameter tree; hashable (a static part of the compiled loop)."""

    @property
    def core(self):
        """What the core computes with: this bound model itself (it has ``loss``)."""
        return self

    def __init__(self, apply, treedef, shapes, flat):
        self.apply, self.treedef, self.shapes, self.flat = apply, treedef, shapes, flat

    def __hash__(self):
        return hash((self.apply, self.treedef, self.shapes))

    def __eq__(self, other):
        return (isinstance(other, _BoundApply) and self.apply is other.apply
                and self.treedef == other.treedef and self.shapes == other.shapes)

    def initial(self):
        return self.flat

    def _unflatten(self, col, reshape):
        leaves, o = [], 0
        for shape in self.shapes:
            size = int(np.prod(shape, dtype=np.int64))
            leaves.append(reshape(col[o : o + size], shape))
            o += size
        return jax.tree_util.tree_unflatten(self.treedef, leaves)

    def loss(self, X, Y, W, xp, n=None):
        n = X.shape[0] if n is None else n

        def one(col):
            out = self.apply(self._unflatten(col, jnp.reshape), X)
            r = jnp.reshape(out, (X.shape[0], -1)) - Y
            return jnp.sum(r * r) / n

        return jax.vmap(one, in_axes=1)(W)

    def params(self, flat):
        """One run's parameters in ``w0``'s tree structure (numpy leaves)."""
        return self._unflatten(np.asarray(flat), np.reshape)


BACKEND = JaxBackend()
