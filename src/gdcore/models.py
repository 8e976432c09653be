"""Models as values: what ``fit``, ``sweep``, ``stability`` and ``lr_find`` train.

* :func:`linear` -- ``y ~ X @ w``, the default.  Its loss is a quadratic, so
  every answer (w*, the Hessian's spectrum, the converged epoch) has a closed
  form, and the linear model keeps gdcore's exact analysis.
* :func:`mlp` -- a multi-layer perceptron ``act(X @ W1 + b1) @ W2 + b2``, non-linear
  in its weights: its Hessian moves during training, so gdcore *measures* the
  sharpness (the top Hessian eigenvalue, by Hessian-vector products and
  Lanczos) instead of predicting it.
* A ``torch.nn.Module`` (backend ``"torch"``) or a plain jax function
  ``apply(params, X)`` with ``w0=params`` (backend ``"jax"``) may be passed as
  ``model=`` too; see :func:`resolve`.

Parameters of an MLP are a tuple ``(W1, b1, W2, b2, ...)``, ``W_l`` of shape
(fan_in, fan_out) and ``b_l`` of shape (fan_out,).  **Default initialisation**
(when no ``w0`` is given): ``W_l ~ Normal(0, 1 / fan_in)`` (LeCun normal: a
tanh unit starts in its linear range whatever the width) and ``b_l = 0``, drawn
on the host from ``numpy.random.default_rng(seed)`` layer by layer, so the same
seed gives the same network on every backend and dtype.

>>> import gdcore
>>> m = gdcore.models.mlp(hidden=(8,), seed=1)
>>> [p.shape for p in m.init(d=2, m=1)]
[(2, 8), (8,), (8, 1), (1,)]
"""

from __future__ import annotations

import abc
import math
import numbers
from typing import NamedTuple

import numpy as np

from gdcore import backends
from gdcore.backends import host
from gdcore.core._models import ACTIVATIONS, MLPSpec

__all__ = ["MLP", "Linear", "Model", "is_linear", "linear", "mlp", "parse", "resolve"]


class Model(abc.ABC):
    """The model protocol: what ``fit``, ``sweep``, ``stability`` and ``lr_find`` accept as ``model=``.

    A model is declared, not guessed: a class joins with ``@Model.register``
    (as :func:`linear` and :func:`mlp` do; a user's ``torch.nn.Module`` or jax
    function is wrapped by its backend instead).  It provides:

    * ``describe() -> str``: its name in results (``"mlp[100] tanh"``);
    * ``quadratic``: whether its loss is a quadratic the closed form predicts
      (the linear model only; every other model's curvature is measured);
    * ``bind(prep, w0)``: the model on the prepared data, an object with
      ``core`` (what the core computes with: a hashable value with
      ``loss(X, Y, W, xp, n=None)`` over (P, K) parameter columns, and
      ``value_and_grad`` for the backends without autograd), ``initial()``
      (the initial parameters as host float64, from ``w0`` or the model's own
      initialisation) and ``params(flat)`` (one run's parameters back in the
      user's array library).

    Examples
    --------
    >>> import gdcore
    >>> isinstance(gdcore.models.mlp(), gdcore.models.Model), isinstance(object(), gdcore.models.Model)
    (True, False)
    """

    quadratic: bool

    @abc.abstractmethod
    def describe(self) -> str:
        """The model's name in results."""

    @abc.abstractmethod
    def bind(self, prep, w0):
        """The model bound to the prepared data ``prep`` from initial parameters ``w0``."""


@Model.register
class Linear(NamedTuple):
    """The linear model ``y ~ X @ w`` (see :func:`linear`)."""

    name = "linear"
    quadratic = True

    def describe(self) -> str:
        return "linear"

    def bind(self, prep, w0) -> _BoundLinear:
        """The weights ``w0`` (already checked by the study's ``prepare``) and their way back."""
        return _BoundLinear(prep)


class _BoundLinear:
    """The linear model bound to its data: weights (d, m), returned as (d,) for a 1-D ``y``."""

    core = None  # the study builds the data or Gram problem itself

    def __init__(self, prep):
        self.prep = prep

    def initial(self) -> np.ndarray:
        """``w0`` as host float64, (d, m)."""
        return np.asarray(self.prep.state.to_numpy(self.prep.w0), dtype=np.float64)

    def params(self, flat: np.ndarray):
        """One run's host (d, m) weights in the user's array library ((d,) for a 1-D ``y``)."""
        w = flat[:, 0] if self.prep.y_was_1d else flat
        return self.prep.to_user(np.ascontiguousarray(w))


