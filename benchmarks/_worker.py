"""One benchmark task in a fresh process: ``python -m benchmarks._worker BENCH TASK_JSON OUT_JSON``.

Each backend is timed in its own process because, on a machine with few
cores, the idle worker threads that torch and jax start slow down numpy's BLAS
by 1.5-2x when they share a process.  The worker imports only the benchmark
module and what its task needs (a numpy task never imports torch or jax; the
result records ``frameworks_loaded`` to prove it).
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
import traceback

from benchmarks._harness import frameworks_loaded

__all__ = ["main"]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        print("usage: python -m benchmarks._worker BENCH TASK_JSON OUT_JSON", file=sys.stderr)
        return 2
    bench, task_json, out_path = argv
    task = json.loads(task_json)
    t0 = time.perf_counter()
    try:
        module = importlib.import_module(f"benchmarks.{bench}")
        result = {"ok": True, **module.work(**task)}
    except Exception as exc:  # reported to the parent, which prints it in the table
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc()}
    result["task"] = task
    result["worker_s"] = time.perf_counter() - t0
    result["frameworks_loaded"] = frameworks_loaded()
    result["python"] = platform.python_version()
    with open(out_path, "w") as f:
        json.dump(result, f, allow_nan=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
