"""``GDRegressor``: gdcore as a scikit-learn estimator (needs scikit-learn).

Import it as ``gdcore.GDRegressor``; scikit-learn is imported only when you do.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from gdcore import analysis, backends, optimizers
from gdcore._checks import check_epochs, check_lr, check_positive
from gdcore._errors import IllConditionedWarning
from gdcore.study import fit

__all__ = ["GDRegressor"]


class GDRegressor(RegressorMixin, BaseEstimator):
    """Linear least squares fitted by gdcore's gradient descent, for Pipelines and grid searches.

    The intercept is fitted the way scikit-learn's linear models fit it: the
    columns of ``X`` and the targets are centred, gradient descent solves for
    the slopes from zero, and ``intercept_ = mean(y) - mean(X) @ coef_``.  So
    the run starts at the prediction ``mean(y)``, and "converged" is judged
    against the variance the features can explain, not against ``mean(y)**2``,
    which a target far from zero would make huge (and "converged" meaningless).

    Parameters
    ----------
    lr : float or "auto", default "auto"
        Learning rate.  "auto" takes the one the closed form predicts best
        within the budget of ``epochs`` (see Notes); it is in ``lr_``.
    epochs : int, default 1000
        The budget: steps of full-batch descent at most (``epochs`` times the
        batches per epoch with ``batch_size``).
    momentum : float or "auto", default 0.0
        Heavy-ball momentum; "auto" searches ``beta`` in ``[0, 1)`` together
        with ``lr`` (or at the given ``lr``) for the pair predicted best within
        ``epochs``, which may be ``beta = 0``; it is in ``momentum_``.
    nesterov : bool, default False
        Nesterov's look-ahead gradient (with "auto", the search is Nesterov's).
    batch_size : int or None, default None
        Mini-batch SGD when set; full-batch gradient descent otherwise.
    backend : str, default "numpy"
        Any gdcore backend ("numpy", "torch", "jax", "array-api-strict").
    device : str or None
    standardize : bool, default True
        Scale the features to unit variance (unit root mean square without an
        intercept) before descending; the coefficients are reported in the
        original units.  Without it features on different scales make the
        problem badly conditioned and gradient descent crawl.
    fit_intercept : bool, default True
        Centre ``X`` and ``y`` (whatever ``standardize``) and recover the intercept.
    rtol : float, default 1e-6
        Converged when the loss gap ``L - L*`` is at most ``rtol`` times the
        starting gap.  Each output is descended in units of its own spread
        (centred and divided by its standard deviation; root mean square
        without an intercept), so the starting gap is the sum over the outputs
        of the R^2 the features can reach, and at convergence the training R^2
        of every output is within ``n_outputs * rtol`` of the optimum's
        (``rtol * R^2`` for one output).
    stop_on_convergence : bool, default True
    random_state : int or None
        Seed of the mini-batch shuffle.
    optimizer : optimizer value or None, default None
        Any of :mod:`gdcore.optimizers` (e.g. ``gdcore.optimizers.adam()``);
        ``None`` means the one ``momentum``/``nesterov`` describe.  With
        ``lr="auto"`` a linear optimizer's lr is searched as above; Adam,
        which the spectrum does not predict, gets gradient descent's ``lr_opt``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    lr_ : float or None
        The learning rate that ran (the chosen one with ``lr="auto"``).
    momentum_ : float or None
        The momentum coefficient that ran (0 for gradient descent and Adam).
    n_iter_ : int
        Epochs run.  A ``sklearn.exceptions.ConvergenceWarning`` is emitted
        when the run stops at ``epochs`` without converging (as
        ``SGDRegressor`` does at ``max_iter``) or diverges; it says how far
        from the optimum the fit is and what would help.
    result_ : gdcore.FitResult or None
        Everything gdcore measured and predicted (losses, status, regime ...),
        of the problem that was descended: the centred, scaled columns that
        vary (constant columns, which an intercept absorbs, and columns of
        zeros get a coefficient of 0 and are left out) against the centred
        targets in units of their spread (so ``result_.losses`` of one output
        with an intercept are ``1 - R^2``).  ``None`` (and ``lr_``, ``momentum_`` None, ``n_iter_`` 0)
        when no column varies.

    Notes
    -----
    **"auto".** For a linear model the loss after any number of epochs of
    gradient descent, heavy ball or Nesterov is known in advance from the
    Hessian's spectrum (:func:`gdcore.analysis.predicted_gap_at`).  The
    classical choices, ``lr_opt`` and Polyak's ``(lr, beta)``, are the best
    *asymptotically*; on a near-singular problem (raw polynomial features)
    Polyak's ``beta`` is close to 1 and its transient lasts far longer than
    the budget.  "auto" instead takes the candidate predicted to reach
    ``rtol`` first, or, when none does within ``epochs``, the one with the
    smallest predicted loss at ``epochs``
    (:func:`gdcore.analysis.best_at_budget`), never one predicted worse than
    gradient descent at ``lr_opt``.  The search is on the host, over a grid
    refined three times: about as costly as a few epochs.  With
    ``batch_size`` the prediction is full-batch descent over the same number
    of steps; the noise of the mini-batches is not modelled, so for small
    batches the choice can be too large (diabetes, batch 32, 5 epochs: R^2
    0.29 at the chosen 0.24, 0.48 at lr=0.1); pass a smaller ``lr`` there.

    **Agreement with LinearRegression.** When the run converges, the
    training ``score`` is within ``rtol * R^2`` of ``LinearRegression``'s
    (within ``n_outputs * rtol`` per output).  The coefficients agree to
    about ``sqrt(rtol)`` relative along well-determined directions; along a
    nearly collinear direction they can differ more while changing the
    predictions less (the loss is flat there).  Stopped at ``epochs``
    before converging, the ConvergenceWarning says how far from the optimum
    the fit is, how many epochs the prediction needs, and which remedy
    applies.

    Examples
    --------
    >>> import numpy as np
    >>> from gdcore import GDRegressor
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = 3 * X[:, 0] + 2
    >>> est = GDRegressor().fit(X, y)
    >>> np.round(est.coef_, 6), round(est.intercept_, 6), est.result_.status
    (array([3.]), 2.0, 'converged')
    """

    def __init__(self, lr="auto", epochs=1000, momentum=0.0, nesterov=False, batch_size=None,
                 backend="numpy", device=None, standardize=True, fit_intercept=True, rtol=1e-6,
                 stop_on_convergence=True, random_state=None, optimizer=None):
        self.lr = lr
        self.epochs = epochs
        self.momentum = momentum
        self.nesterov = nesterov
        self.batch_size = batch_size
        self.backend = backend
        self.device = device
        self.standardize = standardize
        self.fit_intercept = fit_intercept
        self.rtol = rtol
        self.stop_on_convergence = stop_on_convergence
        self.random_state = random_state
        self.optimizer = optimizer

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    # -- the problem that is descended -------------------------------------------
    def _columns(self, X):
        """Means, scales and the columns kept: the descended ``Z = (X - mean)[:, keep] / scale[keep]``."""
        X64 = np.asarray(X, dtype=np.float64)
        mean = X64.mean(axis=0) if self.fit_intercept else np.zeros(X.shape[1])
        rms = np.sqrt(np.mean(X64 * X64, axis=0))
        std = X64.std(axis=0)
        spread = std if self.fit_intercept else rms
        # a column that does not vary (to rounding, core.standardize's rule) tells the slopes
        # nothing once the intercept absorbs it; a column of zeros never does.
        carries = (std > 1e-12 * rms) if self.fit_intercept else (rms > 0)
        scale = np.where(carries & (spread > 0), spread, 1.0) if self.standardize else np.ones_like(rms)
        return mean, scale, carries

    def _names(self, keep):
        """The user's names of the kept columns (``feature_names_in_`` when fitted on a DataFrame)."""
        idx = np.nonzero(keep)[0]
        names = getattr(self, "feature_names_in_", None)
        return [str(names[j]) if names is not None else str(j) for j in idx]

    def _resolve(self):
        """The optimizer value to run (its beta a placeholder under momentum="auto"), and whether to tune."""
        tune = isinstance(self.momentum, str) and self.momentum == "auto"
        if isinstance(self.momentum, str) and not tune:
            raise ValueError(f"momentum must be a number in [0, 1) or 'auto', got {self.momentum!r}.")
        if tune:
            if self.optimizer is not None:
                raise ValueError(
                    "momentum='auto' searches heavy ball's (or Nesterov's) beta; it cannot tune "
                    f"optimizer={self.optimizer!r}. Drop one of them."
                )
            opt = optimizers.momentum(0.5, nesterov=self.nesterov)
        else:
            opt = optimizers.resolve(self.optimizer, self.momentum, self.nesterov)
        lr_auto = isinstance(self.lr, str) and self.lr == "auto"
        if isinstance(self.lr, str) and not lr_auto:
            raise ValueError(f"lr must be a number > 0 or 'auto', got {self.lr!r}.")
        if tune and not lr_auto:
            check_lr(self.lr)  # the search needs a number, not a schedule
        return opt, tune, lr_auto

    def _steps(self, n):
        """The budget in steps: epochs, times the batches of an epoch for mini-batch SGD."""
        epochs = check_epochs(self.epochs)
        b = self.batch_size
        if b is None or isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b <= 0:
            return epochs  # fit() names a bad batch_size
        return epochs * math.ceil(n / int(b))

    def fit(self, X, y):
        """Fit by gradient descent; returns ``self``."""
        X, y = validate_data(self, X, y, y_numeric=True, multi_output=True,
                             dtype=[np.float64, np.float32])
        n, d = X.shape
        Y = np.asarray(y, dtype=np.float64).reshape(n, -1)
        rtol = check_positive(self.rtol, "rtol", below=1.0)
        opt, tune, lr_auto = self._resolve()
        mean, scale, keep = self._columns(X)
        y_mean = Y.mean(axis=0) if self.fit_intercept else np.zeros(Y.shape[1])
        coef = np.zeros((d, Y.shape[1]))
        self.lr_ = self.momentum_ = self.result_ = None
        self.n_iter_ = 0
        if keep.any():
            Z = ((np.asarray(X, dtype=np.float64)[:, keep] - mean[keep]) / scale[keep]).astype(X.dtype)
            Yc = Y - y_mean
            # each output in units of its own spread, so that rtol bounds every output's share of
            # the loss (the Hessian, hence lr and beta, does not depend on y)
            y_scale = np.sqrt(np.mean(Yc * Yc, axis=0))
            y_scale = np.where(y_scale > 0, y_scale, 1.0)
            W = self._descend(Z, (Yc / y_scale).astype(X.dtype), opt, tune, lr_auto, rtol, keep)
            coef[keep] = W * y_scale / scale[keep][:, None]
        intercept = y_mean - mean @ coef
        if y.ndim == 1:
            self.coef_, self.intercept_ = coef[:, 0], float(intercept[0])
        else:
            self.coef_, self.intercept_ = coef.T, intercept
        return self

    def _descend(self, Z, Yc, opt, tune, lr_auto, rtol, keep):
        """Choose lr (and beta), run gdcore.fit on the centred problem, warn; the (d', m) weights."""
        n, dz = Z.shape
        be = backends.get("numpy")
        with be.context("float64"):
            R = be.factor(np.asarray(Z, dtype=np.float64), np.asarray(Yc, dtype=np.float64))
        quad = analysis.from_factor(R, n, dz)
        lam = np.where(quad.positive, quad.eigenvalues, 0.0)
        a = analysis.gap_weights(quad, np.zeros(quad.w_star.shape))
        steps = self._steps(n)
        lr = None if lr_auto else self.lr
        if lr_auto or tune:
            if opt.linear:
                choice = analysis.best_at_budget(lam, a, steps, rtol=rtol, optimizer=opt,
                                                 lr=lr, tune_momentum=tune)
                lr, opt = choice.lr, choice.optimizer
            else:  # Adam: the spectrum says nothing about it; gradient descent's lr_opt
                lr = 2.0 / (lam.max() + lam[lam > 0].min())
        # this estimator's own conditioning warning names the user's columns and knows the
        # columns are centred (and scaled with standardize): gdcore.fit's would not.
        analysis.warn_conditioning(quad, str(Z.dtype), standardized=bool(self.standardize),
                                   centred=True, columns=self._names(keep))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", IllConditionedWarning)
            res = fit(Z, Yc, lr=lr, epochs=self.epochs, optimizer=opt,
                      batch_size=self.batch_size,
                      seed=0 if self.random_state is None else self.random_state,
                      backend=self.backend, device=self.device, rtol=rtol,
                      stop_on_convergence=self.stop_on_convergence)
        self.lr_ = lr if callable(lr) else float(res.lr)
        self.momentum_ = float((optimizers.shorthands(res.optimizer) or (0.0, False))[0])
        self.n_iter_ = res.epochs_run
        self.result_ = res
        if res.status == "max_epochs":
            self._warn_unconverged(res, quad, lam, a, rtol, keep, tune, lr_auto)
        elif res.status == "diverged":
            self._warn_diverged(res, lam, lr_auto)
        W = np.asarray(res.weights, dtype=np.float64)
        return W.reshape(W.shape[0], -1)

    # -- what the ConvergenceWarning says ---------------------------------------
    def _warn_unconverged(self, res, quad, lam, a, rtol, keep, tune, lr_auto):
        loss = float(res.losses[-1])
        loss0, loss_star = float(res.losses[0]), float(quad.loss_star)
        frac = (loss - loss_star) / (loss0 - loss_star) if loss0 > loss_star else 0.0
        where = f"the loss gap is still {frac:.3g} of its start (rtol={rtol:g})"
        if loss_star > 0:
            where += (f"; the training MSE is {100 * (loss - loss_star) / loss_star:.3g}% above the "
                      "least-squares optimum's")
        opt, lr = res.optimizer, res.lr
        remedies = []
        if res.batch_size is None and opt.linear and not callable(self.lr):
            need = analysis.predicted_epochs_to(lam, a, lr, opt, rtol, limit=10**12)
            remedies.append(f"increase epochs to about {need:,} (predicted at this lr"
                            + (f" and momentum {self.momentum_:.4g}" if self.momentum_ else "") + ")"
                            if need is not None else "increase epochs (more than 1e12 predicted)")
            untuned = [p for p, auto in (("lr", lr_auto), ("momentum", tune)) if not auto]
            if untuned:  # would the search do better within the same epochs?
                steps = self._steps(quad.n)
                now = float(analysis.predicted_gap_at(lam, a, [lr], opt, steps)[0])
                best = analysis.best_at_budget(lam, a, steps, rtol=rtol, optimizer=opt,
                                               tune_momentum=True)
                args = ", ".join(f"{p}='auto'" for p in untuned)
                if best.converged_epoch is not None:
                    remedies.append(f"{args} (predicted to converge by epoch {best.converged_epoch:,})")
                elif best.gap < 0.5 * now:
                    remedies.append(f"{args} (predicted gap at epoch {steps:,}: {best.gap / a.sum():.3g} "
                                    f"of the start instead of {now / a.sum():.3g})")
        elif res.batch_size is not None:
            remedies.append("a smaller lr or a larger batch_size (mini-batch SGD settles at a noise "
                            "floor that grows with lr, which more epochs do not lower; lr='auto' is "
                            "the full-batch choice)")
        else:
            remedies.append("increase epochs")
        # what makes it slow: the scales (standardize=True applies) or nearly collinear columns
        why = analysis.diagnose(quad)
        if not self.standardize and why.scaled_cond < 0.1 * why.cond:
            remedies.append(f"standardize=True (equal column scales bring cond(X) from "
                            f"{why.cond:.3g} to {why.scaled_cond:.3g})")
        slow = self._slow_columns(quad, lam, a, opt, lr, self._steps(quad.n))
        if slow:
            names = self._names(keep)
            cols = ", ".join(names[j] for j in slow[:10]) + (f" and {len(slow) - 10} more" if len(slow) > 10 else "")
            remedies.append(f"drop or combine nearly collinear columns (cond(X) = {why.cond:.3g} "
                            "after centring" + (" and scaling" if self.standardize else "")
                            + f"; the slowest directions are combinations of columns {cols})")
        warnings.warn(
            f"GDRegressor stopped at epochs={self.epochs} before converging: {where}; remedy: "
            + "; or ".join(remedies) + ".",
            ConvergenceWarning,
            stacklevel=4,
        )

    @staticmethod
    def _slow_columns(quad, lam, a, opt, lr, steps):
        """Columns of the nearly collinear directions that hold most of the gap left after ``steps``.

        Along eigen-direction i the gap shrinks like ``rho_i ** (2k)``; the
        directions that keep 90% of ``sum_i a_i rho_i ** (2 steps)`` are named by
        the columns their eigenvectors weigh (at least a tenth of the largest
        row norm), and only when their eigenvalues are below 1e-3 of the
        largest, i.e. when they are near linear relations among the columns.
        """
        pos = lam > 0
        if not opt.linear or np.count_nonzero(pos) < 2:
            return []
        rho = np.zeros_like(lam)
        rho[pos] = analysis.spectral_radius(opt, lam[pos], float(lr), per_direction=True)
        with np.errstate(all="ignore"):
            left = np.where(pos, a * rho ** (2.0 * steps), 0.0)
        if not left.sum() > 0:
            return []
        order = np.argsort(left)[::-1]
        cum = np.cumsum(left[order])
        slow = order[: int(np.searchsorted(cum, 0.9 * cum[-1])) + 1]
        if lam[slow].max() > 1e-3 * lam.max():
            return []
        V = quad.eigenvectors[:, slow]
        weight = np.sqrt(np.sum(V * V, axis=1))
        return [int(j) for j in np.nonzero(weight >= 0.1 * weight.max())[0]]

    def _warn_diverged(self, res, lam, lr_auto):
        opt = res.optimizer
        edge = None
        if opt.linear:
            edge = float(analysis.lr_edge(lam.max(), opt))
        bound = f"; the full-batch stable range is lr < {edge:.3g}" if edge is not None else ""
        warnings.warn(
            f"GDRegressor diverged at epoch {res.diverged_epoch} (lr={res.lr:.3g}{bound}); use a "
            "smaller lr" + ("" if lr_auto else " or lr='auto'") + ".",
            ConvergenceWarning,
            stacklevel=4,
        )

    def predict(self, X):
        """``X @ coef_.T + intercept_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return X @ self.coef_.T + self.intercept_
