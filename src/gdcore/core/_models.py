"""Models non-linear in their weights: a multi-layer perceptron, written once against the standard.

K runs are trained together, as everywhere in gdcore.  The driver
(:func:`gdcore.core.drive`) and the optimizers see one weight matrix ``W`` of
shape (P, K): column ``k`` holds every parameter of run ``k``, flattened layer
by layer as ``W_1`` (fan_in x fan_out, row-major), ``b_1``, ``W_2``, ``b_2``, ...
so that momentum, Adam and the jax compiled loop need no change.  An
:class:`MLPSpec` turns a column block into the parameter tuple with a leading
K axis (``W_l``: (K, fan_in, fan_out), ``b_l``: (K, fan_out)) and back.

The forward pass is ``act(X @ W1 + b1) @ W2 + b2`` for one hidden layer
(activation on hidden layers only, linear output); the K runs are one batched
matmul.  The loss of run k is the MSE ``(1/n) sum_i ||f_k(x_i) - y_i||^2``
(summed over outputs, as for the linear model), and
:meth:`MLPSpec.value_and_grad` is its hand-written backpropagation: analytic
gradients, as on the linear model, which torch's autograd and ``jax.grad``
are tested against.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ACTIVATIONS", "MLPSpec", "ModelProblem"]

ACTIVATIONS = ("tanh", "relu")


class MLPSpec(NamedTuple):
    """Static description of an MLP: layer widths ``(d, h_1, ..., h_L, m)`` and the activation.

    Examples
    --------
    >>> from gdcore import backends
    >>> xp = backends.get("numpy").xp
    >>> from gdcore.core import MLPSpec
    >>> spec = MLPSpec((1, 3, 1), "tanh")
    >>> spec.size, spec.shapes
    (10, ((1, 3), (3,), (3, 1), (1,)))
    >>> W = xp.zeros((spec.size, 2))        # two runs, all parameters zero
    >>> X, Y = xp.ones((4, 1)), xp.ones((4, 1))
    >>> [float(v) for v in spec.loss(X, Y, W, xp)]
    [1.0, 1.0]
    """

    widths: tuple
    activation: str = "tanh"

    @property
    def shapes(self) -> tuple:
        """Shape of every parameter of one run, in the flat order ``W_1, b_1, W_2, b_2, ...``."""
        out = []
        for fan_in, fan_out in zip(self.widths[:-1], self.widths[1:]):
            out += [(fan_in, fan_out), (fan_out,)]
        return tuple(out)

    @property
    def size(self) -> int:
        """Parameters per run, P."""
        return sum(a * b for a, b in zip(self.widths[:-1], self.widths[1:])) + sum(self.widths[1:])

    # -- the flat (P, K) layout ------------------------------------------------
    def unpack(self, W, xp) -> list:
        """(P, K) columns -> ``[(W_1, b_1), ...]`` with a leading K axis."""
        k = W.shape[1]
        layers, o = [], 0
        for fan_in, fan_out in zip(self.widths[:-1], self.widths[1:]):
            Wl = xp.permute_dims(xp.reshape(W[o : o + fan_in * fan_out, ...], (fan_in, fan_out, k)),
                                 (2, 0, 1))
            o += fan_in * fan_out
            bl = xp.permute_dims(W[o : o + fan_out, ...], (1, 0))
            o += fan_out
            layers.append((Wl, bl))
        return layers

    def pack(self, layers, xp):
        """``[(W_l (K, fi, fo), b_l (K, fo)), ...]`` -> the (P, K) column layout."""
        parts = []
        for Wl, bl in layers:
            k, fan_in, fan_out = Wl.shape
            parts.append(xp.reshape(xp.permute_dims(Wl, (1, 2, 0)), (fan_in * fan_out, k)))
            parts.append(xp.permute_dims(bl, (1, 0)))
        return xp.concat(parts, axis=0)

    # -- forward and backward --------------------------------------------------
    def _act(self, Z, xp):
        if self.activation == "tanh":
            return xp.tanh(Z)
        return xp.maximum(Z, xp.zeros_like(Z))

    def _forward(self, layers, X, xp):
        """Activations of every layer (``A_0 = X``) and the output (K, n, m)."""
        acts = [X]
        A = X
        last = len(layers) - 1
        for i, (Wl, bl) in enumerate(layers):
            Z = A @ Wl + xp.reshape(bl, (bl.shape[0], 1, bl.shape[1]))
            A = Z if i == last else self._act(Z, xp)
            acts.append(A)
        return acts

    def predict(self, X, W, xp):
        """Outputs of the K runs at ``X`` (n, d): (K, n, m)."""
        return self._forward(self.unpack(W, xp), X, xp)[-1]

    def loss(self, X, Y, W, xp, n=None):
        """Per-run MSE (K,) at the stacked parameters ``W`` (P, K)."""
        R = self.predict(X, W, xp) - Y
        return xp.sum(R * R, axis=(1, 2)) / (X.shape[0] if n is None else n)

    def value_and_grad(self, X, Y, W, xp, n=None):
        """Per-run loss (K,) and its gradient (P, K) by backpropagation, written by hand.

        With ``Z_l = A_{l-1} W_l + b_l``, ``A_l = act(Z_l)`` and the output
        ``P = Z_L``: ``dP = (2/n)(P - Y)``; for each layer from the top,
        ``dW_l = A_{l-1}^T dZ_l``, ``db_l = sum_i dZ_l``, and below it
        ``dZ_{l-1} = (dZ_l W_l^T) * act'(Z_{l-1})`` with ``tanh' = 1 - A^2``
        and ``relu' = [Z > 0]`` (0 at 0, as torch and jax take it).
        """
        n = X.shape[0] if n is None else n
        layers = self.unpack(W, xp)
        acts = self._forward(layers, X, xp)
        R = acts[-1] - Y
        loss = xp.sum(R * R, axis=(1, 2)) / n
        dZ = (2.0 / n) * R
        grads = [None] * len(layers)
        for i in range(len(layers) - 1, -1, -1):
            A_prev = acts[i]
            grads[i] = (xp.matrix_transpose(A_prev) @ dZ, xp.sum(dZ, axis=1))
            if i:
                dA = dZ @ xp.matrix_transpose(layers[i][0])
                if self.activation == "tanh":
                    dZ = dA * (1.0 - A_prev * A_prev)
                else:
                    dZ = xp.where(A_prev > 0, dA, xp.zeros_like(dA))
        return loss, self.pack(grads, xp)


class ModelProblem:
    """Loss and gradient of a model non-linear in its weights on the data ``X`` (n, d), ``Y`` (n, m).

    The same two pure methods as :class:`DataProblem` (``loss(W, xp)``,
    ``value_and_grad(W, xp)``), so the driver and the backends run it
    unchanged; ``model`` is static (a :class:`MLPSpec`, or a backend's own
    model such as a wrapped ``torch.nn.Module``) and must provide ``loss`` and
    ``value_and_grad`` with :class:`MLPSpec`'s signatures (a backend that
    differentiates by itself only calls ``loss``).

    Examples
    --------
    >>> from gdcore import backends
    >>> xp = backends.get("numpy").xp
    >>> from gdcore.core import MLPSpec, ModelProblem
    >>> p = ModelProblem(xp.ones((4, 1)), xp.ones((4, 1)), MLPSpec((1, 2, 1)))
    >>> float(p.loss(xp.zeros((7, 1)), xp)[0]), p.method
    (1.0, 'direct')
    """

    __slots__ = ("X", "Y", "model", "n")
    method = "direct"
    quadratic = False  # the driver's "a rise proves divergence" rule does not hold

    def __init__(self, X, Y, model, n=None):
        self.X, self.Y, self.model, self.n = X, Y, model, n

    def loss(self, W, xp):
        """Per-run MSE (K,) at the stacked parameters ``W`` (P, K)."""
        return self.model.loss(self.X, self.Y, W, xp, n=self.n)

    def value_and_grad(self, W, xp, rows=None):
        """Per-run loss and gradient (``rows`` is ignored: the model's data are small)."""
        return self.model.value_and_grad(self.X, self.Y, W, xp, n=self.n)

    def take(self, idx, xp):
        """The problem restricted to the rows ``idx`` (a mini-batch)."""
        return ModelProblem(xp.take(self.X, idx, axis=0), xp.take(self.Y, idx, axis=0), self.model)

    def _replace(self, **changes):
        fields = {"X": self.X, "Y": self.Y, "model": self.model, "n": self.n}
        fields.update(changes)
        return ModelProblem(**fields)

