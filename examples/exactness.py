"""How exact is exact: digits of the least-squares optimum w* on designs of increasing difficulty.

For each design, w* from gdcore on every installed float64 backend is compared
with an extended-precision reference (a 60-digit ``mpmath`` solve of the very
same float64 data), next to ``numpy.linalg.lstsq`` and to the analysis gdcore
used before it factored X (``eigh`` of ``X^T X / n``, eigenvalues cut at
``mu_max * max(n, d) * eps``), and the warning gdcore emitted is named.

Run: ``python examples/exactness.py`` (prints a Markdown table; add ``--quick``
for a subset).  The README's "How exact is exact" table is this output.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np

import gdcore


def digits(w, ref) -> float:
    """Correct significant digits: ``-log10(max|w - ref| / max|ref|)``, from 0 to 16."""
    w, ref = np.asarray(w, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    err = np.max(np.abs(w - ref)) / np.max(np.abs(ref))
    return 16.0 if err == 0 else float(np.clip(-math.log10(err), 0.0, 16.0))


def mp_lstsq(X, y, dps=60):
    """Least squares of the float64 data in ``dps``-digit arithmetic (the reference)."""
    import mpmath

    with mpmath.workdps(dps):
        A, b = mpmath.matrix(X.tolist()), mpmath.matrix(y.tolist())
        w = mpmath.lu_solve(A.T * A, A.T * b)  # 60 digits leave 30 after squaring cond 1e15
        return np.array([float(v) for v in w])


def normal_equations(X, y):
    """The analysis gdcore used before: eigh of X^T X / n, eigenvalues below mu_max max(n,d) eps cut."""
    n, d = X.shape
    G, b = X.T @ X / n, X.T @ y / n
    mu, V = np.linalg.eigh((G + G.T) / 2)
    keep = mu > mu[-1] * max(n, d) * np.finfo(np.float64).eps
    return V[:, keep] @ ((V[:, keep].T @ b) / mu[keep])


def prescribed(n, d, cond, seed=0):
    """X = U diag(s) V^T with singular values from 1 to 1/cond; y = X w + noise."""
    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.normal(size=(n, d)))
    V, _ = np.linalg.qr(rng.normal(size=(d, d)))
    X = (U * np.geomspace(1.0, 1.0 / cond, d)) @ V.T
    return X, X @ rng.uniform(1.0, 2.0, size=d) + 1e-3 * rng.normal(size=n)


def polynomial(degree, lo=0.0, n=50):
    x = np.linspace(lo, lo + 1.0, n)
    return np.stack([x**k for k in range(degree + 1)], axis=1), np.sin(3 * x) + 0.1 * np.cos(17 * x)


def econometric(n=120, seed=3):
    """A calendar year beside an intercept, a population in people and an incidence per person."""
    rng = np.random.default_rng(seed)
    X = np.stack([rng.integers(1990, 2024, size=n).astype(float), rng.lognormal(13.0, 1.0, size=n),
                  rng.uniform(1e-4, 5e-4, size=n), np.ones(n)], axis=1)
    return X, X @ np.array([0.8, 3e-5, 4e3, -1500.0]) + rng.normal(0.0, 0.5, size=n)


def designs(quick=False):
    conds = (1e1, 1e5, 1e9, 1e13) if quick else (1e1, 1e3, 1e5, 1e7, 1e9, 1e11, 1e13, 1e15)
    for c in conds:
        yield f"prescribed SVD, cond {c:.0e}", *prescribed(100, 6, c)
    yield "econometric: year, population, incidence, 1", *econometric()
    for degree, lo in ((5, 0.0), (8, 0.0), (10, 0.0)) if not quick else ((8, 0.0),):
        yield f"polynomial degree {degree} on [{lo:g}, {lo + 1:g}]", *polynomial(degree, lo)
    if not quick:
        yield "polynomial degree 8 on [1, 2]", *polynomial(8, 1.0)


def gdcore_optimum(X, y, backend):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = gdcore.fit(X, y, lr=1e-3, epochs=0, backend=backend)
    kinds = sorted({("rank-deficient" if "rank-deficient" in str(w.message) else "ill-conditioned")
                    for w in caught if issubclass(w.category, gdcore.IllConditionedWarning)})
    return r.optimum.weights, r.stability, kinds


def main(argv=None) -> int:
    quick = "--quick" in (sys.argv[1:] if argv is None else argv)
    backends = [b for b in ("numpy", "torch", "jax") if b in gdcore.available_backends()]
    print("| design | cond(X) | lstsq | before (eigh of X^T X) | "
          + " | ".join(f"gdcore {b}" for b in backends) + " | warning |")
    print("|---|---|---|---|" + "---|" * len(backends) + "---|")
    for name, X, y in designs(quick):
        ref = mp_lstsq(X, y)
        s = np.linalg.svd(X, compute_uv=False)
        row = [name, f"{s[0] / s[-1]:.1e}", f"{digits(np.linalg.lstsq(X, y, rcond=None)[0], ref):.1f}",
               f"{digits(normal_equations(X, y), ref):.1f}"]
        kinds = []
        for b in backends:
            w, _, kinds = gdcore_optimum(X, y, b)
            row.append(f"{digits(w, ref):.1f}")
        row.append(", ".join(kinds) or "none")
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
