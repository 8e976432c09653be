"""The interactive explorer: the learning-rate study as one self-contained HTML page.

:func:`explore` trains K learning rates in one vectorised :func:`gdcore.sweep`
(and every (lr, beta) pair of a momentum grid in a second one), puts the
closed-form prediction beside every measured curve, and writes the lot into
one HTML file with Bokeh (standalone output, every script inlined): no server,
no network, it opens from disk.  A learning-rate slider (and a momentum
slider) switches every view between the precomputed runs; the only
hand-written JavaScript is the small callback that copies the chosen run's
slices into the plotted sources.

With ``model=gdcore.models.mlp(...)`` (a model non-linear in its weights) there
is no closed form: the page holds one vectorised sweep of that model over K
learning rates with the sharpness measured every few epochs, and shows the
loss per epoch, the sharpness against the chosen lr's ``2 / lr`` line (the
edge of stability), and where the lr sits against lambda_0's bracket
``(2 / lambda_0, 4 / lambda_0)`` with every run's measured status.

Why Bokeh: its standalone output inlines BokehJS (about 1.7 MB, against 3.5 MB
for plotly.js), its ``CustomJS`` callbacks make switching between precomputed
runs a few lines, its sliders are keyboard-operable ARIA sliders
(``role="slider"``, arrow keys), and every string it draws on a canvas
(titles, axis labels, legends) or shows through ``Div(render_as_text=True)``
is text, never HTML.

Everything that comes from the data (column names, the file name) is shown as
text only: either through text-only models or after :func:`html.escape`.
Bokeh is imported only when a page is built (``import gdcore`` does not
import it).
"""

from __future__ import annotations

import html
import pathlib
from dataclasses import dataclass, field

import numpy as np

from gdcore._files import write_atomic
from gdcore.explore._views import LinearPage, ModelPage

__all__ = ["Explorer", "explore"]

DEFAULT_BETAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
_MAX_FLOATS = 4_000_000  # what the page may carry (float32) before it gets too heavy to open


def _need_bokeh():
    try:
        import bokeh  # noqa: F401  (only: is it installed?)
    except ImportError:
        raise ImportError(
            'the explorer needs bokeh: pip install "gdcore[explore]" (or pip install bokeh)'
        ) from None


@dataclass(frozen=True, eq=False)
class Explorer:
    """The interactive learning-rate explorer returned by :func:`explore`.

    Attributes
    ----------
    html : str
        The whole page: one self-contained HTML document (every script inlined).
    sweep : SweepResult
        The plain gradient-descent sweep behind the lr slider.
    momentum : SweepResult or None
        The (lr, beta) grid behind the momentum slider and the stability map
        (``None`` when ``betas`` held only 0).
    lrs, betas : numpy.ndarray
        The slider positions (``betas`` is ``[0.]`` for a non-linear model).
    model : str or None
        The non-linear model behind the page (e.g. ``"mlp[20] tanh"``); ``None``
        for the linear model.  Then :attr:`sweep` is a network's ``SweepResult``
        with the sharpness trace of every run.
    """

    html: str = field(repr=False)
    sweep: object = field(repr=False)
    momentum: object = field(repr=False)
    lrs: np.ndarray = field(repr=False)
    betas: np.ndarray = field(repr=False)
    title: str = "gdcore explorer"
    model: str | None = None
    height: int = field(default=1330, repr=False)  # of the page, for the notebook's iframe

    @property
    def nbytes(self) -> int:
        """Size of the page in bytes (UTF-8)."""
        return len(self.html.encode("utf-8"))

    def save(self, path, overwrite=False) -> pathlib.Path:
        """Write the page to ``path`` (UTF-8) and return the path.

        The page is written under a temporary name beside ``path`` and renamed
        into place once complete: a failed or interrupted save leaves whatever
        was at ``path`` untouched.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write, e.g. ``"explorer.html"``.
        overwrite : bool, default False
            Replace ``path`` if it exists.  By default an existing file is
            never replaced.

        Returns
        -------
        pathlib.Path
            ``path``.

        Raises
        ------
        FileExistsError
            ``path`` exists and ``overwrite`` is False (the message names it).
        IsADirectoryError, FileNotFoundError
            ``path`` is a folder, or its folder does not exist.
        OSError
            The page could not be written (the path and the reason).

        Examples
        --------
        >>> import pathlib, tempfile, gdcore
        >>> X, y = gdcore.make_linear(n=30, seed=0)
        >>> ex = gdcore.explore(X, y, epochs=5, betas=[0], lrs=[0.1, 0.5])
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "explorer.html"
        >>> ex.save(path) == path
        True
        >>> ex.save(path)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        FileExistsError: .../explorer.html already exists; pass overwrite=True to replace it
        >>> ex.save(path, overwrite=True) == path
        True
        """
        path = pathlib.Path(path)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder; pass a file name such as {path / 'explorer.html'}")
        if not path.parent.is_dir():
            raise FileNotFoundError(f"the folder {path.parent} does not exist; create it or save "
                                    "the page somewhere else")
        return write_atomic(path, lambda tmp: tmp.write_text(self.html, encoding="utf-8"),
                            overwrite=overwrite)

    def _repr_html_(self) -> str:
        # An iframe keeps the page's scripts and styles apart from the notebook's.
        return (f'<iframe title="{html.escape(self.title)}" srcdoc="{html.escape(self.html, quote=True)}" '
                f'style="width: 100%; min-width: 1010px; height: {self.height}px; border: 0;"></iframe>')

    def __repr__(self) -> str:
        if self.model is not None:
            return (f"Explorer({len(self.lrs)} learning rates, {self.model}, {self.sweep.epochs} epochs, "
                    f"{self.nbytes / 1e6:.1f} MB page)")
        mom = "momentum" if len(self.betas) == 1 else "momentums"
        return (f"Explorer({len(self.lrs)} learning rates x {len(self.betas)} {mom}, "
                f"{self.sweep.epochs} epochs, {self.nbytes / 1e6:.1f} MB page)")


