"""examples/onset.py measures what it reports, and benchmarks/mlp_sweep.py flags its targets honestly.

The study's full run (90 networks, minutes) is not repeated here: one small
network checks that the onset is the smallest diverged lr of both sweeps and
that the counts the README quotes are computed from the runs.  The
benchmark's report is checked on made-up worker results (no timing).
"""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _onset_module():
    spec = importlib.util.spec_from_file_location("onset_example", ROOT / "examples" / "onset.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_onset_is_the_smallest_diverged_lr_and_the_counts_come_from_the_runs():
    onset = _onset_module()
    r = onset.onset_of("bump", 20, 0)
    ratios = [run["lr_over_lr_crit"] for run in r["runs"]]
    assert ratios == sorted(ratios)
    assert len(ratios) == len(onset.COARSE) + onset.REFINE - 1  # one refined interval
    diverged = [run["lr_over_lr_crit"] for run in r["runs"] if run["status"] == "diverged"]
    assert r["onset"] == min(diverged)
    assert 0.5 <= r["onset"] <= 8.0
    # the onset is resolved to one refined step: the next lower lr is within 2^(1/24)
    assert r["onset"] / r["last_stable_below"] == pytest.approx(2 ** (1 / 24), rel=1e-9)
    assert r["lr_crit"] == pytest.approx(2.0 / r["lambda_0"])
    s = onset.summarise([r])
    below = [run for run in r["runs"] if run["lr_over_lr_crit"] < 1.0]
    assert s["runs_below_lr_crit"] == len(below) == 4  # 0.5, 0.59, 0.71, 0.84
    assert s["runs_below_lr_crit_diverged"] == sum(run["status"] == "diverged" for run in below)
    assert s["onset_in_bracket"] == int(1.0 <= r["onset"] <= 2.0)
    assert "| bump | 20 | 1 |" in onset.table([r], s, 1.0, 1.0)


def _worker(backend, sweep_s, loop_s, lam_s, fixed_s, scale=4.0):
    def t(v):
        return {"median_s": v, "min_s": v, "max_s": v, "repeats": 3, "times_s": [v] * 3}

    return {"ok": True, "task": {"kind": "mlp", "backend": backend, "repeats": 3, "loop_lrs": 16},
            "sweep": t(sweep_s), "loop": t(loop_s), "loop_measured": t(loop_s / scale),
            "loop_lrs": int(64 / scale), "scale_factor": scale, "stability": t(lam_s),
            "fit_epochs0": t(fixed_s), "sweep_epochs0": t(fixed_s),
            "sweep_cpu": {"wall_s": sweep_s, "user_s": sweep_s, "sys_s": 0.0},
            "fit_cpu": {"wall_s": 0.1, "user_s": 0.1, "sys_s": 0.0},
            "trace_count_before": 2, "trace_count_after": 2, "lambda_0": 36.0,
            "lr_crit": 2 / 36.0, "statuses": {"max_epochs": 64}, "status_agree": 16,
            "sweep_hotspots": [], "fit_hotspots": [], "first_sweep_s": 1.0}


def test_mlp_sweep_report_flags_targets_and_subtracts_lambda_0():
    from benchmarks import mlp_sweep

    section = mlp_sweep.report([_worker("numpy", 1.0, 4.0, 0.01, 0.02),
                                _worker("jax", 1.0, 2.0, 0.005, 0.005)], quick=True)
    rows = {(r["backend"], r["name"]): r for r in section["rows"]}
    sw = rows[("numpy", "sweep K=64")]
    assert sw["ratio"] == pytest.approx(4.0)
    assert sw["target_met"] is False and "MISSED" in sw["notes"]
    assert sw["ratio_without_lambda0"] == pytest.approx((4.0 - 64 * 0.01) / (1.0 - 0.01))
    assert rows[("jax", "sweep K=64")]["target_met"] is True
    assert "SCALED" in rows[("numpy", "loop of 64 fit (baseline)")]["notes"]
    assert section["target_missed"] == ["numpy: 4.00x < 5x"]
