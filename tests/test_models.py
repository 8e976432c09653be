"""Models non-linear in their weights (issue 13): backprop, backends, batching, divergence, user models.

Float64 throughout unless said: the properties are about the arithmetic, not
float32 rounding.  Above the edge of stability trajectories are chaotic, so
runs are compared on statuses and early epochs, never late trajectories
(docs/definitions.md, "Models non-linear in their weights").
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gdcore
from gdcore import backends
from gdcore.core import MLPSpec

from conftest import require

EXAMPLES = 25


def _xp(name):
    require(name)
    return backends.get(name)


def _wave(n=100, k=8.0):
    x = np.linspace(-1.0, 1.0, n)[:, None]
    return x, np.sin(k * x[:, 0])


@st.composite
def nets(draw):
    d = draw(st.integers(1, 4))
    hidden = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=2)))
    m = draw(st.integers(1, 3))
    k = draw(st.integers(1, 3))
    n = draw(st.integers(1, 9))
    act = draw(st.sampled_from(["tanh", "relu"]))
    seed = draw(st.integers(0, 2**31 - 1))
    return MLPSpec((d, *hidden, m), act), n, k, seed


@pytest.mark.parametrize("autograd", ["torch", "jax"])
@settings(max_examples=EXAMPLES)
@given(net=nets())
def test_backprop_equals_autograd(autograd, net):
    """The hand-written backpropagation of numpy/strict equals torch's autograd and jax.grad."""
    spec, n, k, seed = net
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, spec.widths[0]))
    Y = rng.normal(size=(n, spec.widths[-1]))
    W = rng.normal(size=(spec.size, k))
    np_be = backends.get("numpy")
    loss, grad = spec.value_and_grad(X, Y, W, np_be.xp)
    be = _xp(autograd)
    with be.context("float64"):
        args = [be.asarray(a, "float64", None) for a in (X, Y)]
        from gdcore.core import ModelProblem

        p = ModelProblem(args[0], args[1], spec)
        l2, g2 = be.value_and_grad(p)(be.asarray(W, "float64", None))
        l2, g2 = be.to_numpy(l2), be.to_numpy(g2)
    scale = max(1.0, float(np.abs(grad).max()))
    np.testing.assert_allclose(l2, loss, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g2, grad, rtol=0, atol=1e-11 * scale)


def test_backprop_matches_central_differences():
    """An independent check of the analytic gradient that uses neither autograd nor backprop."""
    spec = MLPSpec((2, 5, 3, 2), "tanh")
    rng = np.random.default_rng(3)
    X, Y, W = rng.normal(size=(6, 2)), rng.normal(size=(6, 2)), rng.normal(size=(spec.size, 1))
    xp = backends.get("numpy").xp
    _, g = spec.value_and_grad(X, Y, W, xp)
    fd = np.empty(spec.size)
    h = 1e-6
    for i in range(spec.size):
        e = np.zeros((spec.size, 1))
        e[i] = h
        fd[i] = (spec.loss(X, Y, W + e, xp)[0] - spec.loss(X, Y, W - e, xp)[0]) / (2 * h)
    np.testing.assert_allclose(g[:, 0], fd, rtol=0, atol=1e-8)


@pytest.mark.parametrize("frac, agree", [(0.5, 100), (1.5, 50)])
def test_backends_agree_on_the_first_100_losses(backend, frac, agree):
    """float64: every backend's first 100 losses equal numpy's to 1e-8 below the edge.

    Above it (1.5 x 2/lambda_0, a catapult) the run is chaotic: rounding
    differences of 1e-16 grow to 1e-8 by epoch ~75 here (measured, torch vs
    numpy), so only the first 50 epochs and the status are compared.
    """
    x, y = _wave(60, 3.0)
    m = gdcore.models.mlp((30,))
    lr = frac * gdcore.stability(x, y, model=m).lr_crit
    ref = gdcore.fit(x, y, lr=lr, epochs=100, model=m)
    r = gdcore.fit(x, y, lr=lr, epochs=100, model=m, backend=backend, dtype="float64")
    np.testing.assert_allclose(r.losses[:agree + 1], ref.losses[:agree + 1], rtol=1e-8)
    assert r.status == ref.status


