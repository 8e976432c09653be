"""``python -m benchmarks [--quick] [--only NAME ...] [--out PATH]``: run, print, write JSON.

Every task runs in its own ``python -m benchmarks._worker`` process, one at a
time, so backends never share a process (or the cores) while being timed.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import BENCHMARKS
from benchmarks._common import installed
from benchmarks._harness import cpu_busy
from benchmarks._report import format_section

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "latest.json"
BUSY_WARNING = 0.15  # share of all CPUs busy with other work before a worker starts


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="gdcore's benchmark suite: every backend timed in its own process, "
                    "ratios against baselines measured in the same run, results as JSON.",
    )
    p.add_argument("--quick", action="store_true",
                   help="small sizes: each benchmark finishes in under a minute on 2 cores")
    p.add_argument("--only", nargs="+", choices=BENCHMARKS, metavar="NAME",
                   help=f"run only these benchmarks (of {', '.join(BENCHMARKS)})")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="JSON results file (default: benchmarks/results/latest.json); "
                        "scaling.png is written next to it")
    p.add_argument("--repeats", type=int, default=None,
                   help="timed repeats per measurement (default: per benchmark and size)")
    p.add_argument("--threads", type=int, default=None,
                   help="limit every worker's BLAS/OpenMP threads (OMP_NUM_THREADS etc.; torch "
                        "follows; jax only for 1). Default: each library's own default. Useful "
                        "on a busy machine, where torch's spinning threads make its times erratic")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds one worker may take (default 600, or 3600 without --quick)")
    return p.parse_args(argv)


def thread_env(threads: int | None) -> dict:
    """Environment variables that limit the workers' threads (empty: library defaults)."""
    if not threads:
        return {}
    env = {v: str(threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                      "MKL_NUM_THREADS")}
    if threads == 1:
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return env


def run_task(bench: str, task: dict, timeout: float, extra_env=None) -> dict:
    """Run one task in a fresh worker process and return its result dictionary."""
    backend = task.get("backend", "numpy")
    if not installed(backend):
        return {"ok": False, "task": task, "skipped": f"{backend} is not installed"}
    env = {**os.environ, **(extra_env or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "benchmarks._worker", bench, json.dumps(task), str(out)]
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"ok": False, "task": task, "error": f"worker timed out after {timeout:.0f} s"}
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            return {"ok": False, "task": task,
                    "error": f"worker exited with {proc.returncode}: {' | '.join(tail)}"}
        result = json.loads(out.read_text())
    if result.get("ok") and backend == "numpy" and result.get("frameworks_loaded"):
        # the point of separate processes: a numpy worker must not carry torch/jax threads
        result["ok"] = False
        result["error"] = f"numpy worker imported {result['frameworks_loaded']}"
    return result


def describe(task: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in task.items() if k not in ("repeats",))


def meta(args) -> dict:
    import numpy as np

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for pkg in ("gdcore", "torch", "jax", "array_api_strict"):
        try:
            from importlib.metadata import version

            versions[pkg] = version(pkg.replace("_", "-"))
        except Exception:  # not installed: recorded as missing
            versions[pkg] = None
    return {
        "command": " ".join([Path(sys.executable).name, "-m", "benchmarks", *sys.argv[1:]]),
        "quick": args.quick,
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "versions": versions,
        "isolation": "one subprocess per task (python -m benchmarks._worker)",
        "threads": args.threads,
        "thread_env": thread_env(args.threads),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    names = args.only or list(BENCHMARKS)
    timeout = args.timeout or (600.0 if args.quick else 3600.0)
    out_path = args.out.resolve()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"meta": meta(args), "benchmarks": {}}
    failures = 0
    t_all = time.perf_counter()
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        tasks = module.plan(args.quick, args.repeats)
        results = []
        t_bench = time.perf_counter()
        for task in tasks:
            t0 = time.perf_counter()
            print(f"[{name}] {describe(task)} ...", end=" ", file=sys.stderr, flush=True)
            busy = cpu_busy()
            res = run_task(name, task, timeout, thread_env(args.threads))
            res["background_cpu"] = busy
            state = "ok" if res.get("ok") else ("skipped" if res.get("skipped") else "FAILED")
            print(f"{state} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
            if not res.get("ok") and not res.get("skipped"):
                failures += 1
                print(f"    {res.get('error')}", file=sys.stderr)
            results.append(res)
        section = module.report(results, args.quick, out_dir=out_path.parent)
        busy = [r["background_cpu"] for r in results if r.get("background_cpu") is not None]
        if busy:
            section["background_cpu_max"] = max(busy)
            if max(busy) > BUSY_WARNING:
                section.setdefault("notes", []).append(
                    f"WARNING: other processes kept up to {max(busy):.0%} of the CPUs busy "
                    "just before the workers started; timings are disturbed, rerun on a quiet "
                    "machine")
        section["seconds"] = time.perf_counter() - t_bench
        section["workers"] = results
        doc["benchmarks"][name] = section
        print("\n" + format_section(name, section), flush=True)
        print(f"   ({section['seconds']:.1f} s)", flush=True)
        doc["meta"]["seconds"] = time.perf_counter() - t_all
        out_path.write_text(json.dumps(doc, indent=1, allow_nan=True))
    print(f"\nwrote {out_path} ({time.perf_counter() - t_all:.1f} s in all)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
