"""Adam: iterate for iterate against torch.optim.Adam and optax.adam, on every backend."""

import numpy as np
import pytest

import gdcore
from gdcore import optimizers

CASES = [  # (n, d, m, lr, b1, b2, eps, epochs, seed)
    (100, 2, None, 0.1, 0.9, 0.999, 1e-8, 60, 0),
    (80, 4, 3, 0.05, 0.8, 0.99, 1e-6, 40, 1),
    (50, 3, None, 0.5, 0.5, 0.9, 1e-3, 30, 2),
]


def _data(n, d, m, seed):
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.uniform(-1, 1, (n, d - 1)) * np.geomspace(1, 5, d - 1), np.ones((n, 1))])
    W = rng.normal(size=(d,) if m is None else (d, m))
    y = X @ W + 0.1 * rng.normal(size=(n,) if m is None else (n, m))
    w0 = rng.normal(size=W.shape)
    return X, y, w0


def _torch_adam(X, y, w0, lr, b1, b2, eps, epochs):
    """torch.optim.Adam on the full-batch MSE (per-output mean, summed over outputs), float64."""
    torch = pytest.importorskip("torch")
    Xt = torch.tensor(X, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64).reshape(len(X), -1)
    w = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64).reshape(X.shape[1], -1))
    opt = torch.optim.Adam([w], lr=lr, betas=(b1, b2), eps=eps)
    ws, losses = [w.detach().clone().numpy()], []
    for _ in range(epochs):
        opt.zero_grad()
        loss = ((Xt @ w - yt) ** 2).mean(dim=0).sum()
        losses.append(loss.item())
        loss.backward()
        opt.step()
        ws.append(w.detach().clone().numpy())
    losses.append(((Xt @ w - yt) ** 2).mean(dim=0).sum().item())
    shape = (epochs + 1,) + np.shape(w0)
    return np.stack(ws).reshape(shape), np.array(losses)


