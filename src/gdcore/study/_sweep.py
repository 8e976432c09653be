"""``sweep``: K learning rates (or (lr, momentum) pairs) trained at once, in one program."""

from __future__ import annotations

import numpy as np

from gdcore import optimizers
from gdcore._checks import check_lrs, check_numbers, check_y
from gdcore.models import is_linear
from gdcore.study import _pipeline
from gdcore.study._engine import execute, noise_floor, predict_runs, status_of
from gdcore.study._results import Optimum, SweepResult
from gdcore.study._spec import last_epochs, run_spec, with_batches

__all__ = ["sweep", "sweep_study"]


def _none_if_negative(values) -> tuple:
    return tuple(int(v) if v >= 0 else None for v in values)


def _check_callback(callback):
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function of the epoch number (or None), got "
                        f"{callback!r}.")
    return callback


def sweep(X, y, lrs, *, epochs=100, backend=None, device=None, w0=None, rtol=1e-3,
          dtype=None, stop_on_convergence=False, divergence_factor=1e6, method="auto",
          standardize=False, momentums=None, nesterov=False, batch_size=None,
          seed=0, devices=None, optimizer=None, callback=None, model=None,
          sharpness_every=None, record_weights=False) -> SweepResult:
    """Train every learning rate in ``lrs`` at once, in one vectorised program.

    The K runs are stacked as the columns of one (d, K) weight matrix (d, K*m
    for m outputs): every epoch is one matrix product for all of them, never a
    Python loop over learning rates.  torch keeps autograd (the gradient of the
    sum of the K independent losses is the K independent gradients), jax runs
    the whole sweep in one ``jax.jit``.  A run that diverges stops: its row is
    ``nan`` from then on and its weights stay where it stopped (until the sweep
    ends it is evaluated at zero weights, finite arithmetic at its share of the
    cost of an epoch).

    Parameters
    ----------
    X, y
        As in :func:`gdcore.fit`.
    lrs : sequence of float
        Learning rates, each > 0.
    epochs, backend, device, w0, rtol, dtype, stop_on_convergence, divergence_factor, standardize
        As in :func:`gdcore.fit`.  With ``stop_on_convergence`` each run stops
        at its converged epoch and the sweep ends when every run has stopped.
    method : {"auto", "direct", "gram"}, default "auto"
        "gram" runs the epochs on ``X^T X / n`` (O(d^2) per run and epoch),
        which ``"auto"`` picks whenever n >= 4 d; "direct" multiplies by ``X``
        every epoch.  Both give the same iterates up to rounding.
    momentums : sequence of float in [0, 1), optional
        A 2-D sweep: every (lr, beta) pair of ``lrs x momentums`` in the same
        single program (heavy ball, or Nesterov with ``nesterov=True``).  The
        result's per-run arrays are then flattened lr-major, ``grid_shape`` is
        ``(len(lrs), len(momentums))``.
    batch_size, seed
        Mini-batch SGD as in :func:`gdcore.fit`: every run sees the same
        seeded batches.  ``noise_floor`` then reports where each run settles.
    devices : int or "all", optional
        jax only: shard the rows of ``X`` over jax devices (see :func:`gdcore.fit`).
    optimizer : optimizer value, optional
        What every run runs, from :mod:`gdcore.optimizers` (default ``gd()``);
        not together with ``momentums=``/``nesterov=``, which sweep momentum.
    callback : callable, optional
        ``callback(epoch)`` after every epoch of the (single) vectorised loop,
        e.g. to move a progress bar; on jax, whose epoch loop is one compiled
        program, it is called once, with the last epoch, when the loop ends.
    model : model value, optional
        As in :func:`gdcore.fit`.  A non-linear model runs the K lrs in one
        program too (a leading K axis on every parameter, batched matmuls) and
        has no optimum and no predictions: each status within the horizon
        (``epochs``), the measured ``divergence_onset`` and lambda_0's
        ``lr_crit`` and bracket ``(2, 4) / lambda_0`` (``result.stability``).
    sharpness_every : int, optional
        Non-linear models: the sharpness of every run every this many epochs
        (``result.sharpness``), for the edge-of-stability figure.
    record_weights : bool, default False
        Keep every run's weights at every epoch in ``result.history``, a host
        float64 array (epochs + 1, K, P).

    Returns
    -------
    SweepResult

    Examples
    --------
    >>> import numpy as np, gdcore
    >>> X, y = gdcore.make_linear(seed=0)
    >>> s = gdcore.sweep(X, y, np.linspace(0.05, 1.1, 22))
    >>> round(s.best_lr, 2), s.converged_epoch[s.lrs.tolist().index(s.best_lr)], s.status[-1]
    (0.6, 5, 'diverged')
    """
    check_y(y, "sweep")
    lr_arr, spec, opt, grid, betas, nesterov = _options(
        lrs, epochs, rtol, divergence_factor, stop_on_convergence, record_weights, method,
        is_linear(model), momentums, nesterov, batch_size, devices, optimizer)
    study = _pipeline.begin(X, y, w0, model=model, backend=backend, device=device, dtype=dtype,
                            standardize=standardize)
    return _run(study, lr_arr, opt, spec, grid, betas, nesterov, method, sharpness_every,
                batch_size, seed, devices, callback)


