"""Standard-only core of gdcore.

Every function here takes the array namespace ``xp`` explicitly and calls
nothing outside the Python array API standard, so the same code runs on
numpy, torch, jax and ``array_api_strict``.  Nothing in this package imports
numpy, torch or jax.

The pieces: the loss and its gradient (``_mse``), the two kinds of problem
(``_problem``), the optimizers as values and their declared protocol
:class:`Optimizer` (``_optim``, ``_adam``), the one epoch driver and its
convergence bookkeeping (``_loop``), the QR used by the analysis
(``_qr``), standardization (``_scale``) and the Lanczos iteration that
measures curvature from Hessian-vector products (``_curvature``).
"""

from gdcore.core._adam import Adam, AdamState
from gdcore.core._curvature import LanczosResult, lanczos
from gdcore.core._loop import (
    EagerLoop,
    ReportingLoop,
    RunState,
    Thresholds,
    advance,
    drive,
    initial_state,
    observe,
    per_column,
    per_column_hyper,
    safe_weights,
    thresholds,
)
from gdcore.core._mse import (
    block_rows,
    PythonFold,
    blockwise,
    direct_grad,
    direct_loss,
    gram_grad,
    gram_loss,
)
from gdcore.core._models import ACTIVATIONS, MLPSpec, ModelProblem
from gdcore.core._optim import GD, Momentum, MomentumState, Nesterov, NoState, Optimizer
from gdcore.core._problem import DataProblem, ReducedProblem
from gdcore.core._qr import cholesky_qr2, gram_rows, qr_rows, tsqr
from gdcore.core._scale import standardize
from gdcore.core._spec import RunSpec

__all__ = [
    "ACTIVATIONS",
    "Adam",
    "AdamState",
    "GD",
    "LanczosResult",
    "DataProblem",
    "EagerLoop",
    "ReportingLoop",
    "RunSpec",
    "MLPSpec",
    "ModelProblem",
    "Momentum",
    "MomentumState",
    "Nesterov",
    "NoState",
    "Optimizer",
    "ReducedProblem",
    "RunState",
    "Thresholds",
    "advance",
    "block_rows",
    "cholesky_qr2",
    "PythonFold",
    "blockwise",
    "direct_grad",
    "direct_loss",
    "drive",
    "gram_rows",
    "gram_grad",
    "gram_loss",
    "initial_state",
    "lanczos",
    "observe",
    "per_column",
    "per_column_hyper",
    "qr_rows",
    "safe_weights",
    "standardize",
    "thresholds",
    "tsqr",
]
