"""One pipeline for every model: prepare -> curvature -> run -> results.

:func:`begin` does the first two steps for every entry point (``fit``,
``sweep``, ``lr_find``, ``stability``, ``explore``): it checks and converts the
data (:func:`gdcore.study._prepare.prepare`), binds the model to them (the
model protocol of :mod:`gdcore.models`: ``bind(prep, w0)`` gives what the core
computes with, the initial parameters and the way back to the user's), and
measures the curvature: the linear model's exact analysis
(:class:`gdcore.analysis.Stability`, from one factor of ``[X | y]``) or a
network's sharpness at ``w0`` (:class:`gdcore.analysis.Curvature`, by
Lanczos).  The runs then go through :func:`gdcore.study._engine.execute`, and
the results are built by :mod:`gdcore.study._results`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from gdcore import analysis, models
from gdcore._checks import check_memory
from gdcore.analysis import LANCZOS_STEPS, Curvature
from gdcore.backends import host
from gdcore.study._prepare import prepare

__all__ = ["Study", "begin", "check_every", "check_method", "edges", "every_epochs", "gap_weights", "sharpness", "track"]

# Weights kept for sharpness tracking: (snapshots x parameters x runs) at most this many values.
MAX_TRACKED = 50_000_000


class Study(NamedTuple):
    """A prepared call: the data, the model bound to it, and its curvature."""

    prep: Any  # gdcore.study._prepare.Prepared
    model: Any  # the model value (linear(), an MLP, a backend's wrapper of the user's model)
    bound: Any  # the model bound to prep: .core, .initial(), .params(flat)
    w0: np.ndarray  # host float64 initial parameters, (d, m) linear, (P, 1) a network
    quad: Any  # analysis.Quadratic of the linear model, None for a network
    curvature: Any  # analysis.Stability or analysis.Curvature

    @property
    def quadratic(self) -> bool:
        """Whether the closed form predicts the runs (the linear model)."""
        return self.quad is not None


def begin(X, y, w0=None, *, model=None, backend=None, device=None, dtype=None,
          standardize=False, with_optimum=True) -> Study:
    """Prepare the data, bind the model and measure its curvature (see the module docs)."""
    linear = models.is_linear(model)
    prep = prepare(X, y, w0 if linear else None, backend=backend, device=device, dtype=dtype,
                   standardize=standardize, model=None if linear else model)
    model = models.resolve(model, prep.backend.name)
    if not linear:
        _check_model_memory(model, prep)
    bound = model.bind(prep, w0)
    if linear:
        w0_host = bound.initial()
        quad = analysis.analyse(prep, with_optimum=with_optimum)
        return Study(prep, model, bound, w0_host, quad, analysis.stability_of(quad, prepare))
    flat = np.asarray(bound.initial(), dtype=np.float64).reshape(-1, 1)
    study = Study(prep, model, bound, flat, None, None)
    lam0 = sharpness(study, flat)[0][0]
    curv = Curvature(float(lam0), model.describe(), prep.backend.name, prep.dtype, LANCZOS_STEPS)
    return study._replace(curvature=curv)


def _check_model_memory(model, prep) -> None:
    """An MLP whose parameters or activations would not fit is refused before it is initialised.

    The estimate, for the one column of the initial parameters and the
    sharpness measured at them: P parameters drawn and flattened on the host
    (float64, three copies), the Lanczos basis (``LANCZOS_STEPS`` + 4 vectors
    of P in the working dtype), and the activations of one pass, rows x
    hidden units, three arrays of them.  A user's own module or function
    has its parameters already: nothing is estimated for it.
    """
    spec = getattr(model, "spec", None)
    if spec is None:
        return
    n, d = prep.X.shape
    widths = spec(d, prep.Y.shape[1]).widths
    size, units = spec(d, prep.Y.shape[1]).size, sum(widths[1:-1])
    b = np.dtype(prep.dtype).itemsize
    advice = "use narrower (or fewer) hidden layers"
    check_memory([
        (f"the parameters, {size:,} of them", size * (3 * 8 + (LANCZOS_STEPS + 4) * b), advice),
        (f"the activations, {n:,} rows x {units:,} hidden units", 3 * n * units * b,
         f"{advice}, or fewer rows"),
    ], f"the model {model.describe()}")


def sharpness(study: Study, W_host, V0=None, D=None):
    """Top Hessian eigenvalue (host float64) of every column of the host (P, C) parameters.

    With ``D`` (P, C, the backend's array, an optimizer's ``precondition``):
    the top eigenvalue of ``D^(1/2) H D^(1/2)``, the preconditioned sharpness.
    """
    from gdcore import core

    prep = study.prep
    be, sb = prep.backend, prep.state
    with be.context(prep.dtype):
        W = sb.asarray(np.ascontiguousarray(W_host), prep.dtype, be.state_device(prep.X))
        lam, V = be.sharpness(core.ModelProblem(prep.X, prep.Y, study.bound.core), W,
                              steps=LANCZOS_STEPS, V0=V0, D=D)
    return np.asarray(lam, dtype=np.float64), V


def _preconditioned(opt) -> bool:
    """Whether ``opt``'s edge refers to a preconditioned sharpness (its ``precondition`` reads its state)."""
    precondition = getattr(opt, "precondition", None)
    if precondition is None:
        return False
    from gdcore import backends

    xnp = backends.get("numpy").xp
    one = xnp.ones((1, 1))
    return precondition(opt.update(one, opt.init(one, xnp), 1.0, xnp)[1], xnp) is not None