def sweep_study(study, lrs, *, epochs=100, rtol=1e-3, stop_on_convergence=False,
                divergence_factor=1e6, method="auto", momentums=None, nesterov=False,
                batch_size=None, seed=0, devices=None, optimizer=None, callback=None,
                sharpness_every=None, record_weights=False) -> SweepResult:
    """:func:`sweep` on a study already prepared and analysed (:func:`gdcore.study._pipeline.begin`).

    The same result as ``sweep`` of the data the study was begun with, without
    a second pass over ``X`` nor a second analysis (the ``gdcore sweep``
    command describes the analysis first, then runs its lrs on it).
    """
    lr_arr, spec, opt, grid, betas, nesterov = _options(
        lrs, epochs, rtol, divergence_factor, stop_on_convergence, record_weights, method,
        study.quadratic, momentums, nesterov, batch_size, devices, optimizer)
    return _run(study, lr_arr, opt, spec, grid, betas, nesterov, method, sharpness_every,
                batch_size, seed, devices, callback)


def _options(lrs, epochs, rtol, divergence_factor, stop_on_convergence, record_weights, method,
             linear, momentums, nesterov, batch_size, devices, optimizer):
    """The checks that need no data: ``(lrs, spec, optimizer, grid, betas, nesterov)``."""
    lr_arr = check_lrs(lrs)
    spec = run_spec(epochs=epochs, rtol=rtol, divergence_factor=divergence_factor,
                    stop_on_convergence=stop_on_convergence, record_weights=record_weights,
                    method=method)
    if not linear:
        if momentums is not None or nesterov or batch_size is not None or devices is not None:
            raise ValueError(
                "momentums=, nesterov=, batch_size= and devices= are for the linear model; with a "
                "non-linear model pass optimizer=gdcore.optimizers.momentum(beta) for momentum."
            )
    grid, betas = None, None
    if momentums is not None or nesterov:
        if optimizer is not None:
            raise ValueError(
                f"pass either optimizer= or momentums=/nesterov=, not both (got optimizer="
                f"{optimizer!r}); momentums= sweeps heavy-ball (or Nesterov) momentum itself."
            )
        moms = np.atleast_1d(check_numbers([0.0] if momentums is None else momentums, "momentums"))
        if moms.ndim != 1 or moms.size == 0:
            raise ValueError("momentums must be a non-empty 1-D sequence of values in [0, 1).")
        for b in moms:
            optimizers.momentum(float(b), nesterov)  # validates each beta
        grid = (lr_arr.size, moms.size)
        lr_arr, betas = np.repeat(lr_arr, moms.size), np.tile(moms, grid[0])
        opt = optimizers.momentum(0.0, nesterov)._replace(beta=betas)
    else:
        opt = optimizers.resolve(optimizer)
        if optimizers.shorthands(opt) is not None:  # a momentum optimizer given by value
            beta, nesterov = optimizers.shorthands(opt)
            betas = np.full(lr_arr.size, float(beta))
    return lr_arr, spec, opt, grid, betas, nesterov


