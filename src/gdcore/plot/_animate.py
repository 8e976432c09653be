"""An animated GIF of linear-model runs, epoch by epoch (pillow, no ffmpeg)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from gdcore._files import check_target, write_atomic
from gdcore.plot._common import (
    _DATA_COLOR,
    _INIT_COLOR,
    REGIME_COLORS,
    _clip_gap,
    _fmt_lr,
    _fmt_w,
    _gap_limits,
    _host,
    _refuse_model,
    _runs,
    _xy,
)
from gdcore.study import FitResult

__all__ = ["animate"]


def animate(X, y, results, path, *, epochs=None, fps=6, dpi=72, feature=0, output=0,
            hold=1.5, overwrite=False):
    """Write an animated GIF: each run's fitted line and loss curve, epoch by epoch.

    One column per run (side by side): the data with the prediction of the
    current epoch on top, the loss gap so far below (the closed-form curve
    faint in the background).  A diverged run freezes at its last epoch,
    marked in red.  Frames are rendered by blitting on the Agg canvas and written by pillow
    (no ffmpeg needed).

    Parameters
    ----------
    X : array-like, shape (n, d)
    y : array-like, shape (n,) or (n, m)
    results : gdcore.FitResult or a sequence of them
        Fitted with ``record_weights=True``.
    path : str or os.PathLike
        Where to write the GIF.
    epochs : int, optional
        Animate epochs 0..epochs (default: the longest run), one frame each.
    fps : float, default 6
        Frames per second.
    dpi : float, default 72
        Resolution; the figure is 3.2 x 5.2 inches per run.
    feature, output : int
        As in :func:`fit`.
    hold : float, default 1.5
        Seconds to hold the last frame before the GIF loops.
    overwrite : bool, default False
        Replace ``path`` if it exists; by default an existing file is never
        replaced (``FileExistsError``, checked before any frame is drawn).
        The GIF is written under a temporary name and renamed into place, so
        a failed or interrupted call leaves the old file as it was.

    Returns
    -------
    matplotlib.figure.Figure
        The figure showing the last frame.

    Examples
    --------
    >>> import os, tempfile, gdcore, gdcore.plot
    >>> X, y = gdcore.make_linear(n=20, seed=0)
    >>> runs = [gdcore.fit(X, y, lr=lr, epochs=4, record_weights=True) for lr in (0.1, 1.01)]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     fig = gdcore.plot.animate(X, y, runs, os.path.join(tmp, "gd.gif"), dpi=30)
    ...     os.path.getsize(os.path.join(tmp, "gd.gif")) > 0
    True
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "gd.gif")
    ...     fig = gdcore.plot.animate(X, y, runs, path, dpi=30)
    ...     gdcore.plot.animate(X, y, runs, path, dpi=30)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    FileExistsError: .../gd.gif already exists; pass overwrite=True to replace it
    """
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        raise ImportError('gdcore.plot.animate needs pillow: pip install "gdcore[plot]"') from None
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    _refuse_model(results, "plot.animate draws a linear model's fitted line",
                  "loss_curves(r) or edge_of_stability(r)")
    Xh, yv = _xy(X, y, feature, output)
    fits = [results] if isinstance(results, FitResult) else list(results)
    if not fits or not all(isinstance(r, FitResult) for r in fits):
        raise TypeError("results must be a gdcore.FitResult or a list of them.")
    for r in fits:
        if r.history is None:
            raise ValueError(f"the run with lr={r.lr:g} has no weight history; fit it with "
                             "record_weights=True to animate it.")
    check_target(path, overwrite=overwrite)
    runs = _runs(fits)
    hists = [_host(r.history) for r in fits]
    hists = [h[:, :, output] if h.ndim == 3 else h for h in hists]
    last = max(len(h) - 1 for h in hists) if epochs is None else int(epochs)
    if last < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}.")
    k_runs = len(fits)
    fig = Figure(figsize=(3.2 * k_runs, 5.4), layout="constrained")
    fig.suptitle("gradient descent epoch by epoch: fitted line (top), loss gap (bottom)",
                 fontsize="medium")
    axes = fig.subplots(2, k_runs, squeeze=False, height_ratios=[1.25, 1])
    floor, top = _gap_limits(runs)
    x = Xh[:, feature]
    order = np.argsort(x)
    span = float(yv.max() - yv.min()) or 1.0
    ylim = (float(yv.min()) - 0.6 * span, float(yv.max()) + 0.6 * span)
    artists = []
    for col, (run, h) in enumerate(zip(runs, hists)):
        color = REGIME_COLORS.get(run.regime, "C3")
        a_fit, a_loss = axes[0, col], axes[1, col]
        a_fit.scatter(x, yv, s=8, color=_DATA_COLOR, alpha=0.6)
        a_fit.plot(x[order], (Xh @ h[0])[order], color=_INIT_COLOR, ls="--", lw=1,
                   label=f"start w={_fmt_w(h[0])}")
        a_fit.legend(loc="lower right", fontsize="x-small", frameon=False)
        line, = a_fit.plot([], [], color=color, lw=2.4)
        a_fit.set_ylim(*ylim)
        a_fit.set_title(f"lr={_fmt_lr(run.lr)} ({run.regime})", fontsize="medium")
        a_fit.set_xlabel(f"x (feature {feature})", fontsize="small")
        if col == 0:
            a_fit.set_ylabel("y")
        a_fit.grid(alpha=0.3)
        text = a_fit.text(0.03, 0.95, "", transform=a_fit.transAxes, va="top", fontsize="small",
                          family="monospace")
        if run.predicted is not None:  # mini-batch SGD: no closed-form curve
            kp = np.arange(min(len(run.predicted), last + 1))
            a_loss.plot(kp, _clip_gap(run.predicted[: len(kp)] - run.loss_star, floor),
                        color=color, lw=1, ls="--", alpha=0.4)
        curve, = a_loss.plot([], [], color=color, lw=2)
        dot, = a_loss.plot([], [], marker="o", color=color, ms=5, ls="none")
        a_loss.axhline(run.rtol * run.gap0, color="0.3", lw=0.7, ls=":")
        a_loss.set_yscale("log")
        a_loss.set_ylim(floor / 3, top)
        a_loss.set_xlim(-0.5, last + 0.5)
        a_loss.set_xlabel("epoch", fontsize="small")
        if col == 0:
            a_loss.set_ylabel("loss gap L - L*")
        a_loss.grid(alpha=0.3)
        artists.append((run, h, line, text, curve, dot))

    def draw(k):
        for run, h, line, text, curve, dot in artists:
            kk = min(k, len(h) - 1)
            line.set_data(x[order], (Xh @ h[kk])[order])
            gap = _clip_gap(run.losses[: kk + 1] - run.loss_star, floor)
            curve.set_data(np.arange(kk + 1), gap)
            dot.set_data([kk], [gap[kk]])
            msg = f"epoch {kk:3d}\nMSE {run.losses[kk]:.4g}"
            if run.diverged_epoch is not None and k >= run.diverged_epoch:
                msg += f"\nDIVERGED at epoch {run.diverged_epoch}"
                text.set_color(REGIME_COLORS["divergent"])
            elif run.converged_epoch is not None and k >= run.converged_epoch:
                msg += f"\nconverged at epoch {run.converged_epoch}"
                text.set_color("#1b7837")
            else:
                text.set_color("k")
            text.set_text(msg)

    # Blitting: draw everything static once, then per frame only the moving artists.
    moving = [a for _, _, *arts in artists for a in arts]
    for a in moving:
        a.set_animated(True)
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.draw()  # lays out once (constrained layout) and renders the background
    fig.set_layout_engine("none")
    background = canvas.copy_from_bbox(fig.bbox)
    frames = []
    for k in range(last + 1):
        draw(k)
        canvas.restore_region(background)
        for a in moving:
            fig.draw_artist(a)
        w, h = canvas.get_width_height()
        frames.append(Image.frombuffer("RGBA", (w, h), bytes(canvas.buffer_rgba())).convert("RGB"))
    # One palette for every frame (from the last, fullest one) keeps the file small.
    palette = frames[-1].quantize(colors=96, method=Image.Quantize.MEDIANCUT)
    frames = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    ms = max(20, round(1000 / fps))
    durations = [ms] * len(frames)
    durations[-1] = ms + round(1000 * hold)
    write_atomic(path, lambda tmp: frames[0].save(tmp, save_all=True, append_images=frames[1:],
                                                  duration=durations, loop=0, optimize=False,
                                                  disposal=1),
                 overwrite=overwrite)
    for a in moving:
        a.set_animated(False)
    return fig
