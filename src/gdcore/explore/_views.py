"""What the explorer's pages show, as typed values (built by :mod:`._data`, drawn by :mod:`._page`)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["LinearPage", "ModelPage"]


class LinearPage(NamedTuple):
    """The linear model's page: every (beta, lr) run measured and predicted, in the eigenbasis too.

    Runs are indexed ``r = j K + i`` (momentum ``betas[j]``, lr ``lrs[i]``);
    ``E = epochs + 1``; ``s`` eigen-directions are shown (``sel``).
    """

    lrs: np.ndarray  # (K,)
    betas: np.ndarray  # (J,), 0 first
    epochs: int
    rtol: float
    d: int
    n: int
    stab: Any  # analysis.Stability
    loss_star: float
    meas: np.ndarray  # (J K, E) measured loss gap
    pred: np.ndarray  # (J K, E) predicted loss gap
    hist: np.ndarray  # (J K, E, d) weights, nan after a run stopped
    comps: np.ndarray  # (J K, E, s) measured error along the shown eigen-directions
    comp_pred: np.ndarray  # (J K, E, s) predicted error along them
    sel: list  # indices (into ascending eigenvalues) of the shown directions
    lam: np.ndarray  # (d,) eigenvalues of H, ascending
    V: np.ndarray  # (d, d) eigenvectors, columns
    w_star: np.ndarray  # (d,)
    factors: np.ndarray  # (J K, s) contraction factor per epoch of each shown direction
    status: list  # [J][K] (status, converged, diverged, predicted) per run
    c0: np.ndarray  # (d,) initial error in the eigenbasis
    feature_names: list
    target_name: str
    source: str | None
    title: str
    standardize: bool
    backend: str
    mom: Any  # the momentum SweepResult, or None


class ModelPage(NamedTuple):
    """A network's page: one sweep with the sharpness tracked, nothing predicted."""

    sweep: Any  # SweepResult with sharpness
    lrs: np.ndarray
    epochs: int
    rtol: float
    n: int
    d: int
    every: int
    feature_names: list
    target_name: str
    source: str | None
    title: str
    standardize: bool
