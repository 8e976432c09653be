"""The one epoch driver, and its convergence and divergence bookkeeping as pure functions.

One epoch driver, :func:`drive`, runs K optimisation runs of any optimizer
(:mod:`gdcore.core._optim`) on any problem.  It is given the gradient (how a
backend differentiates: analytic, autograd, ``jax.grad``) and a *loop
primitive* (how a backend loops: :class:`EagerLoop`, a Python loop, or jax's
``lax.while_loop`` under ``jax.jit``).  A run is a state (:class:`RunState`)
advanced by pure functions: :func:`observe` records the loss of the current
epoch and decides who converged or diverged, :func:`advance` applies the
optimizer's update to the runs still going.  They use only ``xp.where`` and
element-wise arithmetic, with no Python branching on array values, so the
same driver runs eagerly and traced.  On an eager loop, full-batch epochs run
in blocks (:func:`_drive_blocks`): the same decisions, taken once per block
from the block's loss rows, with one host sync per block.

Definitions (see docs/definitions.md, "Converged, diverged, status"):

* converged at the first epoch ``k`` with ``L_k - L* <= rtol * (L_0 - L*)``;
* diverged at the first epoch ``k`` whose loss is non-finite, exceeds
  ``divergence_factor * L_0``, or has risen above its starting value ``L_0``
  (by more than rounding).  The last rule is exact for a quadratic run by an
  optimizer whose ``may_rise`` is False (plain GD) at a constant lr on the full
  batch: for any ``lr <= lr_crit`` the loss gap is a sum of non-increasing
  geometric terms, so it can never rise; for ``lr > lr_crit`` it grows without
  bound, so a rise proves divergence long before the loss reaches
  ``divergence_factor * L_0``.  It is decided per run: an optimizer with
  ``cannot_rise()`` (momentum: where ``beta == 0``, plain GD) gives it to
  those runs of a grid only, so each run is judged as its single run.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from gdcore._compat import device

__all__ = [
    "EagerLoop",
    "ReportingLoop",
    "RunState",
    "Thresholds",
    "advance",
    "drive",
    "initial_state",
    "observe",
    "per_column",
    "per_column_hyper",
    "rise_runs",
    "safe_weights",
    "thresholds",
]

# How far above L_0 the loss must climb before we call it a rise, in units of
# the working dtype's eps times L_0.  Rounding of the mean of n squares is a
# few eps; 1000 eps leaves a wide margin (float32: 1.2e-4 relative).
_RISE_EPS = 1000.0


class Thresholds(NamedTuple):
    """Loss levels that decide a run's status, per run (K,)."""

    converged: Any  # L* + rtol * (L_0 - L*)
    blowup: Any  # divergence_factor * L_0
    rise: Any  # L_0 plus rounding margin (inf when the rise rule does not apply)
    limit: Any  # min(blowup, rise): a run is fine while loss <= limit (False for nan/inf)


class RunState(NamedTuple):
    """State of K runs advanced together.

    ``W`` is (d, K*m), ``opt`` the optimizer's state (a NamedTuple of arrays);
    ``alive``, ``converged_epoch`` and ``diverged_epoch`` are (K,).  Epochs are
    ``-1`` until the event happens.
    """

    W: Any
    opt: Any
    alive: Any
    converged_epoch: Any
    diverged_epoch: Any


def thresholds(loss0, loss_star, rtol, divergence_factor, eps, xp, *, rise_rule=True):
    """Per-run thresholds (K,) from the epoch-0 losses ``loss0`` (K,).

    ``rise_rule`` holds only when the loss of a stable run cannot rise (an
    optimizer whose ``may_rise`` is False, constant lr, full batch): with
    momentum, Adam, a schedule or mini-batches the loss may rise for a while
    and still converge, so only non-finite losses and ``divergence_factor`` count.
    It is a Python bool for every run, or a (K,) bool array, one per run
    (:func:`rise_runs`), chosen with ``xp.where``: no branch on array values.
    """
    gap0 = loss0 - loss_star
    if isinstance(rise_rule, bool):
        rise = loss0 + _RISE_EPS * eps * xp.abs(loss0) if rise_rule else xp.full_like(loss0, xp.inf)
    else:
        rise = xp.where(rise_rule, loss0 + _RISE_EPS * eps * xp.abs(loss0),
                        xp.full_like(loss0, xp.inf))
    blowup = divergence_factor * loss0
    return Thresholds(converged=loss_star + rtol * gap0, blowup=blowup, rise=rise,
                      limit=xp.minimum(blowup, rise))


