"""torch backend: gradients by autograd, CPU or CUDA.

The loss is the standard-only :func:`gdcore.core.direct_loss` (or its Gram
form); its gradient comes from ``torch.autograd.grad``, never from the
analytic formula, so the tests comparing backends also check autograd.

Unlike numpy and jax, the direct path takes the gradient of the whole array
at once rather than block by block (:func:`gdcore.core.blockwise`): on a CPU
torch's matrix-vector kernels, not memory, bound an epoch (``X @ w`` alone
took 28-38 ms at 1e6 x 64 float32, against 15 ms for numpy), and one
autograd call per block measured 66-84 against 52-59 ms per epoch.
"""

from __future__ import annotations

import numpy as np
import torch
from array_api_compat import torch as xp_torch

from gdcore.backends._base import BackendBase

__all__ = ["BACKEND"]


class TorchBackend(BackendBase):
    name = "torch"
    gradient = "autograd"
    xp = xp_torch

    def resolve_device(self, device):
        if device is None:
            return None
        if isinstance(device, torch.device):
            device = device.type
        if device == "cpu":
            return torch.device("cpu")
        if device in ("cuda", "gpu"):
            if not torch.cuda.is_available():
                raise ValueError(
                    f"device={device!r}: torch sees no CUDA GPU on this machine "
                    f"(torch {torch.__version__}); use device='cpu' or install a CUDA build of torch."
                )
            return torch.device("cuda")
        raise ValueError(f"unknown device {device!r}; use None, 'cpu', 'cuda' or 'gpu'.")

    def default_float(self):
        return str(torch.get_default_dtype()).removeprefix("torch.")

    def dtype(self, name):
        return getattr(torch, name)

    def asarray(self, data, dtype, device):
        dt = getattr(torch, dtype)
        if isinstance(data, torch.Tensor):
            t = data.detach()
            return t.to(dtype=dt, device=device if device is not None else t.device)
        host = np.asarray(data)
        if not host.flags.writeable:  # e.g. a jax array's buffer: torch warns about those
            host = host.copy()
        return torch.as_tensor(host, dtype=dt, device=device)

    def qr_r(self, A):
        return torch.linalg.qr(A, mode="r").R  # no Q

    @staticmethod
    def to_numpy(x):
        return x.detach().cpu().numpy()

    def check_input(self, obj, name, target):
        """Sparse and meta tensors hold no dense values gdcore could read: say what to do.

        A tensor in an autograd graph is detached: gdcore reads its values only
        (fit never backpropagates).  Applies whichever backend reads the tensor.
        """
        if obj.layout != torch.strided:
            raise TypeError(
                f"{name} is a sparse torch tensor ({obj.layout}); gdcore needs dense arrays: pass "
                f"{name}.to_dense()."
            )
        if obj.is_meta:
            raise ValueError(
                f"{name} is on torch's 'meta' device, which holds shapes but no values; "
                "materialise it on a real device first (e.g. build it with device='cpu' or 'cuda')."
            )
        return obj.detach() if obj.requires_grad else obj

    def wrap_model(self, obj):
        """A ``torch.nn.Module`` as a :class:`TorchModuleModel`; None for anything else."""
        return TorchModuleModel(obj) if isinstance(obj, torch.nn.Module) else None

    def value_and_grad(self, p):
        loss_fn = self.loss_fn(p)

        def value_and_grad(W):
            W = W.detach().requires_grad_(True)
            with torch.enable_grad():
                loss = loss_fn(W)
                (grad,) = torch.autograd.grad(loss.sum(), W)
            return loss.detach(), grad

        return value_and_grad

    def hvp(self, p):
        """``hvp(W, V) -> H(W) V`` by double backward: exact to rounding (no step to choose).

        The first ``torch.autograd.grad`` keeps its graph (``create_graph=True``);
        the second differentiates ``<grad, V>``, column by column since the
        columns are independent.  A loss whose gradient does not depend on W
        has ``H V = 0``.

        Examples
        --------
        >>> import torch
        >>> from gdcore import backends, core
        >>> b = backends.get("torch")
        >>> X = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
        >>> p = core.DataProblem(X, torch.zeros((2, 1), dtype=torch.float64))
        >>> HV = b.hvp(p)(torch.zeros((2, 1), dtype=torch.float64),
        ...               torch.ones((2, 1), dtype=torch.float64))  # H = X^T X
        >>> HV.ravel().tolist()
        [1.0, 4.0]
        """
        loss_fn = self.loss_fn(p)

        def hvp(W, V):
            W = W.detach().requires_grad_(True)
            with torch.enable_grad():
                (g,) = torch.autograd.grad(loss_fn(W).sum(), W, create_graph=True)
                if not g.requires_grad:  # gradient constant in W: the Hessian is 0
                    return torch.zeros_like(W).detach()
                (hv,) = torch.autograd.grad(g, W, grad_outputs=V.detach(), allow_unused=True)
            return torch.zeros_like(W).detach() if hv is None else hv.detach()

        return hvp

    def hvp_grad(self, p):
        """``hvp_grad(W, U)``: the gradient of ``(U * hvp(W, U)).sum()`` by a third backward pass.

        The columns are independent runs, so the gradient of the sum is, column
        by column, the gradient of ``U_c^T H(W_c) U_c``.  A loss whose Hessian
        does not depend on W (a quadratic) gives 0.
        """
        loss_fn = self.loss_fn(p)

        def hvp_grad(W, U):
            W, U = W.detach().requires_grad_(True), U.detach()
            zero = torch.zeros_like(W).detach()
            with torch.enable_grad():
                (g,) = torch.autograd.grad(loss_fn(W).sum(), W, create_graph=True)
                if not g.requires_grad:
                    return zero
                (hv,) = torch.autograd.grad(g, W, grad_outputs=U, create_graph=True, allow_unused=True)
                if hv is None or not hv.requires_grad:
                    return zero
                (t,) = torch.autograd.grad((U * hv).sum(), W, allow_unused=True)
            return zero if t is None else t.detach()

        return hvp_grad


