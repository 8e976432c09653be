"""Optimizers as values: pure ``init`` / ``update`` pairs, written once against the standard.

Every optimizer is an instance of :class:`Optimizer`, the declared protocol
(as optax declares ``GradientTransformation``): a small ``NamedTuple`` whose
fields are its hyperparameters (plain floats, or one value per run), whose
class is registered with :class:`Optimizer`, and whose two methods are pure:

* ``init(W0, xp) -> state``: the optimizer's state for weights ``W0``;
* ``update(grad, state, lr, xp) -> (delta, state)``: the step to add to the
  weights (``W + delta``) and the new state.

States are ``NamedTuple`` s of arrays whose last axis is the weights' column
axis, so jax carries them through ``lax.while_loop`` and the driver can treat
every optimizer alike.  Because the optimizer itself is a ``NamedTuple`` of
numbers, jax traces its hyperparameters: a new beta does not recompile, only a
new *kind* of optimizer does (the class is part of the pytree's structure).

Declared properties tell the driver and the analysis what they may assume,
instead of re-deriving it from flags:

* ``may_rise``: whether the loss of a *stable* run may rise above its start.
  For plain gradient descent on a quadratic it cannot (every error component
  shrinks geometrically below ``lr_crit``), so a rise proves divergence; with
  momentum or Adam a stable run may overshoot first.
* ``linear``: whether one step is a fixed linear map of the error for a given
  lr (gd, heavy ball, Nesterov).  Only then does the spectrum of the Hessian
  predict the run, and the optimizer says how through one hook,
  :meth:`Optimizer.transition`: that linear map along one eigen-direction.
* ``lookahead``: when True, the gradient is taken at
  ``gradient_point(W, state, xp)`` instead of ``W`` (Nesterov).
* ``name``: the optimizer's name in results.

Every optimizer also declares its **edge of stability** (Cohen et al. 2022):
``edge(lr)``, the value its sharpness is compared with (``2 / lr`` for gradient
descent, ``(2 + 2 beta) / lr`` for heavy ball), and ``precondition(state, xp)``,
the diagonal ``D`` (shaped like the weights) whose ``D^(1/2) H D^(1/2)`` that
sharpness is the top eigenvalue of, or ``None`` for the Hessian itself (every
optimizer but Adam).

An optimizer whose hyperparameters can make it plain gradient descent for
some runs (momentum at ``beta = 0``) says so run by run with the optional
method ``cannot_rise()``: True where a stable run's loss cannot rise, one
value per run, so that every run of a grid is judged as its single run.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar, NamedTuple

__all__ = ["GD", "Momentum", "MomentumState", "Nesterov", "NoState", "Optimizer"]


class Optimizer(abc.ABC):
    """The optimizer protocol: ``isinstance(opt, Optimizer)`` is a declared fact, never a guess.

    A class is an optimizer because it says so, by registering with this
    class; an object that merely has the right attribute names is not one.
    ``NamedTuple`` classes cannot derive from a base class, so an optimizer
    joins by decorating its class::

        @Optimizer.register
        class MyOptimizer(NamedTuple):
            beta: Any = 0.9          # hyperparameters: numbers, or one value per run

            name = "mine"            # the name in results
            may_rise = True          # a stable run's loss may rise above its start
            linear = True            # one step is a linear map of the error
            lookahead = False        # True: define gradient_point(W, state, xp)

            def init(self, W0, xp): ...
            def update(self, grad, state, lr, xp): ...
            def edge(self, lr): ...              # the sharpness's stability threshold
            def precondition(self, state, xp): ...  # D, or None: the Hessian itself
            def transition(self, lam, lr): ...   # linear optimizers only
            def cannot_rise(self): ...           # optional: per run, ``not may_rise``

    Then export a validating factory from :mod:`gdcore.optimizers`; the
    driver, the predictions and the regimes need nothing else.

    Every method must be written against the array API standard (``xp``);
    :meth:`transition` uses only ``+``, ``-`` and ``*``, so that the host
    analysis can call it with numpy arrays.
    """

    __slots__ = ()

    name: ClassVar[str]
    may_rise: ClassVar[bool]
    linear: ClassVar[bool]
    lookahead: ClassVar[bool]

    @abc.abstractmethod
    def init(self, W0, xp):
        """The optimizer's state for weights ``W0`` (a ``NamedTuple`` of arrays)."""

    @abc.abstractmethod
    def update(self, grad, state, lr, xp):
        """``(delta, state)``: the step to add to the weights and the new state."""

    @abc.abstractmethod
    def edge(self, lr):
        """The edge of stability at ``lr``: the sharpness (of :meth:`precondition`'s ``D^(1/2) H D^(1/2)``)
        above which one step along the sharpest direction grows.

        Written with ``+``, ``-``, ``*``, ``/`` only, so ``lr`` and the
        hyperparameters may be host numbers or numpy arrays (one per run).
        """

    @abc.abstractmethod
    def precondition(self, state, xp):
        """The diagonal ``D`` (shaped like the weights) of the state the next step uses, or ``None``.

        The sharpness :meth:`edge` refers to is the top eigenvalue of
        ``D^(1/2) H D^(1/2)``; ``None`` means ``D = I`` (the Hessian itself).
        """

    def transition(self, lam, lr):
        """One step along an eigen-direction of the Hessian, as the rows of a matrix (linear only).

        On the quadratic loss the error ``e`` along an eigenvector with
        eigenvalue ``lam`` has gradient ``lam * e``, and a linear optimizer
        moves the vector ``x = (e, s_1, ..., s_{m-1})`` (the error, then the
        optimizer's state along the same direction) by ``x_{k+1} = A x_k``
        with ``A`` depending on ``lam`` and that epoch's ``lr`` only.  The
        state starts at zero: ``x_0 = (e_0, 0, ..., 0)``.  Return ``A`` as
        ``m`` rows of ``m`` entries, numbers or arrays that broadcast with
        ``lam * lr`` (and with the hyperparameters, one value per run).

        Plain gradient descent is ``((1 - lr lam,),)``; heavy ball, with its
        velocity as the state, ``((1 - lr lam, beta), (-lr lam, beta))``.
        From it the analysis derives the spectral radius, the regimes and the
        exact loss curve under any lr schedule.
        """
        raise ValueError(f"{self.name} is not a linear recurrence; the spectrum does not predict it.")


