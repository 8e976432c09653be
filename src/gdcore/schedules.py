"""Learning-rate schedules: pure functions of the epoch.

Pass one as ``gdcore.fit(X, y, lr=gdcore.schedules.cosine(0.5, epochs=100))``,
or any callable ``epoch -> lr``.  The lr of epoch ``k`` is the one used for the
step from ``w_k`` to ``w_{k+1}``.  Schedules hold no state: calling one twice
with the same epoch gives the same value, so they are safe to share between
runs and backends (the jax backend receives their values as a traced table, so
a new schedule does not recompile).

Every schedule checks its arguments when it is made (a ``ValueError`` or
``TypeError`` naming the argument), and every value a schedule gives is
checked as a constant ``lr`` would be: one number (not ``None``, text or an
array), finite and ``>= 0`` (``0`` pauses the run), and representable in the
working dtype (:func:`gdcore.fit` refuses an lr that rounds to 0 or inf there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gdcore._checks import check_lr, check_real

__all__ = [
    "Schedule",
    "as_schedule",
    "constant",
    "cosine",
    "exponential",
    "linear_warmup",
    "one_cycle",
    "step",
]


def _whole(value, name, minimum=1, what=""):
    """``value`` as an int ``>= minimum`` (not a bool, not a float such as 2.5)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}{what}, got {value!r}.")
    return int(value)


def _number(value, name, *, low=0.0, strict=True, high=None, example="0.5"):
    """``value`` as a finite float ``> low`` (``>= low`` unless ``strict``), ``<= high`` if given."""
    v = check_real(value, name, example)
    below = v <= low if strict else v < low
    if not math.isfinite(v) or below or (high is not None and v > high):
        rng = f"{'>' if strict else '>='} {low:g}" + (f" and <= {high:g}" if high is not None else "")
        raise ValueError(f"{name} must be a finite number {rng}, got {value!r}.")
    return v


def _lr_value(value, epoch) -> float:
    """One epoch's lr as a float, or the error a constant ``lr`` of that value gets."""
    name = f"the schedule's lr at epoch {epoch}"
    if isinstance(value, (list, tuple)) or getattr(value, "ndim", 0):
        raise TypeError(
            f"{name} must be one number, got {value!r}; a schedule gives the lr of one epoch "
            "(to train several learning rates at once use gdcore.sweep)."
        )
    return check_real(value, name)


