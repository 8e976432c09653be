"""The benchmark entry point and the backend comparison script run and report what they promise.

Both run in subprocesses, as a user runs them.  Nothing here asserts on a
wall-clock value: timings only have to be present and positive.
"""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

from conftest import require

ROOT = Path(__file__).resolve().parents[2]


def run(*args, timeout=120):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_benchmarks_quick_seed_fit_writes_the_promised_json(tmp_path):
    require("torch")  # the baseline is the blog's torch loop
    out = tmp_path / "bench.json"
    proc = run("-m", "benchmarks", "--quick", "--only", "seed_fit", "--repeats", "3",
               "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "seed_fit" in proc.stdout and "ratio" in proc.stdout
    doc = json.loads(out.read_text())
    assert {"command", "quick", "versions", "cpu_count"} <= set(doc["meta"])
    assert doc["meta"]["quick"] is True
    assert list(doc["benchmarks"]) == ["seed_fit"]
    section = doc["benchmarks"]["seed_fit"]
    assert {"title", "ratio", "rows", "notes", "workers"} <= set(section)
    rows = {r["backend"]: r for r in section["rows"]}
    assert "torch (autograd)" in rows  # the baseline
    for backend, package in (("numpy", "numpy"), ("torch", "torch"), ("jax", "jax"),
                             ("array-api-strict", "array_api_strict")):
        if importlib.util.find_spec(package) is None:
            assert "skipped" in rows[backend]["notes"]
            continue
        r = rows[backend]
        for key in ("median_s", "min_s", "max_s", "ratio", "per_epoch_s", "marginal_per_epoch_s"):
            assert isinstance(r[key], float) and math.isfinite(r[key]), (backend, key, r[key])
        assert 0 < r["min_s"] <= r["median_s"] <= r["max_s"]
        assert r["repeats"] == 3
        assert r["status"] == "converged"
    if "jax" in rows:
        assert rows["jax"]["recompiled"] is False  # new lrs, same shapes
        assert rows["jax"]["compile_s"] > 0
    numpy_worker = next(w for w in section["workers"] if w["task"]["backend"] == "numpy")
    assert numpy_worker["frameworks_loaded"] == []  # the numpy worker never imports torch/jax


def test_benchmarks_quick_sweep_1000_times_the_peers(tmp_path):
    require("torch")  # the baseline is the blog's torch loop
    out = tmp_path / "bench.json"
    proc = run("-m", "benchmarks", "--quick", "--threads", "1", "--only", "sweep_1000",
               "--repeats", "2", "--out", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    section = json.loads(out.read_text())["benchmarks"]["sweep_1000"]
    peers = {r["peer"]: r for r in section["rows"] if "peer" in r}
    expected = {"numpy_analytic": "numpy", "numpy_gram": "numpy", "torch_autograd": "torch",
                "torch_vmap": "torch", "jax_optax": "optax"}
    for name, package in expected.items():
        if importlib.util.find_spec(package) is None or (
                name == "jax_optax" and importlib.util.find_spec("jax") is None):
            failed = [r for r in section["rows"] if r["name"].startswith("peer:")
                      and r["median_s"] is None]
            assert any("skipped" in r["notes"] for r in failed), name
            continue
        r = peers[name]
        assert isinstance(r["median_s"], float) and math.isfinite(r["median_s"]), name
        assert 0 < r["min_s"] <= r["median_s"] <= r["max_s"]
        assert r["max_abs_diff"] <= 1e-3  # the peer computes what gdcore computes
    peer_backends = {r["backend"] for r in peers.values()}
    for r in section["rows"]:
        if r["name"].startswith("sweep method=") and r["backend"] in peer_backends:
            assert isinstance(r["ratio_vs_peer"], float) and r["ratio_vs_peer"] > 0, r
            assert r["best_peer"]
        if r["name"].startswith("sweep method=") and r["backend"] == "jax":
            assert r["first_call_compiles"] >= 1
            assert r["trace_count_after"] == r["trace_count_before"]


def test_compare_quick_agrees_and_prints_a_table():
    proc = run("backends/compare.py", "--quick")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("problem"))
    assert lines[header + 1].startswith("---")
    body = [line for line in lines[header + 2:] if line.startswith("seed")]
    assert any(" numpy " in line and "reference" in line for line in body)
    assert {"float32", "float64"} <= {line.split()[3] for line in body}
    assert "agree with numpy" in proc.stdout


def test_exactness_example_prints_the_readme_table():
    proc = run("examples/exactness.py", "--quick")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| prescribed")]
    assert len(rows) == 4
    cells = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:-1]] for r in rows}
    # cond 1e9: the old normal-equations analysis keeps no digit, gdcore keeps lstsq's
    old, lstsq, numpy = (float(cells["prescribed SVD, cond 1e+09"][i]) for i in (2, 1, 3))
    assert old < 1.0 and numpy >= lstsq - 1.0
    assert cells["prescribed SVD, cond 1e+09"][-1] == "ill-conditioned"
    assert cells["prescribed SVD, cond 1e+01"][-1] == "none"
