"""The learning-rate range test, with the analytic answer beside it."""

from __future__ import annotations

import math
import warnings
import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdcore import analysis, optimizers
from gdcore._checks import check_epochs, check_lr, check_memory, check_positive, check_y
from gdcore.analysis import Stability, json_ready
from gdcore.study import _pipeline
from gdcore.study._engine import execute, run_memory
from gdcore.study._spec import RunSpec
from gdcore.study._suggest import suggest_study

__all__ = ["LRFinderResult", "LRFinderWarning", "lr_find"]


# ---------------------------------------------------------------------------
# learning-rate range test


class LRFinderWarning(UserWarning):
    """The learning-rate range test has no trustworthy suggestion.

    Raised when its suggestions disagree by more than 10x, when a suggestion
    falls outside ``[lr_min, lr_max]`` (it is then ``None``), when the
    analysis of the same data proves that a suggestion diverges (linear model
    and a linear optimizer: at or above ``lr_crit`` for gradient descent, a
    spectral radius >= 1 for momentum; it is then ``None``, never capped:
    following it would diverge, and a capped lr at the edge would not
    converge either; the analytic ``lr_opt`` is the lr to use), and when
    there is nothing to learn (``w0`` already minimises the loss: every
    suggestion is ``None``).
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
        ``[lr_min, lr_max]`` and, for the linear model, where the optimizer
        converges on this data, or ``None`` (see :class:`LRFinderWarning`).
    suggestion : float or None
        The suggestion named by ``suggest`` (default ``"steep"``); ``None``
        when there is nothing to learn, it fell outside the range tested, or
        the analysis proves it diverges (above ``lr_crit`` for gd).
    suggest : str
        Which suggestion ``suggestion`` is.
    lr_opt, lr_crit : float
        The analytic optimum and stability limit of the same data.  With a
        non-linear ``model``: ``lr_opt`` is None (no closed form) and
        ``lr_crit`` is ``2 / lambda_0``, the measured edge at ``w0``.
    bracket : tuple or None
        Non-linear models: ``(2 / lambda_0, 4 / lambda_0)``, from stable to
        catapult to divergent (see :class:`gdcore.Curvature`).
    distance : dict
        ``suggestion / lr_opt`` for every suggestion (1.0 is perfect).
    disagreement : float
        Largest over smallest suggestion.
    stopped_early : bool
        True when the loss blew up before ``lr_max``.
    stability : Stability
        The spectrum analysis of ``X`` (a :class:`gdcore.Curvature` for a network).
    suggested : LRSuggestion or None
        With ``lr_find(..., budget=epochs)``: :func:`gdcore.suggest_lr`'s lr
        for that budget, on the same prepared data (``None`` otherwise).
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
    suggested: Any = None

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
        """Plain Python, strict JSON: a number that is not finite is ``None`` (``disagreement``
        with no suggestion, a loss past the blow-up: :func:`gdcore.analysis.json_ready`)."""
        out = {
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
        if self.suggested is not None:
            out["suggested"] = self.suggested.to_dict()
        return json_ready(out)


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


def _drop_divergent(suggestions, stab, opt) -> dict:
    """``suggestions`` with ``None`` for every lr the linear model's analysis proves divergent.

    Gradient descent diverges at or above ``lr_crit``; any other linear
    optimizer where the spectral radius of its transition is >= 1.  A range
    test that ramps far past the blow-up can put its steepest fall there;
    each one dropped is named, beside ``lr_crit``, in one
    :class:`LRFinderWarning`.
    """
    vals = {k: v for k, v in suggestions.items() if v is not None}
    if not vals:
        return suggestions
    lrs = list(vals.values())
    regimes = stab.regimes(lrs) if not opt.may_rise else stab.optimizer_regimes(opt, lrs)
    bad = {k: v for k, v, g in zip(vals, lrs, regimes) if g in ("divergent", "critical")}
    if not bad:
        return suggestions
    named = ", ".join(f"{k}={v:.3g}" for k, v in bad.items())
    lie, one = ("lies", "is") if len(bad) == 1 else ("lie", "are")
    if not opt.may_rise:
        where = (f"{lie} at or above lr_crit={stab.lr_crit:.3g}, where constant-lr gradient "
                 "descent on this data diverges,")
    else:
        where = (f"{lie} above the stability edge of {opt.name} on this data (the spectral radius "
                 f"of its step is >= 1 there: it diverges; lr_crit={stab.lr_crit:.3g} is plain "
                 "gradient descent's),")
    warnings.warn(
        f"lr_find: {named} {where} and {one} reported as None rather than capped; the analytic "
        f"optimum of this data is lr_opt={stab.lr_opt:.3g}. Use it, or lower lr_max to about "
        "lr_crit: the ramp ran far past the blow-up.",
        LRFinderWarning,
        stacklevel=3,
    )
    return {k: (None if k in bad else v) for k, v in suggestions.items()}


def lr_find(X, y, *, lr_min=1e-6, lr_max=10.0, steps=100, mode="exp", backend=None,
            device=None, w0=None, dtype=None, smoothing=0.98, stop_factor=5.0, suggest="steep",
            standardize=False, optimizer=None, model=None, budget=None) -> LRFinderResult:
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
        and ``lr_crit`` are those of plain gradient descent.  With the linear
        model and a linear optimizer, a suggestion the analysis proves
        divergent (gd: at or above ``lr_crit``) is ``None``, with an
        :class:`LRFinderWarning` naming it and ``lr_crit``.
    model : model value, optional
        As in :func:`gdcore.fit`.  With a non-linear model the result puts the
        measured bracket of lambda_0, ``(2, 4) / lambda_0``, beside the
        suggestions (``bracket``, ``lr_crit``) instead of the linear model's
        analytic ``lr_opt``.
    budget : int, optional
        A training budget in epochs: the result then carries
        :func:`gdcore.suggest_lr`'s lr for it (``result.suggested``), on the
        same prepared data, and an :class:`LRFinderWarning` names both when
        it and ``result.suggestion`` differ by more than 3x.  Without it
        nothing changes.

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
    smoothing = check_positive(smoothing, "smoothing", below=1.0)
    stop_factor = check_positive(stop_factor, "stop_factor")
    if suggest not in ("valley", "steep", "minimum/10"):
        raise ValueError(f"suggest must be 'valley', 'steep' or 'minimum/10', got {suggest!r}.")

    if budget is not None:
        budget = check_epochs(budget)
        if budget < 1:
            raise ValueError(f"budget must be at least 1 epoch, got {budget}.")
    opt = optimizers.resolve(optimizer)
    study = _pipeline.begin(X, y, w0, model=model, backend=backend, device=device, dtype=dtype,
                            standardize=standardize)
    prep, quad, stab = study.prep, study.quad, study.curvature
    nothing_to_learn, gap0 = False, None
    if study.quadratic:
        # Nothing to learn: w0 already minimises the loss (y = X @ w0, or y = 0 and w0 = 0).  The
        # loss gap at w0, in float64 from the analysis, is then rounding next to the problem's
        # size (the loss at w = 0 and the energy of w0).
        w0_host = study.w0
        gap0 = float(np.sum(analysis.gap_weights(quad, w0_host)))
        size = quad.loss_star + float(np.sum(quad.w_star * (quad.G @ quad.w_star))) + float(
            np.sum(w0_host * (quad.G @ w0_host)))
        nothing_to_learn = gap0 <= np.finfo(prep.dtype).eps * size
    # Per step, besides the run's own arrays: the ramp, its copy on the backend, the loss read back
    # as a Python float, and the lists and arrays of the range test (lr, loss, smoothed loss).
    per_step = 8 * 6 + 4 * 32 + np.dtype(prep.dtype).itemsize
    check_memory([*run_memory(study, 1, steps - 1),
                  (f"the ramp and the range test's {steps:,} steps", steps * per_step,
                   "use fewer steps (100 to 1000 resolve any range of learning rates)")],
                 f"lr_find(steps={steps:,})")
    if mode == "exp":
        ramp = np.geomspace(lr_min, lr_max, steps)
    else:
        ramp = np.linspace(lr_min, lr_max, steps)

    # One run whose schedule is the ramp: the loss recorded at epoch i is the loss
    # before the step with lr ramp[i].  The driver stops only once the raw loss
    # exceeds `factor` x L(w0) (or is non-finite); the smoothed loss has then
    # exceeded stop_factor x its best already, so the range test stops first.
    factor = 2.0 * max(stop_factor / (1.0 - smoothing), 2.0)
    runs = execute(study, [1.0], opt, RunSpec(epochs=steps - 1, rtol=0.5,
                                              divergence_factor=factor, method="direct",
                                              lr_mult=ramp))
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
    if study.quadratic and opt.linear:
        suggestions = _drop_divergent(suggestions, stab, opt)
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
    if budget is not None:
        result = _with_suggestion(result, study, budget, opt)
    return result


# The range test's suggestion and the budget's are said to disagree beyond this ratio.
DISAGREE = 3.0


def _with_suggestion(result, study, budget, opt):
    """``result`` with :func:`gdcore.suggest_lr`'s lr for ``budget``; a warning when they disagree."""
    sug = suggest_study(study, budget, opt)
    rt = result.suggestion
    if rt is None or max(rt, sug.lr) / min(rt, sug.lr) > DISAGREE:
        said = "none" if rt is None else f"{rt:.3g}"
        warnings.warn(
            f"lr_find: the range test's suggestion ({result.suggest}={said}) and the lr gdcore "
            f"suggests for {budget:,} epochs ({sug.lr:.3g}, {sug.method}, final loss "
            f"{sug.final_loss:.3g}) disagree"
            + ("" if rt is None else f" by {max(rt, sug.lr) / min(rt, sug.lr):.1f}x")
            + "; the budget's is chosen on the loss at that budget (result.suggested.reason).",
            LRFinderWarning,
            stacklevel=3,
        )
    return dataclasses.replace(result, suggested=sug)
