"""Exact curvature of the MLP on every backend (issue 22, item 1).

numpy and array-api-strict take the MLP's Hessian-vector products and the gradient of
``u^T H(w) u`` (the third derivative ``D^3 L[u, u, .]``) from Taylor coefficients pushed
through its hand-written backpropagation; torch and jax from autodiff.  References are
independent of gdcore's model code: a torch forward pass written here (``torch.relu``,
``torch.tanh``) gives the dense Hessian (``torch.autograd.functional.hessian``) and the third
derivative (three ``torch.autograd.grad`` passes).

Measured (float64, these draws): hvp of numpy and array-api-strict against torch, jax and the
dense Hessian <= 1.1e-15 relative; the third-order product of every backend against the
reference <= 3.1e-15.  The sharpness of the 5-32-32-1 ReLU net on diabetes (standardised X and
y) by ``gdcore.stability(..., backend="numpy")``: 14.55906495 against the dense Hessian's
14.55906495 (2e-16); fourth-order differences of the gradient gave 17.6140 (+21%), because
their stencil straddles the ReLU kinks.
"""

from __future__ import annotations

import numpy as np
import pytest

import gdcore
from gdcore import backends, core

from conftest import require

TOL = 1e-10


def _cases():
    """A seeded grid of networks: 1-3 hidden layers of width 2-8, tanh and relu, d 1-3, m 1-2, K 1-3."""
    out = []
    for activation in ("tanh", "relu"):
        for depth in (1, 2, 3):
            for seed in (0, 1):
                rng = np.random.default_rng(100 * depth + seed + (0 if activation == "tanh" else 7))
                d, m, k = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 4))
                hidden = tuple(int(h) for h in rng.integers(2, 9, size=depth))
                out.append(pytest.param((d, *hidden, m), activation, k, seed,
                                        id=f"{activation}-{'-'.join(map(str, (d, *hidden, m)))}-K{k}"))
    return out


def _draw(widths, k, seed, n=9):
    rng = np.random.default_rng(seed + 1000)
    spec = core.MLPSpec(widths, "tanh")
    X = rng.standard_normal((n, widths[0]))
    Y = rng.standard_normal((n, widths[-1]))
    W = rng.standard_normal((spec.size, k))  # biases non-zero: no ReLU unit sits on its kink
    V = rng.standard_normal((spec.size, k))
    return X, Y, W, V


def _torch_loss(widths, activation, X, Y, w):
    """One run's MSE (summed over outputs) from its flat parameters, written with torch ops."""
    import torch

    act = torch.tanh if activation == "tanh" else torch.relu
    A, o, last = X, 0, len(widths) - 2
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        Wl = w[o : o + fan_in * fan_out].reshape(fan_in, fan_out)
        o += fan_in * fan_out
        bl = w[o : o + fan_out]
        o += fan_out
        Z = A @ Wl + bl
        A = Z if i == last else act(Z)
    return torch.sum((A - Y) ** 2) / X.shape[0]


def _reference(widths, activation, X, Y, W, V):
    """Per column: the dense Hessian times V, and ``D^3 L[v, v, .]`` by three backward passes."""
    import torch

    Xt, Yt = torch.as_tensor(X), torch.as_tensor(Y)
    HV, T = np.empty_like(W), np.empty_like(W)
    for c in range(W.shape[1]):
        w, v = torch.tensor(W[:, c], requires_grad=True), torch.as_tensor(V[:, c])

        def loss(w):
            return _torch_loss(widths, activation, Xt, Yt, w)

        H = torch.autograd.functional.hessian(loss, w.detach())
        HV[:, c] = (H @ v).numpy()
        (g,) = torch.autograd.grad(loss(w), w, create_graph=True)
        (hv,) = torch.autograd.grad(g, w, grad_outputs=v, create_graph=True)
        (t,) = torch.autograd.grad(torch.sum(v * hv), w)
        T[:, c] = t.numpy()
    return HV, T


def _rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


def _on(name, widths, activation, X, Y, W, V):
    """Backend ``name``'s hvp and hvp_grad of the MLP problem, as host arrays."""
    b = backends.get(name)
    with b.context("float64"):
        def put(a):
            return b.asarray(a, "float64", None)

        p = core.ModelProblem(put(X), put(Y), core.MLPSpec(widths, activation))
        hv = b.hvp(p)(put(W), put(V))
        t = b.hvp_grad(p)(put(W), put(V))
        return np.asarray(b.to_numpy(hv)), np.asarray(b.to_numpy(t))


@pytest.mark.parametrize("widths, activation, k, seed", _cases())
def test_products_are_exact_on_every_backend(widths, activation, k, seed):
    """hvp and the third-order product: every backend against the references and each other."""
    require("torch")
    X, Y, W, V = _draw(widths, k, seed)
    HV, T = _reference(widths, activation, X, Y, W, V)
    got = {}
    for name in ("numpy", "array-api-strict", "torch", "jax"):
        require(name)
        got[name] = _on(name, widths, activation, X, Y, W, V)
    for name, (hv, t) in got.items():
        assert _rel(hv, HV) <= TOL, f"{name}: hvp off the dense Hessian by {_rel(hv, HV):.3g}"
        assert _rel(t, T) <= TOL, f"{name}: third-order product off by {_rel(t, T):.3g}"
    for name in ("numpy", "array-api-strict"):
        for auto in ("torch", "jax"):
            hv, t = got[name]
            assert _rel(hv, got[auto][0]) <= TOL, f"{name} hvp vs {auto}: {_rel(hv, got[auto][0]):.3g}"
            assert _rel(t, got[auto][1]) <= TOL, f"{name} hvp_grad vs {auto}: {_rel(t, got[auto][1]):.3g}"


