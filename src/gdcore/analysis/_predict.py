"""Closed-form and simulated predictions of a linear optimizer's loss curve on a quadratic.

Everything the definitions call "predicted" (docs/definitions.md) is computed
here, on the host in float64, from the Hessian's spectrum and the loss-gap
weight of each eigen-direction (:func:`gdcore.analysis.gap_weights`).

A linear optimizer (``opt.linear``) says how one step moves the error along
an eigen-direction through one hook, ``opt.transition(lam, lr)``: the rows of
the small matrix ``A`` with ``x_{k+1} = A x_k``, ``x = (e, state...)``,
``x_0 = (e_0, 0, ...)`` (:class:`gdcore.core.Optimizer`).  Everything else is
derived here, for every optimizer alike: its matrices
(:func:`transition_matrices`), its spectral radius (:func:`spectral_radius`)
and its exact trajectory under any lr table (:func:`simulate`).  A 1 x 1
transition (plain gradient descent) at a constant lr also has the closed form
``sum_i a_i A_i**(2k)`` (:func:`predicted_gaps`) and its fast converged epoch
(:func:`predicted_converged_epochs`).
"""

from __future__ import annotations

import numpy as np

from gdcore.core._optim import GD

__all__ = ["predicted_converged_epoch", "predicted_converged_epochs", "predicted_gaps", "simulate",
           "spectral_radius", "transition_matrices", "transition_order"]


def _per_run(opt):
    """``opt`` with each hyperparameter a float64 array with a trailing axis for the eigenvalues.

    A number becomes shape (1,), one value per run (K,) becomes (K, 1): the
    hyperparameters then broadcast against ``lr (K, 1) * lam (d,)``.
    """
    if not opt.linear:
        raise ValueError(f"{opt.name} is not a linear recurrence; the spectrum does not predict it.")
    return type(opt)(*(np.asarray(h, dtype=np.float64)[..., None] for h in opt))


def _rows(opt, lam, lr):
    """``opt.transition(lam, lr)`` as a list of rows of float64 arrays.

    A huge lr makes ``lr * lam`` overflow to inf: the transition of a run that
    diverges, read as such by every caller, so no RuntimeWarning is raised.
    """
    with np.errstate(over="ignore"):
        return [[np.asarray(v, dtype=np.float64) for v in row] for row in opt.transition(lam, lr)]


def transition_order(opt) -> int:
    """The size m of ``opt``'s transition matrix: 1 for gd, 2 for heavy ball and Nesterov.

    Examples
    --------
    >>> from gdcore import optimizers
    >>> from gdcore.analysis import transition_order
    >>> transition_order(optimizers.gd()), transition_order(optimizers.momentum(0.5))
    (1, 2)
    """
    return len(_per_run(opt).transition(1.0, 1.0))


