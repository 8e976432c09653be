"""dask: ``fit(backend="dask")`` on a ``distributed.LocalCluster`` against in-memory numpy.

The benchmark is called ``dask`` (``--only dask``); the module is ``dask_scale.py``
so that no file in this package is named like the library (``benchmarks/__init__.py``
registers it as ``benchmarks.dask`` for the entry point).

Three kinds of task, each in its own worker process:

* ``inmem`` (the baseline): X of n x 64 float32 generated in the worker with
  numpy (seeded), ``y = X @ w_true + 0.01 * noise``, ``fit(backend="numpy")``
  with ``method="direct"`` (numpy's default) and with ``method="gram"``, 100
  epochs; one worker per method.
* ``dask_local``: the same problem on a ``LocalCluster`` of 2 worker processes x
  1 thread started inside the worker; X and y are dask arrays generated chunk by
  chunk on the cluster's workers (``dask.array.random.default_rng``, row chunks).
  ``fit(backend="dask")`` (default method: one distributed pass for ``X^T X``,
  ``X^T y``, ``y^T y``, then 100 local epochs) is timed with X *not persisted*
  (every call regenerates X on the workers, as data read from disk would be)
  and with X and y *persisted* in the workers' memory first.  Also timed: the
  same three reductions as a bare ``dask.compute`` (no gdcore: what gdcore adds
  over the pass itself) and ``method="direct"`` (one distributed pass per
  epoch, a few epochs only).  A scheduler plugin counts the graphs each fit
  submits (distributed passes).
* ``out_of_core``: X at least twice the memory given to the workers (2 workers
  x ``memory_limit``), generated chunkwise and never persisted, 100 epochs.  It
  must complete; reported: wall time, peak RSS per worker (``ru_maxrss`` at the
  end, and the maximum of ``client.run`` samples taken in a background thread,
  with the worker's status, so a pause shows), the same from ``psutil`` on the
  worker processes (their pids, so a nanny restart shows as a new pid), the
  client process's own peak, bytes spilled to disk, and ``max|w - w_true|``.

Ratio: dask time / the in-memory numpy ``method="gram"`` time at the same size
(measured in this run); notes add the ratio to numpy ``method="direct"``.
"""

from __future__ import annotations

import gc
import os
import threading
import time

from benchmarks._harness import measure, peak_rss_bytes, rss_bytes
from benchmarks._report import failed_row, row

__all__ = ["NAME", "RATIO", "TITLE", "plan", "report", "work"]

NAME = "dask"
TITLE = "fit(backend='dask') on a 2-process LocalCluster vs in-memory numpy, and out of core"
RATIO = ("dask time / in-memory numpy fit(method='gram') time at the same size, same run "
         "(lower is better; notes add / numpy method='direct')")
D = 64
LR = 0.1  # below lr_crit ~ 0.97 for standard normal columns: every epoch runs
EPOCHS = 100
NOISE = 0.01  # small: the fitted weights must land within ~NOISE / sqrt(n) of w_true
SEED = 0
WORKERS = 2
MiB = 2 ** 20


def plan(quick: bool, repeats: int | None = None) -> list[dict]:
    n, chunk = (200_000, 50_000) if quick else (1_000_000, 100_000)
    r = repeats or (3 if quick else 5)
    common = {"n": n, "d": D, "epochs": EPOCHS, "repeats": r}
    tasks = [{"part": "inmem", "backend": "numpy", "method": m, **common}
             for m in ("direct", "gram")]
    tasks.append({"part": "dask_local", "backend": "dask", "chunk_rows": chunk,
                  "direct_epochs": 3 if quick else 10, **common})
    # out of core: X >= 2 x (2 workers x memory_limit): 2**22 x 64 float32 = 1 GiB over
    # 2 x 256 MiB; --quick 3 * 2**20 x 64 = 768 MiB over 2 x 192 MiB.  Not 128 MiB: a worker
    # holds ~86 MiB once dask.array is imported and pauses at 80% of its limit (102 MiB), so
    # with 128 MiB the workers pause and the nanny kills them (95%).  Chunks of 32,768 rows
    # (8 MiB; 16 MiB in float64) keep a worker's peak near 130 MiB
    if quick:
        ooc = {"n": 3 * 2 ** 20, "memory_limit": "192MiB", "chunk_rows": 32_768, "repeats": 1}
    else:
        ooc = {"n": 2 ** 22, "memory_limit": "256MiB", "chunk_rows": 32_768,
               "repeats": repeats or 3}
    tasks.append({"part": "out_of_core", "backend": "dask", "d": D, "epochs": EPOCHS, **ooc})
    return tasks


