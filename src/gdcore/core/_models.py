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

from gdcore._compat import device

__all__ = ["ACTIVATIONS", "MLPSpec", "ModelProblem"]

ACTIVATIONS = ("tanh", "relu")


def _runs_first(block, shape, xp):
    """A (size, K) block of columns as (K, *shape[1:]), laid out run by run.

    Going through a 1-D reshape of the transposed block makes the library
    copy it in run-major order (numpy, torch) instead of returning a strided
    view; every later product then inherits a layout its batched matmul
    runs fast on (numpy: 2.6 against 0.07 ms for one (64, 100, 100) @
    (64, 100, 1) product on the strided layout, measured).
    """
    return xp.reshape(xp.reshape(xp.permute_dims(block, (1, 0)), (-1,)), shape)


def _matmul(A, B):
    """``A @ B`` over the trailing two axes; an outer product (inner size 1) as a broadcast multiply.

    With one input feature (``X`` of shape (n, 1)) or one output, two of the
    backward pass's products have inner size 1; numpy's batched matmul takes a
    slow path for those (0.73 ms against 0.07 ms for the broadcast product at
    K = 64, n = h = 100, float32, measured), and the products are the same
    numbers: one multiplication each, no sum.
    """
    if A.shape[-1] == 1:
        return A * B
    return A @ B


def _add(a, b):
    """``a + b`` where None stands for an exact zero (a Taylor coefficient known to vanish)."""
    if a is None:
        return b
    return a if b is None else a + b


