"""Host float64 analysis: what the curvature says about the learning rate.

For the linear model the loss is a quadratic and everything has a closed form
(:mod:`._quadratic`: the factor of ``[X | y]``, ``w*``, ``L*`` and the
Hessian's spectrum, and why it is ill-conditioned; :mod:`._predict`: every
predicted loss curve, derived from a linear optimizer's ``transition``;
:mod:`._budget`: the ``(lr, beta)`` predicted best within a number of epochs;
:mod:`._stability`: :class:`Stability`).
A model non-linear in its weights has a moving Hessian, whose top eigenvalue
at ``w0`` is measured (:class:`Curvature`).  Nothing here imports an array
library but numpy.
"""

from gdcore.analysis._budget import (
    BudgetChoice,
    best_at_budget,
    lr_edge,
    predicted_epochs_to,
    predicted_gap_at,
)
from gdcore.analysis._curvature import LANCZOS_STEPS, Curvature
from gdcore.analysis._predict import (
    predicted_converged_epoch,
    predicted_converged_epochs,
    predicted_gaps,
    simulate,
    spectral_radius,
    transition_matrices,
    transition_order,
)
from gdcore.analysis._protocol import CurvatureResult, json_ready
from gdcore.analysis._quadratic import (
    Conditioning,
    Quadratic,
    analyse,
    diagnose,
    from_factor,
    gap_weights,
    warn_conditioning,
)
from gdcore.analysis._stability import Stability, stability_of

__all__ = ["LANCZOS_STEPS", "BudgetChoice", "Conditioning", "Curvature", "CurvatureResult", "Quadratic",
           "Stability", "analyse", "best_at_budget", "diagnose", "from_factor", "gap_weights", "json_ready", "lr_edge",
           "predicted_converged_epoch", "predicted_converged_epochs", "predicted_epochs_to",
           "predicted_gap_at", "predicted_gaps", "simulate", "spectral_radius", "stability_of",
           "transition_matrices", "transition_order", "warn_conditioning"]
