"""The learning-rate study: vectorised sweeps and the learning-rate range test."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdcore import _analysis, optimizers
from gdcore.models import is_linear
from gdcore._analysis import Stability, stability_of
from gdcore._engine import execute, noise_floor, predict_runs, status_of
from gdcore._fit import Optimum
from gdcore._inputs import (
    check_batch,
    check_epochs,
    check_lr,
    check_lrs,
    check_numbers,
    check_positive,
    check_run_options,
    check_y,
    prepare,
    to_library,
)

__all__ = ["LRFinderResult", "LRFinderWarning", "SweepResult", "lr_find", "sweep"]


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
                curves = [_analysis.predicted_gaps(lam, a, lr, e) for lr in self.lrs]
            else:
                table = np.repeat(np.asarray(self.lrs)[:, None], max(e, 1), axis=1)
                betas = np.broadcast_to(np.asarray(beta, dtype=np.float64), (len(self.lrs),))
                curves = _analysis.simulate_gaps(lam, a, table, betas, nesterov, e)
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
        from gdcore._nonlinear import sweep_model

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
    quad = _analysis.analyse(prep)
    batch = execute(prep, quad, lr_arr, opt, epochs=epochs, rtol=rtol,
                    divergence_factor=divergence_factor, stop_on_convergence=stop_on_convergence,
                    record_weights=False, method=method, batch_size=batch_size, seed=seed,
                    devices=devices, on_epoch=_check_callback(callback))
    k = lr_arr.size
    losses = np.full((k, epochs + 1), np.nan)
    losses[:, : batch.losses.shape[1]] = batch.losses
    conv, div = batch.converged_epoch, batch.diverged_epoch
    last = np.where(div >= 0, div, np.where(stop_on_convergence & (conv >= 0), conv, epochs))
    stab = stability_of(quad)
    a = _analysis.gap_weights(quad, prep.state.to_numpy(prep.w0).astype(np.float64))
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


# ---------------------------------------------------------------------------
# learning-rate range test


class LRFinderWarning(UserWarning):
    """The learning-rate range test has no trustworthy suggestion.

    Raised when its suggestions disagree by more than 10x, when a suggestion
    falls outside ``[lr_min, lr_max]`` (it is then ``None``), and when there is
    nothing to learn (``w0`` already minimises the loss: every suggestion is
    ``None``).
    """


@dataclass(frozen=True, eq=False)
class LRFinderResult:
    """Outcome of :func:`lr_find`.

    Attributes
    ----------
    lrs, losses, smoothed : numpy.ndarray
        Learning rate, raw loss (before the step with that lr) and the
        bias-corrected exponentially smoothed loss at every step taken.
    suggestions : dict
        ``"valley"`` (fastai's default), ``"steep"`` (steepest descent of the
        smoothed loss against log lr) and ``"minimum/10"``; each within
        ``[lr_min, lr_max]`` or ``None`` (see :class:`LRFinderWarning`).
    suggestion : float or None
        The suggestion named by ``suggest`` (default ``"steep"``); ``None``
        when there is nothing to learn or it fell outside the range tested.
    suggest : str
        Which suggestion ``suggestion`` is (``method`` is its older name).
    lr_opt, lr_crit : float
        The analytic optimum and stability limit of the same data.  With a
        non-linear ``model``: ``lr_opt`` is None (no closed form) and
        ``lr_crit`` is ``2 / lambda_0``, the measured edge at ``w0``.
    bracket : tuple or None
        Non-linear models: ``(2 / lambda_0, 4 / lambda_0)``, from stable to
        catapult to divergent (see :class:`gdcore._nonlinear.Curvature`).
    distance : dict
        ``suggestion / lr_opt`` for every suggestion (1.0 is perfect).
    disagreement : float
        Largest over smallest suggestion.
    stopped_early : bool
        True when the loss blew up before ``lr_max``.
    stability : Stability
        The spectrum analysis of ``X`` (``analysis`` is its older name).
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    suggestions: dict
    suggestion: float | None
    suggest: str
    lr_opt: float
    lr_crit: float
    stopped_early: bool
    stability: Stability
    bracket: Any = None

    @property
    def method(self) -> str:
        """The same as :attr:`suggest` (its older name; ``method`` elsewhere means direct/gram)."""
        return self.suggest

    @property
    def analysis(self) -> Stability:
        """The same as :attr:`stability` (its older name)."""
        return self.stability

    @property
    def distance(self) -> dict:
        """``suggestion / lr_opt`` per suggestion (non-linear models: ``/ lr_crit``, i.e. 2/lambda_0)."""
        ref = self.lr_opt if self.lr_opt is not None else self.lr_crit
        return {k: (v / ref if v is not None else None) for k, v in self.suggestions.items()}

    @property
    def disagreement(self) -> float:
        vals = [v for v in self.suggestions.values() if v is not None]
        return max(vals) / min(vals) if vals else math.nan

    def to_dict(self) -> dict:
        return {
            "suggestion": self.suggestion,
            "suggest": self.suggest,
            "suggestions": self.suggestions,
            "distance_from_lr_opt": self.distance,
            "disagreement": self.disagreement,
            "lr_opt": self.lr_opt,
            "lr_crit": self.lr_crit,
            "stopped_early": self.stopped_early,
            "bracket": None if self.bracket is None else list(self.bracket),
            "lrs": self.lrs.tolist(),
            "losses": [float(v) if math.isfinite(v) else None for v in self.losses],
            "smoothed": [float(v) if math.isfinite(v) else None for v in self.smoothed],
        }


