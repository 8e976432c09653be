"""Optimizers as values: pure ``init`` / ``update`` pairs, written once against the standard.

An optimizer is a small ``NamedTuple`` whose fields are its hyperparameters
(plain floats, or one value per run) and whose two methods are pure:

* ``init(W0, xp) -> state``: the optimizer's state for weights ``W0``;
* ``update(grad, state, lr, xp) -> (delta, state)``: the step to add to the
  weights (``W + delta``) and the new state.

States are ``NamedTuple`` s of arrays whose last axis is the weights' column
axis, so jax carries them through ``lax.while_loop`` and the driver can treat
every optimizer alike.  Because the optimizer itself is a ``NamedTuple`` of
numbers, jax traces its hyperparameters: a new beta does not recompile, only a
new *kind* of optimizer does (the class is part of the pytree's structure).

Two declared properties tell the driver and the analysis what they may assume,
instead of re-deriving it from flags:

* ``may_rise``: whether the loss of a *stable* run may rise above its start.
  For plain gradient descent on a quadratic it cannot (every error component
  shrinks geometrically below ``lr_crit``), so a rise proves divergence; with
  momentum or Adam a stable run may overshoot first.
* ``linear``: whether one step is a fixed linear map of the error for a given
  lr (gd, heavy ball, Nesterov).  Only then does the spectrum of the Hessian
  predict the run; :meth:`heavy_ball` gives the analysis the coefficients.

``lookahead``: when True, the gradient is taken at
``gradient_point(W, state, xp)`` instead of ``W`` (Nesterov).  ``name`` is
the optimizer's name in results.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["GD", "Momentum", "MomentumState", "Nesterov", "NoState"]


class NoState(NamedTuple):
    """The (empty) state of plain gradient descent."""


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

    def heavy_ball(self):
        """``(beta, nesterov)`` of the equivalent heavy-ball recurrence: ``(0.0, False)``."""
        return 0.0, False


class MomentumState(NamedTuple):
    """The velocity ``V`` of heavy-ball / Nesterov momentum, shaped like the weights."""

    V: Any


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

    def heavy_ball(self):
        """``(beta, nesterov)``: the coefficients the analysis simulates."""
        return self.beta, False


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

    def gradient_point(self, W, state, xp):
        """Where the gradient is taken: ``W + beta V``."""
        return W + self.beta * state.V

    def heavy_ball(self):
        """``(beta, nesterov)``: the coefficients the analysis simulates."""
        return self.beta, True