class NoState(NamedTuple):
    """The (empty) state of plain gradient descent."""


@Optimizer.register
class GD(NamedTuple):
    """Plain gradient descent: ``delta = -lr * grad``.

    Examples
    --------
    >>> from gdcore import backends
    >>> xp = backends.get("numpy").xp
    >>> from gdcore.core import GD
    >>> opt = GD()
    >>> state = opt.init(xp.zeros((2, 1)), xp)
    >>> delta, state = opt.update(xp.ones((2, 1)), state, 0.5, xp)
    >>> float(delta[0, 0]), float(delta[1, 0])
    (-0.5, -0.5)
    """

    name = "gd"
    may_rise = False
    linear = True
    lookahead = False

    def init(self, W0, xp):
        """No state."""
        return NoState()

    def update(self, grad, state, lr, xp):
        """``(-lr * grad, state)``."""
        return -lr * grad, state

    def edge(self, lr):
        """``2 / lr``: gradient descent is stable on a quadratic while ``lr * lambda < 2``.

        >>> from gdcore.core import GD
        >>> GD().edge(0.1)
        20.0
        """
        return 2.0 / lr

    def precondition(self, state, xp):
        """``None``: the Hessian itself."""
        return None

    def edge_label(self):
        """How :meth:`edge` reads in a figure."""
        return "2/lr"

    def transition(self, lam, lr):
        """``e' = (1 - lr lam) e``: the 1 x 1 case (see :meth:`Optimizer.transition`)."""
        return ((1 - lr * lam,),)



class MomentumState(NamedTuple):
    """The velocity ``V`` of heavy-ball / Nesterov momentum, shaped like the weights."""

    V: Any