def rise_runs(opt):
    """Where a rise above ``L_0`` may prove divergence: a bool for every run, or one per run.

    ``not opt.may_rise``, unless the optimizer says it run by run with
    ``cannot_rise()`` (momentum: True where ``beta == 0``, plain gradient
    descent), so that a run of a grid gets the rule its single run gets.
    """
    per_run = getattr(opt, "cannot_rise", None)
    if per_run is None:
        return not opt.may_rise
    return per_run()


def initial_state(W0, k, opt, xp):
    """All K runs alive, no events yet, the optimizer's initial state."""
    dev = device(W0)
    return RunState(
        W=W0,
        opt=opt.init(W0, xp),
        alive=xp.ones((k,), dtype=xp.bool, device=dev),
        converged_epoch=xp.full((k,), -1, dtype=xp.int32, device=dev),
        diverged_epoch=xp.full((k,), -1, dtype=xp.int32, device=dev),
    )


def observe(state, loss, epoch, th, stop_on_convergence, xp, all_alive=False):
    """Record epoch ``epoch``'s per-run ``loss`` (K,); return (new state, row to store).

    The stored row is ``nan`` for runs that had already stopped.  A run has
    diverged when ``loss <= th.limit`` fails, which also catches nan and inf.
    ``all_alive`` is a host-side promise that no run has stopped yet; it only
    skips masking work.
    """
    ok = loss <= th.limit
    if all_alive:
        row, bad, still = loss, ~ok, ok
    else:
        alive = state.alive
        row = xp.where(alive, loss, xp.full_like(loss, xp.nan))
        bad, still = alive & ~ok, alive & ok
    hit = still & (state.converged_epoch < 0) & (loss <= th.converged)
    ep = xp.full_like(state.converged_epoch, epoch)
    conv = xp.where(hit, ep, state.converged_epoch)
    div = xp.where(bad, ep, state.diverged_epoch)
    if stop_on_convergence:  # a static Python flag, never a traced value
        still = still & ~hit
    return state._replace(alive=still, converged_epoch=conv, diverged_epoch=div), row


def advance(state, opt, grad, lr_cols, m, xp, all_alive=False):
    """One optimizer update for the runs still alive; stopped runs keep their weights.

    ``delta, opt_state = opt.update(grad, state.opt, lr_cols, xp)`` and
    ``W + delta``.  A stopped run's optimizer state may go on changing: it is
    never read again.
    """
    delta, opt_state = opt.update(grad, state.opt, lr_cols, xp)
    W = state.W + delta
    if not all_alive:
        W = xp.where(per_column(state.alive, m, xp), W, state.W)
    return state._replace(W=W, opt=opt_state)


def safe_weights(state, m, xp, all_alive=False):
    """Weights to evaluate: stopped runs' columns replaced by zeros.

    Diverged runs may hold huge values; evaluating zeros instead keeps the
    arithmetic finite (no overflow warnings, no slow non-finite math) while
    their recorded loss is ``nan`` anyway.
    """
    if all_alive:
        return state.W
    return xp.where(per_column(state.alive, m, xp), state.W, xp.zeros_like(state.W))


def per_column(v, m, xp):
    """(K,) per-run values -> (K*m,) per-column values (each repeated m times)."""
    if m == 1:
        return v
    k = v.shape[0]
    return xp.reshape(xp.broadcast_to(xp.reshape(v, (k, 1)), (k, m)), (k * m,))


def per_column_hyper(opt, m, xp):
    """The optimizer with every (K,) per-run hyperparameter repeated over its m outputs."""
    return type(opt)(*(per_column(h, m, xp) if getattr(h, "ndim", 0) == 1 else h for h in opt))


