"""Checks of the scalar arguments of a call (learning rates, epochs, tolerances, grids).

Every rule of docs/definitions.md "Bad input" that is about a number or a
sequence of numbers lives here, so each error is raised in one place with a
message that names the argument and says what to do.  Array inputs are checked
where they are converted (:mod:`gdcore.study._prepare`).
"""

from __future__ import annotations

import math
import os

import numpy as np

__all__ = ["BETA_HINT", "check_batch", "check_beta", "check_betas", "check_each", "check_epochs",
           "check_finite", "check_in_range", "check_lr", "check_lrs", "check_memory", "check_numbers",
           "check_positive", "check_real", "check_representable", "check_run_options", "check_y",
           "dtype_name", "memory_limit", "schedule_table"]

_FLOAT_NAMES = ("float32", "float64")


def check_y(y, fn="fit"):
    """``y`` is required by everything but :func:`gdcore.stability`."""
    if y is None:
        raise TypeError(
            f"{fn}: y (the targets) is required, got None; pass one target per row of X, or call "
            "gdcore.stability(X) for the analysis of X alone."
        )


def check_real(value, name, example="0.1"):
    """``value`` as a float; text and bools are refused (``float("0.5")`` and ``True`` are not numbers here)."""
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"{name} must be a number such as {example}, got {value!r}.")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number such as {example}, got {value!r}.") from None


def check_lr(lr, name="lr"):
    """A learning rate must be a finite number > 0 (not a bool, not text)."""
    lr = check_real(lr, name)
    if not math.isfinite(lr) or lr <= 0:
        raise ValueError(
            f"{name} must be a finite number > 0 (try 0.1, or gdcore.stability(X).lr_opt); got {lr!r}."
        )
    return float(lr)


def check_in_range(value, name, lo, hi, *, lo_open=False, hint="", example="0.9"):
    """``value`` as a float in ``[lo, hi)`` (``(lo, hi)`` with ``lo_open``): the optimizers' rule."""
    v = check_real(value, name, example)  # text and bools are not numbers here
    ok = math.isfinite(v) and (v > lo if lo_open else v >= lo) and v < hi
    if not ok:
        left = "(" if lo_open else "["
        raise ValueError(f"{name} must be in {left}{lo}, {hi}), got {value!r}{hint}.")
    return v


BETA_HINT = (" (heavy ball is unstable for beta >= 1); try 0.9, or Stability.polyak() for the "
             "optimal pair")


def check_beta(beta, name="momentum"):
    """A momentum coefficient in [0, 1), with :func:`gdcore.optimizers.momentum`'s message."""
    return check_in_range(beta, name, 0.0, 1.0, hint=BETA_HINT)


def check_each(values, check, ok):
    """``check`` every entry of ``values``, a number or an array (one value per run).

    A number goes to ``check`` itself.  A numeric array is tested at once by
    ``ok`` (a float64 array -> bool array that must agree with ``check``), and
    the first entry that fails goes to ``check``, which raises its own
    message; an array of anything else is checked entry by entry.
    """
    if np.ndim(values) == 0:
        check(values.item() if isinstance(values, np.ndarray) else values)
        return
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        for v in arr.ravel().tolist():
            check(v)
        return
    bad = ~ok(arr.astype(np.float64))
    if bad.any():
        check(arr[bad].ravel()[0].item())


def check_epochs(epochs):
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)):
        raise TypeError(f"epochs must be an integer >= 0, got {epochs!r}.")
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}; use e.g. epochs=100.")
    return int(epochs)


def check_positive(value, name, *, below=None):
    v = check_real(value, name, "1e-3" if below == 1.0 else "10")
    if not math.isfinite(v) or v <= 0 or (below is not None and v >= below):
        rng = f"in (0, {below})" if below is not None else "> 0"
        raise ValueError(f"{name} must be a finite number {rng}, got {value!r}.")
    return v