@Optimizer.register
class Momentum(NamedTuple):
    """Heavy-ball momentum: ``V = beta V - lr g(W)``, ``delta = V``.

    ``beta`` is a float or one value per run (the driver broadcasts every
    hyperparameter over the weights' columns).

    Examples
    --------
    >>> from gdcore import backends
    >>> xp = backends.get("numpy").xp
    >>> from gdcore.core import Momentum
    >>> opt = Momentum(beta=0.5)
    >>> s = opt.init(xp.zeros((1, 1)), xp)
    >>> d1, s = opt.update(xp.ones((1, 1)), s, 1.0, xp)
    >>> d2, s = opt.update(xp.ones((1, 1)), s, 1.0, xp)
    >>> float(d1[0, 0]), float(d2[0, 0])
    (-1.0, -1.5)
    """

    beta: Any = 0.9

    name = "momentum"
    may_rise = True
    linear = True
    lookahead = False

    def init(self, W0, xp):
        """Zero velocity."""
        return MomentumState(V=xp.zeros_like(W0))

    def update(self, grad, state, lr, xp):
        """``V = beta V - lr g``; the step is ``V``."""
        V = self.beta * state.V - lr * grad
        return V, MomentumState(V=V)

    def cannot_rise(self):
        """Per run, where ``beta == 0``: there heavy ball is plain gradient descent (``may_rise`` False).

        A bool, or one per run when ``beta`` is (an array of the runs'
        backend, traced by jax): the driver's rise rule applies to those runs.
        """
        if isinstance(self.beta, (int, float)):
            return bool(self.beta == 0)
        return self.beta == 0

    def edge(self, lr):
        """``(2 + 2 beta) / lr``: heavy ball is stable on a quadratic while ``lr * lambda < 2 + 2 beta``.

        >>> from gdcore.core import Momentum
        >>> round(Momentum(beta=0.9).edge(0.1), 12)
        38.0
        """
        return (2.0 + 2.0 * self.beta) / lr

    def precondition(self, state, xp):
        """``None``: the Hessian itself."""
        return None

    def edge_label(self):
        """How :meth:`edge` reads in a figure."""
        return "(2+2β)/lr" if not isinstance(self.beta, (int, float)) else f"{2 + 2 * self.beta:g}/lr"

    def transition(self, lam, lr):
        """``v' = beta v - lr lam e``, ``e' = e + v'`` on ``(e, v)`` (see :meth:`Optimizer.transition`).

        Its eigenvalues are the roots of ``z^2 - (1 + beta - lr lam) z + beta``,
        those of the textbook recurrence ``e_{k+1} = (1 + beta - lr lam) e_k - beta e_{k-1}``.
        """
        return ((1 - lr * lam, self.beta), (-lr * lam, self.beta))



@Optimizer.register
class Nesterov(NamedTuple):
    """Nesterov momentum: heavy ball with the gradient at the look-ahead ``W + beta V``.

    This is Sutskever et al.'s form, so the iterates ``W`` are the textbook
    sequence (not PyTorch's shifted variable).

    Examples
    --------
    >>> from gdcore import backends
    >>> xp = backends.get("numpy").xp
    >>> from gdcore.core import Nesterov
    >>> opt = Nesterov(beta=0.5)
    >>> s = opt.init(xp.zeros((1, 1)), xp)
    >>> _, s = opt.update(xp.ones((1, 1)), s, 1.0, xp)
    >>> float(opt.gradient_point(xp.zeros((1, 1)), s, xp)[0, 0])
    -0.5
    """

    beta: Any = 0.9

    name = "nesterov"
    may_rise = True
    linear = True
    lookahead = True

    # the same recurrence as heavy ball; only the point the driver takes the gradient at differs
    init = Momentum.init
    update = Momentum.update
    cannot_rise = Momentum.cannot_rise  # beta = 0: the look-ahead is W itself, plain gd

    precondition = Momentum.precondition

    def edge(self, lr):
        """``(2 + 2 beta) / ((1 + 2 beta) lr)``: where the roots of the transition leave the unit disc.

        >>> from gdcore.core import Nesterov
        >>> round(Nesterov(beta=0.5).edge(1.0), 12)
        1.5
        """
        return (2.0 + 2.0 * self.beta) / ((1.0 + 2.0 * self.beta) * lr)

    def edge_label(self):
        """How :meth:`edge` reads in a figure."""
        if not isinstance(self.beta, (int, float)):
            return "(2+2β)/((1+2β)lr)"
        return f"{(2 + 2 * self.beta) / (1 + 2 * self.beta):.3g}/lr"

    def gradient_point(self, W, state, xp):
        """Where the gradient is taken: ``W + beta V``."""
        return W + self.beta * state.V

    def transition(self, lam, lr):
        """Heavy ball with the gradient at ``e + beta v``, on ``(e, v)`` (see :meth:`Optimizer.transition`).

        With ``q = 1 - lr lam``: ``v' = beta q v - lr lam e`` and ``e' = q e + beta q v``,
        whose eigenvalues are the roots of ``z^2 - (1 + beta) q z + beta q``.
        """
        q = 1 - lr * lam
        return ((q, self.beta * q), (-lr * lam, self.beta * q))