def _names(X, y, prep, feature_names, target_name):
    """The column names and the target's name (from pandas when not given), checked against the data."""
    from gdcore._compat import library_of

    if prep.backend.validates_in_factor():
        raise ValueError("the explorer runs on data in memory; pass numpy arrays (X.compute()) "
                         "instead of dask arrays.")
    if prep.Y.shape[1] != 1:
        raise ValueError(f"the explorer shows one target, but y has {prep.Y.shape[1]} columns; "
                         "pass one of them, e.g. y[:, 0].")
    if feature_names is None and library_of(X) == "pandas" and hasattr(X, "columns"):
        feature_names = [str(c) for c in X.columns]
    if target_name is None and hasattr(y, "name") and isinstance(y.name, str):
        target_name = y.name
    d = prep.X.shape[1]
    if feature_names is None:
        feature_names = [f"x{i}" for i in range(d)]
    feature_names = [str(f) for f in feature_names]
    if len(feature_names) != d:
        raise ValueError(f"feature_names has {len(feature_names)} names but X has {d} columns; "
                         "give one name per column.")
    return feature_names, target_name


def _default_lrs(stab, k=41) -> np.ndarray:
    """Geometric from lr_crit/30 to 2.2 lr_crit, with lr_opt itself on the grid."""
    lrs = np.geomspace(stab.lr_crit / 30, 2.2 * stab.lr_crit, k)
    lrs[int(np.argmin(np.abs(np.log(lrs / stab.lr_opt))))] = stab.lr_opt
    return lrs


def _predicted_components(c0, lam, lrs, betas, epochs):
    """Error along each eigen-direction, (R, epochs + 1, s): heavy ball's exact trajectory."""
    from gdcore import analysis, core

    table = np.broadcast_to(np.asarray(lrs, dtype=np.float64)[:, None], (len(lrs), epochs))
    return analysis.simulate(core.Momentum(np.asarray(betas, dtype=np.float64)), lam, table, epochs,
                             e0=c0)


def _contraction(lam, lrs, betas):
    """Heavy ball's contraction per epoch along each eigen-direction, (R, s): the spectral radius."""
    from gdcore import analysis, core

    return analysis.spectral_radius(core.Momentum(np.asarray(betas, dtype=np.float64)), lam, lrs,
                                    per_direction=True)


