"""``GDRegressor``: gdcore as a scikit-learn estimator (needs scikit-learn).

Import it as ``gdcore.GDRegressor``; scikit-learn is imported only when you do.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from gdcore.study import fit, stability

__all__ = ["GDRegressor"]


class GDRegressor(RegressorMixin, BaseEstimator):
    """Linear least squares fitted by gdcore's gradient descent, for Pipelines and grid searches.

    Parameters
    ----------
    lr : float or "auto", default "auto"
        Learning rate; "auto" uses the analytic ``lr_opt`` of the (scaled) data,
        or Polyak's pair when ``momentum="auto"``.
    epochs : int, default 1000
    momentum : float or "auto", default 0.0
        Heavy-ball momentum; "auto" takes Polyak's optimal ``(lr, beta)``.
    nesterov : bool, default False
    batch_size : int or None, default None
        Mini-batch SGD when set; full-batch gradient descent otherwise.
    backend : str, default "numpy"
        Any gdcore backend ("numpy", "torch", "jax", "array-api-strict").
    device : str or None
    standardize : bool, default True
        Scale features to unit variance (and centre them when an intercept is
        fitted) before descending; the coefficients are reported in the
        original units.  Without it raw features with large means make the
        problem badly conditioned and gradient descent crawl.
    fit_intercept : bool, default True
    rtol : float, default 1e-6
        Convergence tolerance on the loss gap (see ``gdcore.fit``).
    stop_on_convergence : bool, default True
    random_state : int or None
        Seed of the mini-batch shuffle.
    optimizer : optimizer value or None, default None
        Any of :mod:`gdcore.optimizers` (e.g. ``gdcore.optimizers.adam()``);
        ``None`` means the one ``momentum``/``nesterov`` describe.  With
        ``lr="auto"`` the lr is still gradient descent's ``lr_opt``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
    intercept_ : float or ndarray of shape (n_targets,)
    n_iter_ : int
        Epochs run.  A ``sklearn.exceptions.ConvergenceWarning`` is emitted
        when the run stops at ``epochs`` without converging (as
        ``SGDRegressor`` does at ``max_iter``) or diverges.
    result_ : gdcore.FitResult
        Everything gdcore measured and predicted (losses, status, regime ...).

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

    def _design(self, X):
        """Scaled features plus the bias column."""
        Z = (X - self._mean) / self._scale
        if self.fit_intercept:
            Z = np.hstack([Z, np.ones((Z.shape[0], 1), dtype=Z.dtype)])
        return Z

    def fit(self, X, y):
        """Fit by gradient descent; returns ``self``."""
        X, y = validate_data(self, X, y, y_numeric=True, multi_output=True,
                             dtype=[np.float64, np.float32])
        y = np.asarray(y, dtype=X.dtype)
        if self.standardize:
            self._mean = X.mean(axis=0) if self.fit_intercept else np.zeros(X.shape[1], X.dtype)
            std = X.std(axis=0)
            self._scale = np.where(std > 0, std, 1.0).astype(X.dtype)
        else:
            self._mean = np.zeros(X.shape[1], X.dtype)
            self._scale = np.ones(X.shape[1], X.dtype)
        Z = self._design(X)
        lr, momentum = self.lr, self.momentum
        if lr == "auto" or momentum == "auto":
            stab = stability(Z)
            if momentum == "auto":
                p_lr, momentum = stab.polyak()
                lr = p_lr if lr == "auto" else lr
            elif lr == "auto":
                lr = stab.lr_opt
        res = fit(Z, y, lr=lr, epochs=self.epochs, momentum=momentum,
                         nesterov=self.nesterov, batch_size=self.batch_size,
                         seed=0 if self.random_state is None else self.random_state,
                         backend=self.backend, device=self.device, rtol=self.rtol,
                         stop_on_convergence=self.stop_on_convergence, optimizer=self.optimizer)
        W = np.asarray(res.weights, dtype=np.float64)
        W2 = W.reshape(W.shape[0], -1)
        d = X.shape[1]
        coef = W2[:d] / self._scale[:, None]
        intercept = (W2[d] - self._mean @ coef) if self.fit_intercept else np.zeros(W2.shape[1])
        if y.ndim == 1:
            self.coef_, self.intercept_ = coef[:, 0], float(intercept[0])
        else:
            self.coef_, self.intercept_ = coef.T, intercept
        self.n_iter_ = res.epochs_run
        self.result_ = res
        if res.status == "max_epochs":
            warnings.warn(
                f"GDRegressor stopped at epochs={self.epochs} before converging (loss gap still "
                f"above rtol={self.rtol:g} of the start, regime {res.regime!r}); increase epochs, "
                "keep standardize=True or use lr='auto'.",
                ConvergenceWarning,
                stacklevel=2,
            )
        elif res.status == "diverged":
            warnings.warn(
                f"GDRegressor diverged at epoch {res.diverged_epoch} (lr={res.lr:.3g} is above "
                f"lr_crit={res.stability.lr_crit:.3g}); use a smaller lr or lr='auto'.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def predict(self, X):
        """``X @ coef_.T + intercept_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return X @ self.coef_.T + self.intercept_
