"""suggest_study: ``suggest_lr`` on five small regression nets against a 30-lr brute-force grid.

For each net (numpy backend, float64, ``--epochs`` epochs, default 1000):

- ``suggest_lr``'s lr and its final loss at the budget (measured by the sweep it ran);
- the best final loss of a brute-force grid: 30 lrs ``geomspace(1e-3, 10) x 2/lambda_0``, one
  sweep at the same budget, diverged runs excluded; the target is suggested / best <= 1.25;
- the cost of ``suggest_lr`` two ways: its arithmetic (the lrs it ran, each a run of the budget),
  and its wall-clock time over that of one ``fit`` at the budget (a K-lr sweep is one vectorised
  program, so on small nets its time is far below K fits');
- gdcore's ``lr_find`` suggestions (valley, steep, minimum/10) and their final losses at the
  budget (one sweep of the three).

Run: ``python -m benchmarks.suggest_study [--epochs N]``; prints a table.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import gdcore


def nets():
    """(name, X, y, model): the five nets."""
    out = []
    x = np.linspace(-1, 1, 50)[:, None]
    out.append(("sin(3x) tanh 1-20-1, n=50", x, np.sin(3 * x[:, 0]), gdcore.models.mlp((20,))))
    x = np.linspace(-1, 1, 80)[:, None]
    out.append(("sin(3x) relu 1-50-1, n=80", x, np.sin(3 * x[:, 0]),
                gdcore.models.mlp((50,), "relu")))
    x = np.linspace(-1, 1, 100)[:, None]
    out.append(("x cos(4x) tanh 1-100-1, n=100", x, x[:, 0] * np.cos(4 * x[:, 0]),
                gdcore.models.mlp((100,))))
    x = np.linspace(-1, 1, 100)[:, None]
    out.append(("exp(-4x^2) relu 1-100-1, n=100", x, np.exp(-4 * x[:, 0] ** 2),
                gdcore.models.mlp((100,), "relu")))
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    y = (y - y.mean()) / y.std()
    out.append(("diabetes tanh 10-32-1, n=442", X, y, gdcore.models.mlp((32,))))
    return out


def _best(res):
    ok = np.array([s != "diverged" for s in res.status]) & np.isfinite(res.final_loss)
    i = int(np.argmin(np.where(ok, res.final_loss, np.inf)))
    return float(res.lrs[i]), float(res.final_loss[i])


def study(name, X, y, model, epochs):
    t = time.perf_counter()
    s = gdcore.suggest_lr(X, y, epochs=epochs, model=model)
    t_suggest = time.perf_counter() - t
    lr_crit = s.lr_crit
    t = time.perf_counter()
    gdcore.fit(X, y, lr=0.5 * lr_crit, epochs=epochs, model=model)
    t_fit = time.perf_counter() - t
    grid = gdcore.sweep(X, y, np.geomspace(1e-3, 10, 30) * lr_crit, epochs=epochs, model=model)
    g_lr, g_loss = _best(grid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gdcore.LRFinderWarning)
        f = gdcore.lr_find(X, y, model=model)
    names = [k for k, v in f.suggestions.items() if v is not None]
    finder = dict.fromkeys(f.suggestions)
    if names:
        r = gdcore.sweep(X, y, [f.suggestions[k] for k in names], epochs=epochs, model=model)
        for k, lr, fl, st in zip(names, r.lrs, r.final_loss, r.status):
            finder[k] = (float(lr), float(fl) if st != "diverged" else float("nan"))
    return dict(name=name, lr_crit=lr_crit, lr=s.lr, loss=s.final_loss, grid_lr=g_lr,
                grid_loss=g_loss, ratio=s.final_loss / g_loss, runs=s.cost,
                wall=t_suggest / t_fit, finder=finder)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=1000)
    args = p.parse_args(argv)
    rows = [study(*net, args.epochs) for net in nets()]
    print(f"epochs = {args.epochs}; losses are the training MSE at the budget; lr in units of "
          "2/lambda_0 in brackets")
    print(f"{'net':<32} {'suggest lr':>16} {'loss':>10} {'grid best lr':>16} {'loss':>10} "
          f"{'ratio':>6} {'runs':>5} {'wall/fit':>8}")
    for r in rows:
        print(f"{r['name']:<32} {r['lr']:>8.3g} ({r['lr'] / r['lr_crit']:>4.2f}) {r['loss']:>10.3g} "
              f"{r['grid_lr']:>8.3g} ({r['grid_lr'] / r['lr_crit']:>4.2f}) {r['grid_loss']:>10.3g} "
              f"{r['ratio']:>6.2f} {r['runs']:>5.0f} {r['wall']:>8.2f}")
    hits = sum(r["ratio"] <= 1.25 for r in rows)
    print(f"within 1.25x of the grid's best: {hits} of {len(rows)}")
    print()
    print("lr_find's suggestions (lr in units of 2/lambda_0; final loss at the budget; "
          "ratio to the grid's best)")
    print(f"{'net':<32} " + " ".join(f"{k:>30}" for k in ("valley", "steep", "minimum/10")))
    for r in rows:
        cells = []
        for k in ("valley", "steep", "minimum/10"):
            v = r["finder"][k]
            cells.append("-" if v is None else
                         f"{v[0] / r['lr_crit']:.3g}x: {v[1]:.3g} ({v[1] / r['grid_loss']:.3g}x)")
        print(f"{r['name']:<32} " + " ".join(f"{c:>30}" for c in cells))


if __name__ == "__main__":
    main()
