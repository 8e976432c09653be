"""Each optimizer declares its edge of stability, and fit/sweep track the sharpness it refers to.

The edges are checked against the analysis' own stability limit (bisection on
the spectral radius of the optimizer's transition); Adam's tracked
preconditioned sharpness against a dense computation that shares nothing with
the tracking but the loss: torch's Hessian, torch.optim.Adam's state, numpy's
eigvalsh.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import require

import gdcore
from gdcore import analysis, core, optimizers, schedules
from gdcore.study import _pipeline

LAMS = (0.5, 4.0, 37.0)


def _data(n=30):
    # random points: on a symmetric grid the odd target leaves gradients at rounding level, whose
    # sign Adam's first steps amplify, and two exact implementations part at 1e-5
    x = np.sort(np.random.default_rng(0).uniform(-1, 1, n))[:, None]
    return x, np.sin(3 * x[:, 0])


# -- the edges against the analysis' stability limits -------------------------------------------

@pytest.mark.parametrize("lam", LAMS)
@pytest.mark.parametrize("opt", [optimizers.gd(), optimizers.momentum(0.5), optimizers.momentum(0.9),
                                 optimizers.momentum(0.5, nesterov=True),
                                 optimizers.momentum(0.9, nesterov=True)])
def test_linear_optimizers_edge_is_the_transition_stability_limit(opt, lam):
    lr = float(analysis.lr_edge(lam, opt))  # the largest lr whose transition has spectral radius < 1
    assert opt.edge(lr) == pytest.approx(lam, rel=1e-9)
    assert np.all(analysis.spectral_radius(opt, np.array([lam]), np.array([0.999 * lr])) < 1)
    assert np.all(analysis.spectral_radius(opt, np.array([lam]), np.array([1.001 * lr])) > 1)


@pytest.mark.parametrize("b1", [0.0, 0.5, 0.9])
@pytest.mark.parametrize("lam", LAMS)
def test_adam_edge_is_heavy_ball_with_step_one_minus_b1_lr(b1, lam):
    # with D frozen, Adam's m = b1 m + (1 - b1) g, step -lr D m is heavy ball (beta = b1) of lr (1 - b1)
    lr_hb = float(analysis.lr_edge(lam, optimizers.momentum(b1)))
    assert optimizers.adam(b1=b1).edge(lr_hb / (1 - b1)) == pytest.approx(lam, rel=1e-9)
    assert optimizers.adam().edge(1.0) == pytest.approx(38.0)


def test_only_adam_has_a_preconditioner():
    xp = gdcore.backends.get("numpy").xp
    W = xp.ones((3, 2))
    for opt in (optimizers.gd(), optimizers.momentum(0.9), optimizers.momentum(0.9, nesterov=True)):
        assert opt.precondition(opt.update(W, opt.init(W, xp), 0.1, xp)[1], xp) is None
    adam = optimizers.adam()
    g = xp.asarray([[1.0, 2.0], [3.0, 0.5], [0.0, 1.0]])
    D = adam.precondition(adam.update(g, adam.init(g, xp), 0.1, xp)[1], xp)
    np.testing.assert_allclose(D, 1 / (np.abs(np.asarray(g)) + 1e-8), rtol=1e-12)


# -- Adam's tracked preconditioned sharpness against a dense computation ------------------------

def _torch_reference(study, epochs, lr, snap):
    """``W_snap`` and the dense preconditioned sharpness there, by torch.optim.Adam and autograd."""
    import torch
    from array_api_compat import torch as xt

    spec = study.bound.core
    X = torch.tensor(np.asarray(study.prep.X), dtype=torch.float64)
    Y = torch.tensor(np.asarray(study.prep.Y), dtype=torch.float64)

    def loss(w):
        return spec.loss(X, Y, w.reshape(-1, 1), xt)[0]

    w = torch.tensor(study.w0[:, 0], dtype=torch.float64, requires_grad=True)
    adam = torch.optim.Adam([w], lr=lr, betas=(0.9, 0.999), eps=1e-8)
    for e in range(snap + 1):
        if e == snap:
            W_snap = w.detach().clone()
        adam.zero_grad()
        loss(w).backward()
        adam.step()  # the step from W_snap: its state is the preconditioner the edge refers to
    st = adam.state[w]
    t = float(st["step"])
    D = 1.0 / ((st["exp_avg_sq"] / (1 - 0.999**t)).sqrt() + 1e-8)
    H = torch.autograd.functional.hessian(loss, W_snap).numpy()
    s = np.sqrt(D.numpy())
    return W_snap.numpy(), float(np.linalg.eigvalsh(s[:, None] * H * s[None, :])[-1])


def test_adam_tracked_sharpness_is_the_dense_preconditioned_sharpness():
    require("torch")
    x, y = _data()
    m = gdcore.models.mlp((6,))  # 25 parameters: 30 Lanczos steps are exact
    lr, epochs, every = 0.01, 40, 10
    r = gdcore.fit(x, y, lr=lr, epochs=epochs, model=m, optimizer=optimizers.adam(),
                   sharpness_every=every, record_weights=True, dtype="float64")
    study = _pipeline.begin(x, y, model=m, dtype="float64")
    assert r.sharpness[0].tolist() == [0, 10, 20, 30, 40]
    for j, snap in [(1, 10), (3, 30)]:
        W_snap, top = _torch_reference(study, epochs, lr, snap)
        np.testing.assert_allclose(np.concatenate([np.ravel(p) for p in r.history[snap]]),
                                   W_snap, rtol=0, atol=1e-10)
        assert r.sharpness[1][j] == pytest.approx(top, rel=1e-8)
    # it is not the Hessian's own sharpness
    plain = _pipeline.sharpness(study, study.w0)[0][0]
    assert not np.isclose(r.sharpness[1][0], plain, rtol=1e-2)
    np.testing.assert_allclose(r.edge, np.full(5, 38 / lr), rtol=1e-12)


def test_adam_tracked_sharpness_is_the_same_in_a_sweep():
    x, y = _data()
    m, adam = gdcore.models.mlp((6,)), optimizers.adam()
    s = gdcore.sweep(x, y, lrs=[0.003, 0.01], epochs=30, model=m, optimizer=adam, sharpness_every=10,
                     dtype="float64")
    r = gdcore.fit(x, y, lr=0.01, epochs=30, model=m, optimizer=adam, sharpness_every=10,
                   dtype="float64")
    np.testing.assert_allclose(s.sharpness[1][1], r.sharpness[1], rtol=1e-8)
    np.testing.assert_allclose(s.edge, (38 / np.array([0.003, 0.01]))[:, None] * np.ones((1, 4)),
                               rtol=1e-12)
    d = s.to_dict()["runs"][1]
    assert d["edge"] == pytest.approx([3800.0] * 4) and d["sharpness"]["epochs"] == [0, 10, 20, 30]


# -- gradient descent and momentum: the Hessian's own sharpness ----------------------------------

def test_gd_and_momentum_track_the_hessian_sharpness():
    require("torch")
    import torch
    from array_api_compat import torch as xt

    x, y = _data()
    m = gdcore.models.mlp((6,))
    study = _pipeline.begin(x, y, model=m, dtype="float64")
    spec = study.bound.core
    X = torch.tensor(np.asarray(study.prep.X), dtype=torch.float64)
    Y = torch.tensor(np.asarray(study.prep.Y), dtype=torch.float64)
    for opt, edge in [(optimizers.gd(), 2 / 0.2), (optimizers.momentum(0.5), 3 / 0.2),
                      (optimizers.momentum(0.5, nesterov=True), 1.5 / 0.2)]:
        r = gdcore.fit(x, y, lr=0.2, epochs=20, model=m, optimizer=opt, sharpness_every=10,
                       record_weights=True, dtype="float64")
        for j, e in enumerate(r.sharpness[0]):
            w = torch.tensor(np.concatenate([np.ravel(p) for p in r.history[e]]))
            H = torch.autograd.functional.hessian(
                lambda w: spec.loss(X, Y, w.reshape(-1, 1), xt)[0], w).numpy()
            assert r.sharpness[1][j] == pytest.approx(np.linalg.eigvalsh(H)[-1], rel=1e-8)
        np.testing.assert_allclose(r.edge, np.full(3, edge), rtol=1e-12)
        assert r.to_dict()["edge"] == pytest.approx([edge] * 3)


def test_the_edge_follows_a_schedule():
    x, y = _data()
    sched = schedules.step(0.2, step_size=10, gamma=0.5)
    r = gdcore.fit(x, y, lr=sched, epochs=30, model=gdcore.models.mlp((6,)), sharpness_every=5,
                   dtype="float64")
    lrs = np.array([sched(min(e, 29)) for e in r.sharpness[0]])
    np.testing.assert_allclose(r.edge, 2 / lrs, rtol=1e-12)
    assert r.edge[0] == pytest.approx(10.0) and r.edge[-1] == pytest.approx(40.0)


def test_no_tracking_no_edge():
    x, y = _data()
    r = gdcore.fit(x, y, lr=0.1, epochs=5, model=gdcore.models.mlp((6,)))
    assert r.sharpness is None and r.edge is None and r.to_dict()["edge"] is None


# -- stability(optimizer=): lambda_0 and the bracket for that optimizer ---------------------------

def test_stability_gives_each_optimizers_lr_crit():
    x, y = _data()
    m = gdcore.models.mlp((6,))
    gd = gdcore.stability(x, y, model=m, dtype="float64")
    for opt in (optimizers.momentum(0.9), optimizers.momentum(0.5, nesterov=True)):
        c = gdcore.stability(x, y, model=m, dtype="float64", optimizer=opt)
        assert c.lambda_max == gd.lambda_max
        assert c.lr_crit == pytest.approx(float(analysis.lr_edge(c.lambda_max, opt)), rel=1e-9)
        assert c.bracket == pytest.approx((c.lr_crit, 2 * c.lr_crit))
        assert c.to_dict()["optimizer"] == opt.name
    assert gd.lr_crit == pytest.approx(2 / gd.lambda_max)
    adam = gdcore.stability(x, y, model=m, dtype="float64", optimizer=optimizers.adam())
    r = gdcore.fit(x, y, lr=0.01, epochs=1, model=m, optimizer=optimizers.adam(), sharpness_every=1,
                   dtype="float64")
    assert adam.lambda_max == pytest.approx(r.sharpness[1][0], rel=1e-10)  # D from the first gradient
    assert adam.lr_crit == pytest.approx(38 / adam.lambda_max)
    assert adam.regime(0.5 * adam.lr_crit) == "below-edge"
    assert adam.regime(1.5 * adam.lr_crit) == "above-edge"


def test_stability_refuses_an_optimizer_for_the_linear_model():
    X, _ = gdcore.make_linear(n=50, seed=0)
    with pytest.raises(ValueError, match="optimizer_regimes"):
        gdcore.stability(X, optimizer=optimizers.adam())


def test_backend_sharpness_with_a_preconditioner():
    b = gdcore.backends.get("numpy")
    X = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    p = core.DataProblem(X, np.ones((3, 1)))  # H = (2/3) diag(1, 4)
    D = np.array([[4.0, 4.0], [0.5, 0.0625]])
    top, _ = b.sharpness(p, np.zeros((2, 2)), D=D)
    np.testing.assert_allclose(top, [max(2 / 3 * 4, 8 / 3 * 0.5), max(2 / 3 * 4, 8 / 3 * 0.0625)],
                               rtol=1e-12)
    with pytest.raises(ValueError, match="D must have the shape of W"):
        b.sharpness(p, np.zeros((2, 2)), D=np.ones((2, 1)))


# -- the figure draws the optimizer's own edge ---------------------------------------------------

def test_edge_of_stability_figure_draws_the_optimizers_edge():
    pytest.importorskip("matplotlib")
    import gdcore.plot

    x, y = _data()
    s = gdcore.sweep(x, y, lrs=[0.003, 0.01], epochs=20, model=gdcore.models.mlp((6,)),
                     optimizer=optimizers.adam(), sharpness_every=10, dtype="float64")
    fig = gdcore.plot.edge_of_stability(s)
    ax = fig.axes[0]
    dashed = sorted({round(float(line.get_ydata()[0]), 6) for line in ax.get_lines()
                     if line.get_linestyle() == "--"})
    assert dashed == [3800.0, round(38 / 0.003, 6)]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(t.startswith("38/lr (adam)") for t in legend)
    assert "preconditioned" in ax.get_ylabel()
    rel = gdcore.plot.edge_of_stability(s, relative=True).axes[0]
    shown = [line.get_ydata() for line in rel.get_lines() if line.get_linestyle() == "-"]
    np.testing.assert_allclose(shown[1], s.sharpness[1][1] / s.edge[1])


def test_adam_tracked_sharpness_is_the_same_on_every_backend(backend):
    x, y = _data()
    m, adam = gdcore.models.mlp((6,)), optimizers.adam()
    ref = gdcore.sweep(x, y, lrs=[0.003, 0.01], epochs=30, model=m, optimizer=adam,
                       sharpness_every=10, dtype="float64")
    s = gdcore.sweep(x, y, lrs=[0.003, 0.01], epochs=30, model=m, optimizer=adam,
                     sharpness_every=10, dtype="float64", backend=backend)
    np.testing.assert_allclose(s.sharpness[1], ref.sharpness[1], rtol=1e-10)
    np.testing.assert_allclose(s.edge, ref.edge, rtol=1e-15)
