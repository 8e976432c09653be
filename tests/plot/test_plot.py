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


@functools.cache
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
    assert round(sw.stability.lr_opt, 9) in xs and round(sw.stability.lr_crit, 9) in xs
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


# ---------------------------------------------------------------------------
# non-linear models: the edge of stability and the sweep with lambda_0's bracket

EOS_X = np.linspace(-1, 1, 50)[:, None]
EOS_Y = np.sin(4 * EOS_X[:, 0])


@functools.cache
def _model_study(backend):
    """A 1-20-1 tanh MLP on sin(4x): lr 0.25 and 0.5 x 2/lambda_0 tracked, and a sweep past 4/lambda_0."""
    m = gdcore.models.mlp((20,), seed=0)
    c = gdcore.stability(EOS_X, EOS_Y, model=m, backend=backend)
    tracked = gdcore.sweep(EOS_X, EOS_Y, [0.25 * c.lr_crit, 0.5 * c.lr_crit], epochs=300, model=m,
                           backend=backend, sharpness_every=10)
    sw = gdcore.sweep(EOS_X, EOS_Y, c.lr_crit * np.geomspace(0.1, 8.0, 12), epochs=300, model=m,
                      backend=backend)
    return c, tracked, sw


def _colour_share(png, rgb, rows=slice(None)):
    """Share of the pixels (in ``rows``) within a few levels of the colour ``rgb``."""
    with Image.open(png) as im:
        pixels = np.asarray(im.convert("RGB"), dtype=int)[rows]
    target = np.round(np.asarray(rgb[:3]) * 255).astype(int)
    return float(np.mean(np.all(np.abs(pixels - target) <= 12, axis=-1)))


def test_edge_of_stability_draws_each_sharpness_with_its_2_over_lr_line(tmp_path):
    from matplotlib.colors import to_rgba

    c, tracked, _ = _model_study("numpy")
    fig = gplot.edge_of_stability(tracked)
    ax_s, ax_l = fig.axes[:2]
    assert ax_s.get_yscale() == "linear" and ax_l.get_yscale() == "log"
    epochs, values = tracked.sharpness
    for i, lr in enumerate(tracked.lrs):
        curve = [ln for ln in ax_s.get_lines() if len(ln.get_xdata()) == len(epochs)][i]
        np.testing.assert_array_equal(curve.get_ydata(), values[i])
        # its 2/lr line: dashed, horizontal, in the same colour
        edges = [ln for ln in ax_s.get_lines() if ln.get_linestyle() == "--"
                 and to_rgba(ln.get_color()) == to_rgba(curve.get_color())]
        assert len(edges) == 1 and np.allclose(edges[0].get_ydata(), 2.0 / lr)
        # the loss below, in the same colour, every epoch
        loss = [ln for ln in ax_l.get_lines() if len(ln.get_xdata()) == tracked.epochs + 1][i]
        assert to_rgba(loss.get_color()) == to_rgba(curve.get_color())
        np.testing.assert_allclose(loss.get_ydata(), tracked.losses[i])
    assert values[0, 0] == pytest.approx(c.lambda_max, rel=1e-6)  # both start at lambda_0
    labels = [t.get_text() for t in ax_s.get_legend().get_texts()]
    assert any("0.25 × 2/λ0" in t for t in labels) and any("0.5 × 2/λ0" in t for t in labels)
    path = tmp_path / "eos.png"
    fig.savefig(path, dpi=fig.dpi)  # at the figure's dpi the axes' extents are pixel rows
    assert_picture(path)
    with Image.open(path) as im:
        h = im.size[1]
    for ax in (ax_s, ax_l):  # each run's colour inside the sharpness panel and the loss panel
        box = ax.get_window_extent()
        rows = slice(int(h - box.y1), int(h - box.y0))
        for i in range(2):
            assert _colour_share(path, to_rgba(f"C{i}"), rows) > 5e-4, (ax.get_ylabel(), i)


def test_edge_of_stability_relative_puts_every_edge_at_one():
    _, tracked, _ = _model_study("numpy")
    ax = gplot.edge_of_stability(tracked, relative=True).axes[0]
    epochs, values = tracked.sharpness
    curves = [ln for ln in ax.get_lines() if len(ln.get_xdata()) == len(epochs)]
    for curve, lr, v in zip(curves, tracked.lrs, values):
        np.testing.assert_allclose(curve.get_ydata(), v * lr / 2)
        assert curve.get_ydata()[0] == pytest.approx(lr / tracked.stability.lr_crit, rel=1e-6)
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and np.allclose(dashed[0].get_ydata(), 1.0)


