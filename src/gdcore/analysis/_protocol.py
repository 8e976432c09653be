"""What every curvature result answers: the linear model's and a network's alike."""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

__all__ = ["CurvatureResult", "json_ready"]


def json_ready(obj):
    """``obj`` as plain Python for strict JSON: every non-finite float becomes ``None``.

    JSON has no NaN or Infinity, so every ``to_dict`` of gdcore passes its
    result through here: ``json.dumps(result.to_dict(), allow_nan=False)``
    always works, and a ``None`` where a number is expected means "not
    finite" (an infinite condition number, the weights of a run that
    overflowed, a disagreement with no suggestion to compare).  Dicts, lists,
    tuples (as lists) and numpy values are converted recursively.

    Examples
    --------
    >>> from gdcore.analysis import json_ready
    >>> json_ready({"a": float("inf"), "b": [1.0, float("nan")], "c": (2, "x")})
    {'a': None, 'b': [1.0, None], 'c': [2, 'x']}
    """
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy arrays and scalars
        return json_ready(obj.tolist())
    return obj


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
        """Plain Python numbers, strict JSON: a non-finite number is ``None`` (:func:`json_ready`)."""
