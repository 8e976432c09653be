"""The run options of a call, checked into one :class:`gdcore.core.RunSpec`."""

from __future__ import annotations

import numpy as np

from gdcore._checks import check_batch, check_memory, check_run_options, schedule_table
from gdcore.core import RunSpec

__all__ = ["RunSpec", "last_epochs", "run_spec", "with_batches"]


def run_spec(*, epochs=100, rtol=1e-3, divergence_factor=1e6, stop_on_convergence=False,
             record_weights=False, method=None, schedule=None) -> RunSpec:
    """A checked :class:`RunSpec` (every user error names the argument and the fix).

    ``schedule`` (a :mod:`gdcore.schedules` value) becomes ``lr_mult``, its lr
    for every epoch.  ``batch_size`` and ``seed`` need the number of rows and
    are set by :meth:`RunSpec._replace` after :func:`with_batches`.
    """
    epochs, rtol, divergence_factor = check_run_options(epochs, rtol, divergence_factor, method)
    if schedule is not None:  # its table: a Python float, then float64, for every epoch
        check_memory([(f"the schedule's lr for each of {epochs:,} epochs", 48 * epochs,
                       "use fewer epochs")], f"a schedule over {epochs:,} epochs")
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
