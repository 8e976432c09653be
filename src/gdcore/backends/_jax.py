"""jax backend: ``jax.value_and_grad`` with the whole epoch loop in one ``jax.jit``.

The loop is a ``lax.while_loop`` over epochs that exits as soon as every run
has diverged (or, with ``stop_on_convergence``, converged).  Learning rates,
``rtol``, ``divergence_factor`` and ``L*`` are traced arguments, so a new lr
with the same shapes reuses the compiled program.  ``epochs`` is static only
because it sets the length of the loss buffer.

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


@partial(jax.jit, static_argnames=("epochs", "m", "method", "stop_on_convergence", "record_weights"))
def _run(A, B, W0, lrs, loss_star, rtol, divergence_factor, *, epochs, m, method,
         stop_on_convergence, record_weights):
    _TRACES["run"] += 1  # Python side effect: runs once per trace, not per call
    xp = jnp
    if method == "gram":
        loss_fn = partial(core.gram_loss, A, B, loss_star, xp=xp)
    else:
        loss_fn = partial(core.direct_loss, A, B, xp=xp)
    vg = _value_and_grad(loss_fn)
    k = lrs.shape[0]
    lr_cols = core.per_column(lrs, m, xp)
    eps = xp.finfo(W0.dtype).eps
    loss0, _ = vg(W0)
    th = core.thresholds(loss0, loss_star, rtol, divergence_factor, eps, xp)
    rows = xp.full((epochs + 1, k), xp.nan, dtype=W0.dtype)
    hist = xp.zeros((epochs + 1 if record_weights else 1, *W0.shape), dtype=W0.dtype)
    hist = hist.at[0].set(W0)

    def cond(carry):
        epoch, state, _, _ = carry
        return (epoch <= epochs) & xp.any(state.alive)

    def body(carry):
        epoch, state, rows, hist = carry
        loss, grad = vg(core.safe_weights(state, m, xp))
        state, row = core.observe(state, loss, epoch, th, stop_on_convergence, xp)
        rows = rows.at[epoch].set(row)
        stepped = core.step(state, grad, lr_cols, m, xp)
        W = xp.where(epoch < epochs, stepped.W, state.W)
        if record_weights:
            hist = hist.at[xp.minimum(epoch + 1, epochs)].set(W)
        return epoch + 1, state._replace(W=W), rows, hist

    state = core.initial_state(W0, k, xp)
    epoch, state, rows, hist = jax.lax.while_loop(cond, body, (0, state, rows, hist))
    return state, rows, hist, epoch


class JaxBackend(BackendBase):
    name = "jax"
    gradient = "jax.grad"
    xp = jnp

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

    def dtype(self, name):
        return jnp.dtype(name)

    def context(self, dtype):
        if dtype == "float64" and not jax.config.jax_enable_x64:
            return jax.enable_x64(True)  # scoped: the user's global setting is untouched
        return super().context(dtype)

    def asarray(self, data, dtype, device):
        if isinstance(data, jax.Array):
            out = data.astype(dtype)
            return jax.device_put(out, device) if device is not None else out
        return jax.device_put(np.asarray(data, dtype=dtype), device)

    def value_and_grad(self, p):
        return _value_and_grad(self.loss_fn(p))

    def run(self, p, *, epochs, rtol, divergence_factor, stop_on_convergence, record_weights):
        A, B = (p.G, p.W_star) if p.method == "gram" else (p.X, p.Y)
        dt = p.W0.dtype
        state, rows, hist, end = _run(
            A, B, p.W0, p.lrs, jnp.asarray(p.loss_star, dtype=dt), jnp.asarray(rtol, dtype=dt),
            jnp.asarray(divergence_factor, dtype=dt), epochs=epochs, m=p.m, method=p.method,
            stop_on_convergence=stop_on_convergence, record_weights=record_weights,
        )
        ran = int(end)  # epochs observed = epochs_run + 1
        return RunOutput(
            state.W, state.converged_epoch, state.diverged_epoch, rows[:ran],
            hist[:ran] if record_weights else None,
        )


BACKEND = JaxBackend()
