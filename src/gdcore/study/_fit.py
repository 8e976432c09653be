"""``fit``: one run of one optimizer, and what the curvature says about it."""

from __future__ import annotations


import numpy as np

from gdcore import optimizers
from gdcore._checks import check_lr, check_y
from gdcore.models import is_linear
from gdcore.schedules import as_schedule
from gdcore.study import _pipeline
from gdcore.study._engine import execute, noise_floor, predict_runs, status_of
from gdcore.study._results import FitResult, Optimum, momentum_of
from gdcore.study._spec import run_spec, with_batches

__all__ = ["fit", "fit_study"]


def fit(X, y, *, lr, epochs=100, backend=None, device=None, w0=None, rtol=1e-3, dtype=None,
        stop_on_convergence=False, divergence_factor=1e6, record_weights=False,
        method=None, standardize=False, momentum=0.0, nesterov=False, batch_size=None,
        seed=0, devices=None, optimizer=None, model=None, sharpness_every=None) -> FitResult:
    """Fit ``y ~ X @ w`` by gradient descent on the mean squared error.

    Full-batch, constant-lr gradient descent by default; any optimizer of
    :mod:`gdcore.optimizers` (heavy-ball or Nesterov momentum, Adam), a
    learning-rate schedule and mini-batch SGD on request.

    Parameters
    ----------
    X : array-like, shape (n, d)
        Features: a numpy/torch/jax/array-API array, pandas object or nested
        list.  Add a column of ones yourself for a bias (``make_linear`` does).
    y : array-like, shape (n,) or (n, m)
        Targets.  With m outputs the loss is the per-output MSE summed over
        outputs, so each output has the same Hessian and ``lr_crit``.
    lr : float or schedule
        Learning rate, > 0; or a schedule from :mod:`gdcore.schedules` or any
        callable ``epoch -> lr``.  One learning rate: a list or array of them
        is a ``TypeError`` pointing at :func:`gdcore.sweep`.
    epochs : int, default 100
        Gradient steps to take at most.
    backend : {None, "numpy", "torch", "jax", "array-api-strict", "dask"}
        Default ``None``: the array library of ``X`` (of a ``torch.nn.Module``
        model when ``X`` is numpy, a list or pandas), numpy for lists and
        pandas.  numpy: analytic gradient; torch: autograd; jax: ``jax.grad``
        with the epoch loop compiled by ``jax.jit``.  ``"auto"`` is the same
        as ``None``.
    device : {None, "cpu", "cuda", "gpu"}
        Where torch/jax compute; ``None`` keeps the input's device.
    w0 : array-like, optional
        Starting weights, default zeros.  Never modified.
    rtol : float, default 1e-3
        Converged when ``L - L* <= rtol * (L(w0) - L*)``.
    dtype : {None, "float32", "float64"}
        Default: the dtype of floating ``X``, else the backend's default float.
    stop_on_convergence : bool, default False
        Stop at the converged epoch instead of running all ``epochs``.
    divergence_factor : float, default 1e6
        Diverged when the loss exceeds this times ``L(w0)``, is non-finite, or
        rises above ``L(w0)`` (impossible below ``lr_crit``, see docs/definitions.md).
    record_weights : bool, default False
        Keep the weights of every epoch in ``history``.
    method : {None, "direct", "gram", "auto"}, default None
        "direct" evaluates loss and gradient from ``X`` every epoch (the
        honest picture of autograd); "gram" from ``X^T X / n`` computed once,
        O(d^2) per epoch with the same iterates; "auto" picks "gram" when
        n >= 4 d.  ``None``: "direct", except on dask where every direct epoch
        is a distributed pass, so "auto".
    standardize : bool, default False
        Scale every non-constant column of ``X`` first, keeping the model's
        meaning: when ``X`` has a constant column (an intercept such as the
        bias column of ones) the other columns are centred and scaled to unit
        variance, the intercept absorbing the means; without one they are
        only scaled, to unit root mean square (centring would add an
        intercept the model does not have).  Constant columns are kept.  On
        badly conditioned data this shrinks the Hessian's condition number and
        moves ``lr_crit`` close to 1; weights then refer to the scaled columns
        ``(X - mean) / scale``, and ``result.scaling`` holds the
        ``(mean, scale)`` used (``mean`` is 0 without an intercept).
    momentum : float in [0, 1), default 0
        Shorthand for ``optimizer=gdcore.optimizers.momentum(momentum)``:
        heavy ball, ``v = beta v - lr g(w)``, ``w = w + v``.
    nesterov : bool, default False
        Shorthand for ``optimizer=gdcore.optimizers.momentum(momentum, nesterov=True)``:
        the gradient at the look-ahead point ``w + beta v``.
    batch_size : int, optional
        Mini-batch SGD: every epoch shuffles the rows (seeded) and takes one
        step per batch of this many rows.  ``batch_size=n`` is full-batch GD.
    seed : int, default 0
        Seed of the shuffle; the same seed gives the same batches on every backend.
    devices : int or "all", optional
        jax only: shard the rows of ``X`` over this many jax devices (data
        parallelism; the compiler's collectives reduce the gradient).  The
        results equal one device's within rounding.
    optimizer : optimizer value, optional
        From :mod:`gdcore.optimizers`: ``gd()`` (the default), ``momentum(beta,
        nesterov=False)``, ``adam(b1, b2, eps)``.  Not together with
        ``momentum=``/``nesterov=``.
    model : model value, optional
        What is trained (:mod:`gdcore.models`): ``linear()`` (the default) or
        ``mlp(hidden, activation, seed)``; also a ``torch.nn.Module`` (backend
        "torch") or a jax function ``apply(params, X)`` with ``w0=params``
        (backend "jax").  A non-linear model's result has no optimum and
        no predictions (``None``): its Hessian moves, so instead it carries
        the measured sharpness
        lambda_0 at ``w0`` (``result.stability``), and a run diverges when its
        loss is non-finite or exceeds ``divergence_factor * L(w0)`` within the
        ``epochs`` given (a rise alone proves nothing there).  ``w0`` is then
        the parameter tuple ``(W1, b1, W2, b2, ...)``; ``L*`` is taken as 0.
    sharpness_every : int, optional
        Non-linear models: measure the sharpness (top Hessian eigenvalue, by
        Lanczos on Hessian-vector products) every this many epochs into
        ``result.sharpness = (epochs, values)``, to compare with
        ``result.edge``, the optimizer's edge of stability (``2 / lr`` for
        gd; for Adam the sharpness is preconditioned, see :class:`FitResult`).

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError, TypeError
        On bad input (non-finite values, wrong shapes, lr <= 0, ...).
    gdcore.BackendUnavailable
        When the backend's package is not installed.

    Examples
    --------
    >>> import gdcore
    >>> X, y = gdcore.make_linear(n=100, seed=0)
    >>> r = gdcore.fit(X, y, lr=0.7, epochs=100)
    >>> r.status, r.converged_epoch, r.regime
    ('converged', 5, 'oscillating')
    >>> gdcore.fit(X, y, lr=1.01).status
    'diverged'
    """
    check_y(y, "fit")
    sched, spec, lr, base, opt = _options(lr, epochs, rtol, divergence_factor, stop_on_convergence,
                                          record_weights, method, momentum, nesterov, optimizer)
    _check_linear_only(is_linear(model), batch_size, devices)
    study = _pipeline.begin(X, y, w0, model=model, backend=backend, device=device, dtype=dtype,
                            standardize=standardize)
    return _run(study, lr, base, opt, spec, sched, method, sharpness_every, batch_size, seed,
                devices)