def work(part, **task) -> dict:
    return {"inmem": _inmem, "dask_local": _dask_local, "out_of_core": _out_of_core}[part](**task)


# -- data ------------------------------------------------------------------------------------

def _true_w(d):
    import numpy as np

    return np.random.default_rng(SEED + 1).standard_normal(d).astype(np.float32)


def _numpy_data(n, d):
    import numpy as np

    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((n, d), dtype=np.float32)
    y = X @ _true_w(d) + np.float32(NOISE) * rng.standard_normal(n, dtype=np.float32)
    return X, y


def _dask_data(n, d, chunk_rows):
    """X (n, d) and y as dask arrays, generated chunk by chunk where they are computed."""
    import dask.array as da
    import numpy as np

    rng = da.random.default_rng(SEED)
    X = rng.standard_normal((n, d), dtype=np.float32, chunks=(chunk_rows, d))
    noise = rng.standard_normal(n, dtype=np.float32, chunks=chunk_rows)
    y = X @ _true_w(d) + np.float32(NOISE) * noise
    return X, y


def _fit_summary(res, d) -> dict:
    import numpy as np

    w = np.asarray(res.weights, dtype=np.float64).reshape(-1)
    return {"status": res.status, "epochs_run": res.epochs_run, "method_used": res.method,
            "weights_type": type(res.weights).__module__ + "." + type(res.weights).__name__,
            "max_abs_err": float(np.max(np.abs(w - _true_w(d))))}


# -- the in-memory baseline -----------------------------------------------------------------

def _inmem(method, n, d, epochs, repeats, backend="numpy") -> dict:
    import gdcore
    import numpy as np

    X, y = _numpy_data(n, d)

    def call(i):
        return gdcore.fit(X, y, lr=LR * (1 + 1e-6 * i), epochs=epochs, backend="numpy",
                          method=method)

    t0 = time.perf_counter()
    first = call(0)
    first_s = time.perf_counter() - t0
    timing = measure(call, repeats=repeats, warmup=0)
    return {"versions": {"gdcore": gdcore.__version__, "numpy": np.__version__},
            "nbytes": X.nbytes + y.nbytes, "timing": timing, "first_call_s": first_s,
            "peak_rss": peak_rss_bytes(), **_fit_summary(first, d)}


# -- the cluster ---------------------------------------------------------------------------

class _Cluster:
    """A quiet ``LocalCluster`` + ``Client`` for one worker process; counts submitted graphs."""

    def __init__(self, memory_limit=None):
        import logging
        import tempfile
        import warnings

        # the spawned worker processes inherit this; the parent shows stderr only on failure
        os.environ["PYTHONWARNINGS"] = "ignore::ResourceWarning,ignore::DeprecationWarning"
        warnings.filterwarnings("ignore", category=ResourceWarning)
        warnings.filterwarnings("ignore", message=".*[Pp]ort .* (is )?(already )?in use.*")
        warnings.filterwarnings("ignore", message=".*[Dd]ashboard.*")
        for name in ("distributed", "tornado", "bokeh"):
            logging.getLogger(name).setLevel(logging.ERROR)
        from distributed import Client, LocalCluster

        self.tmp = tempfile.TemporaryDirectory(prefix="gdcore-bench-dask-")
        kw = {"n_workers": WORKERS, "threads_per_worker": 1, "processes": True,
              "host": "127.0.0.1", "dashboard_address": ":0", "silence_logs": logging.ERROR,
              "local_directory": self.tmp.name}
        if memory_limit:
            kw["memory_limit"] = memory_limit
        t0 = time.perf_counter()
        self.cluster = LocalCluster(**kw)
        self.client = Client(self.cluster)
        self.client.wait_for_workers(WORKERS)
        self.start_s = time.perf_counter() - t0
        self.graphs = _graph_counter(self.cluster)

    def passes(self, fn):
        """Run ``fn()`` and return (its result, the number of graphs it submitted)."""
        before = self.graphs.count if self.graphs else None
        out = fn()
        return out, (self.graphs.count - before if self.graphs else None)

    def close(self):
        import contextlib

        with contextlib.suppress(Exception):
            self.client.close()
        with contextlib.suppress(Exception):
            self.cluster.close()
        with contextlib.suppress(Exception):
            self.tmp.cleanup()