def test_a_sweep_is_the_loop_of_fits(backend):
    """K lrs in one program give each lr's own fit: statuses, onset epochs, early losses."""
    x, y = _wave(40, 3.0)
    m = gdcore.models.mlp((16,), seed=2)
    c = gdcore.stability(x, y, model=m, backend=backend, dtype="float64")
    lrs = c.lr_crit * np.array([0.3, 0.9, 1.5, 3.0, 6.0, 12.0])
    s = gdcore.sweep(x, y, lrs, epochs=300, model=m, backend=backend, dtype="float64")
    assert s.horizon == 300
    for i, lr in enumerate(lrs):
        r = gdcore.fit(x, y, lr=lr, epochs=300, model=m, backend=backend, dtype="float64")
        assert s.status[i] == r.status, (lr / c.lr_crit, s.status[i], r.status)
        assert s.diverged_epoch[i] == r.diverged_epoch
        early = min(50, len(r.losses))  # a diverged fit's losses end at its diverged epoch
        np.testing.assert_allclose(s.losses[i, :early], r.losses[:early], rtol=1e-9)
    assert "diverged" in s.status and s.status[0] != "diverged"
    assert s.divergence_onset == min(lr for lr, st_ in zip(lrs, s.status) if st_ == "diverged")


def test_a_loss_above_L0_is_not_divergence_on_a_moving_hessian():
    """At lr = 0.5 * 2/lambda_0 on a 1-20-1 tanh net the loss climbs far above L0 and comes back.

    The linear model's rule ("a rise above L0 proves divergence") would stop
    this run; for a non-linear model only non-finite or > divergence_factor * L0 counts.
    """
    x, y = _wave(100, 8.0)
    m = gdcore.models.mlp((20,), seed=0)
    lr = 0.5 * gdcore.stability(x, y, model=m).lr_crit
    r = gdcore.fit(x, y, lr=lr, epochs=3000, model=m)
    assert r.status != "diverged"
    peak = int(np.argmax(r.losses))
    assert r.losses[peak] > 5 * r.losses[0]  # the spike
    assert np.min(r.losses[peak:]) < 0.5 * r.losses[0]  # and comes back below L0: it learns
    assert r.regime == "below-edge"


def test_divergence_is_non_finite_or_above_the_factor(backend):
    x, y = _wave(40, 3.0)
    m = gdcore.models.mlp((16,))
    lr = 20 * gdcore.stability(x, y, model=m).lr_crit
    r = gdcore.fit(x, y, lr=lr, epochs=500, model=m, backend=backend, dtype="float64",
                   divergence_factor=1e3)
    assert r.status == "diverged" and r.regime == "above-edge"
    e = r.diverged_epoch
    assert not np.isfinite(r.losses[e]) or r.losses[e] > 1e3 * r.losses[0]
    assert np.all(r.losses[:e] <= 1e3 * r.losses[0])


def test_convergence_is_relative_to_an_exact_fit():
    """L* is 0 for a model: converged at the first epoch with L <= rtol * L0."""
    x, y = _wave(30, 1.0)
    m = gdcore.models.mlp((8,), seed=1)
    r = gdcore.fit(x, y, lr=0.5 * gdcore.stability(x, y, model=m).lr_crit, epochs=4000,
                   model=m, rtol=0.05, stop_on_convergence=True)
    assert r.status == "converged"
    e = r.converged_epoch
    assert r.losses[e] <= 0.05 * r.losses[0] < r.losses[e - 1]
    assert len(r.losses) == e + 1


def test_default_initialisation_is_documented_and_seeded():
    W1, b1, W2, b2 = gdcore.models.mlp((500,), seed=7).init(d=3, m=2)
    assert W1.shape == (3, 500) and W2.shape == (500, 2) and not b1.any() and not b2.any()
    assert abs(W1.std() - 1 / np.sqrt(3)) < 0.03 and abs(W2.std() - 1 / np.sqrt(500)) < 0.003
    again = gdcore.models.mlp((500,), seed=7).init(d=3, m=2)
    assert all(np.array_equal(a, b) for a, b in zip((W1, b1, W2, b2), again))


