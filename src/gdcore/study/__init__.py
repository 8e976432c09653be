"""The learning-rate study: prepare -> curvature -> run -> results, one pipeline for every model.

:func:`fit` (one run), :func:`sweep` (K runs in one program), :func:`lr_find`
(the range test) and :func:`stability` (the curvature alone).  Each checks
its run options into one :class:`RunSpec`, prepares the data and binds the
model (:mod:`._pipeline`), runs (:mod:`._engine`) and returns one family of
results (:mod:`._results`) whatever the model.
"""

from gdcore.study._fit import fit
from gdcore.study._lr_find import LRFinderResult, LRFinderWarning, lr_find
from gdcore.study._results import FitResult, Optimum, SweepResult
from gdcore.study._spec import RunSpec
from gdcore.study._stability import stability
from gdcore.study._suggest import LRSuggestion, suggest_lr
from gdcore.study._sweep import sweep

__all__ = ["FitResult", "LRFinderResult", "LRFinderWarning", "LRSuggestion", "Optimum", "RunSpec", "SweepResult",
           "fit", "lr_find", "stability", "suggest_lr", "sweep"]
