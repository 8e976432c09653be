"""How the runs of one call run: the options every run of ``fit``, ``sweep`` and ``lr_find`` share."""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["RunSpec"]


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
    >>> from gdcore.core import RunSpec
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
