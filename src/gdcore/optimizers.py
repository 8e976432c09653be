"""Optimizers as values, in the optax style.

Each function returns a small immutable value, an instance of
:class:`Optimizer` (the declared protocol, :class:`gdcore.core.Optimizer`),
with two pure methods, ``init(W0, xp) -> state`` and
``update(grad, state, lr, xp) -> (delta, state)``, written once against the
array API standard, plus declared properties that the driver and the
analysis read:

* ``may_rise``: whether the loss of a stable run may rise above its start
  (False only for plain gradient descent, where a rise proves divergence);
* ``linear``: whether a step is a linear map of the error, so that the
  Hessian's spectrum predicts the run (gd, momentum; not :func:`adam`, whose
  results therefore carry no prediction).  A linear optimizer gives that map
  along one eigen-direction, ``transition(lam, lr)``, and every prediction
  is derived from it.

A new optimizer is a registered class in :mod:`gdcore.core` (see
:class:`Optimizer`) and a validating factory here.

Pass one to :func:`gdcore.fit`, :func:`gdcore.sweep`, :func:`gdcore.lr_find`
or :class:`gdcore.GDRegressor` as ``optimizer=``; ``momentum=`` and
``nesterov=`` remain shorthands for :func:`momentum`.

>>> import gdcore
>>> X, y = gdcore.make_linear(seed=0)
>>> a = gdcore.fit(X, y, lr=0.5, optimizer=gdcore.optimizers.momentum(0.3))
>>> b = gdcore.fit(X, y, lr=0.5, momentum=0.3)
>>> bool((a.losses == b.losses).all())
True
"""

from __future__ import annotations

import math

import numpy as np

from gdcore._checks import check_beta, check_each, check_in_range, check_real
from gdcore.core._adam import Adam
from gdcore.core._optim import GD, Momentum, Nesterov, Optimizer

__all__ = ["Optimizer", "adam", "check", "gd", "momentum", "resolve", "shorthands"]


_number = check_in_range  # the rule of every hyperparameter in a range (also Stability's)


def gd():
    """Plain gradient descent: ``w = w - lr * grad``.

    The one optimizer whose loss cannot rise on a stable run, so a rise above
    the starting loss proves divergence; its convergence epoch is predicted in
    closed form.

    Returns
    -------
    GD
        An optimizer value.

    Examples
    --------
    >>> import gdcore
    >>> X, y = gdcore.make_linear(seed=0)
    >>> r = gdcore.fit(X, y, lr=0.7, optimizer=gdcore.optimizers.gd())
    >>> r.converged_epoch, r.predicted_epoch
    (5, 5)
    """
    return GD()


def momentum(beta=0.9, nesterov=False):
    """Heavy-ball momentum ``v = beta v - lr g``, ``w = w + v``; Nesterov's look-ahead on request.

    Parameters
    ----------
    beta : float in [0, 1), default 0.9
        The momentum coefficient (heavy ball is unstable for beta >= 1).
    nesterov : bool, default False
        Take the gradient at the look-ahead point ``w + beta v``.

    Returns
    -------
    Momentum or Nesterov
        An optimizer value.

    Raises
    ------
    ValueError, TypeError
        When ``beta`` is not a number in [0, 1) or ``nesterov`` not a bool.

    Examples
    --------
    >>> import gdcore
    >>> X, y = gdcore.make_linear(seed=1)
    >>> lr, beta = gdcore.stability(X).polyak()
    >>> r = gdcore.fit(X, y, lr=lr, optimizer=gdcore.optimizers.momentum(beta))
    >>> r.status, r.converged_epoch == r.predicted_epoch
    ('converged', True)
    """
    beta = check_beta(beta)
    if not isinstance(nesterov, bool):
        raise TypeError(f"nesterov must be True or False, got {nesterov!r}.")
    return Nesterov(beta) if nesterov else Momentum(beta)


