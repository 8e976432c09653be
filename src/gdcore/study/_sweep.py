"""The learning-rate study: vectorised sweeps and the learning-rate range test."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdcore import analysis, optimizers
from gdcore.models import is_linear
from gdcore.analysis import Stability, stability_of
from gdcore.study._engine import execute, noise_floor, predict_runs, status_of
from gdcore.study._fit import Optimum
from gdcore._checks import check_batch, check_lrs, check_numbers, check_run_options, check_y
from gdcore.study._prepare import prepare, to_library

__all__ = ["SweepResult", "sweep"]


def _none_if_negative(values) -> tuple:
    return tuple(int(v) if v >= 0 else None for v in values)


@dataclass(frozen=True, eq=False)
class SweepResult:
    """K learning rates trained at once on the same data (see :func:`sweep`).

    Attributes
    ----------
    lrs : numpy.ndarray
        The learning rates, (K,).
    losses : numpy.ndarray
        (K, epochs + 1) float64; ``nan`` after a run diverged (or converged,
        with ``stop_on_convergence``).
    status, regime : tuple of str
        Measured status and predicted regime per lr.
    converged_epoch, diverged_epoch, predicted_epochs : tuple of int or None
    final_loss : numpy.ndarray
        Loss at each run's last epoch (``inf`` possible for a diverged run).
    weights : array
        Final weights, (K, d) or (K, d, m), in the array library of ``X``.
    stability : Stability
        The spectrum analysis of ``X`` (``analysis`` is the same object, under
        its older name).
    optimum : Optimum
    optimizer : optimizer value
        What every run ran (see :mod:`gdcore.optimizers`); with ``momentums``
        its ``beta`` holds one value per run.  Adam's runs have no prediction
        (``predicted_epochs`` all ``None``, regime ``"adaptive"``).
    """

    lrs: np.ndarray
    losses: np.ndarray
    status: tuple
    converged_epoch: tuple
    diverged_epoch: tuple
    predicted_epochs: tuple
    regime: tuple
    final_loss: np.ndarray
    weights: Any
    stability: Stability
    optimum: Optimum
    epochs: int
    rtol: float
    backend: str
    method: str
    dtype: str
    scaling: Any = None
    momentums: Any = None
    nesterov: bool = False
    grid_shape: Any = None
    batch_size: int | None = None
    noise_floor: Any = None
    optimizer: Any = None
    _gap_weights: np.ndarray = field(repr=False, default=None)

    @property
    def analysis(self) -> Stability:
        """The same as :attr:`stability` (its name before ``FitResult`` and ``SweepResult`` agreed)."""
        return self.stability

    @property
    def best(self) -> int | None:
        """Index of the run that converged in the fewest epochs (ties: lower final loss)."""
        best = None
        for i, ep in enumerate(self.converged_epoch):
            if ep is None or self.status[i] != "converged":
                continue
            key = (ep, self.final_loss[i])
            if best is None or key < best[0]:
                best = (key, i)
        return None if best is None else best[1]

    @property
    def best_lr(self) -> float | None:
        """The lr that converged in the fewest epochs (ties: the lower final loss)."""
        i = self.best
        return None if i is None else float(self.lrs[i])

    @property
    def best_momentum(self) -> float | None:
        """The momentum of the best run (2-D sweeps), else ``None``."""
        i = self.best
        return None if i is None or self.momentums is None else float(self.momentums[i])

    @property
    def predictable(self) -> bool:
        """Whether the spectrum predicts the runs' loss curves (not for SGD, nor Adam)."""
        return self.batch_size is None and (self.optimizer is None or self.optimizer.linear)

    def predicted_losses(self) -> np.ndarray:
        """Closed-form loss curves, (K, epochs + 1), for every run of the sweep."""
        if self.batch_size is not None:
            raise ValueError("mini-batch SGD has no closed-form loss curve; see noise_floor instead.")
        opt = self.optimizer if self.optimizer is not None else optimizers.gd()
        if not opt.linear:
            raise ValueError(
                f"{opt.name} has no predicted loss curves: its step is not a linear map of the "
                "error, so the Hessian's spectrum does not predict it."
            )
        lam, a, e = self.stability.eigenvalues, self._gap_weights, self.epochs
        beta, nesterov = opt.heavy_ball()
        with np.errstate(all="ignore"):
            if not opt.may_rise:
                curves = [analysis.predicted_gaps(lam, a, lr, e) for lr in self.lrs]
            else:
                table = np.repeat(np.asarray(self.lrs)[:, None], max(e, 1), axis=1)
                betas = np.broadcast_to(np.asarray(beta, dtype=np.float64), (len(self.lrs),))
                curves = analysis.simulate_gaps(lam, a, table, betas, nesterov, e)
        return self.optimum.loss + np.stack(curves)

    def to_dict(self) -> dict:
        """Per-lr rows plus the analysis, as plain Python (JSON-ready)."""
        rows = []
        for i, lr in enumerate(self.lrs):
            fl = float(self.final_loss[i])
            rows.append({
                "lr": float(lr),
                "momentum": None if self.momentums is None else float(self.momentums[i]),
                "noise_floor": None if self.noise_floor is None or not np.isfinite(self.noise_floor[i])
                else float(self.noise_floor[i]),
                "regime": self.regime[i],
                "status": self.status[i],
                "converged_epoch": self.converged_epoch[i],
                "predicted_epoch": self.predicted_epochs[i],
                "diverged_epoch": self.diverged_epoch[i],
                "final_loss": fl if math.isfinite(fl) else None,
            })
        return {
            "backend": self.backend,
            "method": self.method,
            "dtype": self.dtype,
            "epochs": self.epochs,
            "rtol": self.rtol,
            "best_lr": self.best_lr,
            "best_momentum": self.best_momentum,
            "grid_shape": None if self.grid_shape is None else list(self.grid_shape),
            "batch_size": self.batch_size,
            "optimal_loss": self.optimum.loss,
            "optimizer": None if self.optimizer is None else self.optimizer.name,
            "stability": self.stability.to_dict(),
            "runs": rows,
        }

    def to_dataframe(self):
        """One row per lr as a pandas DataFrame (needs pandas).

        Examples
        --------
        >>> import gdcore
        >>> X, y = gdcore.make_linear(seed=0)
        >>> df = gdcore.sweep(X, y, [0.1, 0.7, 1.01]).to_dataframe()
        >>> df.status.tolist(), df.converged_epoch.tolist()
        (['converged', 'converged', 'diverged'], [37, 5, <NA>])
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_dataframe needs pandas: pip install pandas") from None
        df = pd.DataFrame(self.to_dict()["runs"])
        for col in ("converged_epoch", "predicted_epoch", "diverged_epoch"):
            df[col] = df[col].astype("Int64")
        df["final_loss"] = df["final_loss"].astype("float64")
        return df


def _check_callback(callback):
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be a function of the epoch number (or None), got "
                        f"{callback!r}.")
    return callback


def sweep(X, y, lrs, *, epochs=100, backend="numpy", device=None, w0=None, rtol=1e-3,
          dtype=None, stop_on_convergence=False, divergence_factor=1e6, method="auto",
          standardize=False, momentums=None, nesterov=False, batch_size=None,
          seed=0, devices=None, optimizer=None, callback=None, model=None,
          sharpness_every=None) -> SweepResult:
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
        returns a :class:`gdcore._nonlinear.ModelSweepResult`: each status
        within the horizon (``epochs``), the measured ``divergence_onset`` and
        lambda_0's ``lr_crit`` and bracket ``(2, 4) / lambda_0``.
    sharpness_every : int, optional
        Non-linear models: the sharpness of every run every this many epochs
        (``result.sharpness``), for the edge-of-stability figure.

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
    lr_arr = check_lrs(lrs)
    epochs, rtol, divergence_factor = check_run_options(epochs, rtol, divergence_factor, method)
    if not is_linear(model):
        if momentums is not None or nesterov or batch_size is not None or devices is not None:
            raise ValueError(
                "momentums=, nesterov=, batch_size= and devices= are for the linear model; with a "
                "non-linear model pass optimizer=gdcore.optimizers.momentum(beta) for momentum."
            )
        from gdcore.study._nonlinear import sweep_model

        return sweep_model(X, y, lr_arr, model=model, w0=w0, backend=backend, device=device,
                           dtype=dtype, standardize=standardize, epochs=epochs, rtol=rtol,
                           divergence_factor=divergence_factor,
                           stop_on_convergence=stop_on_convergence, optimizer=optimizer,
                           sharpness_every=sharpness_every,
                           method=None if method == "auto" else method,
                           on_epoch=_check_callback(callback))
    if sharpness_every is not None:
        raise ValueError(
            "sharpness_every= tracks the moving Hessian of a non-linear model; the linear "
            "model's sharpness is result.stability.lambda_max at every epoch. Pass "
            "model=gdcore.models.mlp(...) or drop sharpness_every."
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
        if opt.linear and opt.may_rise:  # a momentum optimizer given by value
            beta, nesterov = opt.heavy_ball()
            betas = np.full(lr_arr.size, float(beta))
    prep = prepare(X, y, w0, backend=backend, device=device, dtype=dtype, standardize=standardize)
    batch_size, seed = check_batch(batch_size, seed, prep.X.shape[0])
    quad = analysis.analyse(prep)
    batch = execute(prep, quad, lr_arr, opt, epochs=epochs, rtol=rtol,
                    divergence_factor=divergence_factor, stop_on_convergence=stop_on_convergence,
                    record_weights=False, method=method, batch_size=batch_size, seed=seed,
                    devices=devices, on_epoch=_check_callback(callback))
    k = lr_arr.size
    losses = np.full((k, epochs + 1), np.nan)
    losses[:, : batch.losses.shape[1]] = batch.losses
    conv, div = batch.converged_epoch, batch.diverged_epoch
    last = np.where(div >= 0, div, np.where(stop_on_convergence & (conv >= 0), conv, epochs))
    stab = stability_of(quad, prepare)
    a = analysis.gap_weights(quad, prep.state.to_numpy(prep.w0).astype(np.float64))
    be, sb = prep.backend, prep.state
    xp = sb.xp
    d, m = prep.w0.shape
    with be.context(prep.dtype):
        view = sb.host_view(batch.W)
        if view is None:
            W = xp.permute_dims(xp.reshape(batch.W, (d, k, m)), (1, 0, 2))
            W = W[:, :, 0] if prep.y_was_1d else W
        else:  # in numpy (no XLA compiles on jax), then one copy back
            W = view.reshape(d, k, m).transpose(1, 0, 2)
            W = np.ascontiguousarray(W[:, :, 0] if prep.y_was_1d else W)
            W = sb.asarray(W, prep.dtype, be.state_device(prep.X))
        weights = to_library(W, prep)
        w_star = quad.w_star[:, 0] if prep.y_was_1d else quad.w_star
        w_star = to_library(sb.asarray(w_star, prep.dtype, prep.device), prep)
    status = tuple(status_of(c, v) for c, v in zip(conv, div))
    preds = predict_runs(stab, a, lr_arr, opt, rtol, epochs, batch_size=batch_size)
    return SweepResult(
        lrs=lr_arr,
        losses=losses,
        status=status,
        converged_epoch=_none_if_negative(conv),
        diverged_epoch=_none_if_negative(div),
        predicted_epochs=tuple(p[0] for p in preds),
        regime=tuple(p[1] for p in preds),
        final_loss=losses[np.arange(k), last],
        weights=weights,
        stability=stab,
        optimum=Optimum(w_star, quad.loss_star),
        epochs=epochs,
        rtol=rtol,
        backend=be.name,
        method=batch.method,
        dtype=prep.dtype,
        scaling=prep.scaling,
        momentums=betas,
        nesterov=nesterov,
        grid_shape=grid,
        batch_size=batch_size,
        noise_floor=None if not batch_size else np.array(
            [np.nan if (f := noise_floor(losses[i], quad.loss_star, status[i])) is None else f
             for i in range(k)]
        ),
        optimizer=opt,
        _gap_weights=a,
    )


