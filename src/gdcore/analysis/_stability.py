"""The spectrum of the linear model's Hessian and what it says about the learning rate."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gdcore._checks import check_beta, check_each, check_lr, check_positive
from gdcore.analysis._predict import predicted_converged_epoch, spectral_radius
from gdcore.analysis._protocol import json_ready
from gdcore.analysis._quadratic import Quadratic, from_factor
from gdcore.core._optim import Momentum, Nesterov

__all__ = ["Stability", "stability_of"]


@dataclass(frozen=True)
class Stability:
    """What the Hessian ``H = (2/n) X^T X`` says about constant-lr gradient descent.

    Build it with :func:`gdcore.stability`.  All numbers are host float64.

    Attributes
    ----------
    eigenvalues : numpy.ndarray
        Eigenvalues of H, ascending.
    n_samples : int
        Rows of X.

    Examples
    --------
    >>> import gdcore
    >>> X, y = gdcore.make_linear(n=100, seed=0)
    >>> s = gdcore.stability(X)
    >>> round(s.lr_crit, 3), s.regime(0.7), s.regime(1.01)
    (0.986, 'oscillating', 'divergent')
    """

    eigenvalues: np.ndarray
    n_samples: int
    _quad: Any = field(default=None, repr=False, compare=False)
    # the study's prepare(X, y, w0, backend=, standardize=): how predicted_epochs(X=, y=) reads data
    _prepare: Any = field(default=None, repr=False, compare=False)

    # -- the spectrum ----------------------------------------------------
    @property
    def _positive(self) -> np.ndarray:
        if self._quad is not None:
            return self.eigenvalues[self._quad.positive]
        return self.eigenvalues[self.eigenvalues > 0]

    @property
    def lambda_max(self) -> float:
        """Largest eigenvalue of H."""
        return float(self.eigenvalues[-1])

    @property
    def lambda_min(self) -> float:
        """Smallest eigenvalue of H (0 when X is rank-deficient)."""
        pos = self._positive
        return float(self.eigenvalues[0]) if pos.size == self.eigenvalues.size else 0.0

    @property
    def lambda_min_positive(self) -> float:
        """Smallest positive eigenvalue of H: the slowest direction GD can move in."""
        pos = self._positive
        return float(pos[0]) if pos.size else 0.0

    @property
    def rank(self) -> int:
        """Number of positive eigenvalues (the rank of X)."""
        return int(self._positive.size)

    @property
    def condition_number(self) -> float:
        """``lambda_max / lambda_min = cond(X)**2``, ``inf`` when X is (numerically) rank-deficient.

        The true ratio of the whole spectrum, taken from the singular values of
        X (never from ``X^T X``, whose own rounding would cap it near 1e16).
        """
        if self.rank < self.eigenvalues.size:
            return math.inf
        q = self._quad
        if q is not None and q.singular_values is not None:
            s = q.singular_values
            return float((s[0] / s[-1]) ** 2)
        return self.lambda_max / self.lambda_min if self.lambda_min > 0 else math.inf

    @property
    def lr_crit(self) -> float:
        """``2 / lambda_max``: GD converges below it and diverges above it."""
        return 2.0 / self.lambda_max if self.lambda_max > 0 else math.inf

    @property
    def lr_opt(self) -> float:
        """``2 / (lambda_max + lambda_min_positive)``: the fastest constant learning rate."""
        s = self.lambda_max + self.lambda_min_positive
        return 2.0 / s if s > 0 else math.inf

    # -- per learning rate -----------------------------------------------
    @staticmethod
    def _check_lrs(lr) -> np.ndarray:
        """``lr`` (a number or an array) as float64, every value finite and > 0."""
        try:
            lr_arr = np.asarray(lr, dtype=np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"lr must be a positive number such as 0.1, got {lr!r}.") from None
        if not np.all(np.isfinite(lr_arr) & (lr_arr > 0)):
            raise ValueError(
                f"lr must be a finite number > 0 (try 0.1, or the lr_opt of this analysis); got {lr!r}."
            )
        return lr_arr

    def rho(self, lr):
        """Contraction factor ``max_i |1 - lr * lambda_i|`` over positive eigenvalues.

        The loss gap shrinks like ``rho ** (2k)``.  ``lr`` may be an array;
        every value must be a finite number > 0 (``ValueError`` otherwise).

        Examples
        --------
        >>> import gdcore
        >>> s = gdcore.stability([[1.0, 0.0], [0.0, 1.0]])
        >>> s.rho(0.5), s.rho(1.0)
        (0.5, 0.0)
        """
        lam = self._positive
        lr_arr = self._check_lrs(lr)
        if lam.size == 0:
            out = np.ones_like(lr_arr)
        else:
            with np.errstate(over="ignore"):  # a huge lr: rho = inf, divergent
                out = np.max(np.abs(1.0 - lr_arr[..., None] * lam), axis=-1)
        return float(out) if out.ndim == 0 else out

    def regime(self, lr) -> str:
        """``"monotone"``, ``"oscillating"``, ``"critical"`` or ``"divergent"`` for ``lr``.

        Examples
        --------
        >>> import gdcore
        >>> s = gdcore.stability([[1.0, 0.0], [0.0, 1.0]])   # lambda = 1, 1
        >>> [s.regime(lr) for lr in (0.5, 1.5, 2.0, 2.5)]
        ['monotone', 'oscillating', 'critical', 'divergent']

        A nan, infinite or non-positive ``lr`` has no regime: ``ValueError``.
        """
        from gdcore._checks import check_lr

        return self.regimes([check_lr(lr)])[0]

    def regimes(self, lrs) -> list[str]:
        """:meth:`regime` of every lr in ``lrs``, checked once (a sweep has thousands).

        Examples
        --------
        >>> import gdcore
        >>> gdcore.stability([[1.0, 0.0], [0.0, 1.0]]).regimes([0.5, 1.5, 2.5])
        ['monotone', 'oscillating', 'divergent']
        """
        lr = np.atleast_1d(self._check_lrs(lrs))
        crit, lam_max = self.lr_crit, self.lambda_max
        critical = np.abs(lr - crit) <= 1e-12 * crit if math.isfinite(crit) else np.zeros(lr.shape, bool)
        monotone = np.ones(lr.shape, bool) if lam_max == 0 else lr <= 1.0 / lam_max
        return np.select([critical, lr > crit, monotone], ["critical", "divergent", "monotone"],
                         "oscillating").tolist()

    def optimizer_regimes(self, optimizer, lrs) -> list[str]:
        """``"stable"``, ``"critical"`` or ``"divergent"`` of a linear optimizer at every lr.

        Read from the spectral radius of the optimizer's transition
        (:func:`gdcore.analysis.spectral_radius`) over the positive
        eigenvalues; its hyperparameters may be one value per lr.  For plain
        gradient descent :meth:`regimes` tells monotone from oscillating.
        Every lr must be a finite number > 0 (``ValueError`` otherwise).

        Examples
        --------
        >>> import gdcore
        >>> s = gdcore.stability([[1.0, 0.0], [0.0, 1.0]])   # lambda = 1, 1
        >>> s.optimizer_regimes(gdcore.optimizers.momentum(0.5), [1.0, 3.0, 3.5])
        ['stable', 'critical', 'divergent']
        """
        r = spectral_radius(optimizer, self._positive, np.atleast_1d(self._check_lrs(lrs)))
        return np.select([np.abs(r - 1.0) <= 1e-12, r < 1.0], ["critical", "stable"],
                         "divergent").tolist()

    def momentum_regimes(self, lrs, betas, nesterov=False) -> list[str]:
        """:meth:`momentum_regime` of every ``(lrs[j], betas[j])`` pair, vectorised (checked as there)."""
        check_each(betas, check_beta, lambda b: np.isfinite(b) & (b >= 0.0) & (b < 1.0))
        return self.optimizer_regimes(_heavy_ball(np.asarray(betas, dtype=np.float64), nesterov), lrs)

    # -- momentum ----------------------------------------------------------
    def momentum_stable(self, lr, beta) -> bool:
        """Heavy ball converges iff ``0 < lr * lambda < 2 (1 + beta)`` for every eigenvalue, ``0 <= beta < 1``.

        That is, iff :meth:`momentum_rho` is below 1.  ``lr`` must be a finite
        number > 0 and ``beta`` in [0, 1), as :func:`gdcore.optimizers.momentum`
        takes it (``ValueError`` otherwise, with that factory's message).

        Examples
        --------
        >>> import gdcore
        >>> s = gdcore.stability([[1.0, 0.0], [0.0, 1.0]])   # lambda = 1, 1
        >>> s.momentum_stable(3.0, 0.6), s.momentum_stable(3.0, 0.4)
        (True, False)
        """
        return bool(self.momentum_rho(lr, beta) < 1.0)

    def momentum_rho(self, lr, beta, nesterov=False) -> float:
        """Predicted contraction per epoch of heavy ball (or Nesterov) momentum.

        The loss gap shrinks like ``rho ** (2k)`` asymptotically; ``rho >= 1``
        means divergence.  At Polyak's pair it equals ``sqrt(beta)``.  ``lr``
        must be a finite number > 0 and ``beta`` in [0, 1) (``ValueError``
        otherwise, with :func:`gdcore.optimizers.momentum`'s message).

        Examples
        --------
        >>> import gdcore
        >>> X, _ = gdcore.make_linear(seed=0)
        >>> s = gdcore.stability(X)
        >>> lr, beta = s.polyak()
        >>> round(s.momentum_rho(lr, beta), 6) == round(beta ** 0.5, 6)
        True
        """
        lr, beta = check_lr(lr), check_beta(beta)
        return float(spectral_radius(_heavy_ball(beta, nesterov), self._positive, lr))

    def momentum_regime(self, lr, beta, nesterov=False) -> str:
        """``"stable"``, ``"critical"`` or ``"divergent"`` for momentum ``beta`` at ``lr``."""
        r = self.momentum_rho(lr, beta, nesterov)
        if abs(r - 1.0) <= 1e-12:
            return "critical"
        return "stable" if r < 1.0 else "divergent"

    def polyak(self) -> tuple[float, float]:
        """Polyak's optimal heavy-ball pair ``(lr, beta)`` for this spectrum.

        ``lr = 4 / (sqrt(lambda_max) + sqrt(lambda_min))**2`` and
        ``beta = ((sqrt(kappa) - 1) / (sqrt(kappa) + 1))**2``, giving the
        contraction ``sqrt(beta)`` per epoch against plain GD's best
        ``(kappa - 1) / (kappa + 1)``.

        Examples
        --------
        >>> import gdcore
        >>> s = gdcore.stability([[1.0, 0.0], [0.0, 3.0]])   # H = diag(1, 9): kappa = 9
        >>> lr, beta = s.polyak()
        >>> round(beta, 4), s.momentum_stable(lr, beta)
        (0.25, True)
        """
        L, mu = self.lambda_max, self.lambda_min_positive
        if mu <= 0:
            raise ValueError("X has no positive Hessian eigenvalue; there is nothing to optimise.")
        kappa = L / mu
        lr = 4.0 / (math.sqrt(L) + math.sqrt(mu)) ** 2
        beta = ((math.sqrt(kappa) - 1.0) / (math.sqrt(kappa) + 1.0)) ** 2
        return lr, beta

    def predicted_epochs(self, lr, rtol=1e-3, *, X=None, y=None, w0=None, backend=None):
        """Predicted converged epoch for ``lr``; ``None`` if GD will not converge.

        With ``X`` and ``y`` (and optionally ``w0``, default zeros) the
        prediction is exact for this problem: the smallest k with
        ``sum_i (lambda_i/2) c_i**2 (1 - lr lambda_i)**(2k) <= rtol * gap_0``,
        where ``lambda_i`` and the eigenvectors are this object's own and
        ``c = V^T (w0 - w*)``.  Without data it is the worst-case bound
        ``ceil(ln(rtol) / (2 ln rho))``.

        ``X`` must be the matrix this object analysed, given as it was given
        to :func:`gdcore.stability` (or ``fit``/``sweep``): when the analysis
        was of the standardized columns (``standardize=True``), ``X`` is
        standardized the same way here and ``w0`` refers to the standardized
        columns, as in ``fit``.  The data enter the analysis only through
        ``X^T X / n``, so that is what is checked: ``X`` (as given, else
        standardized) must have the Gram matrix analysed, to float64
        accumulation; then the object's spectrum and eigenvectors are exactly
        this ``X``'s and the answer is exact for it.  Any other ``X`` raises
        ``ValueError`` (analyse the new data with ``gdcore.stability``).
        ``lr`` must be a finite number > 0 and ``rtol`` in (0, 1).

        Examples
        --------
        >>> import gdcore
        >>> X, y = gdcore.make_linear(n=100, seed=0)
        >>> s = gdcore.stability(X)
        >>> s.predicted_epochs(0.7, X=X, y=y) <= s.predicted_epochs(0.7)
        True
        """
        lr = check_lr(lr)
        rtol = check_positive(rtol, "rtol", below=1.0)
        if X is None:
            rho = self.rho(lr)
            if rho >= 1.0:
                return None
            if rho == 0.0:
                return 1
            return max(0, math.ceil(math.log(rtol) / (2.0 * math.log(rho))))
        if y is None:
            raise ValueError("predicted_epochs: pass y together with X (or neither, for the data-free bound).")
        quad = self._quad
        if quad is None or quad.eigenvectors is None or quad.G is None or self._prepare is None:
            raise ValueError(
                "predicted_epochs(X=..., y=...) needs the eigenvectors of the analysis; build this "
                "object with gdcore.stability(X) rather than by hand."
            )
        w_star, w0h = self._data_stats(X, y, w0, backend, quad.G)
        lam, V, pos = quad.eigenvalues, quad.eigenvectors, quad.positive
        c = V.T @ (w0h - w_star)
        a = np.where(pos, lam / 2.0, 0.0) * np.sum(c * c, axis=1)
        return predicted_converged_epoch(lam, a, lr, rtol)

    def _data_stats(self, X, y, w0, backend, G_ref):
        """Host float64 ``w*`` and ``w0`` (d, m) of the analysed ``X`` with targets ``y``.

        Tries ``X`` as given, then standardized; the first whose Gram matrix
        ``R^T R / n`` is ``G_ref`` (to within float64 accumulation) is the matrix
        analysed.  ``w*`` comes from the same factorisation of ``[X | y]`` as
        :func:`analyse` (never from the normal equations).
        """
        prepare = self._prepare
        scale = max(float(np.max(np.abs(G_ref))), np.finfo(np.float64).tiny) if G_ref.size else 1.0
        for standardize in (False, True):
            prep = prepare(X, y, w0, backend=backend, standardize=standardize)
            n, d = prep.X.shape
            if d != G_ref.shape[0]:
                break
            be = prep.backend
            with be.context("float64"):
                R = be.factor(prep.X, prep.Y)
            if not np.all(np.isfinite(R)):
                break
            quad = from_factor(R, n, d)
            if np.max(np.abs(quad.G - G_ref), initial=0.0) <= 1e-9 * scale:
                return quad.w_star, np.asarray(prep.state.to_numpy(prep.w0), dtype=np.float64)
        raise ValueError(
            "predicted_epochs: X is not the matrix this Stability object analysed (its X^T X / n "
            "differs, raw or standardized); pass the same X, or use gdcore.stability(X) of the new data."
        )

    def to_dict(self) -> dict:
        """The analysis as plain Python numbers, strict JSON.

        A number that is not finite is ``None``: ``condition_number`` of a
        rank-deficient ``X`` (inf), ``lr_crit`` and ``lr_opt`` of a zero
        Hessian (see :func:`gdcore.analysis.json_ready`).
        """
        return json_ready({
            "eigenvalues": [float(v) for v in self.eigenvalues],
            "lambda_max": self.lambda_max,
            "lambda_min": self.lambda_min,
            "lambda_min_positive": self.lambda_min_positive,
            "rank": self.rank,
            "condition_number": self.condition_number,
            "lr_crit": self.lr_crit,
            "lr_opt": self.lr_opt,
        })


def _heavy_ball(beta, nesterov):
    """The heavy-ball (or Nesterov) optimizer value of ``beta`` (a number, or one per run)."""
    return Nesterov(beta) if nesterov else Momentum(beta)


def stability_of(quad: Quadratic, prepare=None) -> Stability:
    """The :class:`Stability` of an analysis; ``prepare`` lets it read new data (``predicted_epochs(X=)``)."""
    return Stability(eigenvalues=quad.eigenvalues, n_samples=quad.n, _quad=quad, _prepare=prepare)