def _series(f, a, b, lowest=0):
    """Taylor coefficients of ``f(a(t), b(t))`` for a bilinear ``f``, from those of ``a`` and ``b``.

    Coefficients are derivatives in t at 0 (``c_k = d^k/dt^k``, up to k = 2), so
    the k-th is Leibniz's rule ``sum_j C(k, j) f(a_j, b_{k-j})``; None is an
    exact zero and costs nothing, and so are the coefficients below ``lowest``
    (left None: the caller does not read them).
    """
    out = []
    for k in range(len(a)):
        s = None
        if k < lowest:
            out.append(s)
            continue
        for j in range(k + 1):
            if a[j] is None or b[k - j] is None:
                continue
            term = f(a[j], b[k - j])
            s = _add(s, term if k != 2 or j != 1 else 2.0 * term)  # C(2, 1) = 2; every other C is 1
        out.append(s)
    return out


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

    def runs_per_block(self, n: int, itemsize: int) -> int:
        """How many runs an eager backend evaluates at once so that temporaries stay small.

        A temporary of the batched pass holds ``runs x n x width`` values.
        Kept near 256 KB (at most 16 runs), they stay in cache and in the
        allocator's heap; K = 64 runs at once (2.5 MB temporaries, fresh pages
        from the kernel each time) measured 1.7-2.5x slower per epoch on numpy
        at n = 100-200, width 100 (float32 and float64).
        """
        width = max(self.widths[1:-1] or self.widths[-1:])
        return int(min(16, max(1, (256 << 10) // (n * width * itemsize))))

    # -- the flat (P, K) layout ------------------------------------------------
    # W_l (row-major) followed by b_l is, row-major, the (fan_in + 1, fan_out) block
    # [W_l; b_l]: one contiguous block per layer, so a layer is unpacked with one copy.
    def _blocks(self, W, xp) -> list:
        """(P, K) columns -> ``[Wb_1, Wb_2, ...]``, ``Wb_l = [W_l; b_l]`` of shape (K, fan_in + 1, fan_out)."""
        k = W.shape[1]
        blocks, o = [], 0
        for fan_in, fan_out in zip(self.widths[:-1], self.widths[1:]):
            size = (fan_in + 1) * fan_out
            blocks.append(_runs_first(W[o : o + size, ...], (k, fan_in + 1, fan_out), xp))
            o += size
        return blocks

    @staticmethod
    def _pack_blocks(blocks, xp):
        parts = []
        for B in blocks:
            k, rows, cols = B.shape
            parts.append(xp.reshape(xp.permute_dims(B, (1, 2, 0)), (rows * cols, k)))
        return xp.concat(parts, axis=0)

    # -- forward and backward --------------------------------------------------
    def _act(self, Z, xp):
        """tanh, or ReLU as ``where(Z > 0, Z, 0)``: autodiff then takes ``relu'(0) = 0`` as the
        hand-written backpropagation does (``maximum(Z, 0)`` splits the gradient 1/2-1/2 at a tie,
        and ties are common: a row whose previous layer is all 0 gives ``Z = b``, 0 at init)."""
        if self.activation == "tanh":
            return xp.tanh(Z)
        return xp.where(Z > 0, Z, xp.zeros_like(Z))

    @staticmethod
    def _with_ones(X, xp):
        """``[X, 1]`` (n, d + 1): the input layer's bias as one more input column."""
        return xp.concat([X, xp.ones((X.shape[0], 1), dtype=X.dtype, device=device(X))], axis=1)

    def _forward(self, blocks, X1, xp):
        """Activations of every layer (``A_0 = [X, 1]``) and the output (K, n, m).

        The input layer is one product ``[X, 1] @ [W_1; b_1]`` (``X`` is shared by
        the K runs, so appending the ones costs nothing); later layers add
        their bias to ``A @ W_l``.
        """
        acts = [X1]
        last = len(blocks) - 1
        Z = _matmul(X1, blocks[0])
        for i in range(len(blocks)):
            if i:
                B = blocks[i]
                Z = _matmul(acts[-1], B[:, :-1, :]) + B[:, -1:, :]
            acts.append(Z if i == last else self._act(Z, xp))
        return acts

    def predict(self, X, W, xp):
        """Outputs of the K runs at ``X`` (n, d): (K, n, m)."""
        return self._forward(self._blocks(W, xp), self._with_ones(X, xp), xp)[-1]

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
        and ``relu' = [Z > 0]`` (0 at 0, as torch and jax take it).  The input
        layer's ``[dW_1; db_1]`` is the one product ``[X, 1]^T dZ_1``.
        """
        n = X.shape[0] if n is None else n
        blocks = self._blocks(W, xp)
        acts = self._forward(blocks, self._with_ones(X, xp), xp)
        R = acts[-1] - Y
        loss = xp.sum(R * R, axis=(1, 2)) / n
        dZ = (2.0 / n) * R
        grads = [None] * len(blocks)
        for i in range(len(blocks) - 1, -1, -1):
            A_prev = acts[i]
            if i == 0:
                grads[0] = _matmul(xp.matrix_transpose(A_prev), dZ)
                break
            grads[i] = xp.concat([_matmul(xp.matrix_transpose(A_prev), dZ),
                                  xp.sum(dZ, axis=1, keepdims=True)], axis=1)
            dA = _matmul(dZ, xp.matrix_transpose(blocks[i][:, :-1, :]))
            if self.activation == "tanh":
                dZ = dA * (1.0 - A_prev * A_prev)
            else:
                dZ = xp.where(A_prev > 0, dA, xp.zeros_like(dA))
        return loss, self._pack_blocks(grads, xp)

    # -- exact higher derivatives ----------------------------------------------
    def hvp(self, X, Y, W, V, xp, n=None):
        """Exact Hessian-vector products ``H(W) V`` (P, K), each column its own run and direction.

        Forward over reverse (Pearlmutter's R-operator): the first Taylor
        coefficient in t of the hand-written gradient at ``W + t V``
        (:meth:`_gradient_series`).  Exact for tanh, and for ReLU with
        ``relu'' = 0`` (as autodiff takes it): the product does not straddle
        the kinks as a finite difference of the gradient does.

        Examples
        --------
        >>> from gdcore import backends
        >>> xp = backends.get("numpy").xp
        >>> from gdcore.core import MLPSpec
        >>> spec = MLPSpec((1, 1))               # no hidden layer: y = w x + b, H = 2 E[[x^2, x], [x, 1]]
        >>> X, Y = xp.asarray([[1.0], [3.0]]), xp.zeros((2, 1))
        >>> spec.hvp(X, Y, xp.zeros((2, 1)), xp.asarray([[1.0], [0.0]]), xp).ravel().tolist()
        [10.0, 4.0]
        """
        return self._gradient_series(X, Y, W, V, xp, 1, n)

    def hvp_grad(self, X, Y, W, U, xp, n=None):
        """Exact gradient in ``W`` of ``U^T H(W) U`` per column (P, K), with ``U`` held fixed.

        That gradient is the third derivative ``D^3 L(W)[U, U, .]``, which is
        also the second derivative in t of the gradient at ``W + t U`` (the
        third derivative is symmetric in its three directions): the second
        Taylor coefficient of the hand-written gradient, pushed through the
        forward and backward passes (:meth:`_gradient_series`).  ReLU's second
        and third derivatives are 0, as autodiff takes them.

        Examples
        --------
        >>> from gdcore import backends
        >>> xp = backends.get("numpy").xp
        >>> from gdcore.core import MLPSpec
        >>> spec = MLPSpec((1, 1))                    # a quadratic loss: the third derivative is 0
        >>> X, Y = xp.asarray([[1.0], [3.0]]), xp.zeros((2, 1))
        >>> spec.hvp_grad(X, Y, xp.ones((2, 1)), xp.ones((2, 1)), xp).ravel().tolist()
        [0.0, 0.0]
        """
        return self._gradient_series(X, Y, W, U, xp, 2, n)

    def _act_series(self, Z, xp):
        """Taylor coefficients of ``A = act(Z)`` from those of ``Z``, and of the backward
        pass's ``dZ = dA * act'(Z)`` as a function of the coefficients of ``dA``.

        tanh: ``A_1 = t' Z_1``, ``A_2 = t' Z_2 + t'' Z_1^2`` with ``t' = 1 - A_0^2`` and
        ``t'' = -2 A_0 t'``; ``act'(Z) = 1 - A^2`` is a product of series.  ReLU: the
        mask ``[Z_0 > 0]`` applies to every coefficient (``relu'' = 0``).
        """
        if self.activation == "relu":
            mask = Z[0] > 0

            def keep(D):
                return None if D is None else xp.where(mask, D, xp.zeros_like(D))

            return [keep(z) for z in Z], lambda dA: [keep(d) for d in dA]
        A0 = xp.tanh(Z[0])
        slope = 1.0 - A0 * A0
        A = [A0, slope * Z[1]]
        if len(Z) > 2:
            A.append(_add(None if Z[2] is None else slope * Z[2], (-2.0 * A0 * slope) * (Z[1] * Z[1])))
        sq = _series(xp.multiply, A, A)
        deriv = [slope] + [None if c is None else -c for c in sq[1:]]
        return A, lambda dA: _series(xp.multiply, dA, deriv)

    def _gradient_series(self, X, Y, W, U, xp, order, n=None):
        """The ``order``-th derivative in t, at t = 0, of the gradient at ``W + t U`` (P, K).

        Every array of :meth:`value_and_grad` becomes its Taylor coefficients
        ``[x_0, x_1, ..., x_order]`` (``x_k = d^k x / dt^k``; None where exactly
        0, as for the data and for ``W``'s coefficients past the first), pushed
        through the forward pass and the backpropagation by Leibniz's rule
        (:func:`_series`).  Order 1 gives ``H U`` (the R-operator), order 2
        ``D^3 L[U, U, .]``.  Each column is its own run, with its own direction.
        """
        if order not in (1, 2):
            raise ValueError(f"order must be 1 (H U) or 2 (D^3 L[U, U, .]), got {order!r}")
        n = X.shape[0] if n is None else n
        rest = [None] * (order - 1)
        layers = [[B, dB, *rest] for B, dB in zip(self._blocks(W, xp), self._blocks(U, xp))]
        A = [self._with_ones(X, xp)] + [None] * order
        acts, backs = [A], []
        last = len(layers) - 1
        for i, B in enumerate(layers):
            if i == 0:
                Z = _series(_matmul, A, B)
            else:
                Z = _series(_matmul, A, [None if b is None else b[:, :-1, :] for b in B])
                Z = [_add(z, None if b is None else b[:, -1:, :]) for z, b in zip(Z, B)]
            if i < last:
                A, back = self._act_series(Z, xp)
                acts.append(A)
                backs.append(back)
        dZ = [(2.0 / n) * (Z[0] - Y)] + [None if z is None else (2.0 / n) * z for z in Z[1:]]
        grads = [None] * len(layers)
        for i in range(last, -1, -1):
            AT = [None if a is None else xp.matrix_transpose(a) for a in acts[i]]
            gW = _series(_matmul, AT, dZ, lowest=order)[order]
            if i > 0:
                gb = None if dZ[order] is None else xp.sum(dZ[order], axis=1, keepdims=True)
            if gW is None:  # a coefficient known to vanish (e.g. a quadratic's third derivative)
                gW = xp.zeros_like(layers[i][0][:, :-1, :] if i else layers[0][0])
            if i == 0:
                grads[0] = gW
                break
            if gb is None:
                gb = xp.zeros_like(layers[i][0][:, -1:, :])
            grads[i] = xp.concat([gW, gb], axis=1)
            BT = [None if b is None else xp.matrix_transpose(b[:, :-1, :]) for b in layers[i]]
            dZ = backs[i - 1](_series(_matmul, dZ, BT))
        return self._pack_blocks(grads, xp)


class ModelProblem:
    """Loss and gradient of a model non-linear in its weights on the data ``X`` (n, d), ``Y`` (n, m).

    The same two pure methods as :class:`DataProblem` (``loss(W, xp)``,
    ``value_and_grad(W, xp)``), so the driver and the backends run it
    unchanged; ``model`` is static (a :class:`MLPSpec`, or a backend's own
    model such as a wrapped ``torch.nn.Module``) and must provide ``loss`` and
    ``value_and_grad`` with :class:`MLPSpec`'s signatures (a backend that
    differentiates by itself only calls ``loss``).  When the model also has
    ``hvp`` and ``hvp_grad`` (:class:`MLPSpec` does), the problem exposes them
    as exact curvature for the backends without autodiff.

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

    def value_and_grad(self, W, xp, rows=None, runs=None):
        """Per-run loss and gradient; with ``runs``, that many runs (columns) at a time.

        ``rows`` is ignored (the model's data are small); ``runs`` is what an
        eager backend passes (:meth:`MLPSpec.runs_per_block`).
        """
        k = W.shape[1]
        if runs is None or runs >= k:
            return self.model.value_and_grad(self.X, self.Y, W, xp, n=self.n)
        parts = [self.model.value_and_grad(self.X, self.Y, W[:, i : min(i + runs, k)], xp, n=self.n)
                 for i in range(0, k, runs)]
        return xp.concat([p[0] for p in parts]), xp.concat([p[1] for p in parts], axis=1)

    @property
    def hvp(self):
        """``hvp(W, V, xp, runs=None) -> H(W) V`` (P, K), exact, when the model has its own
        (:meth:`MLPSpec.hvp`); None otherwise (a backend's own model, differentiated by autodiff).

        Examples
        --------
        >>> from gdcore import backends
        >>> xp = backends.get("numpy").xp
        >>> from gdcore.core import MLPSpec, ModelProblem
        >>> p = ModelProblem(xp.asarray([[1.0], [3.0]]), xp.zeros((2, 1)), MLPSpec((1, 1)))
        >>> p.hvp(xp.zeros((2, 1)), xp.asarray([[0.0], [1.0]]), xp).ravel().tolist()
        [4.0, 2.0]
        """
        return None if getattr(self.model, "hvp", None) is None else self._hvp

    @property
    def hvp_grad(self):
        """``hvp_grad(W, U, xp, runs=None)``: the gradient of ``U^T H(W) U`` per column (P, K),
        exact, when the model has its own (:meth:`MLPSpec.hvp_grad`); None otherwise."""
        return None if getattr(self.model, "hvp_grad", None) is None else self._hvp_grad

    def _hvp(self, W, V, xp, runs=None):
        return self._by_runs(self.model.hvp, W, V, xp, runs)

    def _hvp_grad(self, W, U, xp, runs=None):
        return self._by_runs(self.model.hvp_grad, W, U, xp, runs)

    def _by_runs(self, fn, W, V, xp, runs):
        """``fn(X, Y, W, V, xp, n)`` over ``runs`` columns at a time (all at once when None)."""
        k = W.shape[1]
        if runs is None or runs >= k:
            return fn(self.X, self.Y, W, V, xp, n=self.n)
        return xp.concat([fn(self.X, self.Y, W[:, i : min(i + runs, k)], V[:, i : min(i + runs, k)],
                             xp, n=self.n) for i in range(0, k, runs)], axis=1)

    def take(self, idx, xp):
        """The problem restricted to the rows ``idx`` (a mini-batch)."""
        return ModelProblem(xp.take(self.X, idx, axis=0), xp.take(self.Y, idx, axis=0), self.model)

    def _replace(self, **changes):
        fields = {"X": self.X, "Y": self.Y, "model": self.model, "n": self.n}
        fields.update(changes)
        return ModelProblem(**fields)