def fit_study(study, *, lr, epochs=100, rtol=1e-3, stop_on_convergence=False,
              divergence_factor=1e6, record_weights=False, method=None, momentum=0.0,
              nesterov=False, batch_size=None, seed=0, devices=None, optimizer=None,
              sharpness_every=None, callback=None) -> FitResult:
    """:func:`fit` on a study already prepared and analysed (:func:`gdcore.study._pipeline.begin`).

    The same result as ``fit`` of the data the study was begun with, without
    a second pass over ``X`` nor a second analysis: what a caller that has
    described the analysis already (the ``gdcore fit`` command) runs its
    learning rates on.  ``callback(epoch)`` is called after every epoch of the
    eager loop (once, at the end, on jax), e.g. to move a progress bar.
    """
    sched, spec, lr, base, opt = _options(lr, epochs, rtol, divergence_factor, stop_on_convergence,
                                          record_weights, method, momentum, nesterov, optimizer)
    _check_linear_only(study.quadratic, batch_size, devices)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function of the epoch number (or None), got "
                        f"{callback!r}.")
    return _run(study, lr, base, opt, spec, sched, method, sharpness_every, batch_size, seed,
                devices, on_epoch=callback)


def _options(lr, epochs, rtol, divergence_factor, stop_on_convergence, record_weights, method,
             momentum, nesterov, optimizer):
    """The checks that need no data: ``(schedule, spec, lr, base lr, optimizer)``."""
    sched = as_schedule(lr)
    if sched is None and (isinstance(lr, (list, tuple)) or getattr(lr, "ndim", 0)):
        raise TypeError(
            f"lr must be a number such as 0.1 (or a schedule), got {lr!r}: fit trains one learning "
            "rate; to train several at once, in one vectorised program, use gdcore.sweep(X, y, lrs)."
        )
    spec = run_spec(epochs=epochs, rtol=rtol, divergence_factor=divergence_factor,
                    stop_on_convergence=stop_on_convergence, record_weights=record_weights,
                    method=method, schedule=sched)
    lr = float(spec.lr_mult[0]) if sched is not None else check_lr(lr)
    base = 1.0 if sched is not None else lr
    opt = optimizers.resolve(optimizer, momentum, nesterov)
    return sched, spec, lr, base, opt


