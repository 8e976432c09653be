"""The ``gdcore`` command line."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _demo(args) -> int:
    import gdcore

    X, y = gdcore.make_linear(n=100, seed=args.seed)
    s = gdcore.stability(X)
    print(f"data: make_linear(n=100, seed={args.seed}) -> y = 3x + 2 + uniform[0,1) noise")
    print(f"Hessian eigenvalues {s.eigenvalues.round(4).tolist()}, "
          f"lr_crit = {s.lr_crit:.4f}, lr_opt = {s.lr_opt:.4f}")
    print(f"{'lr':>6} {'regime':>12} {'status':>11} {'epoch':>6} {'predicted':>9} {'final loss':>12}")
    runs = []
    for lr in (0.1, 0.7, 1.01):
        r = gdcore.fit(X, y, lr=lr, epochs=args.epochs, backend=args.backend)
        runs.append(r.to_dict())
        ep = r.converged_epoch if r.status != "diverged" else r.diverged_epoch
        pred = "-" if r.predicted_epoch is None else r.predicted_epoch
        print(f"{lr:>6} {r.regime:>12} {r.status:>11} {str(ep):>6} {str(pred):>9} {r.final_loss:>12.6g}")
    if args.out:
        import json
        import pathlib

        out = pathlib.Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        summary = {"data": {"n": 100, "seed": args.seed}, "stability": s.to_dict(), "runs": runs}
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        print(f"wrote {out / 'summary.json'}")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``gdcore`` command."""
    parser = argparse.ArgumentParser(prog="gdcore", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="reproduce the learning-rate study (lr 0.1, 0.7, 1.01)")
    demo.add_argument("--backend", default="numpy", help="numpy, torch, jax or array-api-strict")
    demo.add_argument("--epochs", type=int, default=100, help="epochs per run (default 100)")
    demo.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    demo.add_argument("--out", default=None, help="folder for summary.json (default: print only)")
    args = parser.parse_args(argv)
    return _demo(args)


if __name__ == "__main__":
    sys.exit(main())