def _replay(study: Study, opt, H):
    """The optimizer's preconditioner at every epoch of the weight history ``H`` (E+1, P, K), host.

    The state the step from ``W_e`` uses, rebuilt by folding in the gradient at
    every recorded ``W_0 .. W_e`` with the optimizer's own ``update`` (a
    full-batch run without look-ahead: a state that depends only on the
    gradients along the path, as Adam's moments do, is reproduced exactly).
    Yields ``(e, D)`` for ``e = 0 .. E``; D is the backend's array (P, K).
    """
    from gdcore import core

    prep = study.prep
    be, sb = prep.backend, prep.state
    dev = be.state_device(prep.X)
    k = H.shape[2]

    def arr(host):
        return sb.asarray(np.ascontiguousarray(host), prep.dtype, dev)

    xp = be.xp
    with be.context(prep.dtype):
        local = type(opt)(*(arr(np.broadcast_to(np.asarray(h, dtype=np.float64), (k,))) for h in opt))
        vg = be.value_and_grad(core.ModelProblem(prep.X, prep.Y, study.bound.core))
        state = local.init(arr(np.zeros(H.shape[1:])), xp)
        one = arr(np.ones((k,)))
        for e in range(H.shape[0]):
            W = H[e]
            W = arr(np.where(np.all(np.isfinite(W), axis=0)[None, :], W, 0.0))
            _, state = local.update(vg(W)[1], state, one, xp)
            yield e, local.precondition(state, xp)


def edges(opt, lrs, epochs, lr_mult=None):
    """``opt.edge`` of every run (rows: ``lrs``) at every snapshot epoch (columns), host float64.

    The lr of the step from each snapshot: ``lr * lr_mult[e]`` under a schedule
    (the last factor for the final weights, from which no step is taken).
    An optimizer that declares no edge gives ``None``.
    """
    edge = getattr(opt, "edge", None)
    if edge is None:
        return None
    lrs = np.asarray(lrs, dtype=np.float64).reshape(-1, 1)
    epochs = np.asarray(epochs)
    mult = (np.ones(epochs.shape) if lr_mult is None
            else np.asarray(lr_mult, dtype=np.float64)[np.minimum(epochs, len(lr_mult) - 1)])
    hyper = type(opt)(*(np.asarray(h, dtype=np.float64).reshape(-1, 1) if np.ndim(h) else h
                        for h in opt))
    return np.asarray(hyper.edge(lrs * mult[None, :]), dtype=np.float64) * np.ones((lrs.shape[0], 1))