def test_edge_of_stability_takes_a_list_of_fits_and_refuses_what_it_cannot_draw():
    m = gdcore.models.mlp((8,), seed=0)
    fits = [gdcore.fit(EOS_X, EOS_Y, lr=lr, epochs=40, model=m, sharpness_every=5)
            for lr in (0.05, 0.1)]
    fig = gplot.edge_of_stability(fits)
    assert len([ln for ln in fig.axes[0].get_lines() if ln.get_linestyle() == "--"]) == 2
    from matplotlib.figure import Figure

    mine = Figure()
    axes = mine.subplots(1, 2)
    assert gplot.edge_of_stability(fits[0], axes=axes) is mine
    with pytest.raises(ValueError, match="sharpness_every"):
        gplot.edge_of_stability(gdcore.fit(EOS_X, EOS_Y, lr=0.1, epochs=5, model=m))
    X, y = gdcore.make_linear(n=20, seed=0)
    with pytest.raises(TypeError, match="non-linear model"):
        gplot.edge_of_stability(gdcore.fit(X, y, lr=0.5, epochs=5))
    with pytest.raises(ValueError, match="at least one"):
        gplot.edge_of_stability([])


def test_model_sweep_shades_lambda0s_bracket_and_marks_the_measured_onset(tmp_path):
    c, _, sw = _model_study("numpy")
    assert sw.divergence_onset is not None  # 8 x 2/lambda_0 diverges in 300 epochs
    fig = gplot.model_sweep(sw)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    vertical = {round(float(ln.get_xdata()[0]), 9) for ln in ax.get_lines()
                if len(ln.get_xdata()) == 2 and ln.get_xdata()[0] == ln.get_xdata()[1]}
    lo, hi = c.bracket
    assert {round(lo, 9), round(hi, 9), round(sw.divergence_onset, 9)} <= vertical
    # the bracket is a shaded span from 2/lambda_0 to 4/lambda_0
    spans = [p.get_x() for p in ax.patches] + [p.get_x() + p.get_width() for p in ax.patches]
    assert any(np.isclose(v, lo) for v in spans) and any(np.isclose(v, hi) for v in spans)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("measured divergence onset") and f"{sw.onset_over_lr_crit:.2f} × 2/λ0" in t
               for t in labels)
    assert any("diverged within 300 epochs" in t for t in labels)
    # gplot.sweep hands a model's sweep over instead of failing on a missing closed form
    assert gplot.sweep(sw).axes[0].get_ylabel() == ax.get_ylabel()
    path = tmp_path / "model_sweep.png"
    fig.savefig(path, dpi=60)
    assert_picture(path)
    with pytest.raises(TypeError, match="gdcore.plot.sweep"):
        gplot.model_sweep(_study("numpy")[3])


def test_model_pictures_on_every_backend(backend, tmp_path):
    m = gdcore.models.mlp((6,), seed=0)
    x, y = EOS_X[::3], EOS_Y[::3]
    tracked = gdcore.sweep(x, y, [0.05, 0.2], epochs=20, model=m, backend=backend, sharpness_every=5)
    sw = gdcore.sweep(x, y, np.geomspace(0.05, 5.0, 6), epochs=20, model=m, backend=backend)
    for name, fig in (("eos", gplot.edge_of_stability(tracked)), ("sweep", gplot.model_sweep(sw)),
                      ("loss", gplot.loss_curves(sw))):
        fig.savefig(tmp_path / f"{name}.png", dpi=50)
        assert_picture(tmp_path / f"{name}.png")


def test_linear_only_pictures_refuse_model_results_clearly(tmp_path):
    _, tracked, sw = _model_study("numpy")
    fit = gdcore.fit(EOS_X, EOS_Y, lr=0.1, epochs=10, model=gdcore.models.mlp((20,), seed=0))
    for call, instead in [(lambda: gplot.fit(EOS_X, EOS_Y, fit), "loss_curves"),
                          (lambda: gplot.trajectory(EOS_X, EOS_Y, [fit]), "edge_of_stability"),
                          (lambda: gplot.animate(EOS_X, EOS_Y, [fit], tmp_path / "a.gif"),
                           "loss_curves"),
                          (lambda: gplot.stability_map(sw), "model_sweep")]:
        with pytest.raises(TypeError, match=f"non-linear model .*gdcore.plot.{instead}"):
            call()


def test_loss_curves_and_lr_find_draw_a_model_without_a_closed_form():
    c, tracked, _ = _model_study("numpy")
    ax = gplot.loss_curves(tracked).axes[0]
    assert ax.get_ylabel().startswith("loss  L") and "no closed form" in ax.get_title()
    assert not [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]  # nothing predicted
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("(below-edge)" in t for t in labels)
    assert ax.get_ylim()[0] > 1e-12  # the range follows the losses, not a rounding floor
    m = gdcore.models.mlp((20,), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gdcore.LRFinderWarning)
        lf = gdcore.lr_find(EOS_X, EOS_Y, model=m, steps=60)
    ax = gplot.lr_find(lf).axes[0]
    xs = {round(float(ln.get_xdata()[0]), 9) for ln in ax.get_lines() if len(ln.get_xdata()) == 2}
    assert {round(c.bracket[0], 9), round(c.bracket[1], 9)} <= xs
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("2/λ0" in t and "(suggestion)" in t for t in labels)
    assert not any("lr_opt" in t for t in labels)