class EagerLoop:
    """The loop primitive of the eager backends: a Python ``while`` loop.

    ``while_loop(alive, body, carry, steps)`` calls ``body(carry, n_alive)``
    while the step counter ``carry[0]`` is below ``steps`` and ``alive(carry)``,
    the number of runs still going, is above zero.  Reading that number is a
    host sync per epoch; ``n_alive`` lets the body skip masking while every
    run is alive.  (Full-batch runs without recorded weights do not come here:
    they run in blocks, see ``block`` below.)  Per-epoch records (loss rows, weights) go into a buffer:
    ``buffer(first, length, xp)`` starts one, ``store(buffer, i, value)``
    records epoch ``i``, ``stack(buffer, xp)`` returns the array of the epochs
    stored; here a Python list (array-api-strict's in-place writes cost more
    than an epoch).  jax's primitive has the same methods over
    ``lax.while_loop`` and a preallocated array with ``.at[i].set`` (it passes
    ``n_alive=None``).

    ``block`` (eager loops only) lets :func:`drive` run full-batch epochs in
    blocks of up to that many epochs with one host sync and one status
    settlement per block (:func:`_drive_blocks`); ``report(epoch)`` is called
    for every epoch observed (a no-op here).
    """

    block = 32

    @staticmethod
    def report(epoch):
        pass

    @staticmethod
    def while_loop(alive, body, carry, steps):
        while carry[0] < steps:
            n_alive = int(alive(carry))
            if n_alive == 0:
                return carry
            carry = body(carry, n_alive)
        return carry

    @staticmethod
    def buffer(first, length, xp):
        return [first]

    @staticmethod
    def store(buffer, i, value):
        buffer.append(value)
        return buffer

    @staticmethod
    def stack(buffer, xp):
        return xp.stack(buffer)


class ReportingLoop(EagerLoop):
    """:class:`EagerLoop` that calls ``on_epoch(epoch)`` after every epoch (progress bars).

    Examples
    --------
    >>> seen = []
    >>> loop = ReportingLoop(seen.append)
    >>> loop.while_loop(lambda c: 1, lambda c, n: (c[0] + 1,), (0,), 3), seen
    ((3,), [1, 2, 3])
    """

    def __init__(self, on_epoch):
        self.on_epoch = on_epoch

    def report(self, epoch):
        self.on_epoch(epoch)

    def while_loop(self, alive, body, carry, steps):
        while carry[0] < steps:
            n_alive = int(alive(carry))
            if n_alive == 0:
                return carry
            carry = body(carry, n_alive)
            self.on_epoch(int(carry[0]))
        return carry


