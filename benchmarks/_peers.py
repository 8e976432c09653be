"""The hand-written sweeps a user would write instead of ``gdcore.sweep`` (sweep_1000's peers).

Each peer trains K learning rates at once for ``epochs`` epochs of full-batch
gradient descent on the MSE from w0 = 0 (gdcore's default) and returns the
final weights as a host (d, K) array.  ``setup(X, y, epochs)`` is called once
(outside the timing) and returns ``run(lrs)``; frameworks are imported inside
the setup, so a numpy worker never loads torch or jax.
"""

from __future__ import annotations

__all__ = ["PEERS"]


def numpy_analytic(X, y, epochs):
    """(d, K) weights, the analytic gradient ``(2/n) X^T (X W - y)`` vectorised over K columns."""
    import numpy as np

    n, d = X.shape
    Y = y.reshape(n, 1)

    def run(lrs):
        step = (2.0 / n) * np.asarray(lrs, dtype=X.dtype)
        W = np.zeros((d, step.size), dtype=X.dtype)
        for _ in range(epochs):
            W -= step * (X.T @ (X @ W - Y))
        return W

    return run


def numpy_gram(X, y, epochs):
    """The bare Gram loop: G = X^T X / n and b = X^T y / n once, then ``W -= 2 lrs (G W - b)``."""
    import numpy as np

    n, d = X.shape
    G = X.T @ X / n
    b = (X.T @ y / n).reshape(d, 1)

    def run(lrs):
        step = 2.0 * np.asarray(lrs, dtype=X.dtype)
        W = np.zeros((d, step.size), dtype=X.dtype)
        for _ in range(epochs):
            W -= step * (G @ W - b)
        return W

    return run


def torch_autograd(X, y, epochs):
    """Batched autograd on a (d, K) weight tensor: losses summed over columns, in-place step."""
    import torch

    X, y = torch.from_numpy(X), torch.from_numpy(y)
    Y = y.reshape(-1, 1)

    def run(lrs):
        lr = torch.as_tensor(lrs, dtype=X.dtype)
        W = torch.zeros((X.shape[1], lr.numel()), dtype=X.dtype, requires_grad=True)
        for _ in range(epochs):
            loss = ((X @ W - Y) ** 2).mean(dim=0).sum()
            (g,) = torch.autograd.grad(loss, W)
            with torch.no_grad():
                W -= lr * g
        return W.detach().numpy()

    return run


def torch_vmap(X, y, epochs):
    """``torch.func.vmap`` over lrs of one per-lr ``torch.func.grad`` step."""
    import torch
    from torch.func import grad, vmap

    X, y = torch.from_numpy(X), torch.from_numpy(y)

    def loss(w):
        return ((X @ w - y) ** 2).mean()

    def step(w, lr):
        return w - lr * grad(loss)(w)

    vstep = vmap(step)

    def run(lrs):
        lr = torch.as_tensor(lrs, dtype=X.dtype)
        W = torch.zeros((lr.numel(), X.shape[1]), dtype=X.dtype)
        with torch.no_grad():  # torch.func.grad differentiates on its own
            for _ in range(epochs):
                W = vstep(W, lr)
        return W.numpy().T

    return run


def jax_optax(X, y, epochs):
    """``optax.inject_hyperparams(optax.sgd)``, ``jax.vmap`` over lrs, ``lax.scan`` over epochs.

    The whole sweep is one ``jax.jit``; its first call compiles it.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    X, y = jax.device_put(X), jax.device_put(y)

    def loss(w):
        return jnp.mean((X @ w - y) ** 2)

    def one(lr):
        tx = optax.inject_hyperparams(optax.sgd)(learning_rate=lr)
        w = jnp.zeros(X.shape[1], dtype=X.dtype)

        def epoch(carry, _):
            w, state = carry
            updates, state = tx.update(jax.grad(loss)(w), state, w)
            return (optax.apply_updates(w, updates), state), None

        (w, _), _ = jax.lax.scan(epoch, (w, tx.init(w)), None, length=epochs)
        return w

    compiled = jax.jit(jax.vmap(one))

    def run(lrs):
        W = compiled(jnp.asarray(np.asarray(lrs, dtype=X.dtype)))
        return np.asarray(W).T  # waits for the result

    return run


# name -> (backend, package the peer needs, setup, what the row says)
PEERS = {
    "numpy_analytic": ("numpy", "numpy", numpy_analytic, "numpy (d,K) analytic loop"),
    "numpy_gram": ("numpy", "numpy", numpy_gram, "numpy bare Gram loop"),
    "torch_autograd": ("torch", "torch", torch_autograd, "torch batched autograd (d,K)"),
    "torch_vmap": ("torch", "torch", torch_vmap, "torch.func vmap(grad)"),
    "jax_optax": ("jax", "optax", jax_optax, "optax sgd + vmap + scan, jit"),
}