@Model.register
class MLP(NamedTuple):
    """A multi-layer perceptron (see :func:`mlp`): hidden widths, activation, init seed."""

    hidden: tuple = (100,)
    activation: str = "tanh"
    seed: int = 0

    name = "mlp"
    quadratic = False

    def spec(self, d: int, m: int) -> MLPSpec:
        """The static description the core computes with: widths ``(d, *hidden, m)``."""
        return MLPSpec((int(d), *self.hidden, int(m)), self.activation)

    def init(self, d: int, m: int) -> tuple:
        """Default initial parameters ``(W1, b1, ...)`` as float64 numpy arrays (see module docs).

        Examples
        --------
        >>> import gdcore
        >>> W1, b1, W2, b2 = gdcore.models.mlp(hidden=(3,)).init(d=1, m=1)
        >>> W1.shape, float(b1.sum()), W2.shape
        ((1, 3), 0.0, (3, 1))
        """
        rng = np.random.default_rng(self.seed)
        out = []
        for shape in self.spec(d, m).shapes:
            if len(shape) == 2:
                out.append(rng.normal(0.0, 1.0 / math.sqrt(shape[0]), size=shape))
            else:
                out.append(np.zeros(shape))
        return tuple(out)

    def describe(self) -> str:
        return f"mlp{list(self.hidden)} {self.activation}"

    def bind(self, prep, w0) -> _BoundMLP:
        """This MLP on the prepared data: its :class:`MLPSpec`, ``w0`` checked, its way back."""
        n, d = prep.X.shape
        m = prep.Y.shape[1]
        spec = self.spec(d, m)
        params = self.init(d, m) if w0 is None else _check_params(w0, spec.shapes)
        return _BoundMLP(spec, np.concatenate([p.reshape(-1) for p in params]), prep)


class _BoundMLP:
    """An MLP bound to its data: the core's :class:`MLPSpec`, the flat ``w0``, tuples back."""

    def __init__(self, spec: MLPSpec, flat: np.ndarray, prep):
        self.core, self.flat, self.prep = spec, flat, prep

    def initial(self) -> np.ndarray:
        return self.flat

    def params(self, flat: np.ndarray) -> tuple:
        """One run's flat host parameters as the tuple ``(W1, b1, ...)`` in the user's library."""
        out, o = [], 0
        for shape in self.core.shapes:
            size = int(np.prod(shape))
            out.append(self.prep.to_user(np.ascontiguousarray(flat[o : o + size].reshape(shape))))
            o += size
        return tuple(out)


def _check_params(w0, shapes):
    """``w0`` as a tuple of host float64 arrays of the given shapes, or a clear error."""
    if not isinstance(w0, (tuple, list)):
        raise TypeError(
            f"w0 for an MLP is a tuple of its parameters (W1, b1, W2, b2, ...) with shapes "
            f"{list(shapes)}, got {type(w0).__name__}."
        )
    if len(w0) != len(shapes):
        raise ValueError(
            f"w0 has {len(w0)} arrays but this MLP has {len(shapes)} parameters (W1, b1, ...) "
            f"with shapes {list(shapes)}."
        )
    out = []
    for i, (p, shape) in enumerate(zip(w0, shapes)):
        a = np.asarray(host(p), dtype=np.float64)
        if a.shape != tuple(shape):
            raise ValueError(f"w0[{i}] has shape {a.shape}; this MLP needs {tuple(shape)} there.")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"w0[{i}] contains nan or inf; pass finite initial parameters.")
        out.append(a)
    return tuple(out)


def linear() -> Linear:
    """The linear model ``y ~ X @ w`` (the default of every function).

    Returns
    -------
    Linear

    Examples
    --------
    >>> import gdcore
    >>> X, y = gdcore.make_linear(seed=0)
    >>> gdcore.fit(X, y, lr=0.7, model=gdcore.models.linear()).converged_epoch
    5
    """
    return Linear()