def test_w0_is_the_parameter_tuple_and_is_not_modified(backend):
    x, y = _wave(20, 2.0)
    m = gdcore.models.mlp((4,))
    w0 = tuple(np.array(p) for p in m.init(1, 1))
    keep = tuple(p.copy() for p in w0)
    r = gdcore.fit(x, y, lr=0.1, epochs=5, model=m, w0=w0, backend=backend, dtype="float64")
    ref = gdcore.fit(x, y, lr=0.1, epochs=5, model=m)
    assert all(np.array_equal(a, b) for a, b in zip(w0, keep))
    assert [tuple(w.shape) for w in r.weights] == [(1, 4), (4,), (4, 1), (1,)]
    np.testing.assert_allclose(r.losses, ref.losses, rtol=1e-12)


def test_multi_output_targets():
    x, y = _wave(30, 2.0)
    Y = np.stack([y, np.cos(2 * x[:, 0])], axis=1)
    m = gdcore.models.mlp((8,))
    r = gdcore.fit(x, Y, lr=0.05, epochs=20, model=m)
    assert r.weights[2].shape == (8, 2)
    W1, b1, W2, b2 = r.weights
    pred = np.tanh(x @ W1 + b1) @ W2 + b2
    # the loss is the definition's (per-output MSE summed), at the final weights and at w0
    assert np.isclose(np.mean(np.sum((pred - Y) ** 2, axis=1)), r.losses[-1], rtol=1e-12)
    W1, b1, W2, b2 = m.init(1, 2)
    L0 = np.sum((np.tanh(x @ W1 + b1) @ W2 + b2 - Y) ** 2) / len(x)
    assert np.isclose(r.losses[0], L0, rtol=1e-12)


def test_a_torch_module_is_trained_functionally():
    require("torch")
    import torch

    x, y = _wave(40, 3.0)
    m = gdcore.models.mlp((8,), seed=4)
    W1, b1, W2, b2 = m.init(1, 1)
    net = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor(W1.T))
        net[0].bias.zero_()
        net[2].weight.copy_(torch.tensor(W2.T))
        net[2].bias.zero_()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    ref = gdcore.fit(x, y, lr=0.2, epochs=60, model=m)
    r = gdcore.fit(torch.tensor(x), torch.tensor(y), lr=0.2, epochs=60, model=net, backend="torch")
    np.testing.assert_allclose(r.losses, ref.losses, rtol=1e-10)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # never mutated
    assert set(r.weights) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    np.testing.assert_allclose(r.weights["2.weight"].numpy().T, ref.weights[2], rtol=1e-9)
    s = gdcore.sweep(torch.tensor(x), torch.tensor(y), [0.1, 0.2], epochs=60, model=net,
                     backend="torch")
    np.testing.assert_allclose(s.losses[1], ref.losses, rtol=1e-10)


def test_a_jax_function_with_its_params():
    require("jax")
    import jax.numpy as jnp

    def apply(params, X):
        return jnp.tanh(X @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]

    x, y = _wave(40, 3.0)
    m = gdcore.models.mlp((8,), seed=4)
    W1, b1, W2, b2 = m.init(1, 1)
    ref = gdcore.fit(x, y, lr=0.2, epochs=60, model=m)
    r = gdcore.fit(x, y, lr=0.2, epochs=60, model=apply, backend="jax",
                   w0={"W1": W1, "b1": b1, "W2": W2, "b2": b2})
    np.testing.assert_allclose(r.losses, ref.losses, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(r.weights["W2"]), ref.weights[2], rtol=1e-9)


@pytest.mark.parametrize("call, match", [
    (lambda x, y: gdcore.fit(x, y, lr=0.1, model=gdcore.models.mlp((4,)), method="gram"),
     "Gram path needs a quadratic"),
    (lambda x, y: gdcore.fit(x, y, lr=0.1, sharpness_every=5), "linear model's Hessian is fixed"),
    (lambda x, y: gdcore.fit(x, y, lr=0.1, model=gdcore.models.mlp((4,)), batch_size=4),
     "full-batch"),
    (lambda x, y: gdcore.fit(x, y, lr=0.1, model=gdcore.models.mlp((4,)), w0=(1, 2)),
     "w0 has 2 arrays"),
    (lambda x, y: gdcore.fit(x, y, lr=0.1, model=gdcore.models.mlp((4,)),
                             w0=tuple(np.zeros(s) for s in [(2, 4), (4,), (4, 1), (1,)])),
     r"w0\[0\] has shape \(2, 4\)"),
    (lambda x, y: gdcore.fit(x, y, lr=0.1, model=gdcore.models.mlp((4,)), sharpness_every=0),
     "sharpness_every must be a positive integer"),
    (lambda x, y: gdcore.stability(x, model=gdcore.models.mlp((4,))), "needs y"),
    (lambda x, y: gdcore.fit(x, y, lr=0.1, model=lambda p, X: X, backend="numpy"),
     "runs on backend='jax'"),
    (lambda x, y: gdcore.fit(x, y, lr=0.1, model="mlp"), "model must be"),
    (lambda x, y: gdcore.models.mlp(hidden=0), "positive layer widths"),
    (lambda x, y: gdcore.models.mlp(activation="sigmoid"), "activation must be one of"),
    (lambda x, y: gdcore.models.parse("mlp:a"), "hidden widths must be integers"),
    (lambda x, y: gdcore.models.parse("cnn"), "unknown model"),
])
def test_bad_model_input_is_refused_clearly(call, match):
    x, y = _wave(10, 1.0)
    with pytest.raises((ValueError, TypeError), match=match):
        call(x, y)