def explore(X, y, *, lrs=None, betas=None, epochs=None, standardize=False, backend=None,
            w0=None, rtol=1e-3, feature_names=None, target_name=None, source=None,
            title="gdcore explorer", model=None, sharpness_every=None) -> Explorer:
    """The learning-rate study as one interactive, self-contained HTML page.

    Trains every learning rate of ``lrs`` in one vectorised :func:`gdcore.sweep`
    and every (lr, beta) pair of ``lrs x betas`` in a second one (heavy-ball
    momentum), computes the closed-form prediction of each run, and builds a
    Bokeh page whose sliders switch between those precomputed runs.  The views:

    * the loss gap ``L - L*`` per epoch, measured and predicted (log scale);
    * the path of the iterates on the loss contours (the weights themselves
      for two columns, the top two eigen-directions of H otherwise);
    * the error along each eigen-direction, measured and predicted, with its
      factor ``|1 - lr lambda_i|`` per epoch;
    * where the lr sits among the regimes (monotone, oscillating, divergent),
      with ``lr_opt`` and ``lr_crit`` marked;
    * the (lr, beta) stability map with the current point on it.

    With ``model=gdcore.models.mlp(...)`` (or any non-linear model
    :func:`gdcore.sweep` accepts) nothing has a closed form, and the page is
    the model's: one vectorised :func:`gdcore.sweep` over K learning rates with
    ``sharpness_every`` set, and an lr slider (labelled in units of
    ``2 / lambda_0`` too) over these views:

    * the loss ``L`` per epoch (log scale; ``L*`` is taken as 0), with the
      convergence level ``rtol L0``;
    * the sharpness (top Hessian eigenvalue, by Lanczos) per epoch against
      the chosen lr's ``2 / lr`` line, with ``lambda_0`` marked: below
      ``2 / lambda_0`` it typically rises to ``2 / lr`` and hovers there
      while the loss keeps falling non-monotonically (the edge of stability);
    * where the lr sits against lambda_0's bracket ``(2 / lambda_0,
      4 / lambda_0)``: every lr's final loss, coloured by its measured label
      (below-edge, above-edge, divergent), and the measured divergence onset.

    The views that need a closed form (predictions, contours,
    eigen-directions, the momentum map) are left out, and the page says so.

    The page needs no server and no network; open it from disk, or display
    the returned object in Jupyter.

    Parameters
    ----------
    X, y
        As in :func:`gdcore.fit`; ``y`` has one target column.
    lrs : sequence of float, optional
        Slider positions.  Default: 41 geometric values from ``lr_crit / 30``
        to ``2.2 lr_crit``, with ``lr_opt`` itself on the grid; for a
        non-linear model, 21 values ``2**(-3.5 ... 1.5) x 2 / lambda_0`` in
        steps of 2**0.25 (``1 / lambda_0``, ``2 / lambda_0`` and ``4 / lambda_0``
        among them).
    betas : sequence of float in [0, 1), optional
        Momentum slider positions (0, plain gradient descent, is always
        added).  Default 0, 0.1, ..., 0.9.  ``betas=[0]`` leaves out the
        momentum slider and the stability map.  Linear model only.
    epochs : int, optional
        Default 100; 3000 for a non-linear model (the sharpness needs about
        a thousand epochs to reach ``2 / lr`` at ``lr = 1 / lambda_0``).
    standardize : bool, default False
        As in :func:`gdcore.fit`: the weights, paths and spectrum are then
        those of the standardized columns.
    backend, w0, rtol
        As in :func:`gdcore.fit` (for an MLP, ``w0`` is its parameter tuple).
    model : optional
        ``None`` or :func:`gdcore.models.linear` for the linear page;
        :func:`gdcore.models.mlp` (or a model of your own, as in
        :func:`gdcore.sweep`) for the non-linear page.
    sharpness_every : int, optional
        Non-linear model only: epochs between two sharpness measurements
        (default ``epochs // 40``, at least 1).  Each costs about 30
        Hessian-vector products per run.
    feature_names : sequence of str, optional
        Names of the columns of ``X`` (default: the columns of a pandas
        DataFrame, else ``x0, x1, ...``).  Shown as text, never as HTML.
    target_name, source : str, optional
        The target's name and where the data came from (a file name), shown
        as text in the page's header.
    title : str
        The page's title.

    Returns
    -------
    Explorer
        ``.save(path)`` writes the page; in Jupyter it displays inline.

    Examples
    --------
    >>> import tempfile, pathlib, gdcore
    >>> X, y = gdcore.make_linear(n=100, seed=0)
    >>> ex = gdcore.explore(X, y, w0=[-1.0, 1.0], epochs=40, betas=[0, 0.5, 0.9])
    >>> ex
    Explorer(41 learning rates x 3 momentums, 40 epochs, ... MB page)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = ex.save(pathlib.Path(tmp) / "explorer.html")
    ...     page = path.read_text(encoding="utf-8")
    >>> page.startswith("<!DOCTYPE html>"), "<script src=" in page   # every script inline
    (True, False)

    A small tanh MLP: the sharpness against ``2 / lr`` per learning rate.

    >>> import numpy as np
    >>> x = np.linspace(-1, 1, 40)[:, None]
    >>> ex = gdcore.explore(x, np.sin(3 * x[:, 0]), model=gdcore.models.mlp((8,)), epochs=200,
    ...                     sharpness_every=20)
    >>> ex
    Explorer(21 learning rates, mlp[8] tanh, 200 epochs, ... MB page)
    >>> ex.sweep.sharpness[1].shape                  # every 20 epochs, from epoch 0 to 200
    (21, 11)
    """
    from gdcore import optimizers
    from gdcore._checks import check_betas, check_epochs, check_lrs, check_run_options
    from gdcore.study import RunSpec
    from gdcore.study._engine import execute
    from gdcore.study._pipeline import begin
    from gdcore.study._sweep import sweep_result

    _need_bokeh()
    from gdcore import models as _models

    if model is not None and not isinstance(model, _models.Linear):
        return _explore_model(X, y, model=model, lrs=lrs, betas=betas, epochs=epochs,
                              standardize=standardize, backend=backend, w0=w0, rtol=rtol,
                              feature_names=feature_names, target_name=target_name, source=source,
                              title=title, sharpness_every=sharpness_every)
    if sharpness_every is not None:
        raise ValueError("sharpness_every is for a non-linear model (the linear model's sharpness is "
                         "the constant lambda_max); pass model=gdcore.models.mlp(...) or drop it.")
    epochs = check_epochs(100 if epochs is None else epochs)
    if epochs < 1:
        raise ValueError("epochs must be at least 1 for the explorer (there is nothing to show at 0).")
    check_run_options(epochs, rtol, 1e6, "auto")
    betas = check_betas(betas, DEFAULT_BETAS)
    study = begin(X, y, w0, backend=backend, standardize=standardize)  # the one factor of [X | y]
    prep, quad, stab = study.prep, study.quad, study.curvature
    feature_names, target_name = _names(X, y, prep, feature_names, target_name)
    lrs = _default_lrs(stab) if lrs is None else np.sort(check_lrs(lrs))
    n, d = prep.X.shape
    K, J, E1 = lrs.size, betas.size, epochs + 1
    n_sel = min(d, 6)
    need = K * J * E1 * (4 + 2 * n_sel)
    if need > _MAX_FLOATS:
        raise ValueError(
            f"{K} learning rates x {J} momentums x {epochs} epochs is too much for one page "
            f"({need / 1e6:.0f}M numbers); pass fewer lrs, betas or epochs (e.g. epochs=100, "
            "betas=[0, 0.5, 0.9])."
        )

    # one program per grid: plain gradient descent, then every (lr, beta > 0) pair, weights recorded
    spec = RunSpec(epochs=epochs, rtol=rtol, record_weights=True, method="auto")
    gd = optimizers.gd()
    sw = sweep_result(study, execute(study, lrs, gd, spec), lrs, gd, spec)
    mom = None
    if J > 1:
        mlrs, mbetas = np.repeat(lrs, J - 1), np.tile(betas[1:], K)
        hb = optimizers.momentum(0.0)._replace(beta=mbetas)
        mom = sweep_result(study, execute(study, mlrs, hb, spec), mlrs, hb, spec,
                           grid=(K, J - 1), betas=mbetas)

    # every run as (j, i) -> r = j K + i: plain gradient descent first, then each beta > 0
    run_lr = np.tile(lrs, J)
    run_beta = np.repeat(betas, K)
    loss_star = float(sw.optimum.loss)
    meas = np.empty((J, K, E1))
    pred = np.empty((J, K, E1))
    meas[0], pred[0] = sw.losses, sw.predicted_losses()
    status = [[None] * K for _ in range(J)]
    for i in range(K):
        status[0][i] = (sw.status[i], sw.converged_epoch[i], sw.diverged_epoch[i], sw.predicted_epochs[i])
    hist = np.empty((J, K, E1, d))
    hist[0] = np.transpose(sw.history, (1, 0, 2))
    if mom is not None:
        mm, mp = mom.losses.reshape(K, J - 1, E1), mom.predicted_losses().reshape(K, J - 1, E1)
        meas[1:], pred[1:] = np.transpose(mm, (1, 0, 2)), np.transpose(mp, (1, 0, 2))
        for i in range(K):
            for j in range(1, J):
                q = i * (J - 1) + (j - 1)
                status[j][i] = (mom.status[q], mom.converged_epoch[q], mom.diverged_epoch[q],
                                mom.predicted_epochs[q])
        h = mom.history
        hist[1:] = np.transpose(h.reshape(E1, K, J - 1, d), (2, 1, 0, 3))
    meas, pred = meas.reshape(J * K, E1) - loss_star, pred.reshape(J * K, E1) - loss_star
    hist = hist.reshape(J * K, E1, d)
    hist[~np.isfinite(meas)] = np.nan  # no path after a run stopped

    w_star = quad.w_star[:, 0]
    lam, V = quad.eigenvalues, quad.eigenvectors
    comps = (hist - w_star) @ V  # (R, E1, d) error in the eigenbasis (ascending lambda)
    c0 = V.T @ (study.w0[:, 0] - w_star)
    sel = list(range(d - 1, -1, -1)) if d <= 6 else [d - 1, d - 2, d - 3, 2, 1, 0]
    comp_pred = _predicted_components(c0[sel], lam[sel], run_lr, run_beta, epochs)
    factors = _contraction(lam[sel], run_lr, run_beta)  # (R, s)

    data = LinearPage(
        lrs=lrs, betas=betas, epochs=epochs, rtol=rtol, d=d, n=n, stab=stab, loss_star=loss_star,
        meas=meas, pred=pred, hist=hist, comps=comps[:, :, sel], comp_pred=comp_pred, sel=sel,
        lam=lam, V=V, w_star=w_star, factors=factors, status=status, c0=c0,
        feature_names=feature_names, target_name=target_name, source=source, title=title,
        standardize=bool(standardize), backend=sw.backend, mom=mom,
    )
    from gdcore.explore import _page as _explore_page

    page = _explore_page.build(data)
    return Explorer(page, sw, mom, lrs, betas, title)


