"""How the runs of one call run: the options ``fit``, ``sweep`` and ``lr_find`` share, as one value."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from gdcore._checks import check_batch, check_run_options, schedule_table

__all__ = ["RunSpec", "run_spec"]


class RunSpec(NamedTuple):
    """The run options of one call, checked once and passed on as one value.

    Attributes
    ----------
    epochs : int
        Gradient steps at most (the horizon of every status).
    rtol : float
        Converged when ``L - L* <= rtol * (L(w0) - L*)``.
    divergence_factor : float
        Diverged when the loss exceeds this times ``L(w0)`` (or is non-finite).
    stop_on_convergence : bool
        Stop each run at its converged epoch.
    record_weights : bool
        Keep the weights of every epoch.
    method : {None, "direct", "gram", "auto"}
        How the linear model's epochs read the data (see :func:`gdcore.fit`).
    batch_size : int or None
        Mini-batch SGD (``None``: full batch).
    seed : int
        Seed of the mini-batch shuffle.
    lr_mult : numpy.ndarray or None
        The schedule's factor for every epoch (host float64); ``None`` for a constant lr.

    Notes
    -----
    On jax the compiled epoch loop is specialised on :meth:`static` (a new
    value compiles a new program) and takes :meth:`traced` as arguments (a new
    value reuses the program).

    Examples
    --------
    >>> from gdcore.study import RunSpec
    >>> spec = RunSpec(epochs=100)
    >>> spec.static(), spec.traced()
    ((100, False, False, None, 0), (0.001, 1000000.0, None))
    """

    epochs: int = 100
    rtol: float = 1e-3
    divergence_factor: float = 1e6
    stop_on_convergence: bool = False
    record_weights: bool = False
    method: str | None = None
    batch_size: int | None = None
    seed: int = 0
    lr_mult: Any = None

    def static(self) -> tuple:
        """``(epochs, stop_on_convergence, record_weights, batch_size, seed)``: the loop's shape."""
        return (self.epochs, self.stop_on_convergence, self.record_weights, self.batch_size,
                self.seed)

    def traced(self) -> tuple:
        """``(rtol, divergence_factor, lr_mult)``: numbers the compiled loop takes as arguments."""
        return self.rtol, self.divergence_factor, self.lr_mult

    def loop_options(self) -> dict:
        """The keyword arguments of a backend's ``run``."""
        return dict(epochs=self.epochs, rtol=self.rtol, divergence_factor=self.divergence_factor,
                    stop_on_convergence=self.stop_on_convergence,
                    record_weights=self.record_weights, lr_mult=self.lr_mult,
                    batch_size=self.batch_size, seed=self.seed)


def run_spec(*, epochs=100, rtol=1e-3, divergence_factor=1e6, stop_on_convergence=False,
             record_weights=False, method=None, schedule=None) -> RunSpec:
    """A checked :class:`RunSpec` (every user error names the argument and the fix).

    ``schedule`` (a :mod:`gdcore.schedules` value) becomes ``lr_mult``, its lr
    for every epoch.  ``batch_size`` and ``seed`` need the number of rows and
    are set by :meth:`RunSpec._replace` after :func:`with_batches`.
    """
    epochs, rtol, divergence_factor = check_run_options(epochs, rtol, divergence_factor, method)
    lr_mult = None if schedule is None else schedule_table(schedule, epochs)
    return RunSpec(epochs, rtol, divergence_factor, bool(stop_on_convergence),
                   bool(record_weights), method, None, 0, lr_mult)


def with_batches(spec: RunSpec, batch_size, seed, n: int) -> RunSpec:
    """``spec`` with mini-batch SGD of ``batch_size`` rows out of ``n`` (checked), or full batch."""
    batch_size, seed = check_batch(batch_size, seed, n)
    return spec._replace(batch_size=batch_size, seed=seed)


def last_epochs(spec: RunSpec, conv: np.ndarray, div: np.ndarray) -> np.ndarray:
    """Each run's last epoch: where it diverged, converged (with ``stop_on_convergence``), or the horizon."""
    return np.where(div >= 0, div, np.where(spec.stop_on_convergence & (conv >= 0), conv,
                                            spec.epochs))