def _valley(lrs, losses):
    """fastai's "valley": the middle of the longest steadily decreasing stretch.

    Same algorithm as fastai's ``valley`` (longest decreasing subsequence,
    then a point 1/2 of the way into its middle third).
    """
    n = len(losses)
    if n < 3:
        return None
    lds = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    idx = max_start + int(sections) + int(sections / 2)
    return float(lrs[min(idx, n - 1)])


def _steep(lrs, losses):
    """The lr where the smoothed loss falls fastest against log(lr)."""
    if len(losses) < 3:
        return None
    grads = np.gradient(losses, np.log(lrs))
    return float(lrs[int(np.argmin(grads))])


def lr_find(X, y, *, lr_min=1e-6, lr_max=10.0, steps=100, mode="exp", backend="numpy",
            device=None, w0=None, dtype=None, smoothing=0.98, stop_factor=5.0, suggest="steep",
            standardize=False, optimizer=None, beta=None, diverge_th=None,
            method=None, model=None) -> LRFinderResult:
    """The learning-rate range test, with the analytic answer beside it.

    One gradient-descent run whose lr grows every step from ``lr_min`` to
    ``lr_max`` (exponentially or linearly), recording the loss before each
    step; it stops once the bias-corrected smoothed loss exceeds ``stop_factor``
    times its best (or turns non-finite).  The suggestions are those users know
    from fastai, torch-lr-finder and Lightning; gdcore adds the analytic
    ``lr_opt`` and ``lr_crit`` of the same data, how far each suggestion lies
    from ``lr_opt``, and an :class:`LRFinderWarning` when the suggestions
    disagree by more than 10x.

    It is deterministic (full batch, no random state: the same call gives the
    same answer), non-finite losses never enter a suggestion, and it starts
    from ``w0`` (default zeros) without modifying it.  The ramp runs on the
    same driver as :func:`gdcore.fit` (the ramp is its schedule), so any
    optimizer can be range-tested.

    Parameters
    ----------
    X, y, backend, device, w0, dtype, standardize
        As in :func:`gdcore.fit`.
    lr_min, lr_max : float
        Range of the ramp.
    steps : int
        Number of steps (at most).
    mode : {"exp", "linear"}
    smoothing : float in (0, 1), default 0.98
        Exponential smoothing of the loss (fastai's ``beta``).
    stop_factor : float, default 5
        Stop when the smoothed loss exceeds this multiple of its best (fastai's
        and torch-lr-finder's ``diverge_th``; not :func:`gdcore.fit`'s
        ``divergence_factor``, which compares the raw loss with ``L(w0)``).
    suggest : {"steep", "valley", "minimum/10"}, default "steep"
        Which suggestion ``result.suggestion`` reports.  "steep" is
        torch-lr-finder's and Lightning's default; fastai's "valley" is
        fooled by the long flat start of a deterministic full-batch run (the
        loss barely moves while lr < 1e-3, and valley takes that stretch for
        the valley): on the seed data it lands near lr_opt/350, "steep" near
        lr_opt/4 and "minimum/10" near 0.8 * lr_opt.
    optimizer : optimizer value, optional
        What takes the steps (default ``gdcore.optimizers.gd()``); ``lr_opt``
        and ``lr_crit`` are those of plain gradient descent.
    model : model value, optional
        As in :func:`gdcore.fit`.  With a non-linear model the result puts the
        measured bracket of lambda_0, ``(2, 4) / lambda_0``, beside the
        suggestions (``bracket``, ``lr_crit``) instead of the linear model's
        analytic ``lr_opt``.
    beta, diverge_th, method
        The older names of ``smoothing``, ``stop_factor`` and ``suggest``,
        still accepted (``beta`` is momentum elsewhere, ``method`` direct/gram).

    Returns
    -------
    LRFinderResult

    Examples
    --------
    >>> import warnings, gdcore
    >>> X, y = gdcore.make_linear(seed=0)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     r = gdcore.lr_find(X, y)
    >>> r.lr_opt / 10 <= r.suggestion <= r.lr_crit
    True
    >>> [str(w.message)[:43] for w in caught]   # valley is 300x off here
    ["lr_find's suggestions disagree by 292x (val"]
    """
    check_y(y, "lr_find")
    lr_min = check_lr(lr_min, "lr_min")
    lr_max = check_lr(lr_max, "lr_max")
    if lr_max <= lr_min:
        raise ValueError(f"lr_max ({lr_max}) must be greater than lr_min ({lr_min}).")
    steps = check_epochs(steps)
    if steps < 3:
        raise ValueError(f"steps must be at least 3, got {steps}.")
    if mode not in ("exp", "linear"):
        raise ValueError(f"mode must be 'exp' or 'linear', got {mode!r}.")
    smoothing = check_positive(smoothing if beta is None else beta,
                               "smoothing" if beta is None else "beta", below=1.0)
    stop_factor = check_positive(stop_factor if diverge_th is None else diverge_th,
                                 "stop_factor" if diverge_th is None else "diverge_th")
    suggest = suggest if method is None else method
    if suggest not in ("valley", "steep", "minimum/10"):
        raise ValueError(f"suggest must be 'valley', 'steep' or 'minimum/10', got {suggest!r}.")

    opt = optimizers.resolve(optimizer)
    if not is_linear(model):
        from gdcore._nonlinear import initial_curvature, prepare_model

        mp = prepare_model(X, y, model, w0, backend=backend, device=device, dtype=dtype,
                           standardize=standardize)
        prep, quad, spec = mp.prep, None, mp.spec
        stab = initial_curvature(mp)
        nothing_to_learn, gap0 = False, None
    else:
        prep = prepare(X, y, w0, backend=backend, device=device, dtype=dtype, standardize=standardize)
        quad = _analysis.analyse(prep)
        stab = stability_of(quad)
        # Nothing to learn: w0 already minimises the loss (y = X @ w0, or y = 0 and w0 = 0).  The
        # loss gap at w0, in float64 from the analysis, is then rounding next to the problem's
        # size (the loss at w = 0 and the energy of w0).
        w0_host = prep.state.to_numpy(prep.w0).astype(np.float64)
        gap0 = float(np.sum(_analysis.gap_weights(quad, w0_host)))
        size = quad.loss_star + float(np.sum(quad.w_star * (quad.G @ quad.w_star))) + float(
            np.sum(w0_host * (quad.G @ w0_host)))
        nothing_to_learn = gap0 <= np.finfo(prep.dtype).eps * size
        spec = None
    if mode == "exp":
        ramp = np.geomspace(lr_min, lr_max, steps)
    else:
        ramp = np.linspace(lr_min, lr_max, steps)

    # One run whose schedule is the ramp: the loss recorded at epoch i is the loss
    # before the step with lr ramp[i].  The driver stops only once the raw loss
    # exceeds `factor` x L(w0) (or is non-finite); the smoothed loss has then
    # exceeded stop_factor x its best already, so the range test stops first.
    factor = 2.0 * max(stop_factor / (1.0 - smoothing), 2.0)
    runs = execute(prep, quad, [1.0], opt, epochs=steps - 1, rtol=0.5,
                   divergence_factor=factor, stop_on_convergence=False, record_weights=False,
                   method="direct", lr_mult=ramp, model=spec)
    lrs, raw, smooth = [], [], []
    avg, best, stopped = 0.0, math.inf, False
    for i, val in enumerate(runs.losses[0].tolist()):
        if not math.isfinite(val):
            stopped = True
            break
        avg = smoothing * avg + (1 - smoothing) * val
        sm = avg / (1 - smoothing ** (i + 1))
        lrs.append(ramp[i])
        raw.append(val)
        smooth.append(sm)
        best = min(best, sm)
        if sm > stop_factor * best:
            stopped = True
            break
    lrs, raw, smooth = np.asarray(lrs), np.asarray(raw), np.asarray(smooth)
    # Suggestions look at the range before the blow-up only.
    keep = len(smooth) - 1 if stopped else len(smooth)
    l_k, s_k = lrs[:keep], smooth[:keep]
    suggestions = {
        "valley": _valley(l_k, s_k),
        "steep": _steep(l_k, s_k),
        "minimum/10": float(l_k[int(np.argmin(s_k))] / 10) if keep else None,
    }
    if nothing_to_learn:
        suggestions = dict.fromkeys(suggestions)
        warnings.warn(
            f"lr_find: nothing to learn: w0 already minimises the loss (L(w0) - L* = {gap0:.3g}), "
            "so no lr can lower it and there is no suggestion (suggestion is None); check y and "
            f"w0. The analysis of X stands: lr_opt={stab.lr_opt:.3g}, lr_crit={stab.lr_crit:.3g}.",
            LRFinderWarning,
            stacklevel=2,
        )
    outside = {k: v for k, v in suggestions.items()
               if v is not None and not lr_min * (1 - 1e-12) <= v <= lr_max * (1 + 1e-12)}
    if outside:
        suggestions = {k: (None if k in outside else v) for k, v in suggestions.items()}
        warnings.warn(
            f"lr_find: {', '.join(f'{k}={v:.3g}' for k, v in outside.items())} lies outside the "
            f"range tested [lr_min, lr_max] = [{lr_min:.3g}, {lr_max:.3g}] and is reported as "
            "None; widen the range to test it.",
            LRFinderWarning,
            stacklevel=2,
        )
    result = LRFinderResult(lrs, raw, smooth, suggestions, suggestions[suggest], suggest,
                            getattr(stab, "lr_opt", None), stab.lr_crit, stopped, stab,
                            getattr(stab, "bracket", None))
    if result.disagreement > 10 and quad is None:
        warnings.warn(
            f"lr_find's suggestions disagree by {result.disagreement:.0f}x "
            f"({', '.join(f'{k}={v:.3g}' for k, v in suggestions.items() if v is not None)}); "
            f"the measured edge of stability at w0 is 2/lambda_0={stab.lr_crit:.3g}, and training "
            f"diverges above about 4/lambda_0={2 * stab.lr_crit:.3g}. Narrow lr_min/lr_max.",
            LRFinderWarning,
            stacklevel=2,
        )
    elif result.disagreement > 10:
        warnings.warn(
            f"lr_find's suggestions disagree by {result.disagreement:.0f}x "
            f"({', '.join(f'{k}={v:.3g}' for k, v in suggestions.items() if v is not None)}); "
            f"the analytic optimum of this data is lr_opt={stab.lr_opt:.3g} "
            f"(lr_crit={stab.lr_crit:.3g}). Trust the analysis, or narrow lr_min/lr_max.",
            LRFinderWarning,
            stacklevel=2,
        )
    return result