def _rel(a, b):
    """Largest difference per iterate relative to that iterate's size."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    axes = tuple(range(1, b.ndim))
    return np.max(np.max(np.abs(a - b), axis=axes) / np.max(np.abs(b), axis=axes))


@pytest.mark.parametrize("case", CASES, ids=["seed-like", "multi-output", "large-lr"])
def test_adam_equals_torch_adam_iterate_for_iterate(backend, case):
    n, d, m, lr, b1, b2, eps, epochs, seed = case
    X, y, w0 = _data(n, d, m, seed)
    ref_w, ref_loss = _torch_adam(X, y, w0, lr, b1, b2, eps, epochs)
    r = gdcore.fit(X, y, lr=lr, epochs=epochs, w0=w0, backend=backend, dtype="float64",
                   optimizer=optimizers.adam(b1, b2, eps), record_weights=True)
    assert r.epochs_run == epochs  # Adam's loss may rise: no rise rule, nothing stops it
    assert _rel(np.asarray(r.history), ref_w) <= 1e-10
    np.testing.assert_allclose(r.losses, ref_loss, rtol=1e-10)


@pytest.mark.parametrize("method", ["auto", "direct"])
def test_adam_sweep_rows_equal_torch_adam_per_lr(backend, method):
    n, d, m, _, b1, b2, eps, epochs, seed = CASES[1]
    X, y, w0 = _data(n, d, m, seed)
    lrs = [0.01, 0.05, 0.2, 0.8]
    sw = gdcore.sweep(X, y, lrs, epochs=epochs, w0=w0, backend=backend, dtype="float64",
                      method=method, optimizer=optimizers.adam(b1, b2, eps))
    assert sw.method == ("gram" if method == "auto" else "direct")
    for i, lr in enumerate(lrs):
        ref_w, ref_loss = _torch_adam(X, y, w0, lr, b1, b2, eps, epochs)
        np.testing.assert_allclose(sw.losses[i], ref_loss, rtol=1e-10)
        assert _rel(np.asarray(sw.weights)[i][None], ref_w[-1][None]) <= 1e-10
        one = gdcore.fit(X, y, lr=lr, epochs=epochs, w0=w0, backend=backend, dtype="float64",
                         method=method, optimizer=optimizers.adam(b1, b2, eps))
        np.testing.assert_allclose(sw.losses[i], one.losses, rtol=1e-12)


def test_adam_equals_optax_adam():
    optax = pytest.importorskip("optax")
    import jax
    import jax.numpy as jnp

    n, d, m, lr, b1, b2, eps, epochs, seed = CASES[1]
    X, y, w0 = _data(n, d, m, seed)
    with jax.enable_x64(True):
        Xj, yj = jnp.asarray(X), jnp.asarray(y)
        w = jnp.asarray(w0)
        tx = optax.adam(lr, b1=b1, b2=b2, eps=eps)
        state = tx.init(w)
        ref = [np.asarray(w)]
        for _ in range(epochs):
            g = (2.0 / n) * Xj.T @ (Xj @ w - yj)
            updates, state = tx.update(g, state, w)
            w = optax.apply_updates(w, updates)
            ref.append(np.asarray(w))
    for backend in ("numpy", "jax"):
        r = gdcore.fit(X, y, lr=lr, epochs=epochs, w0=w0, backend=backend, dtype="float64",
                       optimizer=optimizers.adam(b1, b2, eps), record_weights=True)
        assert _rel(np.asarray(r.history), np.stack(ref)) <= 1e-10


def test_adam_float32_keeps_the_dtype_and_tracks_float64(backend):
    X, y = gdcore.make_linear(n=100, seed=0)
    r32 = gdcore.fit(X, y, lr=0.1, epochs=30, backend=backend, dtype="float32",
                     optimizer=optimizers.adam())
    r64 = gdcore.fit(X, y, lr=0.1, epochs=30, backend=backend, dtype="float64",
                     optimizer=optimizers.adam())
    assert r32.dtype == "float32" and "float32" in str(r32.weights.dtype)
    np.testing.assert_allclose(r32.losses, r64.losses, rtol=1e-4)


def test_adam_has_no_prediction_and_says_so():
    X, y = gdcore.make_linear(n=100, seed=0)
    r = gdcore.fit(X, y, lr=0.1, epochs=200, optimizer=optimizers.adam())
    assert r.status == "converged" and r.converged_epoch is not None
    assert r.predicted_epoch is None and r.regime == "adaptive" and not r.predictable
    assert (r.momentum, r.nesterov) == (0.0, False) and r.to_dict()["optimizer"] == "adam"
    with pytest.raises(ValueError, match="adam has no predicted loss curve"):
        r.predicted_losses()
    sw = gdcore.sweep(X, y, [0.01, 0.1, 1.0], optimizer=optimizers.adam())
    assert sw.predicted_epochs == (None, None, None) and set(sw.regime) == {"adaptive"}
    with pytest.raises(ValueError, match="adam has no predicted loss curves"):
        sw.predicted_losses()


def test_adam_loss_may_rise_without_being_called_diverged(backend):
    X, y = gdcore.make_linear(n=100, seed=0)
    w0 = np.linalg.lstsq(X, y, rcond=None)[0] + 0.05  # near w*: Adam's first steps are ~lr long
    r = gdcore.fit(X, y, lr=0.5, epochs=300, w0=w0, backend=backend, dtype="float64",
                   optimizer=optimizers.adam())
    assert np.max(r.losses) > 4 * r.losses[0]  # it overshoots far above L(w0) ...
    assert r.status == "converged"  # ... and converges: the rise rule is plain GD's only
    assert gdcore.fit(X, y, lr=0.5, epochs=300, w0=w0, backend=backend).status == "converged"


def test_plots_draw_no_prediction_for_adam():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from gdcore import plot

    X, y = gdcore.make_linear(n=100, seed=0)

    def dashed(result):
        fig = plot.loss_curves(result)
        n = sum(line.get_linestyle() == "--" for line in fig.axes[0].lines)  # the prediction
        labels = fig.axes[0].get_legend_handles_labels()[1] + [
            t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        plt.close(fig)
        return n, any("prediction" in t for t in labels)

    assert dashed(gdcore.fit(X, y, lr=0.1)) == (1, True)
    assert dashed(gdcore.fit(X, y, lr=0.1, optimizer=optimizers.adam())) == (0, False)


def test_jax_does_not_recompile_for_new_adam_hyperparameters():
    pytest.importorskip("jax")
    from gdcore.backends._jax import trace_count

    X, y = gdcore.make_linear(n=43, seed=7)  # a shape no other test uses
    gdcore.fit(X, y, lr=0.1, backend="jax", epochs=11, optimizer=optimizers.adam())
    before = trace_count()
    for lr, b1, b2, eps in ((0.2, 0.8, 0.99, 1e-6), (0.05, 0.95, 0.9999, 1e-10)):
        gdcore.fit(X, y, lr=lr, backend="jax", epochs=11, optimizer=optimizers.adam(b1, b2, eps))
    assert trace_count() == before


def test_bad_adam_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="b1 must be in"):
        optimizers.adam(b1=1.0)
    with pytest.raises(ValueError, match="b2 must be in"):
        optimizers.adam(b2=-0.1)
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        optimizers.adam(eps=0.0)
    X, y = gdcore.make_linear(seed=0)
    with pytest.raises(ValueError, match="either optimizer= or"):
        gdcore.fit(X, y, lr=0.1, optimizer=optimizers.adam(), nesterov=True)


def test_gdregressor_takes_adam():
    pytest.importorskip("sklearn")
    X, y = gdcore.make_linear(n=100, seed=0)
    est = gdcore.GDRegressor(lr=0.05, epochs=3000, optimizer=optimizers.adam(),
                             fit_intercept=False, standardize=False, rtol=1e-8).fit(X, y)
    assert est.result_.optimizer.name == "adam" and est.result_.status == "converged"
    np.testing.assert_allclose(est.coef_, np.linalg.lstsq(X, y, rcond=None)[0], rtol=1e-3)


@pytest.mark.parametrize("method", ["auto", "direct"])
def test_adam_equals_torch_adam_on_dask(method):
    pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    n, d, m, lr, b1, b2, eps, epochs, seed = CASES[0]
    X, y, w0 = _data(n, d, m, seed)
    ref_w, ref_loss = _torch_adam(X, y, w0, lr, b1, b2, eps, epochs)
    r = gdcore.fit(da.from_array(X, chunks=(25, d)), da.from_array(y, chunks=25), lr=lr,
                   epochs=epochs, w0=w0.tolist(), backend="dask", method=method,
                   optimizer=optimizers.adam(b1, b2, eps), record_weights=True)
    assert r.method == ("gram" if method == "auto" else "direct")
    assert _rel(np.asarray(r.history), ref_w) <= 1e-10
    np.testing.assert_allclose(r.losses, ref_loss, rtol=1e-10)
