"""Beyond quadratics: where does gradient descent on a small tanh MLP actually diverge?

For a 1-100-1 tanh MLP (``gdcore.models.mlp((100,), "tanh", seed=s)``) fit by
full-batch gradient descent to smooth 1-D regression targets, this measures the
divergence onset -- the smallest learning rate whose run diverged (loss
non-finite or above ``1e6 * L_0``) within 2,000 epochs -- in units of
``lr_crit = 2 / lambda_0``, lambda_0 being the sharpness (top Hessian
eigenvalue) at the initial weights that ``gdcore.stability`` measures.

For every (target, n, seed):

1. ``gdcore.stability`` gives lambda_0;
2. one ``gdcore.sweep`` runs a geometric grid of 17 lrs from 0.5 to 8 x lr_crit
   (ratio 2^(1/4) = 1.19: 0.5, 0.59, 0.71, 0.84, 1, 1.19, ..., 2, ..., 4, ..., 8),
   2,000 epochs;
3. a second sweep refines the first grid interval that holds a divergence with
   5 interior points (ratio 2^(1/24): the onset is resolved to 2.9%).

The onset reported is the smallest diverged lr of both sweeps (the true onset
lies between it and the next lower grid lr).  Lewkowycz et al. (2020) predict
the catapult phase for wide networks: stable below 2/lambda_0, a loss spike
that lowers the sharpness and then convergence up to about 4/lambda_0,
divergence above; i.e. an onset in [1, 2] in these units.

Run: ``python examples/onset.py`` (numpy, float64, deterministic; a few
minutes on one core) -- ``--quick`` for 3 seeds, ``--json`` to write
``examples/onset.json`` beside this script (or ``--json PATH``).  The README's
"Beyond quadratics" section is this output.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import gdcore

EPOCHS = 2000
HIDDEN = (100,)
COARSE = 2.0 ** (np.arange(-4, 13) / 4)  # 0.5 ... 8 (x lr_crit), 17 lrs, includes 1, 2, 4 exactly
REFINE = 6  # the refined interval [a, 2^(1/4) a] is cut into 6 geometric steps (2.9% each)

TARGETS = {
    "sin(3x)": lambda x: np.sin(3.0 * x),
    "bump": lambda x: np.exp(-(x**2) / (2 * 0.3**2)),
    "cubic": lambda x: x**3 - 0.5 * x,
}
SIZES = (20, 50, 100)


def data(target: str, n: int):
    """``n`` equispaced points of ``target`` on [-1, 1]: X (n, 1), y (n,), float64."""
    x = np.linspace(-1.0, 1.0, n)
    return x[:, None], TARGETS[target](x)


def onset_of(target: str, n: int, seed: int, backend="numpy") -> dict:
    """lambda_0, both sweeps and the measured onset (in units of 2/lambda_0) of one network."""
    X, y = data(target, n)
    model = gdcore.models.mlp(HIDDEN, "tanh", seed=seed)
    curv = gdcore.stability(X, y, model=model, backend=backend)
    lr_crit = curv.lr_crit
    ratios, status, div_epoch, peak, final = [], [], [], [], []

    def run(grid):
        s = gdcore.sweep(X, y, grid * lr_crit, epochs=EPOCHS, model=model, backend=backend)
        ratios.extend(float(r) for r in grid)
        status.extend(s.status)
        div_epoch.extend(s.diverged_epoch)
        L0 = s.losses[:, :1]
        with np.errstate(invalid="ignore"):
            peak.extend(np.nanmax(s.losses / L0, axis=1).tolist())  # the loss spike, x L_0
        final.extend((s.final_loss / L0[:, 0]).tolist())
        return s

    s = run(COARSE)
    first = next((i for i, st in enumerate(s.status) if st == "diverged"), None)
    if first is not None and first > 0:  # refine the grid interval that holds the first divergence
        lo, hi = COARSE[first - 1], COARSE[first]
        run(np.geomspace(lo, hi, REFINE + 1)[1:-1])
    order = np.argsort(ratios)
    ratios, status, div_epoch, peak, final = ([v[i] for i in order]
                                              for v in (ratios, status, div_epoch, peak, final))
    diverged = [r for r, st in zip(ratios, status) if st == "diverged"]
    onset = min(diverged) if diverged else None
    below = max((r for r in ratios if onset is None or r < onset), default=None)
    # non-monotone: a run above the onset that did not diverge
    survivors = [r for r, st in zip(ratios, status) if onset is not None and r > onset
                 and st != "diverged"]
    return {"target": target, "n": n, "seed": seed, "lambda_0": curv.lambda_max,
            "lr_crit": lr_crit, "onset": onset, "last_stable_below": below,
            "onset_epoch": None if onset is None else div_epoch[ratios.index(onset)],
            "survivors_above_onset": survivors,
            "runs": [{"lr_over_lr_crit": r, "status": st, "diverged_epoch": e,
                      "peak_loss_over_L0": float(pk), "final_loss_over_L0": float(fl)}
                     for r, st, e, pk, fl in zip(ratios, status, div_epoch, peak, final)]}


def quantiles(v) -> dict:
    v = np.asarray(v, dtype=np.float64)
    q = np.quantile(v, [0.0, 0.25, 0.5, 0.75, 1.0])
    return dict(zip(("min", "q1", "median", "q3", "max"), (float(x) for x in q)))


def summarise(rows) -> dict:
    """Distribution of the onsets and the counts the README quotes."""
    onsets = [r["onset"] for r in rows if r["onset"] is not None]
    in_bracket = sum(1.0 <= o <= 2.0 for o in onsets)
    runs = [run for r in rows for run in r["runs"]]
    below = [run for run in runs if run["lr_over_lr_crit"] < 1.0]
    below_div = [run for run in below if run["status"] == "diverged"]
    # the catapult: runs above the edge that did not diverge; did their loss spike above L_0?
    cat = [run for run in runs if run["lr_over_lr_crit"] > 1.0 and run["status"] != "diverged"]
    stable = [run for run in below if run["status"] != "diverged"]
    return {"networks": len(rows), "with_onset": len(onsets),
            "catapult_runs": len(cat), "catapult_spiked": sum(r["peak_loss_over_L0"] > 1.0 for r in cat),
            "catapult_peak_quantiles": quantiles([r["peak_loss_over_L0"] for r in cat]) if cat else None,
            "catapult_final_quantiles": quantiles([r["final_loss_over_L0"] for r in cat]) if cat else None,
            "below_edge_final_quantiles": quantiles([r["final_loss_over_L0"] for r in stable])
            if stable else None,
            "below_edge_spiked": sum(r["peak_loss_over_L0"] > 1.0 for r in stable),
            "onset_quantiles": quantiles(onsets) if onsets else None,
            "onset_in_bracket": in_bracket, "onset_above_bracket": sum(o > 2.0 for o in onsets),
            "onset_below_lr_crit": sum(o < 1.0 for o in onsets),
            "runs_below_lr_crit": len(below), "runs_below_lr_crit_diverged": len(below_div),
            "non_monotone_networks": sum(bool(r["survivors_above_onset"]) for r in rows),
            "lambda_0_range": [min(r["lambda_0"] for r in rows), max(r["lambda_0"] for r in rows)]}


def table(rows, summary, seconds, cpu) -> str:
    """The Markdown table (one line per target and n) and the totals."""
    out = ["| target | n | seeds | lambda_0 (min-max) | onset / (2/lambda_0): min | q1 | median | q3 | max "
           "| onset in [2, 4]/lambda_0 | runs below 2/lambda_0 that diverged |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for target in TARGETS:
        for n in SIZES:
            group = [r for r in rows if r["target"] == target and r["n"] == n]
            if not group:
                continue
            ons = [r["onset"] for r in group if r["onset"] is not None]
            lam = [r["lambda_0"] for r in group]
            q = quantiles(ons) if ons else None
            qs = " | ".join(f"{q[k]:.2f}" for k in ("min", "q1", "median", "q3", "max")) if q \
                else " | ".join("-" * 5)
            below = [run for r in group for run in r["runs"] if run["lr_over_lr_crit"] < 1.0]
            bdiv = sum(run["status"] == "diverged" for run in below)
            inb = sum(1.0 <= o <= 2.0 for o in ons)
            out.append(f"| {target} | {n} | {len(group)} | {min(lam):.3g}-{max(lam):.3g} | {qs} "
                       f"| {inb}/{len(group)} | {bdiv}/{len(below)} |")
    q = summary["onset_quantiles"]
    out.append(f"| **all** | | {summary['networks']} | {summary['lambda_0_range'][0]:.3g}-"
               f"{summary['lambda_0_range'][1]:.3g} | "
               + (" | ".join(f"**{q[k]:.2f}**" for k in ("min", "q1", "median", "q3", "max"))
                  if q else " | ".join("-" * 5))
               + f" | **{summary['onset_in_bracket']}/{summary['networks']}** | "
               f"**{summary['runs_below_lr_crit_diverged']}/{summary['runs_below_lr_crit']}** |")
    out.append("")
    out.append(f"{summary['networks']} networks ({len(TARGETS)} targets x {len(SIZES)} sizes x "
               f"{len({r['seed'] for r in rows})} seeds), {EPOCHS} epochs, "
               f"numpy float64, {seconds:.0f} s ({cpu:.0f} s of CPU). Onset in [2, 4]/lambda_0: "
               f"{summary['onset_in_bracket']}; above 4/lambda_0: {summary['onset_above_bracket']}; "
               f"below 2/lambda_0: {summary['onset_below_lr_crit']}; no divergence up to "
               f"8 x 2/lambda_0: {summary['networks'] - summary['with_onset']}. Runs below "
               f"2/lambda_0 that diverged: {summary['runs_below_lr_crit_diverged']} of "
               f"{summary['runs_below_lr_crit']}. Networks with a run above the onset that did not "
               f"diverge (non-monotone): {summary['non_monotone_networks']}.")
    if summary["catapult_runs"]:
        pq, fq = summary["catapult_peak_quantiles"], summary["catapult_final_quantiles"]
        out.append("")
        out.append(f"Catapult: {summary['catapult_runs']} runs above 2/lambda_0 did not diverge; "
                   f"the loss of {summary['catapult_spiked']} of them rose above L_0 first "
                   f"(peak / L_0: median {pq['median']:.3g}, max {pq['max']:.3g}); final loss / L_0: "
                   f"median {fq['median']:.2g}, max {fq['max']:.2g}.")
    if summary["below_edge_final_quantiles"]:
        bq = summary["below_edge_final_quantiles"]
        out.append(f"Below 2/lambda_0: the loss of {summary['below_edge_spiked']} of "
                   f"{summary['runs_below_lr_crit'] - summary['runs_below_lr_crit_diverged']} runs "
                   f"rose above L_0; final loss / L_0: median {bq['median']:.2g}, max {bq['max']:.2g}.")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=10, help="init seeds per (target, n) (default 10)")
    p.add_argument("--quick", action="store_true", help="3 seeds (a smoke run)")
    p.add_argument("--json", nargs="?", const=str(Path(__file__).with_name("onset.json")),
                   default=None, metavar="PATH",
                   help="write every run as JSON (default path: examples/onset.json)")
    args = p.parse_args(argv)
    seeds = range(3 if args.quick else args.seeds)
    t0, c0 = time.perf_counter(), time.process_time()
    rows = []
    for target in TARGETS:
        for n in SIZES:
            for seed in seeds:
                rows.append(onset_of(target, n, seed))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    summary = summarise(rows)
    print(table(rows, summary, seconds, cpu))
    if args.json:
        doc = {"epochs": EPOCHS, "hidden": list(HIDDEN), "coarse_grid": COARSE.tolist(),
               "refine_steps": REFINE, "targets": list(TARGETS), "sizes": list(SIZES),
               "seeds": len(seeds), "seconds": seconds, "cpu_seconds": cpu, "gdcore": gdcore.__version__,
               "numpy": np.__version__, "summary": summary, "networks": rows}
        Path(args.json).write_text(json.dumps(doc, indent=1))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