def drive(value_and_grad, loss_fn, opt, W0, lrs, *, epochs, loss_star, rtol,
          divergence_factor, stop_on_convergence, record_weights, xp, loop=EagerLoop,
          lr_mult=None, batches=None, quadratic=True):
    """Run K optimisation runs of ``opt`` together: the one epoch driver of gdcore.

    Parameters
    ----------
    value_and_grad, loss_fn
        ``value_and_grad(W)`` returns the per-run losses (K,) and the gradient
        (d, K*m) at ``W``; ``loss_fn(W)`` the losses alone.  This is where
        backends differ (analytic, autograd, ``jax.grad``).
    opt
        An optimizer value (``init``/``update``, ``may_rise``, ``lookahead``);
        its hyperparameters are scalars or (K,) arrays, one per run.
    W0 : (d, K*m) array
        Starting weights of every run; ``lrs`` (K,) their learning rates.
    loop
        The loop primitive (:class:`EagerLoop`, or jax's).
    lr_mult
        Optional (epochs,) array: the schedule's factor at every epoch.
    batches
        Optional ``batches(epoch)``, an iterable of value_and_grad functions,
        one per mini-batch (SGD; eager loops only).
    quadratic
        Whether the loss is a quadratic of the weights (a linear model).  Only
        then does a rise above ``L_0`` prove divergence; on a model non-linear
        in its weights a run diverges when its loss is non-finite or exceeds
        ``divergence_factor * L_0`` (docs/definitions.md).

    Returns
    -------
    (RunState, rows, history, epoch)
        The final state, the loss rows ((epochs_run + 1, K) or longer, ``nan``
        where a run had stopped), the weights of every epoch when
        ``record_weights`` (else None), and the last epoch observed: rows
        ``[:epoch + 1]`` are the epochs run.

    Examples
    --------
    >>> from gdcore import backends
    >>> xp = backends.get("numpy").xp
    >>> from gdcore.core import DataProblem, GD, drive
    >>> p = DataProblem(xp.ones((4, 1)), xp.ones((4, 1)))
    >>> _, rows, _, last = drive(lambda W: p.value_and_grad(W, xp), lambda W: p.loss(W, xp),
    ...     GD(), xp.zeros((1, 1)), xp.asarray([0.25]), epochs=3, loss_star=0.0, rtol=1e-3,
    ...     divergence_factor=1e6, stop_on_convergence=False, record_weights=False, xp=xp)
    >>> [float(v) for v in rows[:, 0]], last
    ([1.0, 0.25, 0.0625, 0.015625], 3)
    """
    k = lrs.shape[0]
    m = W0.shape[1] // k
    rise_rule = rise_runs(opt) if quadratic and lr_mult is None and batches is None else False
    opt = per_column_hyper(opt, m, xp)
    lr_cols = per_column(lrs, m, xp)
    separate_loss = opt.lookahead or batches is not None
    eps = xp.finfo(W0.dtype).eps

    def evaluate(state, all_alive):
        W = safe_weights(state, m, xp, all_alive)
        if separate_loss:
            return loss_fn(W), None
        return value_and_grad(W)

    def gradient(state, all_alive, vg):
        P = opt.gradient_point(state.W, state.opt, xp) if opt.lookahead else state.W
        if not all_alive:
            P = xp.where(per_column(state.alive, m, xp), P, xp.zeros_like(P))
        return vg(P)[1]

    state = initial_state(W0, k, opt, xp)
    loss, grad = evaluate(state, True)
    th = thresholds(loss, loss_star, rtol, divergence_factor, eps, xp, rise_rule=rise_rule)
    state, row = observe(state, loss, 0, th, stop_on_convergence, xp, True)
    block = _block_epochs(loop, W0, xp)
    if block > 1 and batches is None and not record_weights:
        return _drive_blocks(value_and_grad, loss_fn, opt, state, row, grad, th, lr_cols, lr_mult,
                             m=m, epochs=epochs, block=block, separate_loss=separate_loss,
                             stop_on_convergence=stop_on_convergence, xp=xp, loop=loop)
    rows = loop.buffer(row, epochs + 1, xp)
    hist = loop.buffer(W0, epochs + 1 if record_weights else 1, xp)

    def alive(carry):
        return xp.sum(xp.astype(carry[1].alive, xp.int32))

    def body(carry, n_alive):
        epoch, state, grad, rows, hist = carry
        full = n_alive == k
        lr_now = lr_cols if lr_mult is None else lr_cols * lr_mult[epoch]
        if batches is not None:
            for batch_value_and_grad in batches(epoch):
                g = gradient(state, full, batch_value_and_grad)
                state = advance(state, opt, g, lr_now, m, xp, full)
        else:
            if separate_loss:
                grad = gradient(state, full, value_and_grad)
            state = advance(state, opt, grad, lr_now, m, xp, full)
        epoch = epoch + 1
        loss, grad = evaluate(state, full)
        state, row = observe(state, loss, epoch, th, stop_on_convergence, xp, full)
        rows = loop.store(rows, epoch, row)
        if record_weights:
            hist = loop.store(hist, epoch, state.W)
        return epoch, state, grad, rows, hist

    epoch, state, _, rows, hist = loop.while_loop(alive, body, (0, state, grad, rows, hist), epochs)
    return state, loop.stack(rows, xp), loop.stack(hist, xp) if record_weights else None, epoch


# The epochs of one block hold every epoch's weights until the block is settled
# (a run that stopped inside it keeps the weights of its stop epoch): at most
# this many bytes, so that a block never costs much memory next to the data.
_BLOCK_BYTES = 1 << 24