def _run(study, lr_arr, opt, spec, grid, betas, nesterov, method, sharpness_every, batch_size,
         seed, devices, callback) -> SweepResult:
    """The K runs of a checked sweep on a prepared study, and its :class:`SweepResult`."""
    _pipeline.check_method(study, method)
    every = _pipeline.check_every(sharpness_every, study, spec.epochs, lr_arr.size)
    spec = with_batches(spec, batch_size, seed, study.prep.X.shape[0])
    if not study.quadratic and spec.method == "auto":
        spec = spec._replace(method=None)
    runs = execute(study, lr_arr, opt,
                   spec._replace(record_weights=spec.record_weights or every is not None),
                   on_epoch=_check_callback(callback), devices=devices)
    return sweep_result(study, runs, lr_arr, opt, spec, every=every, grid=grid, betas=betas,
                        nesterov=nesterov)


def sweep_result(study, runs, lr_arr, opt, spec, *, every=None, grid=None, betas=None,
                 nesterov=False) -> SweepResult:
    """The :class:`SweepResult` of K runs (what :func:`sweep` and the explorer return)."""
    k = lr_arr.size
    epochs = spec.epochs
    losses = np.full((k, epochs + 1), np.nan)
    losses[:, : runs.losses.shape[1]] = runs.losses
    conv, div = runs.converged_epoch, runs.diverged_epoch
    last = last_epochs(spec, conv, div)
    status = tuple(status_of(c, v) for c, v in zip(conv, div))
    prep, bound, curv = study.prep, study.bound, study.curvature
    P, m = study.w0.shape  # m weight columns per run for the linear model, 1 for a network
    W = np.asarray(prep.state.to_numpy(runs.W), dtype=np.float64).reshape(P, k, m)
    history = sharp = edge = None
    if runs.history is not None:
        H = np.asarray(prep.state.to_numpy(runs.history), dtype=np.float64)  # (E', P, K*m)
        if every is not None:
            sharp = _pipeline.track(study, H, every, last, opt)
            edge = _pipeline.edges(opt, lr_arr, sharp[0], spec.lr_mult)
        if spec.record_weights:
            history = np.full((epochs + 1, k, P * m), np.nan)
            history[: H.shape[0]] = H.reshape(-1, P, k, m).transpose(0, 2, 1, 3).reshape(-1, k, P * m)
            history[np.isnan(losses.T)] = np.nan  # no weights after a run stopped
    common = dict(lrs=lr_arr, losses=losses, status=status,
                  converged_epoch=_none_if_negative(conv), diverged_epoch=_none_if_negative(div),
                  final_loss=losses[np.arange(k), last], epochs=epochs, rtol=spec.rtol,
                  backend=prep.backend.name, method=runs.method, dtype=prep.dtype,
                  divergence_factor=spec.divergence_factor, scaling=prep.scaling, optimizer=opt,
                  sharpness=sharp, edge=edge, history=history)
    if not study.quadratic:
        regimes = tuple("divergent" if st == "diverged" else r
                        for st, r in zip(status, curv.regimes(lr_arr)))
        return SweepResult(**common, predicted_epochs=(None,) * k, regime=regimes,
                           weights=tuple(bound.params(W[:, i, 0]) for i in range(k)),
                           stability=curv, optimum=None, model=study.model.describe())
    quad = study.quad
    a = _pipeline.gap_weights(study)
    Wk = W.transpose(1, 0, 2)  # (K, d, m)
    weights = prep.to_user(np.ascontiguousarray(Wk[:, :, 0] if prep.y_was_1d else Wk))
    preds = predict_runs(curv, a, lr_arr, opt, spec.rtol, epochs, batch_size=spec.batch_size)
    return SweepResult(
        **common,
        predicted_epochs=tuple(p[0] for p in preds),
        regime=tuple(p[1] for p in preds),
        weights=weights,
        stability=curv,
        optimum=Optimum(bound.params(quad.w_star), quad.loss_star),
        momentums=betas,
        nesterov=nesterov,
        grid_shape=grid,
        batch_size=spec.batch_size,
        noise_floor=None if not spec.batch_size else np.array(
            [np.nan if (f := noise_floor(losses[i], quad.loss_star, status[i])) is None else f
             for i in range(k)]
        ),
        _gap_weights=a,
    )
