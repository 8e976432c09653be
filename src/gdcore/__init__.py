"""gdcore: how the learning rate drives gradient descent to converge, oscillate or diverge.

Full-batch gradient descent on the mean squared error of a linear model,
written once against the Python array API standard and run on numpy
(analytic gradient), torch (autograd), jax (``jax.grad`` under ``jax.jit``)
and array-api-strict, measured *and* predicted in closed form.

>>> import gdcore
>>> X, y = gdcore.make_linear(n=100, seed=0)
>>> [gdcore.fit(X, y, lr=lr).status for lr in (0.1, 0.7, 1.01)]
['converged', 'converged', 'diverged']
"""

from gdcore import models, optimizers, schedules
from gdcore.analysis import Curvature, Stability
from gdcore._errors import BackendUnavailable, IllConditionedWarning
from gdcore.explore import Explorer, explore
from gdcore.backends import available as available_backends
from gdcore.data import make_linear
from gdcore.study import (
    FitResult,
    LRFinderResult,
    LRFinderWarning,
    LRSuggestion,
    Optimum,
    RunSpec,
    SweepResult,
    fit,
    lr_find,
    stability,
    suggest_lr,
    sweep,
)

__version__ = "0.1.0"


def __getattr__(name):
    # GDRegressor needs scikit-learn: import it only when asked for.
    if name == "GDRegressor":
        from gdcore.estimator import GDRegressor

        return GDRegressor
    raise AttributeError(f"module 'gdcore' has no attribute {name!r}")


__all__ = [
    "BackendUnavailable",
    "Curvature",
    "Explorer",
    "FitResult",
    "GDRegressor",
    "IllConditionedWarning",
    "LRFinderResult",
    "LRFinderWarning",
    "LRSuggestion",
    "Optimum",
    "RunSpec",
    "Stability",
    "SweepResult",
    "__version__",
    "available_backends",
    "explore",
    "fit",
    "lr_find",
    "make_linear",
    "models",
    "optimizers",
    "schedules",
    "stability",
    "suggest_lr",
    "sweep",
]