def _graph_counter(cluster):
    """A scheduler plugin counting ``update_graph`` calls (= distributed passes), or None."""
    try:
        from distributed.diagnostics.plugin import SchedulerPlugin

        class GraphCounter(SchedulerPlugin):
            name = "gdcore-bench-graph-counter"

            def __init__(self):
                self.count = 0

            def update_graph(self, scheduler, **kwargs):
                self.count += 1

        counter = GraphCounter()
        cluster.scheduler.add_plugin(counter)  # the scheduler lives in this process
        return counter
    except Exception:  # counting is a diagnostic; the timings stand without it
        return None


def _cluster_versions():
    import dask
    import distributed
    import gdcore
    import numpy as np

    return {"gdcore": gdcore.__version__, "numpy": np.__version__, "dask": dask.__version__,
            "distributed": distributed.__version__}


def _raw_pass(X, y):
    """The reductions gdcore's Gram path computes, as one bare ``dask.compute`` (no gdcore)."""
    import dask
    import numpy as np

    n = X.shape[0]
    Xf, yf = X.astype(np.float64), y.astype(np.float64)
    return dask.compute(Xf.T @ Xf / n, Xf.T @ yf / n, (yf * yf).sum() / n)


def _task_stream(client, fn):
    """Tasks run and worker compute seconds during ``fn()`` (distributed's task stream)."""
    from distributed import get_task_stream

    with get_task_stream(client) as ts:
        fn()
    busy = sum(s["stop"] - s["start"] for t in ts.data for s in t.get("startstops", ())
               if s.get("action") == "compute")
    return {"tasks": len(ts.data), "worker_compute_s": busy}


# -- dask on a local cluster ----------------------------------------------------------------