def _dense_top_eigenvalue(spec, x, y, w):
    """Top eigenvalue of the dense Hessian of one run's loss, by torch.autograd.functional.hessian."""
    require("torch")
    import torch

    from gdcore.backends import get

    xt = get("torch").xp
    X, Y = torch.tensor(x), torch.tensor(y.reshape(len(y), -1))

    def loss(flat):
        return spec.loss(X, Y, flat.reshape(-1, 1), xt)[0]

    H = torch.autograd.functional.hessian(loss, torch.tensor(w)).numpy()
    return float(np.linalg.eigvalsh((H + H.T) / 2)[-1])


@pytest.mark.parametrize("hidden, act, seed", [((12,), "tanh", 0), ((6, 5), "tanh", 1),
                                               ((10,), "relu", 2)])
def test_lambda0_from_30_hvps_matches_the_dense_hessian(backend, hidden, act, seed):
    """Lanczos in <= 30 products within 0.5% of the dense Hessian's top eigenvalue (P > 30)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(25, 2))
    y = np.sin(2 * x[:, 0]) + x[:, 1] ** 2
    m = gdcore.models.mlp(hidden, act, seed=seed)
    spec = m.spec(2, 1)
    assert spec.size > 30  # Lanczos cannot simply span the whole space
    w = np.concatenate([p.ravel() for p in m.init(2, 1)])
    exact = _dense_top_eigenvalue(spec, x, y, w)
    c = gdcore.stability(x, y, model=m, backend=backend, dtype="float64")
    assert c.hvps <= 30
    assert abs(c.lambda_max - exact) <= 5e-3 * exact, (c.lambda_max, exact)
    assert c.lr_crit == 2 / c.lambda_max


def test_backends_agree_on_lambda0(backend):
    x, y = _wave(50, 3.0)
    m = gdcore.models.mlp((40,), seed=3)
    ref = gdcore.stability(x, y, model=m, backend="numpy").lambda_max
    got = gdcore.stability(x, y, model=m, backend=backend, dtype="float64").lambda_max
    assert abs(got - ref) <= 1e-6 * ref


def test_the_sharpness_is_tracked_against_the_dense_hessian():
    """r.sharpness every k epochs equals the dense Hessian's top eigenvalue at those weights."""
    x, y = _wave(30, 3.0)
    m = gdcore.models.mlp((10,), seed=5)
    r = gdcore.fit(x, y, lr=0.8 * gdcore.stability(x, y, model=m).lr_crit, epochs=40, model=m,
                   sharpness_every=20, record_weights=True)
    epochs, values = r.sharpness
    assert epochs.tolist() == [0, 20, 40]
    spec = m.spec(1, 1)
    for e, v in zip(epochs, values):
        w = np.concatenate([np.asarray(p).ravel() for p in r.history[e]])
        exact = _dense_top_eigenvalue(spec, x, y, w)
        assert abs(v - exact) <= 1e-6 * exact
    assert abs(values[0] / r.stability.lambda_max - 1) < 1e-9