def test_model_problem_exposes_exact_products_only_when_its_model_has_them():
    """A model with only ``loss`` (a backend's own) leaves the problem without hvp/hvp_grad."""

    class LossOnly:
        def loss(self, X, Y, W, xp, n=None):
            return W[0, :] * 0.0

    xp = backends.get("numpy").xp
    p = core.ModelProblem(xp.ones((2, 1)), xp.ones((2, 1)), LossOnly())
    assert p.hvp is None and p.hvp_grad is None
    q = core.ModelProblem(xp.ones((2, 1)), xp.ones((2, 1)), core.MLPSpec((1, 2, 1)))
    assert q.hvp is not None and q.hvp_grad is not None


@pytest.mark.parametrize("name", ["numpy", "array-api-strict"])
def test_hvp_grad_of_a_quadratic_is_zero_and_of_an_unknown_problem_refused(name):
    require(name)
    b = backends.get(name)
    with b.context("float64"):
        X = b.asarray(np.random.default_rng(0).standard_normal((6, 3)), "float64", None)
        W = b.asarray(np.ones((3, 2)), "float64", None)
        p = core.DataProblem(X, b.asarray(np.zeros((6, 1)), "float64", None))
        assert np.all(np.asarray(b.to_numpy(b.hvp_grad(p)(W, W))) == 0.0)

        class LossAndGrad:  # a problem with a gradient but no exact curvature
            quadratic = False

            def loss(self, W, xp):
                return p.loss(W, xp)

            def value_and_grad(self, W, xp, rows=None):
                return p.value_and_grad(W, xp)

        with pytest.raises(TypeError, match="no exact third derivative"):
            b.hvp_grad(LossAndGrad())


def test_runs_in_blocks_give_the_same_products():
    """The analytic backends evaluate runs in blocks (as for the gradient): blocks change nothing.

    Equal to rounding, not bit for bit: the products of a block and of all runs are matrix products
    of different shapes, and BLAS may sum them in another order (numpy 1.25's does).
    """
    xp = backends.get("numpy").xp
    widths = (2, 5, 4, 1)
    X, Y, W, V = _draw(widths, 7, 3)
    p = core.ModelProblem(X, Y, core.MLPSpec(widths, "relu"))
    np.testing.assert_allclose(p.hvp(W, V, xp, runs=3), p.hvp(W, V, xp), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(p.hvp_grad(W, V, xp, runs=2), p.hvp_grad(W, V, xp), rtol=1e-13,
                               atol=1e-13)


def _diabetes():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X = X[:, :5]
    return (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()


@pytest.mark.parametrize("hidden", [(32, 32), (16, 16), (8, 8, 8)])
def test_sharpness_of_a_relu_net_on_numpy_is_the_dense_hessians(hidden):
    """Before: differencing the gradient gave 17.614 for the 5-32-32-1 net, the dense Hessian 14.559
    (+21%); 16-16: 7.887 vs 6.764 (+17%); 8-8-8: 200.2 vs 6.547 (x31)."""
    require("torch")
    import torch

    X, y = _diabetes()
    model = gdcore.models.mlp(hidden, "relu")
    lam = gdcore.stability(X, y, model=model, backend="numpy").lambda_max
    w = torch.as_tensor(np.concatenate([np.ravel(a) for a in model.init(5, 1)]))
    widths = (5, *hidden, 1)
    Xt, Yt = torch.as_tensor(X), torch.as_tensor(y[:, None])
    H = torch.autograd.functional.hessian(lambda w: _torch_loss(widths, "relu", Xt, Yt, w), w,
                                          vectorize=True)
    top = float(np.linalg.eigvalsh(H.numpy())[-1])
    assert abs(lam / top - 1.0) <= TOL, f"lambda_0 {lam!r} vs dense {top!r}"


@pytest.mark.parametrize("name", ["torch", "jax"])
def test_autodiff_takes_relu_prime_zero_at_ties_as_backprop_does(name):
    """At the 5-8-8-8-1 net's initialisation (zero biases) 344 pre-activations are exactly 0:
    a row whose previous layer is all dead.  Autodiff of ``maximum(Z, 0)`` splits the gradient
    there (torch's gradient was 6.8% off numpy's); ``where(Z > 0, Z, 0)`` takes 0, as
    backpropagation does."""
    require(name)
    X, y = _diabetes()
    model = gdcore.models.mlp((8, 8, 8), "relu")
    spec = model.spec(5, 1)
    W = np.concatenate([np.ravel(a) for a in model.init(5, 1)])[:, None]
    V = np.random.default_rng(0).standard_normal(W.shape)
    xp = backends.get("numpy").xp
    _, g = spec.value_and_grad(X, y[:, None], W, xp)
    hv = spec.hvp(X, y[:, None], W, V, xp)
    b = backends.get(name)
    with b.context("float64"):
        def put(a):
            return b.asarray(a, "float64", None)

        p = core.ModelProblem(put(X), put(y[:, None]), spec)
        g_auto = np.asarray(b.to_numpy(b.value_and_grad(p)(put(W))[1]))
        hv_auto = np.asarray(b.to_numpy(b.hvp(p)(put(W), put(V))))
    assert _rel(g_auto, g) <= TOL, f"{name}: gradient off backprop's by {_rel(g_auto, g):.3g}"
    assert _rel(hv_auto, hv) <= TOL, f"{name}: hvp off by {_rel(hv_auto, hv):.3g}"