def transition_matrices(opt, eigenvalues, lr) -> np.ndarray:
    """The transition matrix of ``opt`` at every lr and eigenvalue, shape ``lr.shape + (d, m, m)``.

    ``lr`` is a number or an array of runs (K,); ``opt``'s hyperparameters are
    numbers or one value per run, as ``lr``.

    Examples
    --------
    >>> from gdcore import optimizers
    >>> from gdcore.analysis import transition_matrices
    >>> transition_matrices(optimizers.momentum(0.5), [1.0], 0.5)[0].tolist()
    [[0.5, 0.5], [-0.5, 0.5]]
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    lr = np.asarray(lr, dtype=np.float64)[..., None]
    rows = _rows(_per_run(opt), lam, lr)
    shape = np.broadcast_shapes(lam.shape, lr.shape, *(v.shape for row in rows for v in row))
    return np.stack([np.stack([np.broadcast_to(v, shape) for v in row], axis=-1) for row in rows],
                    axis=-2)


def spectral_radius(opt, eigenvalues, lr, *, per_direction=False):
    """The largest eigenvalue modulus of ``opt``'s transition: the contraction per epoch.

    Along an eigen-direction the error shrinks (or grows) like ``rho ** k``
    and its loss gap like ``rho ** (2k)``; ``rho >= 1`` means divergence.
    For gd ``rho = |1 - lr lambda|``; for heavy ball the largest root modulus
    of ``z^2 - (1 + beta - lr lambda) z + beta``.

    Parameters
    ----------
    opt : gdcore.core.Optimizer
        A linear optimizer; its hyperparameters numbers or one value per run.
    eigenvalues : array_like, (d,)
        The eigenvalues (the callers pass the positive ones).
    lr : float or array_like, (K,)
        One learning rate per run.
    per_direction : bool, default False
        Return every eigen-direction's radius, ``lr.shape + (d,)``, instead of
        the largest, ``lr.shape`` (0 when there is no eigenvalue).

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    ValueError
        When ``opt`` is not linear (Adam).

    Examples
    --------
    >>> from gdcore import optimizers
    >>> from gdcore.analysis import spectral_radius
    >>> float(spectral_radius(optimizers.gd(), [1.0, 3.0], 0.5))
    0.5
    >>> r = spectral_radius(optimizers.momentum(0.25), [1.0, 3.0], 0.5, per_direction=True)
    >>> r.round(12).tolist()                 # complex roots: both of modulus sqrt(beta)
    [0.5, 0.5]
    """
    A = transition_matrices(opt, eigenvalues, lr)
    m = A.shape[-1]
    with np.errstate(all="ignore"):
        if m == 1:
            r = np.abs(A[..., 0, 0])
        elif m == 2:  # the roots of z^2 - t z + p in closed form: the same eigenvalues, faster
            t = A[..., 0, 0] + A[..., 1, 1]
            p = A[..., 0, 0] * A[..., 1, 1] - A[..., 0, 1] * A[..., 1, 0]
            disc = np.sqrt((t * t - 4.0 * p).astype(complex))
            r = np.maximum(np.abs((t + disc) / 2), np.abs((t - disc) / 2))
        else:
            r = np.abs(np.linalg.eigvals(A)).max(axis=-1, initial=0.0)
    # The entries of A are finite unless lr * lambda overflowed (a huge lr), where inf - inf
    # leaves nan: that direction diverges, its radius is inf.
    r = np.where(np.isnan(r), np.inf, r)
    return r if per_direction else r.max(axis=-1, initial=0.0)


def simulate(opt, eigenvalues, lrs, epochs, *, a=None, e0=1.0) -> np.ndarray:
    """The exact trajectory of a linear optimizer on the eigen-components, for any lr table.

    In the eigenbasis of H the error components are independent: each one
    moves by ``opt``'s transition at that epoch's lr, from ``x_0 = (e0, 0,
    ...)``, so simulating d small vectors gives the exact run at O(d) per
    epoch, whatever n is.

    Parameters
    ----------
    opt : gdcore.core.Optimizer
        A linear optimizer; its hyperparameters numbers or one value per run.
    eigenvalues : array_like, (d,)
    lrs : array_like, (epochs,) or (R, epochs)
        The lr of every epoch, for one run or for R runs.
    epochs : int
    a : array_like, (d,), optional
        The loss-gap weights (``a_i = (lambda_i / 2) c_i**2``): return the loss
        gaps ``sum_i a_i e_i(k)**2``, ``(R, epochs + 1)``.
    e0 : float or array_like, (d,), default 1.0
        The starting error components; without ``a`` the components
        ``e_i(k)`` are returned, ``(R, epochs + 1, d)``.

    Returns
    -------
    numpy.ndarray
        Without the leading R axis when ``lrs`` is 1-D.

    Examples
    --------
    >>> from gdcore import optimizers
    >>> from gdcore.analysis import simulate
    >>> simulate(optimizers.gd(), [1.0], [0.5, 0.5], 2, e0=4.0)[:, 0].tolist()
    [4.0, 2.0, 1.0]
    >>> simulate(optimizers.momentum(0.5), [1.0], [1.0, 1.0, 1.0], 3, a=[0.5]).tolist()
    [0.5, 0.0, 0.125, 0.03125]
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    lrs = np.asarray(lrs, dtype=np.float64)
    many = lrs.ndim == 2
    L = lrs if many else lrs[None, :]
    if L.shape[1] < epochs:
        raise ValueError(f"simulate: {L.shape[1]} learning rates for {epochs} epochs.")
    R, d = L.shape[0], lam.size
    per = _per_run(opt)
    m = transition_order(opt)
    x = [np.array(np.broadcast_to(np.asarray(e0, dtype=np.float64), (R, d)))]
    x += [np.zeros((R, d)) for _ in range(m - 1)]
    if a is None:
        out = np.empty((R, epochs + 1, d))
        out[:, 0] = x[0]
    else:
        a = np.asarray(a, dtype=np.float64)
        out = np.empty((R, epochs + 1))
        out[:, 0] = np.sum(a * x[0] * x[0], axis=1)
    A = col = None
    with np.errstate(all="ignore"):
        for k in range(epochs):
            if col is None or not np.array_equal(L[:, k : k + 1], col):  # a constant lr: A once
                col = L[:, k : k + 1]
                A = _rows(per, lam, col)
            new = []
            for row in A:
                acc = row[0] * x[0]
                for j in range(1, m):
                    acc = acc + row[j] * x[j]
                new.append(acc)
            x = new
            if a is None:
                out[:, k + 1] = x[0]
            else:
                out[:, k + 1] = np.sum(a * x[0] * x[0], axis=1)
    return out if many else out[0]