BACKEND = TorchBackend()


class TorchModuleModel:
    """A user's ``torch.nn.Module`` as a gdcore model (``fit(..., model=module, backend="torch")``).

    The module is never modified: its parameters are read once (or taken from
    ``w0``, a dict ``name -> tensor`` or a sequence in ``named_parameters()``
    order), flattened into the (P, K) column layout of every gdcore model, and
    every forward pass is ``torch.func.functional_call`` with one column's
    parameters, ``torch.func.vmap``-ed over the K runs.  Buffers are used as
    they are.  The output is reshaped to (n, m).
    """

    name = "torch-module"
    quadratic = False
    backend = "torch"

    def __init__(self, module):
        self.module = module

    @staticmethod
    def check_backend(name: str) -> None:
        """Raise ``ValueError`` unless ``name`` is the torch backend's (the module needs autograd)."""
        if name != "torch":
            raise ValueError(
                f"a torch.nn.Module runs on backend='torch' (autograd through "
                f"torch.func.functional_call), not {name!r}; pass backend='torch'."
            )

    def describe(self) -> str:
        return f"torch {type(self.module).__name__}"

    def bind(self, prep, w0):
        named = [(k, tuple(p.shape)) for k, p in self.module.named_parameters()]
        if not named:
            raise ValueError("the torch module has no parameters to train; give it some (e.g. nn.Linear).")
        if w0 is None:
            values = [p.detach().cpu().double().numpy() for _, p in self.module.named_parameters()]
        else:
            if isinstance(w0, dict):
                missing = [k for k, _ in named if k not in w0]
                if missing:
                    raise ValueError(f"w0 lacks the module's parameters {missing}; pass every "
                                     "name of module.named_parameters().")
                w0 = [w0[k] for k, _ in named]
            if len(w0) != len(named):
                raise ValueError(f"w0 has {len(w0)} arrays; the module has {len(named)} parameters "
                                 f"{[k for k, _ in named]}.")
            values = [np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v,
                                 dtype=np.float64) for v in w0]
            for (k, shape), v in zip(named, values):
                if v.shape != shape:
                    raise ValueError(f"w0[{k!r}] has shape {v.shape}; the module needs {shape}.")
        flat = np.concatenate([v.reshape(-1) for v in values])
        if not np.all(np.isfinite(flat)):
            raise ValueError("w0 (or the module's parameters) contains nan or inf; pass finite values.")
        return _BoundModule(self.module, tuple(named), flat, prep)


class _BoundModule:
    """A module bound to its parameter layout: ``loss`` over (P, K) columns, ``params`` back."""

    @property
    def core(self):
        """What the core computes with: this bound model itself (it has ``loss``)."""
        return self

    def __init__(self, module, named, flat, prep):
        self.module, self.named, self.flat, self.prep = module, named, flat, prep

    def initial(self):
        return self.flat

    def _unflatten(self, col):
        out, o = {}, 0
        for k, shape in self.named:
            size = int(np.prod(shape, dtype=np.int64))
            out[k] = col[o : o + size].reshape(shape)
            o += size
        return out

    def loss(self, X, Y, W, xp, n=None):
        n = X.shape[0] if n is None else n

        def one(col):
            out = torch.func.functional_call(self.module, self._unflatten(col), (X,))
            r = out.reshape(X.shape[0], -1) - Y
            return torch.sum(r * r) / n

        return torch.func.vmap(one, in_dims=1)(W)

    def params(self, flat):
        """One run's parameters as a dict ``name -> tensor`` (the module's names, X's device)."""
        dev = self.prep.device
        dt = getattr(torch, self.prep.dtype)
        return {k: torch.as_tensor(np.ascontiguousarray(v), dtype=dt, device=dev)
                for k, v in self._unflatten(np.asarray(flat)).items()}