def check_every(sharpness_every, study: Study, epochs: int, k: int):
    """``sharpness_every`` checked against the model and the memory it needs (None: not tracked)."""
    if sharpness_every is None:
        return None
    if study.quadratic:
        raise ValueError(
            "sharpness_every= tracks the moving Hessian of a non-linear model; the linear "
            "model's Hessian is fixed, its sharpness is result.stability.lambda_max at every epoch. "
            "Pass model=gdcore.models.mlp(...) or drop sharpness_every."
        )
    every = every_epochs(sharpness_every)
    size = (epochs + 1) * study.w0.size * k
    if size > MAX_TRACKED:
        raise ValueError(
            f"sharpness_every needs the weights of every epoch: {epochs + 1} epochs x "
            f"{study.w0.size} parameters x {k} runs = {size:.3g} values (limit {MAX_TRACKED:.0e}); "
            "use fewer epochs or learning rates."
        )
    return every


def every_epochs(sharpness_every) -> int:
    """``sharpness_every`` as a positive number of epochs, or the error that says so."""
    if (not isinstance(sharpness_every, (int, np.integer)) or isinstance(sharpness_every, bool)
            or sharpness_every < 1):
        raise ValueError(f"sharpness_every must be a positive integer (epochs), got {sharpness_every!r}.")
    return int(sharpness_every)


def track(study: Study, history, every: int, last_epochs, opt=None):
    """Sharpness every ``every`` epochs of every run from the weight history (E+1, P, K).

    The sharpness ``opt``'s edge refers to: the Hessian's top eigenvalue, or
    for an optimizer with a preconditioner (Adam) the top eigenvalue of
    ``D^(1/2) H D^(1/2)``, ``D`` the preconditioner of the step taken from
    that epoch's weights (rebuilt by replaying the gradients along the
    recorded path, :func:`_replay`).  Snapshots are visited in epoch order,
    the K runs batched, each Lanczos warm-started from the previous
    snapshot's Ritz vectors.  A run's entries after it stopped are nan.
    """
    H = np.asarray(host(history), dtype=np.float64)
    epochs = np.arange(0, H.shape[0], every)
    values = np.full((H.shape[2], epochs.size), np.nan)
    replay = _replay(study, opt, H) if opt is not None and _preconditioned(opt) else None
    V = None
    for j, e in enumerate(epochs):
        W = H[e]
        ok = np.all(np.isfinite(W), axis=0) & (e <= last_epochs)
        if not ok.any():
            break
        D = None
        if replay is not None:
            D = next(D for i, D in replay if i == e)  # the replay advances to epoch e
            prep = study.prep
            xp = prep.backend.xp
            live = prep.state.asarray(np.asarray(ok, dtype=np.float64), prep.dtype,
                                      prep.backend.state_device(prep.X)) > 0.5
            D = xp.where(live & (D > 0), D, xp.ones_like(D))  # stopped runs: D = I, reported as nan
        W = np.where(ok[None, :], W, 0.0)  # stopped runs: evaluated at zeros, reported as nan
        lam, V = sharpness(study, W, V0=V, D=D)
        values[:, j] = np.where(ok, lam, np.nan)
    return epochs, values


def gap_weights(study: Study) -> np.ndarray:
    """Loss-gap weight of each eigen-direction from the study's ``w0`` (the linear model)."""
    return analysis.gap_weights(study.quad, study.w0)


def check_method(study: Study, method):
    """A network always reads the data: the Gram path needs a quadratic loss."""
    if not study.quadratic and method not in (None, "direct", "auto"):
        raise ValueError(
            f"method={method!r} is for the linear model (the Gram path needs a quadratic loss); "
            "a non-linear model always reads the data: drop method=."
        )