def _squared_factor(opt, eigenvalues, lr) -> np.ndarray:
    """``A**2`` of a 1 x 1 transition (gd: ``(1 - lr lambda)**2``), shape ``lr.shape + (d,)``."""
    A = transition_matrices(GD() if opt is None else opt, eigenvalues, lr)
    if A.shape[-1] != 1:
        raise ValueError(f"{opt.name} moves {A.shape[-1]} coordinates per direction: no closed form; "
                         "use simulate.")
    with np.errstate(over="ignore"):  # a huge lr: inf, which every caller reads as divergent
        return A[..., 0, 0] ** 2


def predicted_gaps(eigenvalues, a, lr, epochs, opt=None) -> np.ndarray:
    """Predicted loss gap ``L(w_k) - L*`` for k = 0..epochs (exact for a quadratic).

    ``sum_i a_i r_i**k`` with ``r_i = (1 - lr lambda_i)**2`` for plain gradient
    descent (``opt`` None), the square of the transition of any optimizer
    whose transition is 1 x 1.
    """
    k = np.arange(epochs + 1, dtype=np.float64)[:, None]
    r = _squared_factor(opt, eigenvalues, lr)
    with np.errstate(all="ignore"):
        terms = np.where(a > 0, a * r**k, 0.0)
    return terms.sum(axis=1)


def predicted_converged_epoch(eigenvalues, a, lr, rtol, opt=None) -> int | None:
    """Smallest k whose predicted gap is <= ``rtol`` times the initial gap; None if never."""
    k = predicted_converged_epochs(eigenvalues, a, np.asarray([lr], dtype=np.float64), rtol, opt)[0]
    return None if k < 0 else int(k)