def _block_epochs(loop, W0, xp):
    """Epochs per block of an eager loop (``loop.block``, fewer when the weights are large); 0: none."""
    block = getattr(loop, "block", 0)
    if block <= 1:
        return 0
    nbytes = W0.shape[0] * W0.shape[1] * (xp.finfo(W0.dtype).bits // 8)
    return min(block, max(1, _BLOCK_BYTES // max(nbytes, 1)))


def _drive_blocks(value_and_grad, loss_fn, opt, state, row0, grad, th, lr_cols, lr_mult, *, m,
                  epochs, block, separate_loss, stop_on_convergence, xp, loop):
    """The eager driver's loop in blocks of epochs: same results as epoch by epoch, less bookkeeping.

    Inside a block every run takes its step unmasked, and the block's loss
    rows and weights are kept; after it, :func:`observe`'s decisions are
    taken for the whole block at once from its rows (first epoch above the
    limit, first epoch at the convergence threshold before it), the rows of
    a run after its stop epoch become ``nan`` and its weights are those of its
    stop epoch.  So every run is recorded as :func:`observe` would record it
    epoch by epoch; only the number of host syncs (one per block) and of
    status operations change.  A run that stopped is then run at weights,
    optimizer state and lr zero (as :func:`safe_weights` evaluates it), so
    its arithmetic stays finite; its recorded results are already final.

    With ``stop_on_convergence`` the loop may end before ``epochs``; blocks
    are then at most an eighth of the epochs run so far, so the epochs run
    past the last stop (discarded) are at most that share.
    """
    k = lr_cols.shape[0] // m
    alive, conv, div = state.alive, state.converged_epoch, state.diverged_epoch
    W, opt_state = state.W, state.opt
    frozen = W  # the weights of the runs that stopped, at their stop epoch
    lr_run = lr_cols
    blocks = [xp.reshape(row0, (1, k))]
    consts = {}  # block length -> (epoch index column, "none" marker)
    epoch = 0
    n_alive = int(xp.sum(xp.astype(alive, xp.int32)))
    masked = n_alive == k  # whether stopped runs are already at zero
    while epoch < epochs and n_alive > 0:
        if not masked:
            cols = per_column(alive, m, xp)
            W = xp.where(cols, W, xp.zeros_like(W))
            opt_state = type(opt_state)(*(xp.where(cols, s, xp.zeros_like(s)) for s in opt_state))
            lr_run = xp.where(cols, lr_run, xp.zeros_like(lr_run))
            if grad is not None:
                grad = xp.where(cols, grad, xp.zeros_like(grad))
            masked = True
        size = min(block, epochs - epoch)
        if stop_on_convergence:
            size = min(size, max(1, epoch // 8))
        base, losses, Ws = epoch, [], []
        for _ in range(size):
            lr_now = lr_run if lr_mult is None else lr_run * lr_mult[epoch]
            if separate_loss:
                P = opt.gradient_point(W, opt_state, xp) if opt.lookahead else W
                grad = value_and_grad(P)[1]
            delta, opt_state = opt.update(grad, opt_state, lr_now, xp)
            W = W + delta
            epoch += 1
            if separate_loss:
                loss = loss_fn(W)
            else:
                loss, grad = value_and_grad(W)
            losses.append(loss)
            Ws.append(W)
        # observe() for the whole block: the first epoch above the limit stops a run
        # (diverged), and so does, before it, the first one at the convergence
        # threshold when stop_on_convergence.  As few operations as possible: on
        # torch each is a few microseconds, a block's epochs on the seed sweep ~60.
        if size not in consts:
            idx = xp.reshape(xp.arange(size, dtype=conv.dtype, device=device(conv)), (size, 1))
            consts[size] = (idx, xp.full_like(idx, size))
        idx, none = consts[size]
        L = xp.stack(losses)
        ok = L <= th.limit
        bad = xp.min(xp.where(ok, none, idx), axis=0)  # first epoch not ok; size if none
        hit = xp.min(xp.where(ok & (L <= th.converged), idx, none), axis=0)
        new_conv = alive & (conv < 0) & (hit < bad)
        conv = xp.where(new_conv, hit + (base + 1), conv)
        if stop_on_convergence:
            stop = xp.where(new_conv, hit, bad)
            stopping = alive & (stop < size)
            diverged = stopping & ~new_conv
        else:
            stop = bad
            stopping = diverged = alive & (bad < size)
        div = xp.where(diverged, bad + (base + 1), div)
        was_alive = alive
        alive = alive & ~stopping
        n_now = int(xp.sum(xp.astype(alive, xp.int32)))  # the one host sync of the block
        if n_now < n_alive:  # rows after a stop are nan
            keep = xp.reshape(was_alive, (1, k)) & (idx <= stop)
            L = xp.where(keep, L, xp.full_like(L, xp.nan))
        elif n_alive < k:  # runs stopped in earlier blocks: all their rows are nan
            L = xp.where(xp.reshape(was_alive, (1, k)), L, xp.full_like(L, xp.nan))
        blocks.append(L)
        if n_now < n_alive:  # the weights of the runs that stopped, at their stop epoch
            at = per_column(xp.where(stopping, stop, xp.full_like(stop, size)), m, xp)
            first = int(xp.min(at))
            last_stop = int(xp.max(xp.where(at < size, at, xp.full_like(at, -1))))
            for j in range(first, last_stop + 1):
                frozen = xp.where(at == j, Ws[j], frozen)
            masked = False
            if n_now == 0:  # the epoch loop would have ended at the last stop
                epoch = base + 1 + last_stop
        for e in range(base + 1, epoch + 1):
            loop.report(e)
        n_alive = n_now
    if n_alive < k:
        W = xp.where(per_column(alive, m, xp), W, frozen)
    rows = xp.concat(blocks, axis=0)[: epoch + 1, ...]
    final = state._replace(W=W, opt=opt_state, alive=alive, converged_epoch=conv,
                           diverged_epoch=div)
    return final, rows, None, epoch
