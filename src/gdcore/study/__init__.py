"""The learning-rate study: prepare -> curvature -> run -> results, for every model.

:func:`fit` (one run), :func:`sweep` (K runs in one program), :func:`lr_find`
(the range test) and :func:`stability` (the curvature alone).
"""

from gdcore.study._fit import FitResult, Optimum, fit, stability
from gdcore.study._lr_find import LRFinderResult, LRFinderWarning, lr_find
from gdcore.study._nonlinear import ModelFitResult, ModelSweepResult
from gdcore.study._sweep import SweepResult, sweep

__all__ = ["FitResult", "LRFinderResult", "LRFinderWarning", "ModelFitResult", "ModelSweepResult",
           "Optimum", "SweepResult", "fit", "lr_find", "stability", "sweep"]