def predicted_converged_epochs(eigenvalues, a, lrs, rtol, opt=None) -> np.ndarray:
    """:func:`predicted_converged_epoch` for many learning rates at once, -1 for never.

    The gap ``sum_i a_i r_i**k`` (``r_i = (1 - lr lambda_i)**2`` for plain
    gradient descent, ``opt`` None; the squared 1 x 1 transition of ``opt``,
    whose hyperparameters may be one value per lr) is non-increasing
    in k when every ``r_i <= 1``, so the answer is found by bisection, vectorised
    over the learning rates: about 60 numpy passes over a (K, d) array, whatever K.
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    out = np.full(lrs.shape, -1, dtype=np.int64)
    gap0 = float(np.sum(a))
    if gap0 <= 0:
        return np.zeros(lrs.shape, dtype=np.int64)
    target = rtol * gap0
    live = a > 0
    av = a[live]
    r = _squared_factor(opt, eigenvalues[live], lrs)  # (K, d')
    stuck = np.where(r == 1.0, av, 0.0).sum(axis=1)  # components that never shrink
    ok = ~np.any(r > 1.0, axis=1) & (stuck <= target)
    moving = r < 1.0

    def gap(k, rows=slice(None)):
        with np.errstate(all="ignore"):
            return stuck[rows] + np.sum(np.where(moving[rows], av * r[rows] ** k[:, None], 0.0),
                                        axis=1)

    rho2 = np.max(np.where(moving, r, 0.0), axis=1)
    with np.errstate(all="ignore"):
        bound = np.log((target - stuck) / (gap0 - stuck)) / np.log(rho2)
    hi = np.where(ok & (rho2 > 0), np.ceil(np.nan_to_num(bound, nan=1.0, posinf=1.0)) + 1, 1.0)
    hi = np.maximum(hi, 1.0)
    lo = np.zeros_like(hi)
    for _ in range(64):  # guard against rounding in the bound
        short = ok & (gap(hi) > target)
        if not short.any():
            break
        lo, hi = np.where(short, hi, lo), np.where(short, 2 * hi, hi)
    lo, hi = _newton_bracket(lo, hi, ok, moving, av, r, stuck, target, gap)
    # Bisection, vectorised over the learning rates still open: a near-critical lr
    # takes ~50 halvings while most take a few, so each pass only evaluates the
    # open ones (a settled lr, lo == hi, would not change).
    open_ = np.nonzero(lo < hi)[0]
    for _ in range(64):
        if open_.size == 0:
            break
        l, h = lo[open_], hi[open_]
        mid = np.floor((l + h) / 2)
        below = gap(mid, open_) <= target
        h, l = np.where(below, mid, h), np.where(below, l, mid + 1)
        hi[open_], lo[open_] = h, l
        open_ = open_[l < h]
    out[ok] = lo[ok].astype(np.int64)
    return out


def _newton_bracket(lo, hi, ok, moving, av, r, stuck, target, gap, steps=4):
    """Narrow the bisection bracket ``[lo, hi]`` of :func:`predicted_converged_epochs`.

    ``log(gap(k) - stuck)`` is a log-sum-exp of functions linear in k, so convex
    and decreasing: Newton's iterates from the left of its crossing of
    ``log(target - stuck)`` stay on the left, so the crossing is never passed
    and ``floor(k) - 1`` (less a relative margin for rounding) remains a lower
    bound of the answer.  Components with ``r = 0`` (gone after one epoch) are
    left out, which only lowers the curve and keeps the bound a bound.  An upper
    end 3 epochs above is kept where the exact ``gap`` confirms it.  The
    bisection then decides every answer with ``gap`` as before, in a few passes
    instead of ~log2(hi).
    """
    with np.errstate(all="ignore"):
        use = moving & (r > 0)
        logr = np.where(use, np.log(np.where(use, r, 1.0)), 0.0)
        aw = np.where(use, av, 0.0)
        level = np.log(np.where(ok, target - stuck, 1.0))
        k = lo.copy()
        for _ in range(steps):
            t = aw * np.exp(k[:, None] * logr)
            S = np.sum(t, axis=1)
            slope = np.sum(t * logr, axis=1) / S
            step = (level - np.log(S)) / slope
            k = np.where(ok & (S > 0) & np.isfinite(step) & (step > 0), k + step, k)
    new_lo = np.maximum(lo, np.floor(k * (1.0 - 1e-9)) - 1.0)
    new_lo = np.where(ok & np.isfinite(new_lo), np.minimum(new_lo, hi), lo)
    cand = np.minimum(new_lo + 3.0, hi)
    rows = np.nonzero(ok & (cand < hi))[0]
    if rows.size:
        fits = gap(cand[rows], rows) <= target
        hi = hi.copy()
        hi[rows[fits]] = cand[rows[fits]]
    return new_lo, hi
