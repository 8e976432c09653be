"""The measured curvature of a model non-linear in its weights: lambda_0 and its edge (``2 / lambda_0`` for gd)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdcore.analysis._protocol import json_ready

__all__ = ["LANCZOS_STEPS", "Curvature"]

LANCZOS_STEPS = 30


@dataclass(frozen=True, eq=False)
class Curvature:
    """Curvature of a non-linear model's loss at its initial parameters (:func:`gdcore.stability`).

    Attributes
    ----------
    lambda_max : float
        The sharpness lambda_0: top eigenvalue of the Hessian of the MSE at
        ``w0``, from at most 30 Hessian-vector products (Lanczos); for an
        optimizer with a preconditioner (Adam) the top eigenvalue of
        ``D^(1/2) H D^(1/2)``, ``D`` its preconditioner at the first step.
    lr_crit : float
        The lr at which lambda_0 meets the optimizer's edge
        (``optimizer.edge(lr) == lambda_0``): ``2 / lambda_0`` for gradient
        descent, ``(2 + 2 beta) / lambda_0`` for heavy ball,
        ``38 / lambda_0`` for Adam at ``b1 = 0.9``.  For gd:  Below it,
        gradient descent is stable near ``w0``; above it the loss first grows
        along the sharpest direction, and training may still converge after a
        loss spike that lowers the sharpness (the catapult, up to about
        ``4 / lambda_0`` for wide networks: :attr:`bracket`), or diverge.
    model, backend, dtype : str
    hvps : int
        Hessian-vector products used.
    optimizer : optimizer value or None
        Whose edge ``lr_crit`` is (``None``: gradient descent).

    Examples
    --------
    >>> import numpy as np, gdcore
    >>> x = np.linspace(-1, 1, 30)[:, None]
    >>> c = gdcore.stability(x, np.sin(3 * x[:, 0]), model=gdcore.models.mlp((20,)))
    >>> c.regime(0.5 * c.lr_crit), c.regime(1.5 * c.lr_crit)
    ('below-edge', 'above-edge')
    """

    lambda_max: float
    model: str
    backend: str
    dtype: str
    hvps: int
    optimizer: Any = None
    _measure: Any = field(repr=False, default=None)

    @property
    def edge_constant(self) -> float:
        """``c`` of the optimizer's edge ``c / lr`` (2 for gradient descent)."""
        edge = getattr(self.optimizer, "edge", None)
        return 2.0 if edge is None else float(edge(1.0))

    @property
    def lr_crit(self) -> float:
        return self.edge_constant / self.lambda_max if self.lambda_max > 0 else math.inf

    @property
    def bracket(self) -> tuple:
        """``(lr_crit, 2 lr_crit)`` (``(2 / lambda_0, 4 / lambda_0)`` for gd): where training goes
        from stable to catapult to divergent."""
        return self.lr_crit, 2.0 * self.lr_crit

    def regime(self, lr) -> str:
        """``"below-edge"`` when ``lr < lr_crit``, else ``"above-edge"`` (a catapult may converge)."""
        lr = float(lr)
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a positive finite number, got {lr!r}.")
        return "below-edge" if lr < self.lr_crit else "above-edge"

    def regimes(self, lrs) -> list:
        """:meth:`regime` of every lr."""
        return [self.regime(v) for v in np.asarray(lrs, dtype=np.float64).ravel()]

    def label(self, lrs, *, epochs=2000) -> list:
        """:meth:`regime` of every lr, with ``"divergent"`` where a run of ``epochs`` epochs diverged.

        Runs the lrs as one sweep of the data, model, ``w0`` and backend this
        object was measured on (prepared once): "divergent" is measured, not predicted.
        """
        if self._measure is None:
            raise ValueError("this Curvature was built without its data; call gdcore.stability(X, y, model=...).")
        s = self._measure(lrs, epochs)
        return ["divergent" if st == "diverged" else r for st, r in zip(s.status, self.regimes(s.lrs))]

    def to_dict(self) -> dict:
        """Plain Python, strict JSON: ``lr_crit`` and ``bracket`` are ``None`` where not finite
        (no positive sharpness: :func:`gdcore.analysis.json_ready`)."""
        name = "gd" if self.optimizer is None else self.optimizer.name
        return json_ready({"model": self.model, "optimizer": name, "lambda_max": self.lambda_max,
                           "lr_crit": self.lr_crit, "bracket": list(self.bracket),
                           "backend": self.backend, "dtype": self.dtype, "hvps": self.hvps})