def adam(b1=0.9, b2=0.999, eps=1e-8):
    """Adam: bias-corrected first and second moments, the step ``lr * m_hat / (sqrt(v_hat) + eps)``.

    The same iterates as ``torch.optim.Adam(lr=lr, betas=(b1, b2), eps=eps)``
    and ``optax.adam(lr, b1, b2, eps)`` (to 1e-10 in float64, tested on every
    backend).  Adam is not a linear map of the error, so gdcore predicts
    nothing for it: ``predicted_epoch`` is ``None``, the regime is
    ``"adaptive"`` and plots draw no prediction.  Its loss may rise on a run
    that then converges, so only non-finite losses and ``divergence_factor``
    count as divergence.

    Parameters
    ----------
    b1, b2 : float in [0, 1), defaults 0.9 and 0.999
        Decay rates of the first and second moment estimates.
    eps : float > 0, default 1e-8
        Added to the root of the second moment.

    Returns
    -------
    Adam
        An optimizer value.

    Raises
    ------
    ValueError, TypeError
        When a hyperparameter is out of range or not a number.

    Examples
    --------
    >>> import gdcore
    >>> X, y = gdcore.make_linear(seed=0)
    >>> r = gdcore.fit(X, y, lr=0.1, epochs=200, optimizer=gdcore.optimizers.adam())
    >>> r.status, r.predicted_epoch, r.regime
    ('converged', None, 'adaptive')
    """
    b1 = _number(b1, "b1", 0.0, 1.0, hint="; the default is 0.9")
    b2 = _number(b2, "b2", 0.0, 1.0, hint="; the default is 0.999")
    eps_v = check_real(eps, "eps", "1e-8")
    if not (math.isfinite(eps_v) and eps_v > 0):
        raise ValueError(f"eps must be a finite number > 0 (the default is 1e-8), got {eps!r}.")
    return Adam(b1, b2, eps_v)


def shorthands(optimizer):
    """The ``momentum=`` / ``nesterov=`` shorthands that mean ``optimizer``, or None.

    ``(beta, nesterov)`` for what :func:`momentum` returns, ``None`` for any
    other optimizer (:func:`gd`, :func:`adam`, one of your own): what results
    report as their ``momentum`` and ``nesterov``.

    Examples
    --------
    >>> from gdcore.optimizers import adam, momentum, shorthands
    >>> shorthands(momentum(0.5)), shorthands(momentum(0.5, nesterov=True)), shorthands(adam())
    ((0.5, False), (0.5, True), None)
    """
    if isinstance(optimizer, (Momentum, Nesterov)):
        return optimizer.beta, isinstance(optimizer, Nesterov)
    return None


def resolve(optimizer=None, momentum_beta=0.0, nesterov=False):
    """The optimizer value a call runs: ``optimizer``, or the one the shorthands describe.

    ``momentum=beta`` (> 0) means :func:`momentum` ``(beta)``,
    ``nesterov=True`` :func:`momentum` ``(beta, nesterov=True)``, neither
    :func:`gd`.  Giving ``optimizer=`` together with a shorthand is refused.

    Examples
    --------
    >>> from gdcore.optimizers import resolve, momentum
    >>> resolve(None, 0.5) == momentum(0.5), type(resolve()).__name__
    (True, 'GD')
    """
    if optimizer is None:
        beta = check_beta(momentum_beta if momentum_beta is not None else 0.0)
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be True or False, got {nesterov!r}.")
        return momentum(beta, nesterov) if (beta > 0 or nesterov) else gd()
    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be an optimizer value such as gdcore.optimizers.adam(), "
            f"gdcore.optimizers.momentum(0.9) or gdcore.optimizers.gd(); got {optimizer!r}."
        )
    if (momentum_beta not in (None, 0, 0.0)) or nesterov:
        raise ValueError(
            f"pass either optimizer= or the momentum=/nesterov= shorthands, not both "
            f"(got optimizer={optimizer!r}, momentum={momentum_beta!r}, nesterov={nesterov!r}); "
            "e.g. optimizer=gdcore.optimizers.momentum(0.9, nesterov=True)."
        )
    return check(optimizer)


def _in_unit(v):
    return np.isfinite(v) & (v >= 0.0) & (v < 1.0)


def check(optimizer):
    """``optimizer`` itself, once its hyperparameters pass its factory's checks; raise otherwise.

    A value changed with ``_replace`` (or built from its class) never met its
    factory: ``momentum(0.9)._replace(beta=1.5)`` would run a divergent heavy
    ball and ``adam()._replace(b2=1.5)`` a meaningless Adam.  Every run checks
    its optimizer here when it starts, with the factory's own message; a
    hyperparameter may be a number or one value per run.  Optimizers of your
    own are returned unchecked.

    Examples
    --------
    >>> from gdcore.optimizers import check, momentum
    >>> check(momentum(0.9)._replace(beta=1.5))
    Traceback (most recent call last):
    ...
    ValueError: momentum must be in [0.0, 1.0), got 1.5 (heavy ball is unstable for beta >= 1); try 0.9, or Stability.polyak() for the optimal pair.
    """
    if isinstance(optimizer, (Momentum, Nesterov)):
        check_each(optimizer.beta, check_beta, _in_unit)
    elif isinstance(optimizer, Adam):
        check_each(optimizer.b1, lambda v: adam(b1=v), _in_unit)
        check_each(optimizer.b2, lambda v: adam(b2=v), _in_unit)
        check_each(optimizer.eps, lambda v: adam(eps=v), lambda v: np.isfinite(v) & (v > 0))
    return optimizer