def _check_linear_only(linear, batch_size, devices):
    if not linear and (batch_size is not None or devices is not None):
        raise ValueError(
            "batch_size= and devices= are for the linear model; a non-linear model trains "
            "full-batch on one device. Drop them."
        )


def _run(study, lr, base, opt, spec, sched, method, sharpness_every, batch_size, seed, devices,
         on_epoch=None) -> FitResult:
    """The one run of a checked fit on a prepared study, and its :class:`FitResult`."""
    _pipeline.check_method(study, method)
    every = _pipeline.check_every(sharpness_every, study, spec.epochs, 1)
    spec = with_batches(spec, batch_size, seed, study.prep.X.shape[0])
    runs = execute(study, [base], opt,
                   spec._replace(record_weights=spec.record_weights or every is not None),
                   on_epoch=on_epoch, devices=devices)
    return _fit_result(study, runs, lr, base, opt, spec, sched, every)


def _fit_result(study, runs, lr, base, opt, spec, sched, every) -> FitResult:
    """The :class:`FitResult` of run 0 of ``runs``."""
    conv, div = int(runs.converged_epoch[0]), int(runs.diverged_epoch[0])
    losses = runs.losses[0]  # K=1: the loop ran exactly this run's epochs
    status = status_of(conv, div)
    prep, bound, curv = study.prep, study.bound, study.curvature
    W = np.asarray(prep.state.to_numpy(runs.W), dtype=np.float64)
    history = sharp = edge = None
    if runs.history is not None:
        H = np.asarray(prep.state.to_numpy(runs.history), dtype=np.float64)[: len(losses)]
        if every is not None:
            epochs, values = _pipeline.track(study, H, every, np.array([len(losses) - 1]), opt)
            sharp = (epochs, values[0])
            edge = _pipeline.edges(opt, [base], epochs, spec.lr_mult)
            edge = None if edge is None else edge[0]
        if spec.record_weights and study.quadratic:
            history = prep.to_user(H[:, :, 0] if prep.y_was_1d else H)
        elif spec.record_weights:
            history = [bound.params(h[:, 0]) for h in H]
    if not study.quadratic:
        return FitResult(
            weights=bound.params(W[:, 0]), losses=losses, status=status,
            converged_epoch=conv if conv >= 0 else None, diverged_epoch=div if div >= 0 else None,
            lr=float(lr), backend=prep.backend.name, optimum=None, history=history,
            stability=curv, predicted_epoch=None, regime=curv.regime(lr), epochs=spec.epochs,
            rtol=spec.rtol, dtype=prep.dtype, method=runs.method, gradient=prep.backend.gradient,
            model=study.model.describe(), divergence_factor=spec.divergence_factor,
            scaling=prep.scaling, schedule=sched, optimizer=opt, sharpness=sharp,
            edge=edge,
        )
    quad = study.quad
    a = _pipeline.gap_weights(study)
    ((predicted, regime),) = predict_runs(curv, a, np.array([base]), opt, spec.rtol, spec.epochs,
                                          lr_mult=spec.lr_mult, batch_size=spec.batch_size)
    beta, nest = momentum_of(opt)
    return FitResult(
        weights=bound.params(W),
        losses=losses,
        status=status,
        converged_epoch=conv if conv >= 0 else None,
        diverged_epoch=div if div >= 0 else None,
        lr=lr,
        backend=prep.backend.name,
        optimum=Optimum(bound.params(quad.w_star), quad.loss_star),
        history=history,
        stability=curv,
        predicted_epoch=predicted,
        regime=regime,
        epochs=spec.epochs,
        rtol=spec.rtol,
        dtype=prep.dtype,
        method=runs.method,
        gradient=prep.backend.gradient,
        model="linear",
        divergence_factor=spec.divergence_factor,
        scaling=prep.scaling,
        momentum=float(beta),
        nesterov=nest,
        schedule=sched,
        batch_size=spec.batch_size,
        noise_floor=noise_floor(losses, quad.loss_star, status) if spec.batch_size else None,
        optimizer=opt,
        _gap_weights=a,
    )
