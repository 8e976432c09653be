"""Standard-only core of gdcore.

Every function here takes the array namespace ``xp`` explicitly and calls
nothing outside the Python array API standard, so the same code runs on
numpy, torch, jax and ``array_api_strict``.  Nothing in this package imports
numpy, torch or jax.
"""

from gdcore.core._loop import (
    RunState,
    Thresholds,
    gradient_point,
    initial_state,
    observe,
    per_column,
    run_eager,
    safe_weights,
    step,
    thresholds,
)
from gdcore.core._mse import (
    block_rows,
    blockwise,
    direct_grad,
    direct_loss,
    gram_grad,
    gram_loss,
)
from gdcore.core._qr import qr_rows, tsqr
from gdcore.core._scale import standardize

__all__ = [
    "RunState",
    "Thresholds",
    "block_rows",
    "blockwise",
    "direct_grad",
    "direct_loss",
    "gram_grad",
    "gram_loss",
    "gradient_point",
    "initial_state",
    "observe",
    "per_column",
    "qr_rows",
    "run_eager",
    "safe_weights",
    "standardize",
    "step",
    "thresholds",
    "tsqr",
]
