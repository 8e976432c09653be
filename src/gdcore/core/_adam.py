"""Adam (Kingma & Ba, 2015) as an optimizer value, written once against the standard.

The same arithmetic as ``torch.optim.Adam`` (``amsgrad=False``, no weight
decay) and ``optax.adam``::

    t  = t + 1
    m  = b1 m + (1 - b1) g
    v  = b2 v + (1 - b2) g**2
    delta = -(lr / (1 - b1**t)) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)

Adam is not a linear map of the error (it divides by a running root mean
square of the gradient), so the Hessian's spectrum predicts neither its loss
curve nor its converged epoch: ``linear`` is False, it has no
``transition``, and gdcore reports no prediction.  Its loss may rise on a run that then converges: ``may_rise``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from gdcore.core._optim import Optimizer

__all__ = ["Adam", "AdamState"]


class AdamState(NamedTuple):
    """First and second moment estimates (shaped like the weights) and the step count per column."""

    mu: Any
    nu: Any
    count: Any


@Optimizer.register
class Adam(NamedTuple):
    """Adam with bias-corrected moments; ``b1``, ``b2``, ``eps`` floats or one value per run.

    Examples
    --------
    >>> from gdcore import backends
    >>> xp = backends.get("numpy").xp
    >>> from gdcore.core import Adam
    >>> opt = Adam()
    >>> s = opt.init(xp.zeros((1, 1)), xp)
    >>> delta, s = opt.update(xp.full((1, 1), 4.0), s, 0.1, xp)
    >>> round(float(delta[0, 0]), 6)   # the first step is lr * sign(g)
    -0.1
    """

    b1: Any = 0.9
    b2: Any = 0.999
    eps: Any = 1e-8

    name = "adam"
    may_rise = True
    linear = False
    lookahead = False

    def init(self, W0, xp):
        """Zero moments, zero steps."""
        return AdamState(mu=xp.zeros_like(W0), nu=xp.zeros_like(W0),
                         count=xp.zeros_like(W0[0, ...]))

    def update(self, grad, state, lr, xp):
        """One Adam step; ``lr`` and the hyperparameters broadcast over the columns."""
        count = state.count + 1
        mu = self.b1 * state.mu + (1 - self.b1) * grad
        nu = self.b2 * state.nu + (1 - self.b2) * (grad * grad)
        step = lr / (1 - self.b1**count)
        denom = xp.sqrt(nu) / xp.sqrt(1 - self.b2**count) + self.eps
        return -step * mu / denom, AdamState(mu=mu, nu=nu, count=count)


    def edge(self, lr):
        """``(2 + 2 b1) / ((1 - b1) lr)``, the edge of the preconditioned sharpness.

        >>> from gdcore.core import Adam
        >>> round(Adam().edge(0.01), 9)
        3800.0
        """
        return (2.0 + 2.0 * self.b1) / ((1.0 - self.b1) * lr)

    def precondition(self, state, xp):
        """``D = 1 / (sqrt(v_hat) + eps)``, ``v_hat = nu / (1 - b2**count)``: what the step divides by.

        ``state`` is the state after the update that folded in the gradient at
        the current weights (``count >= 1``): the preconditioner of the step
        taken from them.
        """
        return 1.0 / (xp.sqrt(state.nu) / xp.sqrt(1 - self.b2**state.count) + self.eps)

    def edge_label(self):
        """How :meth:`edge` reads in a figure."""
        if not isinstance(self.b1, (int, float)):
            return "(2+2β1)/((1-β1)lr)"
        return f"{(2 + 2 * self.b1) / (1 - self.b1):.3g}/lr"
