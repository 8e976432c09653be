"""``stability``: the curvature alone, the linear model's exact spectrum or a network's sharpness at ``w0``."""

from __future__ import annotations

import dataclasses

import numpy as np

from gdcore import optimizers
from gdcore._checks import check_lrs
from gdcore.analysis import Curvature, Stability
from gdcore.models import is_linear
from gdcore.study import _pipeline
from gdcore.study._engine import execute
from gdcore.study._spec import run_spec
from gdcore.study._sweep import sweep_result

__all__ = ["stability"]


def stability(X, y=None, *, model=None, w0=None, backend=None, device=None, dtype=None,
              standardize=False, optimizer=None) -> Stability | Curvature:
    """Spectrum of the MSE Hessian ``H = (2/n) X^T X`` and what it means for the lr.

    Parameters
    ----------
    X : array-like, shape (n, d)
    y : array-like, optional
        Targets; needed for a non-linear ``model`` (its Hessian depends on the
        residuals), ignored by the linear model, whose Hessian does not.
    model : model value, optional
        ``gdcore.models.linear()`` (default): the exact spectrum below.  A
        non-linear model (``gdcore.models.mlp(...)``, a torch module, a jax
        function with ``w0``) returns a :class:`gdcore.Curvature`:
        the sharpness lambda_0 at ``w0`` by Lanczos on at most 30
        Hessian-vector products, ``lr_crit = 2 / lambda_0``, and
        ``regime(lr)`` ("below-edge"/"above-edge"), ``label(lrs)`` (adds a
        measured "divergent").
    w0 : initial parameters of a non-linear model (default: its initialisation).
    backend, device
        Where ``X^T X`` is computed (default: the library of ``X``).
    dtype : {None, "float32", "float64"}
        As in :func:`fit` (non-linear models).
    standardize : bool
        Analyse the standardized columns instead (see :func:`fit`).
    optimizer : optimizer value, optional
        A non-linear model: whose edge of stability ``lr_crit`` and the
        bracket are (default gradient descent): the lr at which lambda_0 meets
        ``optimizer.edge(lr)``.  For Adam lambda_0 is the preconditioned
        sharpness, ``D`` from the first gradient.  (The linear model: see
        ``Stability.optimizer_regimes``.)

    Returns
    -------
    Stability
        ``eigenvalues``, ``lambda_max``, ``lambda_min``, ``condition_number``,
        ``lr_crit``, ``lr_opt``, ``rho(lr)``, ``regime(lr)``, ``predicted_epochs``.

    Examples
    --------
    >>> import gdcore
    >>> X, _ = gdcore.make_linear(n=100, seed=0)
    >>> s = gdcore.stability(X)
    >>> round(s.lambda_max, 3), round(s.lr_opt, 3)
    (2.029, 0.726)
    """
    if not is_linear(model):
        if y is None:
            raise ValueError(
                "stability of a non-linear model needs y: its Hessian depends on the residuals "
                "at w0. Call gdcore.stability(X, y, model=...)."
            )
    elif optimizer is not None:
        raise ValueError("optimizer= is for a non-linear model; the linear model's regimes for an "
                         "optimizer are gdcore.stability(X).optimizer_regimes(opt, lrs).")
    elif w0 is not None:
        raise ValueError("w0 is for a non-linear model; the linear model's Hessian does not depend on it.")
    # the linear model's Hessian depends on X alone: y is not read
    study = _pipeline.begin(X, None if is_linear(model) else y, w0, model=model, backend=backend,
                            device=device, dtype=dtype, standardize=standardize,
                            with_optimum=False)
    if study.quadratic:
        return study.curvature
    opt = optimizers.resolve(optimizer)
    curv = study.curvature
    if _pipeline._preconditioned(opt):
        lam0 = _pipeline.track(study, study.w0[None], 1, np.array([0]), opt)[1][0, 0]
        curv = dataclasses.replace(curv, lambda_max=float(lam0))

    def measure(lrs, epochs):  # runs on the study already prepared: no second pass over X
        lrs = check_lrs(lrs)
        spec = run_spec(epochs=epochs)
        return sweep_result(study, execute(study, lrs, opt, spec), lrs, opt, spec)

    return dataclasses.replace(curv, optimizer=opt, _measure=measure)