def dtype_name(dtype) -> str | None:
    """'float32' / 'float64' from a string or any library's dtype object or class.

    Accepts ``"float32"``, ``np.float32``, ``np.dtype("float32")``,
    ``torch.float32``, ``jnp.float32`` and the array-api-strict dtypes.

    Examples
    --------
    >>> import numpy as np
    >>> dtype_name(np.float32), dtype_name(np.dtype("float64")), dtype_name("float32")
    ('float32', 'float64', 'float32')
    """
    if dtype is None:
        return None
    name = None
    if not isinstance(dtype, str):
        try:  # numpy and jax dtypes, their scalar classes, and Python's float
            name = np.dtype(dtype).name
        except TypeError:
            pass
    if name is None:  # strings, torch.float32, array_api_strict.float32
        name = str(dtype).rsplit(".", 1)[-1]
    if name not in _FLOAT_NAMES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}.")
    return name



def check_finite(arr, name, xp, to_numpy, host_view=None):
    """Raise ValueError naming the first non-finite entry of ``arr`` (row, column), if any.

    ``host_view`` (a backend's :meth:`host_view`): when it gives a numpy view
    of ``arr``, the check runs in numpy on that view (on jax: no XLA compiles).
    """
    view = None if host_view is None else host_view(arr)
    if view is not None:
        arr, xp, to_numpy = view, np, np.asarray
    # The sum is finite exactly when every entry is, unless finite values overflow it;
    # it needs no n x d temporary (X may be most of the machine's memory).
    if bool(xp.isfinite(xp.sum(arr))):
        return
    ok = xp.isfinite(arr)
    if bool(xp.all(ok)):
        return
    bad = np.argwhere(~to_numpy(ok))
    where = f"row {bad[0][0]}" + (f", column {bad[0][1]}" if bad.shape[1] > 1 else "")
    raise ValueError(
        f"{name} contains {len(bad)} missing or non-finite value(s) (NaN, NA or inf), the first "
        f"at {where}; remove or impute them before fitting."
    )




# -- options of a run -------------------------------------------------------

_METHODS = ("direct", "gram", "auto", None)


def check_run_options(epochs, rtol, divergence_factor, method):
    """``epochs``, ``rtol``, ``divergence_factor`` and ``method`` of a run, checked."""
    epochs = check_epochs(epochs)
    rtol = check_positive(rtol, "rtol", below=1.0)
    divergence_factor = check_positive(divergence_factor, "divergence_factor")
    if divergence_factor <= 1:
        raise ValueError(f"divergence_factor must be > 1 (default 1e6), got {divergence_factor!r}.")
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")
    return epochs, rtol, divergence_factor


def check_batch(batch_size, seed, n):
    """``(batch_size, seed)`` of mini-batch SGD (``(None, 0)`` for full batch)."""
    if batch_size is None:
        return None, 0
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer (or None for full batch), got {batch_size!r}.")
    if seed is None:
        seed = 0
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    return min(int(batch_size), n), int(seed)


def schedule_table(sched, epochs) -> np.ndarray:
    """The schedule's lr for every epoch, each a finite number >= 0."""
    table = sched.table(max(epochs, 1))
    bad = ~np.isfinite(table) | (table < 0)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(
            f"the learning-rate schedule gave lr={table[k]!r} at epoch {k}; every lr must be a "
            "finite number >= 0."
        )
    return table