def mlp(hidden=(100,), activation="tanh", seed=0) -> MLP:
    """A multi-layer perceptron ``act(X @ W1 + b1) @ ... @ W_L + b_L`` trained on the MSE.

    Parameters
    ----------
    hidden : int or sequence of int, default (100,)
        Widths of the hidden layers (one int: one hidden layer).
    activation : {"tanh", "relu"}, default "tanh"
        Applied after every hidden layer; the output layer is linear.
    seed : int, default 0
        Seed of the default initialisation (``W_l ~ N(0, 1/fan_in)``, ``b_l = 0``).

    Returns
    -------
    MLP

    Examples
    --------
    >>> import numpy as np, gdcore
    >>> x = np.linspace(-1, 1, 40)[:, None]
    >>> r = gdcore.fit(x, np.sin(3 * x[:, 0]), lr=0.2, epochs=200, model=gdcore.models.mlp((16,)))
    >>> r.regime, round(r.stability.lr_crit, 3), bool(r.losses[-1] < 0.1 * r.losses[0])
    ('below-edge', 0.38, True)
    """
    if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
        hidden = (hidden,)
    try:
        widths = tuple(hidden)
    except TypeError:
        raise TypeError(f"hidden must be an int or a sequence of ints such as (100,), got {hidden!r}.") from None
    if not widths or not all(isinstance(h, numbers.Integral) and not isinstance(h, bool) and h >= 1
                             for h in widths):
        raise ValueError(
            f"hidden must hold one or more positive layer widths such as (100,) or (64, 64), got {hidden!r}."
        )
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}.")
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    return MLP(tuple(int(h) for h in widths), activation, int(seed))


def is_linear(model) -> bool:
    """Whether ``model`` is the linear model: ``None`` (the default) or :func:`linear`.

    Examples
    --------
    >>> from gdcore.models import is_linear, linear, mlp
    >>> is_linear(None), is_linear(linear()), is_linear(mlp())
    (True, True, False)
    """
    return model is None or isinstance(model, Linear)


def parse(text: str):
    """A model from its command-line form: ``"linear"`` or ``"mlp:100"``, ``"mlp:64,64:relu"``.

    Examples
    --------
    >>> from gdcore.models import parse
    >>> parse("mlp:64,32:relu")
    MLP(hidden=(64, 32), activation='relu', seed=0)
    """
    text = text.strip().lower()
    if text == "linear":
        return linear()
    parts = text.split(":")
    if parts[0] != "mlp" or len(parts) > 3:
        raise ValueError(
            f"unknown model {text!r}; use 'linear' or 'mlp:WIDTHS[:ACTIVATION]', e.g. 'mlp:100' or 'mlp:64,64:relu'."
        )
    try:
        hidden = tuple(int(h) for h in parts[1].split(",")) if len(parts) > 1 and parts[1] else (100,)
    except ValueError:
        raise ValueError(f"model {text!r}: hidden widths must be integers such as 'mlp:100' or 'mlp:64,64'.") from None
    return mlp(hidden, parts[2] if len(parts) == 3 else "tanh")


def resolve(model, backend_name: str):
    """The model value a call runs: ``None`` -> :func:`linear`; a user's own model wrapped.

    Accepted: :func:`linear`, :func:`mlp`, a ``torch.nn.Module`` (with
    ``backend="torch"``; called through ``torch.func.functional_call``, its
    parameters are copied, never modified) and a callable ``apply(params, X)``
    (with ``backend="jax"`` and ``w0=params``, any pytree of arrays).  The
    backend of the model's library wraps it (:func:`gdcore.backends.wrap_model`).

    Examples
    --------
    >>> from gdcore.models import resolve
    >>> resolve(None, "numpy")
    Linear()
    """
    if model is None or isinstance(model, Model):
        return linear() if model is None else model
    wrapped = backends.wrap_model(model)
    if wrapped is not None:
        wrapped.check_backend(backend_name)
        return wrapped
    if callable(model):  # no backend took it: jax, which would, is not even imported
        raise ValueError(
            f"a function model apply(params, X) runs on backend='jax' (jax.grad of it), not "
            f"{backend_name!r}; pass backend='jax' and w0=params, or use gdcore.models.mlp()."
        )
    raise TypeError(
        f"model must be gdcore.models.linear(), gdcore.models.mlp(...), a torch.nn.Module, a jax "
        f"function apply(params, X) or a model of your own registered with "
        f"@gdcore.models.Model.register (see its docs); got {type(model).__name__}."
    )
