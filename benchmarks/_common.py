"""Worker-side helpers shared by the benchmarks: backends, data, the seed-style baseline.

Frameworks are imported only inside the functions that need them.
"""

from __future__ import annotations

import importlib
import importlib.util

__all__ = [
    "BACKEND_PACKAGES",
    "host",
    "import_backend",
    "installed",
    "native",
    "seed_style_loop",
    "trace_count",
]

# gdcore backend name -> the package it needs (the parent checks these without importing)
BACKEND_PACKAGES = {
    "numpy": "numpy",
    "torch": "torch",
    "jax": "jax",
    "array-api-strict": "array_api_strict",
    "dask": "distributed",  # the dask benchmark runs on a distributed.LocalCluster (needs dask)
}

SEED_W0 = (-1.0, 1.0)  # the blog's first guess, a = torch.Tensor([-1., 1])


def installed(backend: str) -> bool:
    """True when ``backend``'s package can be imported (checked without importing it)."""
    return importlib.util.find_spec(BACKEND_PACKAGES[backend]) is not None


def import_backend(backend: str) -> dict:
    """Import the framework now (so its import cost is never timed); return versions."""
    import gdcore
    import numpy as np

    info = {"gdcore": gdcore.__version__, "numpy": np.__version__}
    pkg = BACKEND_PACKAGES[backend]
    if pkg != "numpy":
        mod = importlib.import_module(pkg)
        info[pkg] = getattr(mod, "__version__", "?")
    if pkg == "torch":
        info["torch_threads"] = mod.get_num_threads()
    if pkg == "jax":
        info["jax_devices"] = [str(d) for d in mod.devices()]
    return info


def native(x, backend: str):
    """A numpy array as the backend's own array, without a copy where the library allows."""
    if backend == "torch":
        import torch

        return torch.from_numpy(x)
    if backend == "jax":
        import jax

        return jax.device_put(x)
    if backend == "array-api-strict":
        import array_api_strict

        return array_api_strict.asarray(x)
    return x


def host(x):
    """Any backend's array as a numpy array."""
    import numpy as np

    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    if type(x).__module__.startswith("array_api_strict"):
        return np.from_dlpack(x)
    return np.asarray(x)


def trace_count(backend: str):
    """jax: how often gdcore's epoch loop was traced (compiled); None for other backends."""
    if backend != "jax":
        return None
    from gdcore.backends._jax import trace_count as count

    return count()


def seed_style_loop(x, y, lr, epochs=100):
    """The original blog's training loop: an ``nn.Parameter``, autograd, 100 epochs.

    Kept as the blog wrote it (loss, ``backward``, an in-place step under
    ``no_grad``, ``grad.zero_``), minus the printing, so the baseline is what
    a user of the seed code would run.
    """
    import torch
    from torch import nn

    a = nn.Parameter(torch.tensor(SEED_W0))
    for _t in range(epochs):
        loss = ((x @ a - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            a.sub_(lr * a.grad)
            a.grad.zero_()
    return a.detach()