def test_edge_of_stability_is_reproduced():
    """Cohen et al. 2021 on a 1-20-1 tanh net: at lr = 0.5 x 2/lambda_0 the sharpness rises from
    lambda_0 = lr_crit's half of 2/lr to 2/lr and hovers there (late third: median within 10%)."""
    x, y = _wave(100, 8.0)
    m = gdcore.models.mlp((20,), seed=0)
    lam0 = gdcore.stability(x, y, model=m).lambda_max
    lr = 1.0 / lam0
    r = gdcore.fit(x, y, lr=lr, epochs=6000, model=m, sharpness_every=250)
    epochs, values = r.sharpness
    ratio = values / (2.0 / lr)
    assert abs(ratio[0] - 0.5) < 1e-9  # starts at lambda_0 = half the edge
    late = ratio[epochs >= 4000]
    assert abs(np.median(late) - 1.0) <= 0.10, late
    assert np.all(np.abs(late - 1.0) <= 0.15), late


# -- a model of the user's own, through the declared protocol ------------------------------


class _TanhUnitSpec(tuple):
    """``y = a * tanh(x @ b + c)`` over (P, K) columns ``[b (d), c, a]``: loss and analytic gradient."""

    def __new__(cls, d):
        return super().__new__(cls, (d,))

    def _parts(self, X, W, xp):
        d = self[0]
        b, c, a = W[:d, :], W[d : d + 1, :], W[d + 1 : d + 2, :]
        T = xp.tanh(X @ b + c)  # (n, K)
        return a, T

    def loss(self, X, Y, W, xp, n=None):
        a, T = self._parts(X, W, xp)
        R = a * T - Y  # one output: Y (n, 1) broadcasts over the K runs
        return xp.sum(R * R, axis=0) / (X.shape[0] if n is None else n)

    def value_and_grad(self, X, Y, W, xp, n=None):
        n = X.shape[0] if n is None else n
        a, T = self._parts(X, W, xp)
        R = a * T - Y
        S = (2.0 / n) * R * a * (1.0 - T * T)  # d loss / d (x @ b + c)
        grad = xp.concat([X.T @ S, xp.sum(S, axis=0, keepdims=True),
                          xp.sum((2.0 / n) * R * T, axis=0, keepdims=True)], axis=0)
        return xp.sum(R * R, axis=0) / n, grad


class _Bound:
    def __init__(self, core, flat, prep):
        self.core, self.flat, self.prep = core, flat, prep

    def initial(self):
        return self.flat

    def params(self, flat):
        return self.prep.to_user(np.asarray(flat))


@gdcore.models.Model.register
class _TanhUnit(tuple):
    quadratic = False

    def describe(self):
        return "tanh unit"

    def bind(self, prep, w0):
        d = prep.X.shape[1]
        flat = np.full(d + 2, 0.5) if w0 is None else np.asarray(w0, dtype=np.float64)
        return _Bound(_TanhUnitSpec(d), flat, prep)


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax", "array-api-strict"])
def test_a_model_of_ones_own_runs_through_the_protocol_on_every_backend(backend):
    require(backend)
    x = np.linspace(-1, 1, 40)[:, None]
    y = 0.8 * np.tanh(2 * x[:, 0] - 0.3)
    r = gdcore.fit(x, y, lr=0.5, epochs=300, model=_TanhUnit(), backend=backend, dtype="float64")
    assert r.model == "tanh unit" and r.optimum is None and r.predicted_epoch is None
    assert r.losses[-1] < 0.01 * r.losses[0]
    ref = gdcore.fit(x, y, lr=0.5, epochs=300, model=_TanhUnit(), backend="numpy")
    np.testing.assert_allclose(r.losses, ref.losses, rtol=1e-10)
    # the hand-written gradient (numpy) against a central finite difference
    spec, xp = _TanhUnitSpec(1), backends.get("numpy").xp
    W = np.array([[0.3], [-0.2], [0.7]])
    _, g = spec.value_and_grad(x, y[:, None], W, xp)
    h = 1e-6
    fd = [(spec.loss(x, y[:, None], W + h * e[:, None], xp) - spec.loss(x, y[:, None], W - h * e[:, None], xp))[0]
          / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(g[:, 0], fd, rtol=1e-6)


def test_an_undeclared_model_is_refused():
    class LooksLikeAModel:
        quadratic = False

        def describe(self):
            return "impostor"

        def bind(self, prep, w0):
            raise AssertionError("never bound")

    with pytest.raises(TypeError, match="model must be"):
        gdcore.fit(np.ones((4, 1)), np.ones(4), lr=0.1, model=LooksLikeAModel(), backend="numpy")