def check_representable(lrs, dtype) -> None:
    """Every learning rate must stay a finite number > 0 in the working dtype."""
    lrs = np.asarray(lrs, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        cast = lrs.astype(dtype)
    bad = (cast == 0) | ~np.isfinite(cast)
    if bad.any():
        lr = float(lrs[np.argmax(bad)])
        where = "0" if cast[np.argmax(bad)] == 0 else "inf"
        raise ValueError(
            f"lr={lr:.3g} rounds to {where} in {dtype}, so gradient descent could not move "
            f"(or would jump to inf); use dtype='float64', or rescale X so that lr_crit is "
            "closer to 1 (standardize=True: a scale s on X scales lr_crit by 1/s**2)."
        )


def check_numbers(values, name) -> np.ndarray:
    """``values`` as a float64 array; text and bools are refused, not converted."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        return values.astype(np.float64)  # a numeric array holds no text or bools: no scan
    bad = TypeError(f"{name} must be a sequence of numbers (not text or bools), got {values!r}.")
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError):
        raise bad from None
    if arr.dtype.kind in "bSU" or any(isinstance(v, (bool, np.bool_, str, bytes))
                                      for v in np.ravel(np.asarray(values, dtype=object))):
        raise bad
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError):
        raise bad from None


def check_lrs(lrs) -> np.ndarray:
    """A non-empty 1-D sequence of finite learning rates > 0, as host float64."""
    arr = check_numbers(lrs, "lrs")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"lrs must be a non-empty 1-D sequence of learning rates, got shape {arr.shape}; "
            "e.g. numpy.geomspace(0.01, 2, 50)."
        )
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        raise ValueError(
            f"every lr must be a finite number > 0; lrs[{int(np.argmax(bad))}] = {arr[bad][0]!r}."
        )
    return arr


def check_betas(betas, default=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)) -> np.ndarray:
    """The explorer's momentum grid: values in [0, 1), sorted, with 0 (plain GD) first."""
    if betas is None:
        return np.asarray(default)
    try:
        arr = np.atleast_1d(np.asarray(betas, dtype=np.float64))
    except (TypeError, ValueError):
        raise TypeError(f"betas must be a sequence of numbers in [0, 1), got {betas!r}.") from None
    if arr.ndim != 1 or not np.all(np.isfinite(arr)) or np.any((arr < 0) | (arr >= 1)):
        raise ValueError(f"every momentum in betas must be a number in [0, 1), got {arr.tolist()}; "
                         "e.g. betas=[0, 0.5, 0.9].")
    return np.unique(np.concatenate([[0.0], arr]))  # sorted, 0 (plain GD) first


# -- the memory a call asks for ---------------------------------------------

# Where the physical memory cannot be read (os.sysconf is POSIX): the most one call may ask for.
MEMORY_LIMIT_UNKNOWN = 8 << 30


def _size(nbytes) -> str:
    """``nbytes`` in binary units: ``'1.5 GiB'``."""
    value = float(nbytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            return f"{value:.3g} {unit}"
        value /= 1024
    return f"{value:.3g} PiB"  # pragma: no cover - the loop returns


def memory_limit() -> tuple[int, str]:
    """The most memory (bytes) the arrays of one call may need, and where that number comes from.

    Half of the machine's physical memory (``os.sysconf``), or
    :data:`MEMORY_LIMIT_UNKNOWN` (8 GiB) where it cannot be read: a call
    estimated above it is refused with both numbers before anything is
    allocated, instead of ending in a ``MemoryError`` (or in swap).

    Examples
    --------
    >>> limit, why = memory_limit()
    >>> limit > 0 and ("physical memory" in why or "8 GiB" in why)
    True
    """
    try:
        phys = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        phys = 0
    if phys > 0:
        return phys // 2, f"half of this machine's {_size(phys)} of physical memory"
    return MEMORY_LIMIT_UNKNOWN, "8 GiB, as this machine's physical memory could not be read"


def check_memory(parts, what) -> None:
    """Refuse a call whose arrays would need more than :func:`memory_limit`.

    ``parts``: ``(label, bytes, advice)`` for every array (or group of
    arrays) the call will allocate; the message names the estimate, its two
    largest parts, the limit, and the advice of the largest.

    Examples
    --------
    >>> check_memory([("the losses", 8 << 50, "use fewer epochs")], "fit")
    Traceback (most recent call last):
    ...
    ValueError: fit would need about 8 PiB of memory (the losses: 8 PiB), more than ...
    """
    total = sum(int(nbytes) for _, nbytes, _ in parts)
    limit, why = memory_limit()
    if total <= limit:
        return
    big = sorted(parts, key=lambda part: -part[1])
    detail = "; ".join(f"{label}: {_size(nbytes)}" for label, nbytes, _ in big[:2])
    raise ValueError(
        f"{what} would need about {_size(total)} of memory ({detail}), more than the limit of "
        f"{_size(limit)} ({why}); {big[0][2]}."
    )
