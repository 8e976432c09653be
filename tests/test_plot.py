"""gdcore.plot: every picture, from every backend's results, is drawn and not blank."""

from __future__ import annotations

import functools
import subprocess
import sys
import warnings

import numpy as np
import pytest

import gdcore

pytest.importorskip("matplotlib")
PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

import gdcore.plot as gplot  # noqa: E402

LRS = (0.1, 0.7, 1.01)


@functools.lru_cache(maxsize=None)
def _study(backend):
    """Small study on ``backend``: data, three recorded fits, a sweep and a range test."""
    X, y = gdcore.make_linear(n=40, seed=0, backend=backend)
    w0 = [-1.0, 1.0]  # the first guess of the original study (a list goes with any library)
    runs = tuple(gdcore.fit(X, y, lr=lr, epochs=25, backend=backend, w0=w0, record_weights=True)
                 for lr in LRS)
    sw = gdcore.sweep(X, y, np.geomspace(0.05, 1.2, 12), epochs=25, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gdcore.LRFinderWarning)
        lf = gdcore.lr_find(X, y, steps=40, backend=backend)
    return X, y, runs, sw, lf


def assert_picture(path):
    """A non-empty PNG whose pixels are not all one colour."""
    assert path.stat().st_size > 1000
    with Image.open(path) as im:
        assert im.format == "PNG"
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 10, "the picture is (almost) one colour"


PICTURES = {
    "data": lambda X, y, runs, sw, lf: gplot.data(X, y),
    "fit": lambda X, y, runs, sw, lf: gplot.fit(X, y, runs[1]),
    "loss_curves": lambda X, y, runs, sw, lf: gplot.loss_curves(list(runs)),
    "sweep": lambda X, y, runs, sw, lf: gplot.sweep(sw),
    "trajectory": lambda X, y, runs, sw, lf: gplot.trajectory(X, y, list(runs)),
    "lr_find": lambda X, y, runs, sw, lf: gplot.lr_find(lf),
}


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_every_picture_on_every_backend(backend, name, tmp_path):
    from matplotlib.figure import Figure

    fig = PICTURES[name](*_study(backend))
    assert isinstance(fig, Figure)
    assert all(ax.get_title() or ax.get_ylabel() for ax in fig.axes)
    path = tmp_path / f"{name}.png"
    fig.savefig(path, dpi=60)
    assert_picture(path)


NUMPY_ONLY = {  # more ways to call the same functions; the drawing code is shared
    "fit_weights": lambda X, y, runs, sw, lf: gplot.fit(X, y, [-1.0, 1.0], w0=[0.0, 0.0]),
    "loss_curves_sweep": lambda X, y, runs, sw, lf: gplot.loss_curves(sw),
}


@pytest.mark.parametrize("name", sorted(NUMPY_ONLY))
def test_other_ways_to_call(name, tmp_path):
    fig = NUMPY_ONLY[name](*_study("numpy"))
    fig.savefig(tmp_path / "p.png", dpi=60)
    assert_picture(tmp_path / "p.png")


def test_gif_has_several_frames_on_every_backend(backend, tmp_path):
    X, y, runs, _, _ = _study(backend)
    path = tmp_path / "gd.gif"
    fig = gplot.animate(X, y, list(runs), path, epochs=6, dpi=40)
    assert fig.axes
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert im.n_frames == 7  # epochs 0..6
        im.seek(0)
        first = np.asarray(im.convert("RGB"))
        im.seek(im.n_frames - 1)
        last = np.asarray(im.convert("RGB"))
    assert len(np.unique(first.reshape(-1, 3), axis=0)) > 5
    assert (first != last).any(), "the animation does not move"


def test_functions_draw_into_the_given_axes():
    from matplotlib.figure import Figure

    X, y, runs, sw, lf = _study("numpy")
    fig = Figure()
    axes = fig.subplots(2, 3)
    assert gplot.data(X, y, ax=axes[0, 0]) is fig
    assert gplot.fit(X, y, runs[0], ax=axes[0, 1]) is fig
    assert gplot.loss_curves(runs[0], ax=axes[0, 2]) is fig
    assert gplot.sweep(sw, ax=axes[1, 0]) is fig
    assert gplot.trajectory(X, y, runs[1], ax=axes[1, 1]) is fig
    assert gplot.lr_find(lf, ax=axes[1, 2]) is fig


