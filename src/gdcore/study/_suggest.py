"""``suggest_lr``: the learning rate to use for a training budget, with its reason and evidence.

The linear model needs no run: the closed form predicts the loss at any epoch,
so the ``(lr, beta)`` that minimises it at the budget is read off the spectrum
(:func:`gdcore.analysis.best_at_budget`).  A network has no closed form: one
vectorised sweep at the user's budget over a grid placed by the measured
sharpness ``lambda_0`` (``2 / lambda_0`` is the edge of stability at
initialisation, ``4 / lambda_0`` about where training diverges) measures the
final loss of every lr at once; the lowest final loss among the runs that did
not diverge wins.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gdcore import analysis, optimizers
from gdcore._checks import check_epochs, check_positive, check_y
from gdcore.analysis import json_ready
from gdcore.study import _pipeline
from gdcore.study._sweep import sweep_study

__all__ = ["LRSuggestion", "suggest_lr", "suggest_study"]

# The network's grid: COARSE lrs geometric over [LOW, HIGH] x 2/lambda_0, then REFINE more between
# the best and its neighbours; EXTEND more above HIGH when the best is the largest and none diverged.
COARSE, REFINE, EXTEND = 16, 4, 8
LOW, HIGH = 0.25, 4.0
# Adam's step is in parameter units, not set by the curvature: its grid is absolute.
ADAM_RANGE = (1e-4, 1.0)
# The divergence-safety rule: next to a diverged lr (or one whose final loss is SPIKE x the best's,
# a catapult caught at the budget), the lower neighbour is preferred when its final loss is within
# SAFETY of the best's.
SAFETY, SPIKE = 1.1, 10.0


@dataclass(frozen=True, eq=False)
class LRSuggestion:
    """What :func:`suggest_lr` recommends, why, and the evidence.

    Attributes
    ----------
    lr : float
        The learning rate to use for ``epochs`` epochs.
    momentum : float or None
        The momentum coefficient that goes with it (a momentum optimizer on the
        linear model: chosen with the lr); ``None`` for gradient descent and Adam.
    reason : str
        One sentence: why this lr.
    candidates : tuple of dict
        The lrs weighed: ``lr``, ``momentum``, ``final_loss`` (predicted by the
        closed form, or measured) and ``status`` (``converged``,
        ``max_epochs`` or ``diverged``), in increasing lr.
    cost : float
        What it cost, in training runs of ``epochs`` epochs (the closed form:
        0; a sweep of K lrs: K, its arithmetic, even though the K runs are one
        vectorised program).
    method : str
        ``"closed form"`` or ``"sweep"``.
    epochs : int
        The budget.
    lr_crit : float
        ``2 / lambda_max`` (the linear model) or ``2 / lambda_0`` (a network).
    optimizer : optimizer value
        The optimizer the suggestion is for, with the chosen momentum.
    final_loss : float
        The suggested lr's final loss at the budget (predicted or measured).
    """

    lr: float
    momentum: float | None
    reason: str
    candidates: tuple
    cost: float
    method: str
    epochs: int
    lr_crit: float
    optimizer: Any
    final_loss: float

    def to_dict(self) -> dict:
        """Plain Python, strict JSON (a non-finite number is ``None``)."""
        return json_ready({
            "lr": self.lr, "momentum": self.momentum, "reason": self.reason,
            "method": self.method, "cost": self.cost, "epochs": self.epochs,
            "lr_crit": self.lr_crit, "final_loss": self.final_loss,
            "optimizer": self.optimizer.name,
            "candidates": [dict(c) for c in self.candidates],
        })

    def __repr__(self) -> str:
        mom = "" if self.momentum is None else f", momentum={self.momentum:.4g}"
        return (f"LRSuggestion(lr={self.lr:.4g}{mom}, method={self.method!r}, "
                f"cost={self.cost:g} runs, final_loss={self.final_loss:.4g}, "
                f"{len(self.candidates)} candidates, reason={self.reason!r})")


def suggest_lr(X, y, *, epochs, model=None, optimizer=None, w0=None, backend=None, device=None,
               dtype=None, standardize=False, rtol=1e-3) -> LRSuggestion:
    """The learning rate gdcore recommends for ``epochs`` epochs, with its reason and evidence.

    The linear model with gradient descent or momentum: the closed form, no
    run (cost 0): the lr (and, for a momentum optimizer, the ``beta``) whose
    predicted loss at epoch ``epochs`` is least (:func:`gdcore.analysis.best_at_budget`;
    never predicted worse than gradient descent at ``lr_opt``).  A network (or
    Adam): one vectorised sweep at the budget over 16 lrs geometric over
    ``[0.25, 4] x 2/lambda_0`` (Adam: ``[1e-4, 1]``), refined once around the
    best (4 more) and extended upwards (8 more) when the best is the largest
    and no run diverged; the lowest final loss among the runs that did not
    diverge wins, except that next to a diverged lr its lower neighbour is
    preferred when its final loss is within 10% (a margin from the edge).

    Parameters
    ----------
    X, y, model, optimizer, w0, backend, device, dtype, standardize, rtol
        As in :func:`gdcore.fit`.
    epochs : int
        The training budget the lr is for.

    Returns
    -------
    LRSuggestion

    Examples
    --------
    >>> import gdcore
    >>> X, y = gdcore.make_linear(seed=0)
    >>> s = gdcore.suggest_lr(X, y, epochs=100)
    >>> s.method, s.cost, round(s.lr, 3), gdcore.fit(X, y, lr=s.lr, epochs=100).status
    ('closed form', 0.0, 0.686, 'converged')
    """
    check_y(y, "suggest_lr")
    epochs = check_epochs(epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1 (the budget the lr is for), got {epochs}.")
    rtol = check_positive(rtol, "rtol")
    opt = optimizers.resolve(optimizer)
    study = _pipeline.begin(X, y, w0, model=model, backend=backend, device=device, dtype=dtype,
                            standardize=standardize)
    return suggest_study(study, epochs, opt, rtol=rtol)


def suggest_study(study, epochs, opt, *, rtol=1e-3) -> LRSuggestion:
    """:func:`suggest_lr` on a study already prepared (``lr_find(budget=)``, ``gdcore suggest``)."""
    if study.quadratic and opt.linear:
        return _closed_form(study, epochs, opt, rtol)
    return _by_sweep(study, epochs, opt, rtol)


# ---------------------------------------------------------------------------
# the linear model: the closed form


def _momentum_of(opt):
    sh = optimizers.shorthands(opt)
    return None if sh is None else float(np.asarray(sh[0]))


def _closed_form(study, epochs, opt, rtol) -> LRSuggestion:
    quad, stab = study.quad, study.curvature
    lam = np.where(quad.positive, quad.eigenvalues, 0.0)
    a = _pipeline.gap_weights(study)
    tune = optimizers.shorthands(opt) is not None
    choice = analysis.best_at_budget(lam, a, epochs, rtol=rtol, optimizer=opt,
                                     tune_momentum=tune)
    chosen = choice.optimizer
    lr_crit = float(stab.lr_crit)
    # The evidence: the choice, gradient descent at lr_opt, and the chosen optimizer over a grid.
    grid = np.geomspace(0.05, 1.0, 9) * float(analysis.lr_edge(float(lam.max()), chosen))
    rows = [(float(choice.lr), chosen)] + [(float(v), chosen) for v in grid]
    if stab.lr_opt is not None:
        rows.append((float(stab.lr_opt), optimizers.gd()))
    cands, seen = [], set()
    for lr, o in sorted(rows, key=lambda r: r[0]):
        key = round(lr, 12)
        if key in seen:
            continue
        seen.add(key)
        gap = float(analysis.predicted_gap_at(lam, a, [lr], o, epochs)[0])
        ep = analysis.predicted_epochs_to(lam, a, lr, o, rtol, limit=10**15)
        pos = lam > 0
        radius = float(analysis.spectral_radius(o, lam[pos], lr))
        status = ("diverged" if radius > 1.0 or not math.isfinite(gap) else
                  "converged" if ep is not None and ep <= epochs else "max_epochs")
        cands.append({"lr": lr, "momentum": _momentum_of(o),
                      "final_loss": float(quad.loss_star) + gap, "status": status,
                      "chosen": lr == float(choice.lr) and o is chosen})
    mom = _momentum_of(chosen)
    what = f"lr={choice.lr:.4g}" + ("" if mom is None else f" with momentum {mom:.4g}")
    when = (f"is predicted to converge (to rtol={rtol:g}) by epoch {choice.converged_epoch:,}"
            if choice.converged_epoch is not None and choice.converged_epoch <= epochs else
            f"gives the least predicted loss gap at epoch {epochs:,} ({choice.gap:.3g}); no lr "
            f"is predicted to converge to rtol={rtol:g} within the budget")
    reason = (f"The closed form of the linear model: {what} {when}, of the lrs (and momenta) "
              f"searched up to the stable edge (lr_crit={lr_crit:.4g}); no training run was "
              "needed (cost 0).")
    return LRSuggestion(lr=float(choice.lr), momentum=mom, reason=reason, candidates=tuple(cands),
                        cost=0.0, method="closed form", epochs=epochs, lr_crit=lr_crit,
                        optimizer=chosen,
                        final_loss=float(quad.loss_star) + float(choice.gap))


# ---------------------------------------------------------------------------
# a network (or Adam): one vectorised sweep at the budget


def _runs(study, lrs, epochs, opt, rtol):
    """Final loss and status of each lr at the budget: one sweep, one program."""
    res = sweep_study(study, np.asarray(lrs, dtype=np.float64), epochs=epochs, optimizer=opt,
                      rtol=rtol)
    return [(float(lr), float(fl), st)
            for lr, fl, st in zip(res.lrs.tolist(), res.final_loss.tolist(), res.status)]


def _ok(row) -> bool:
    return row[2] != "diverged" and math.isfinite(row[1])


def _pick(rows):
    """Index of the chosen run in ``rows`` (sorted by lr), with the safety rule; None if none."""
    ok = [i for i, r in enumerate(rows) if _ok(r)]
    if not ok:
        return None
    best = min(ok, key=lambda i: rows[i][1])
    if best + 1 < len(rows) and _unsafe(rows[best + 1], rows[best][1]) and best - 1 in ok \
            and rows[best - 1][1] <= SAFETY * rows[best][1]:
        return best - 1
    return best


def _unsafe(row, best_loss) -> bool:
    return not _ok(row) or row[1] > SPIKE * best_loss


def _by_sweep(study, epochs, opt, rtol) -> LRSuggestion:
    curv = study.curvature
    lr_crit = float(curv.lr_crit)
    adam = not opt.linear
    if adam:
        lo, hi = ADAM_RANGE
    elif math.isfinite(lr_crit) and lr_crit > 0:
        lo, hi = LOW * lr_crit, HIGH * lr_crit
    else:
        raise ValueError("suggest_lr: the loss is flat at w0 (lambda_0 = 0): the curvature places "
                         "no learning rate; check y and w0.")
    coarse = np.geomspace(lo, hi, COARSE)
    rows = _runs(study, coarse, epochs, opt, rtol)
    spent = len(rows)
    i = _pick(rows)
    extended = refined = False
    if i is not None and i == len(rows) - 1:  # best at the top and nothing diverged: look higher
        ratio = coarse[1] / coarse[0]
        up = hi * ratio ** np.arange(1, EXTEND + 1)
        rows += _runs(study, up, epochs, opt, rtol)
        spent += EXTEND
        extended = True
        i = _pick(rows)
    if i is not None and 0 < i < len(rows) - 1:  # refine once between the best's neighbours
        lo_n, best_lr, hi_n = rows[i - 1][0], rows[i][0], rows[i + 1][0]
        half = REFINE // 2
        fine = np.concatenate([np.geomspace(lo_n, best_lr, half + 2)[1:-1],
                               np.geomspace(best_lr, hi_n, half + 2)[1:-1]])
        rows = sorted(rows + _runs(study, fine, epochs, opt, rtol))
        spent += fine.size
        refined = True
        i = _pick(rows)
    mom = _momentum_of(opt)
    cands = tuple({"lr": r[0], "momentum": mom, "final_loss": r[1], "status": r[2],
                   "chosen": k == i} for k, r in enumerate(rows))
    if i is None:
        raise ValueError(
            f"suggest_lr: every lr tried diverged within {epochs:,} epochs "
            f"({rows[0][0]:.3g} to {rows[-1][0]:.3g}; 2/lambda_0={lr_crit:.3g}); the "
            "curvature measured at w0 does not hold along training: check the data's scale "
            "(standardize=True) or the model.")
    lr, fl, _ = rows[i]
    n_div = sum(not _ok(r) for r in rows)
    safety = rows[i][1] > min(r[1] for r in rows if _ok(r))
    placed = (f"{len(rows)} lrs over [{rows[0][0]:.3g}, {rows[-1][0]:.3g}]" +
              ("" if adam else f" = [{rows[0][0] / lr_crit:.3g}, {rows[-1][0] / lr_crit:.3g}] "
                               f"x 2/lambda_0 (2/lambda_0={lr_crit:.3g})"))
    reason = (f"The lowest final loss after {epochs:,} epochs ({fl:.4g}) among the runs that did "
              f"not diverge, in one vectorised sweep of {placed}"
              + (", extended upwards as the best was the largest" if extended else "")
              + (", refined once around the best" if refined else "")
              + (f"; {n_div} diverged" if n_div else "")
              + ("; one step below the lowest loss, whose next lr diverged or spiked (within 10% "
                 "of its loss, a margin from the edge)" if safety else "")
              + f"; cost {spent} runs of arithmetic.")
    return LRSuggestion(lr=lr, momentum=mom, reason=reason, candidates=cands, cost=float(spent),
                        method="sweep", epochs=epochs, lr_crit=lr_crit, optimizer=opt,
                        final_loss=fl)
