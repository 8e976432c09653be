"""Badly conditioned real data: scikit-learn's diabetes set, raw and standardized.

Run: python examples/diabetes.py   (needs scikit-learn; the data ship with it, no download)

The raw features have very different scales and large means (age ~ 49, blood
pressure ~ 95, the serum columns up to ~ 190), so the Hessian (2/n) X^T X has
eigenvalues spread over ~8 decades: lr_crit is set by the largest, the speed by
the smallest, and gradient descent at the best constant lr barely moves.
Standardizing the columns makes the feature block twice the correlation matrix
and decouples the bias: the condition number drops to that of the correlations.
"""

import numpy as np
from sklearn.datasets import load_diabetes

import gdcore


def main(epochs: int = 2000) -> None:
    X, y = load_diabetes(return_X_y=True, scaled=False)
    X = np.hstack([X, np.ones((len(X), 1))])  # the bias column
    print(f"diabetes: n={X.shape[0]}, d={X.shape[1]} (10 features + bias), {epochs} epochs at lr_opt\n")
    print(f"{'':>14} {'lambda_max':>11} {'lambda_min':>11} {'condition':>10} {'lr_crit':>9} "
          f"{'lr_opt':>9} {'predicted':>10} {'status':>10} {'loss gap left':>14}")
    for standardize in (False, True):
        s = gdcore.stability(X, standardize=standardize)
        r = gdcore.fit(X, y, lr=s.lr_opt, epochs=epochs, standardize=standardize)
        gap = (r.losses[-1] - r.optimum.loss) / (r.losses[0] - r.optimum.loss)
        pred = s.predicted_epochs(s.lr_opt)
        name = "standardized" if standardize else "raw"
        print(f"{name:>14} {s.lambda_max:>11.4g} {s.lambda_min_positive:>11.4g} {s.condition_number:>10.3g} "
              f"{s.lr_crit:>9.3g} {s.lr_opt:>9.3g} {pred:>10} {r.status:>10} {gap:>14.3g}")
    print("\npredicted = worst-case epochs to shrink the loss gap 1000x at lr_opt: "
          "ceil(ln(1e-3) / (2 ln rho)), rho = (kappa - 1) / (kappa + 1).")


if __name__ == "__main__":
    main()