def test_loss_gap_is_clipped_to_a_positive_floor_and_labelled():
    X, y = gdcore.make_linear(n=40, seed=0)
    runs = [gdcore.fit(X, y, lr=lr, epochs=80) for lr in LRS]
    ax = gplot.loss_curves(runs).axes[0]
    for line in ax.get_lines():
        yd = np.asarray(line.get_ydata(), dtype=float)
        yd = yd[np.isfinite(yd)]
        assert (yd > 0).all(), "a log-scale gap must be clipped above zero"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("lr=0.7 (oscillating): converged at epoch" in t for t in labels)
    assert any("lr=1.01 (divergent): diverged at epoch" in t for t in labels)
    assert any("lr=0.1 (monotone)" in t for t in labels)
    # the divergent run is drawn until it was stopped, its prediction beyond
    div = runs[2]
    lengths = {len(line.get_xdata()) for line in ax.get_lines()}
    assert div.epochs_run + 1 in lengths and div.epochs + 1 in lengths


def test_sweep_marks_lr_opt_and_lr_crit():
    _, _, _, sw, _ = _study("numpy")
    ax = gplot.sweep(sw).axes[0]
    xs = {round(float(line.get_xdata()[0]), 9) for line in ax.get_lines() if len(line.get_xdata()) == 2}
    assert round(sw.analysis.lr_opt, 9) in xs and round(sw.analysis.lr_crit, 9) in xs
    assert ax.get_xscale() == "log"


def test_errors_say_what_to_do(tmp_path):
    X, y = gdcore.make_linear(n=20, seed=0)
    r = gdcore.fit(X, y, lr=0.5, epochs=5)
    with pytest.raises(ValueError, match="record_weights=True"):
        gplot.trajectory(X, y, [r])
    with pytest.raises(ValueError, match="record_weights=True"):
        gplot.animate(X, y, [r], tmp_path / "a.gif")
    with pytest.raises(ValueError, match="at least one"):
        gplot.loss_curves([])
    with pytest.raises(TypeError, match="SweepResult"):
        gplot.sweep(r)
    with pytest.raises(TypeError, match="LRFinderResult"):
        gplot.lr_find(r)
    with pytest.raises(ValueError, match="weights must have shape"):
        gplot.fit(X, y, [1.0, 2.0, 3.0])


def test_import_gdcore_and_cli_leave_matplotlib_unimported():
    code = ("import sys, gdcore, gdcore.cli\n"
            "assert 'matplotlib' not in sys.modules\n"
            "import gdcore.plot\n"
            "assert 'matplotlib' in sys.modules and 'matplotlib.pyplot' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_stability_map_on_every_backend(backend, tmp_path):
    X, y = gdcore.make_linear(n=40, seed=0, backend=backend)
    s = gdcore.sweep(X, y, np.linspace(0.1, 3.8, 10), momentums=np.linspace(0.0, 0.9, 6),
                     epochs=80, backend=backend)
    fig = gplot.stability_map(s)
    assert fig.axes[0].get_ylabel() == "momentum beta"
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("stability boundary" in t for t in labels) and any("Polyak" in t for t in labels)
    path = tmp_path / "momentum.png"
    fig.savefig(path, dpi=60)
    assert_picture(path)
    with pytest.raises(TypeError, match="2-D sweep"):
        gplot.stability_map(gdcore.sweep(X, y, [0.1, 0.5], epochs=5, backend=backend))


def test_mini_batch_sgd_results_plot_without_a_prediction(tmp_path):
    """SGD has no closed-form curve: its runs are drawn measured only, never an error."""
    X, y = gdcore.make_linear(n=40, seed=0)
    sgd = gdcore.fit(X, y, lr=0.2, batch_size=10, epochs=20, record_weights=True)
    gd = gdcore.fit(X, y, lr=0.2, epochs=20, record_weights=True)
    sw = gdcore.sweep(X, y, [0.05, 0.2], batch_size=10, epochs=20)
    for predicted in (False, True):
        ax = gplot.loss_curves([sgd, gd], predicted=predicted).axes[0]
        # measured curves for both runs; a dashed prediction only for the full-batch one
        dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        assert len(dashed) == (1 if predicted else 0)
        gplot.loss_curves(sw, predicted=predicted)
        gplot.loss_curves(sgd, predicted=predicted)
    assert gplot.fit(X, y, sgd).axes
    assert gplot.trajectory(X, y, [sgd, gd]).axes
    assert gplot.sweep(sw).axes
    fig = gplot.animate(X, y, [sgd], tmp_path / "sgd.gif", dpi=30)
    assert (tmp_path / "sgd.gif").stat().st_size > 0 and fig.axes
