"""What every curvature result answers: the linear model's and a network's alike."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["CurvatureResult"]


@runtime_checkable
class CurvatureResult(Protocol):
    """The protocol of :class:`gdcore.Stability` and :class:`gdcore.Curvature`.

    ``result.stability`` of every fit and sweep is one of them, so code that
    reads the edge of stability needs no branch on the model.

    Attributes
    ----------
    lambda_max : float
        The sharpness: the top eigenvalue of the loss's Hessian (at ``w0`` for a network).
    lr_crit : float
        ``2 / lambda_max``: the edge of stability of plain gradient descent.

    Examples
    --------
    >>> import gdcore
    >>> from gdcore.analysis import CurvatureResult
    >>> X, y = gdcore.make_linear(seed=0)
    >>> isinstance(gdcore.stability(X), CurvatureResult)
    True
    """

    @property
    def lambda_max(self) -> float: ...

    @property
    def lr_crit(self) -> float: ...

    def regime(self, lr) -> str:
        """The regime of one learning rate."""

    def regimes(self, lrs) -> list:
        """The regime of every learning rate."""

    def to_dict(self) -> dict:
        """Plain Python numbers (JSON-ready)."""