class Schedule:
    """Base class: ``schedule(epoch) -> lr``, and ``table(epochs)`` for epochs 0..epochs-1."""

    def __call__(self, epoch: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def table(self, epochs: int) -> np.ndarray:
        """The learning rates of epochs ``0 .. epochs-1`` as host float64.

        Raises ``TypeError`` when the schedule gives anything but one number
        (``None``, text, an array).
        """
        return np.array([_lr_value(self(k), k) for k in range(epochs)], dtype=np.float64)


@dataclass(frozen=True)
class constant(Schedule):
    """``lr`` at every epoch.

    >>> constant(0.1)(0), constant(0.1)(99)
    (0.1, 0.1)
    """

    lr: float

    def __post_init__(self):
        check_lr(self.lr)

    def __call__(self, epoch):
        return float(self.lr)


@dataclass(frozen=True)
class step(Schedule):
    """``lr * gamma ** (epoch // step_size)`` (torch's ``StepLR``).

    >>> s = step(1.0, step_size=10, gamma=0.5)
    >>> s(0), s(9), s(10), s(25)
    (1.0, 1.0, 0.5, 0.25)
    """

    lr: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self):
        check_lr(self.lr)
        _whole(self.step_size, "step_size", what=" (epochs between two steps)")
        _number(self.gamma, "gamma", example="0.1")

    def __call__(self, epoch):
        return float(self.lr * self.gamma ** (epoch // self.step_size))


@dataclass(frozen=True)
class exponential(Schedule):
    """``lr * gamma ** epoch`` (torch's ``ExponentialLR``).

    >>> exponential(1.0, gamma=0.9)(2)
    0.81
    """

    lr: float
    gamma: float

    def __post_init__(self):
        check_lr(self.lr)
        _number(self.gamma, "gamma", example="0.9")

    def __call__(self, epoch):
        return float(round(self.lr * self.gamma**epoch, 15))


@dataclass(frozen=True)
class cosine(Schedule):
    """Cosine annealing from ``lr`` at epoch 0 to ``lr_min`` at ``epochs``.

    ``lr_min + (lr - lr_min) * (1 + cos(pi * epoch / epochs)) / 2``.

    >>> c = cosine(1.0, epochs=100)
    >>> c(0), c(50), round(c(100), 12)
    (1.0, 0.5, 0.0)
    """

    lr: float
    epochs: int
    lr_min: float = 0.0

    def __post_init__(self):
        check_lr(self.lr)
        _whole(self.epochs, "epochs", what=" (the epoch the cosine reaches lr_min)")
        _number(self.lr_min, "lr_min", strict=False, example="0.0")

    def __call__(self, epoch):
        t = min(epoch, self.epochs) / self.epochs
        return float(self.lr_min + (self.lr - self.lr_min) * (1 + math.cos(math.pi * t)) / 2)


@dataclass(frozen=True)
class linear_warmup(Schedule):
    """Linear ramp ``lr * (epoch + 1) / warmup`` for ``warmup`` epochs, then ``after``.

    ``after`` is a schedule started at the end of the warm-up (default:
    constant ``lr``).

    >>> w = linear_warmup(1.0, warmup=4)
    >>> [w(k) for k in range(6)]
    [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    """

    lr: float
    warmup: int
    after: Schedule | None = None

    def __post_init__(self):
        check_lr(self.lr)
        _whole(self.warmup, "warmup", what=" (epochs; without a warm-up pass `after` itself)")
        if self.after is not None and not isinstance(self.after, Schedule):
            if not callable(self.after):
                raise TypeError(
                    f"after must be a schedule (e.g. gdcore.schedules.cosine(0.5, epochs=90)), a "
                    f"callable epoch -> lr, or None (constant lr), got {self.after!r}."
                )
            object.__setattr__(self, "after", _Callable(self.after))  # its values are checked

    def __call__(self, epoch):
        if epoch < self.warmup:
            return float(self.lr * (epoch + 1) / self.warmup)
        return float(self.after(epoch - self.warmup)) if self.after is not None else float(self.lr)


@dataclass(frozen=True)
class one_cycle(Schedule):
    """The one-cycle policy (torch's ``OneCycleLR`` with cosine annealing).

    Rises from ``lr_max / div_factor`` to ``lr_max`` over the first
    ``pct_start`` of ``epochs``, then anneals to ``lr_max / div_factor /
    final_div_factor`` at the last epoch.

    >>> o = one_cycle(1.0, epochs=101, pct_start=0.3)
    >>> round(o(0), 6), round(o(30), 3), round(o(100), 8)
    (0.04, 1.0, 4e-06)
    """

    lr_max: float
    epochs: int
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4

    def __post_init__(self):
        check_lr(self.lr_max, "lr_max")
        _whole(self.epochs, "epochs", what=" (the length of the cycle)")
        _number(self.pct_start, "pct_start", strict=False, high=1.0, example="0.3")
        _number(self.div_factor, "div_factor", example="25")
        _number(self.final_div_factor, "final_div_factor", example="1e4")

    def __call__(self, epoch):
        start = self.lr_max / self.div_factor
        end = start / self.final_div_factor
        up = float(self.pct_start * self.epochs) - 1
        down = float(self.epochs - 1)
        k = min(epoch, self.epochs - 1)

        def anneal(a, b, t):
            return b + (a - b) * (1 + math.cos(math.pi * t)) / 2

        if k <= up:
            return float(anneal(start, self.lr_max, k / up if up > 0 else 1.0))
        return float(anneal(self.lr_max, end, (k - up) / (down - up)))


@dataclass(frozen=True)
class _Callable(Schedule):
    fn: object

    def __post_init__(self):
        if not callable(self.fn):
            raise TypeError(f"a schedule is a callable epoch -> lr, got {self.fn!r}.")

    def __call__(self, epoch):
        return _lr_value(self.fn(epoch), epoch)


def as_schedule(lr) -> Schedule | None:
    """``None`` for a plain number, else a :class:`Schedule` (callables are wrapped)."""
    if isinstance(lr, Schedule):
        return lr
    if callable(lr):
        return _Callable(lr)
    return None