# ---------------------------------------------------------------------------
# models non-linear in their weights: measured, not predicted

_MODEL_EPOCHS = 3000
_MODEL_SNAPSHOTS = 40  # sharpness measurements per run by default (epochs // 40 apart)


def default_model_lrs(lr_crit, k=21) -> np.ndarray:
    """``2**(-3.5 ... 1.5) x lr_crit`` in steps of 2**0.25: 1/lambda_0, 2/lambda_0 and 4/lambda_0 on the grid."""
    return lr_crit * 2.0 ** np.linspace(-3.5, 1.5, k)


def _explore_model(X, y, *, model, lrs, betas, epochs, standardize, backend, w0, rtol, feature_names,
                   target_name, source, title, sharpness_every) -> Explorer:
    """:func:`explore` for a non-linear model: one sweep with the sharpness tracked, no closed form."""
    from gdcore import optimizers
    from gdcore._checks import check_epochs, check_lrs, check_run_options
    from gdcore.study import RunSpec
    from gdcore.study._engine import execute
    from gdcore.study._pipeline import begin, check_every, every_epochs
    from gdcore.study._sweep import sweep_result

    if betas is not None and np.any(np.asarray(betas, dtype=np.float64) != 0):
        raise ValueError("the momentum slider and the (lr, beta) map are for the linear model (they "
                         "need its closed form); for a non-linear model drop betas.")
    epochs = check_epochs(_MODEL_EPOCHS if epochs is None else epochs)
    if epochs < 1:
        raise ValueError("epochs must be at least 1 for the explorer (there is nothing to show at 0).")
    check_run_options(epochs, rtol, 1e6, "auto")
    every = max(1, epochs // _MODEL_SNAPSHOTS) if sharpness_every is None else every_epochs(sharpness_every)
    study = begin(X, y, w0, model=model, backend=backend, standardize=standardize)
    prep, curv = study.prep, study.curvature
    feature_names, target_name = _names(X, y, prep, feature_names, target_name)
    n, d = prep.X.shape
    if not (np.isfinite(curv.lambda_max) and curv.lambda_max > 0):
        raise ValueError(f"the sharpness at w0 is {curv.lambda_max:.3g}: there is no edge 2/lambda_0 to "
                         "place learning rates against; pass lrs= and another w0 or model seed.")
    lrs = default_model_lrs(curv.lr_crit) if lrs is None else np.sort(check_lrs(lrs))
    K = lrs.size
    need = K * (epochs + 1 + epochs // every + 1)
    if need > _MAX_FLOATS:
        raise ValueError(
            f"{K} learning rates x {epochs} epochs is too much for one page ({need / 1e6:.0f}M "
            "numbers); pass fewer lrs or epochs (e.g. epochs=2000, 21 lrs)."
        )
    every = check_every(every, study, epochs, K)
    spec = RunSpec(epochs=epochs, rtol=rtol, record_weights=True)
    sw = sweep_result(study, execute(study, lrs, optimizers.gd(), spec), lrs, optimizers.gd(),
                      spec._replace(record_weights=False), every=every)
    data = ModelPage(
        sweep=sw, lrs=lrs, epochs=epochs, rtol=rtol, n=n, d=d, every=int(every),
        feature_names=feature_names, target_name=target_name, source=source, title=title,
        standardize=bool(standardize),
    )
    from gdcore.explore import _page as _explore_page

    page = _explore_page.build_model(data)
    return Explorer(page, sw, None, lrs, np.zeros(1), title, model=sw.model, height=1210)