def _dask_local(n, d, chunk_rows, epochs, repeats, direct_epochs, backend="dask") -> dict:
    import gdcore
    from distributed import wait

    cl = _Cluster()
    try:
        client = cl.client
        X, y = _dask_data(n, d, chunk_rows)
        out = {"versions": _cluster_versions(), "cluster_start_s": cl.start_s,
               "nbytes": X.nbytes + y.nbytes, "chunks": len(X.chunks[0])}

        def fitter(Xa, ya, method=None, ep=epochs):
            kw = {} if method is None else {"method": method}
            return lambda i: gdcore.fit(Xa, ya, lr=LR * (1 + 1e-6 * i), epochs=ep,
                                        backend="dask", **kw)

        def timed_fit(Xa, ya, key):
            call = fitter(Xa, ya)
            t0 = time.perf_counter()
            first, graphs = cl.passes(lambda: call(0))  # warm-up (imports on the workers)
            out[key] = {"first_call_s": time.perf_counter() - t0, "graphs_per_fit": graphs,
                        **_fit_summary(first, d)}
            out[key]["timing"] = measure(call, repeats=repeats, warmup=0)
            out[key]["raw_pass"] = measure(lambda i: _raw_pass(Xa, ya), repeats=repeats,
                                           warmup=1)
            out[key]["task_stream"] = _task_stream(client, lambda: call(0))

        timed_fit(X, y, "not_persisted")

        t0 = time.perf_counter()
        Xp, yp = client.persist([X, y])
        wait([Xp, yp])
        out["persist_s"] = time.perf_counter() - t0
        timed_fit(Xp, yp, "persisted")

        # method="direct": one distributed pass per epoch; a few epochs on the persisted data
        direct = fitter(Xp, yp, "direct", direct_epochs)
        fitter(Xp, yp, "direct", 1)(0)  # warm-up
        res, graphs = cl.passes(lambda: direct(0))
        out["direct"] = {"epochs": direct_epochs, "graphs_per_fit": graphs,
                         "timing": measure(direct, repeats=max(2, repeats // 2), warmup=0),
                         **_fit_summary(res, d)}
        out["client_peak_rss"] = peak_rss_bytes()
        return out
    finally:
        cl.close()


# -- out of core ----------------------------------------------------------------------------

class _MemorySampler:
    """Background threads sampling the workers' RSS while the fits run.

    One thread asks the workers themselves (``client.run``: RSS and status, so a
    pause shows); the other reads every child process of this one with psutil
    (the worker processes by pid, so a worker restarted by its nanny appears as a
    new pid), and this process's own RSS.
    """

    def __init__(self, client, every=0.05, run_every=0.25):
        import psutil

        self.client, self.every, self.run_every = client, every, run_every
        self.me = psutil.Process()
        self.by_worker = {}  # address -> max rss (client.run)
        self.statuses = {}  # address -> set of statuses seen
        self.by_pid = {}  # pid -> max rss (psutil)
        self.skip = set()
        self.self_max = 0
        self.samples = {"client_run": 0, "psutil": 0}
        self.errors = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run_loop, daemon=True),
                        threading.Thread(target=self._psutil_loop, daemon=True)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def _run_loop(self):
        def probe(dask_worker):
            import psutil

            return psutil.Process().memory_info().rss, str(dask_worker.status.name)

        while not self.stop.is_set():
            try:
                for addr, (rss, status) in self.client.run(probe, on_error="return").items():
                    self.by_worker[addr] = max(self.by_worker.get(addr, 0), rss)
                    self.statuses.setdefault(addr, set()).add(status)
                self.samples["client_run"] += 1
            except Exception as exc:  # a worker restarting: note it, sample again
                if len(self.errors) < 5:
                    self.errors.append(f"{type(exc).__name__}: {exc}")
            self.stop.wait(self.run_every)

    def _psutil_loop(self):
        import psutil

        while not self.stop.is_set():
            try:
                self.self_max = max(self.self_max, self.me.memory_info().rss)
                for p in self.me.children(recursive=True):
                    try:
                        if p.pid in self.skip:
                            continue
                        if p.pid not in self.by_pid and any(
                                "resource_tracker" in a for a in p.cmdline()):
                            self.skip.add(p.pid)  # multiprocessing's helper, not a worker
                            continue
                        rss = p.memory_info().rss
                    except psutil.Error:
                        continue
                    self.by_pid[p.pid] = max(self.by_pid.get(p.pid, 0), rss)
                self.samples["psutil"] += 1
            except psutil.Error:
                pass
            self.stop.wait(self.every)


def _out_of_core(n, d, chunk_rows, epochs, repeats, memory_limit, backend="dask") -> dict:
    import gdcore
    from dask.utils import parse_bytes

    limit = parse_bytes(memory_limit)
    cl = _Cluster(memory_limit=memory_limit)
    try:
        client = cl.client

        def pid(dask_worker):
            import os

            return os.getpid()

        def maxrss():
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux

        def spilled(dask_worker):
            data = dask_worker.data
            total = getattr(data, "spilled_total", None)
            return None if total is None else {"memory": int(total.memory),
                                               "disk": int(total.disk)}

        pids_before = client.run(pid)
        X, y = _dask_data(n, d, chunk_rows)
        out = {"versions": _cluster_versions(), "cluster_start_s": cl.start_s,
               "x_nbytes": X.nbytes, "y_nbytes": y.nbytes, "chunks": len(X.chunks[0]),
               "chunk_nbytes": chunk_rows * d * 4, "memory_limit": limit, "workers": WORKERS,
               "data_over_worker_memory": X.nbytes / (WORKERS * limit),
               "client_rss_before": rss_bytes()}
        gc.collect()

        def call(i):
            return gdcore.fit(X, y, lr=LR * (1 + 1e-6 * i), epochs=epochs, backend="dask")

        with _MemorySampler(client) as mem:
            t0 = time.perf_counter()
            first, graphs = cl.passes(lambda: call(0))
            out["first_call_s"] = time.perf_counter() - t0
            timing = measure(call, repeats=repeats, warmup=0)
        out.update(_fit_summary(first, d), timing=timing, graphs_per_fit=graphs)
        pids_after = client.run(pid)
        out["workers_restarted"] = sorted(set(pids_before.values()) - set(pids_after.values()))
        out["worker_ru_maxrss"] = client.run(maxrss)  # since each (current) worker started
        out["worker_rss_sampled_max"] = mem.by_worker
        out["worker_statuses_seen"] = {a: sorted(s) for a, s in mem.statuses.items()}
        # every worker process seen (restarted ones too), by pid
        out["worker_pid_rss_max"] = {str(p): r for p, r in mem.by_pid.items()}
        out["client_rss_sampled_max"] = mem.self_max
        out["client_peak_rss"] = peak_rss_bytes()  # scheduler, nannies, client: all in here
        out["samples"] = mem.samples
        out["sampler_errors"] = mem.errors
        out["spilled"] = client.run(spilled)
        return out
    finally:
        cl.close()


# -- the table -----------------------------------------------------------------------------

def _mib(b):
    return f"{b / MiB:,.0f} MiB"


def report(results: list[dict], quick: bool, out_dir=None) -> dict:
    rows, notes = [], []
    by = {}
    for res in results:
        task = res["task"]
        key = task["part"] + (f"_{task['method']}" if task["part"] == "inmem" else "")
        by[key] = res
    ok = {k: r for k, r in by.items() if r.get("ok")}
    gram_t = ok["inmem_gram"]["timing"]["median_s"] if "inmem_gram" in ok else None
    direct_t = ok["inmem_direct"]["timing"]["median_s"] if "inmem_direct" in ok else None

    def ratios(t):
        r = t / gram_t if gram_t else None
        extra = f"/ numpy direct {t / direct_t:.3g}x" if direct_t else "/ numpy direct -"
        return r, extra

    for m in ("direct", "gram"):
        res = by.get(f"inmem_{m}")
        if res is None:
            continue
        name = f"in-memory fit {m}"
        if not res.get("ok"):
            rows.append(failed_row(name, res))
            continue
        t = res["timing"]
        r, _ = ratios(t["median_s"])
        bits = [f"baseline: numpy X in the worker ({_mib(res['nbytes'])} X+y)",
                f"{t['median_s'] / EPOCHS * 1e3:.2f} ms/epoch all-in",
                f"{res['status']}, max|w - w_true| {res['max_abs_err']:.1e}"]
        rows.append(row(name, "numpy", t, r, "; ".join(bits), part="inmem", method=m,
                        status=res["status"], max_abs_err=res["max_abs_err"]))

    res = by.get("dask_local")
    if res is not None and not res.get("ok"):
        rows.append(failed_row("LocalCluster fit", res))
    elif res is not None:
        for key, label, how in (
                ("not_persisted", "fit, X NOT persisted",
                 "X, y regenerated on the workers in every call (out-of-core style)"),
                ("persisted", "fit, X persisted",
                 f"X, y in the workers' memory (persist took {res['persist_s']:.2f} s)")):
            sub = res[key]
            t = sub["timing"]
            r, vs_direct = ratios(t["median_s"])
            raw = sub["raw_pass"]["median_s"]
            ts = sub["task_stream"]
            bits = [how, vs_direct,
                    f"bare dask.compute of the 3 reductions {raw * 1e3:.0f} ms "
                    f"(fit = {t['median_s'] / raw:.2f}x it)",
                    f"{sub['graphs_per_fit']} graph(s)/fit, {ts['tasks']} tasks, workers busy "
                    f"{ts['worker_compute_s']:.2f} s",
                    f"{sub['status']} ({sub['method_used']}), max|w - w_true| "
                    f"{sub['max_abs_err']:.1e}"]
            rows.append(row(label, "dask", t, r, "; ".join(bits), part="dask_local",
                            persisted=key == "persisted", raw_pass_s=raw,
                            graphs_per_fit=sub["graphs_per_fit"], status=sub["status"],
                            max_abs_err=sub["max_abs_err"], first_call_s=sub["first_call_s"]))
        sub = res["direct"]
        t, k = sub["timing"], sub["epochs"]
        per_epoch = t["median_s"] / k
        est = per_epoch * EPOCHS
        bits = [f"ONLY {k} epochs (not {EPOCHS}), X persisted: {per_epoch * 1e3:.0f} ms/epoch, "
                f"{sub['graphs_per_fit']} graphs/fit",
                f"x{EPOCHS // k} = {est:.1f} s for {EPOCHS} epochs = "
                + (f"{est / gram_t:,.0f}x numpy gram, " if gram_t else "")
                + (f"{est / direct_t:.1f}x numpy direct" if direct_t else ""),
                f"{sub['status']}"]
        rows.append(row(f"fit method=direct ({k} ep)", "dask", t, None, "; ".join(bits),
                        part="dask_local", method="direct", epochs=k, per_epoch_s=per_epoch,
                        graphs_per_fit=sub["graphs_per_fit"]))
        notes.append(f"LocalCluster: {WORKERS} worker processes x 1 thread, started in "
                     f"{res['cluster_start_s']:.1f} s; X {res['task']['n']:,} x "
                     f"{res['task']['d']} float32 in {res['chunks']} row chunks of "
                     f"{res['task']['chunk_rows']:,} (dask.array.random.default_rng({SEED}): "
                     "other numbers than the numpy baseline's, same distribution and w_true); "
                     f"first (warm-up) fit {res['not_persisted']['first_call_s']:.2f} s")

    res = by.get("out_of_core")
    if res is not None and not res.get("ok"):
        rows.append(failed_row("out-of-core fit", res))
    elif res is not None:
        t = res["timing"]
        limit, nw = res["memory_limit"], res["workers"]
        peaks = res["worker_ru_maxrss"]
        sampled = res["worker_rss_sampled_max"]
        by_pid = res["worker_pid_rss_max"]
        scale = None
        if gram_t and "inmem_gram" in ok:
            scale = ok["inmem_gram"]["task"]["n"] / res["task"]["n"]
        bits = [f"X {_mib(res['x_nbytes'])} never persisted over {nw} x {_mib(limit)} = "
                f"{res['data_over_worker_memory']:.2f}x worker memory",
                f"peak RSS per worker {', '.join(_mib(v) for v in peaks.values())} "
                f"(ru_maxrss; sampled {', '.join(_mib(v) for v in sampled.values())})",
                f"client process peak {_mib(res['client_peak_rss'])}",
                f"{res['status']}, max|w - w_true| {res['max_abs_err']:.1e}",
                f"restarts {len(res['workers_restarted'])}"]
        if scale:
            bits.insert(1, f"{t['median_s'] * scale / gram_t:.2f}x numpy gram per row")
        rows.append(row("out-of-core fit", "dask", t, None, "; ".join(bits), part="out_of_core",
                        data_over_worker_memory=res["data_over_worker_memory"],
                        worker_peak_rss=peaks, worker_rss_sampled_max=sampled,
                        client_peak_rss=res["client_peak_rss"], status=res["status"],
                        max_abs_err=res["max_abs_err"], first_call_s=res["first_call_s"]))
        spilled = [s["disk"] for s in res["spilled"].values() if s]
        statuses = sorted({s for v in res["worker_statuses_seen"].values() for s in v})
        notes.append(
            f"out of core: X {res['task']['n']:,} x {res['task']['d']} float32 "
            f"({_mib(res['x_nbytes'])}, y {_mib(res['y_nbytes'])}) in {res['chunks']} chunks "
            f"of {_mib(res['chunk_nbytes'])}, LocalCluster({nw} workers, memory_limit="
            f"{res['task']['memory_limit']}); first fit {res['first_call_s']:.2f} s, "
            f"{res['graphs_per_fit']} graph(s)/fit; worker statuses seen {statuses}; "
            f"spilled to disk {_mib(sum(spilled)) if spilled else '-'}; psutil max RSS of the "
            f"worker pids {', '.join(_mib(v) for v in by_pid.values())}; client process RSS "
            f"{_mib(res['client_rss_before'] or 0)} before the fits, sampled max "
            f"{_mib(res['client_rss_sampled_max'])} (it holds the scheduler and nannies; "
            f"{res['samples']['client_run']} client.run / {res['samples']['psutil']} psutil "
            "samples)")
    notes.append(f"every fit: lr={LR} (x (1 + 1e-6 i) per call), {EPOCHS} epochs, float32 data, "
                 f"y = X @ w_true + {NOISE} * noise; medians after one untimed warm-up call")
    notes.append("dask default method = the Gram path: ONE distributed pass (X^T X, X^T y, "
                 "y^T y in float64), then every epoch locally on the d x d result")
    return {"title": TITLE, "ratio": RATIO, "rows": rows, "notes": notes}
