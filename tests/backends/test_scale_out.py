"""Scale out: dask on a LocalCluster, and jax data parallelism over simulated devices."""

import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import gdcore
import gdcore.io as gdcore_io
from conftest import require

# distributed's own sockets and deprecations are not ours to fix
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture(scope="module")
def client():
    require("dask")
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=":0", memory_limit="1GiB",
    )
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _chunked(n=20_000, chunk=3_000, seed=0):
    import dask.array as da

    X, y = gdcore.make_linear(n=n, weights=(3.0, -1.0, 2.0), seed=seed)
    return X, y, da.from_array(X, chunks=(chunk, -1)), da.from_array(y, chunks=chunk)


def test_dask_fit_and_sweep_equal_numpy(client):
    X, y, Xd, yd = _chunked()
    assert Xd.numblocks[0] > 5
    for lr in (0.1, 0.7, 1.2):
        a = gdcore.fit(X, y, lr=lr, epochs=150)
        b = gdcore.fit(Xd, yd, lr=lr, epochs=150, backend="dask")
        assert b.backend == "dask" and b.method == "gram" and isinstance(b.weights, np.ndarray)
        assert (a.status, a.converged_epoch, a.diverged_epoch) == (b.status, b.converged_epoch, b.diverged_epoch)
        n = len(a.losses) - (a.status == "diverged")
        np.testing.assert_allclose(b.losses[:n], a.losses[:n], rtol=1e-9)
    lrs = np.geomspace(0.01, 1.5, 15)
    sa = gdcore.sweep(X, y, lrs)
    sb = gdcore.sweep(Xd, yd, lrs, backend="auto")
    assert sa.status == sb.status and sa.converged_epoch == sb.converged_epoch
    np.testing.assert_allclose(gdcore.stability(Xd).eigenvalues, gdcore.stability(X).eigenvalues, rtol=1e-12)


def test_dask_direct_path_still_works_and_agrees(client):
    X, y, Xd, yd = _chunked(n=6_000, chunk=2_000)
    a = gdcore.fit(X, y, lr=0.5, epochs=8)
    b = gdcore.fit(Xd, yd, lr=0.5, epochs=8, backend="dask", method="direct")
    assert b.method == "direct"
    np.testing.assert_allclose(b.losses, a.losses, rtol=1e-12)
    np.testing.assert_allclose(b.weights, a.weights, rtol=1e-12)


def test_dask_bad_values_are_found_with_their_position(client):
    import dask.array as da

    X, y, _, yd = _chunked(n=6_000, chunk=2_000)
    X = X.copy()
    X[4321, 1] = np.inf
    with pytest.raises(ValueError, match="row 4321, column 1"):
        gdcore.fit(da.from_array(X, chunks=(2_000, -1)), yd, lr=0.1, backend="dask")


def test_csv_directory_round_trip(client, tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = gdcore.make_linear(n=3_000, weights=(1.5, -2.0, 0.5), seed=8)
    for i, rows in enumerate(np.array_split(np.arange(3_000), 4)):
        pd.DataFrame({"a": X[rows, 0], "b": X[rows, 1], "target": y[rows]}).to_csv(
            tmp_path / f"part-{i}.csv", index=False)
    Xd, yd = gdcore_io.read(tmp_path, target="target", blocksize=20_000)
    assert Xd.numblocks[0] > 1 and Xd.shape == (3_000, 3)
    np.testing.assert_allclose(Xd.compute(), X, rtol=1e-15)
    r = gdcore.fit(Xd, yd, lr=0.5, backend="dask", epochs=400)
    np.testing.assert_allclose(r.weights, gdcore.fit(X, y, lr=0.5, epochs=400).weights, rtol=1e-9)
    with pytest.raises(ValueError, match="column 'price' not found"):
        gdcore_io.read(tmp_path, target="price")


def test_killed_worker_never_gives_a_wrong_answer():
    """Kill a worker while the distributed Gram pass runs: dask recomputes, or we get an error."""
    require("dask")
    import dask
    import dask.array as da

    require("dask")
    distributed = pytest.importorskip("distributed")

    X, y = gdcore.make_linear(n=40_000, weights=(3.0, -1.0, 2.0), seed=1)
    want = gdcore.fit(X, y, lr=0.6, epochs=100)

    def slow_block(block):
        time.sleep(0.25)  # makes the pass last ~2 s, so the kill lands inside it
        return block

    Xd = da.from_array(X, chunks=(2_000, -1)).map_blocks(slow_block, dtype=X.dtype)
    yd = da.from_array(y, chunks=2_000)
    outcome = {}

    def run():
        try:
            outcome["result"] = gdcore.fit(Xd, yd, lr=0.6, epochs=100, backend="dask")
        except Exception as exc:  # a clear error is acceptable, a wrong answer is not
            outcome["error"] = exc

    # its own cluster: the crash must not leave the other tests short of a worker
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client, dask.config.set(scheduler=client):
        t = threading.Thread(target=run)
        t.start()
        time.sleep(0.8)
        victim = list(client.scheduler_info()["workers"])[0]
        client.run(os._exit, 1, workers=[victim], on_error="ignore")  # a hard crash
        t.join(timeout=120)
        assert not t.is_alive()
    if "result" in outcome:
        r = outcome["result"]
        np.testing.assert_allclose(r.weights, want.weights, rtol=1e-9)
        np.testing.assert_allclose(r.losses, want.losses, rtol=1e-9)
    else:
        assert "worker" in str(outcome["error"]).lower() or "killed" in type(outcome["error"]).__name__.lower()


def test_jax_four_simulated_devices_equal_one():
    require("jax")
    code = textwrap.dedent("""
        import numpy as np, jax, gdcore
        assert len(jax.devices()) == 4, jax.devices()
        X, y = gdcore.make_linear(n=1001, weights=(3.0, -1.0, 2.0), seed=0)  # 1001: not a multiple of 4
        for dtype in ("float32", "float64"):
            for lr in (0.1, 0.7, 1.01):
                one = gdcore.fit(X, y, lr=lr, backend="jax", dtype=dtype)
                four = gdcore.fit(X, y, lr=lr, backend="jax", dtype=dtype, devices=4)
                assert (one.status, one.converged_epoch) == (four.status, four.converged_epoch), lr
                tol = 1e-4 if dtype == "float32" else 1e-12
                n = len(one.losses) - (one.status == "diverged")
                np.testing.assert_allclose(four.losses[:n], one.losses[:n], rtol=tol)
                if one.status != "diverged":
                    np.testing.assert_allclose(four.weights, one.weights, rtol=tol)
        s1 = gdcore.sweep(X, y, [0.1, 0.5, 0.9], backend="jax", method="direct", momentums=[0.0, 0.5])
        s4 = gdcore.sweep(X, y, [0.1, 0.5, 0.9], backend="jax", method="direct", momentums=[0.0, 0.5],
                          devices="all")
        np.testing.assert_allclose(s4.losses, s1.losses, rtol=1e-12)
        print("ok")
    """)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok"


def test_devices_on_other_backends_is_a_clear_error():
    X, y = gdcore.make_linear(seed=0)
    with pytest.raises(ValueError, match="devices= is for backend='jax'"):
        gdcore.fit(X, y, lr=0.1, devices=2)


def test_cli_reads_a_folder_of_csv_files_with_dask(tmp_path):
    require("dask")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(3):
        x = rng.uniform(-1, 1, 400)
        pd.DataFrame({"x": x, "y": 3 * x + 2 + rng.uniform(0, 1, 400)}).to_csv(folder / f"p{i}.csv", index=False)
    cmd = [sys.executable, "-m", "gdcore.cli", "fit", str(folder), "--target", "y", "--lr", "0.7",
           "--no-progress"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "1200 rows" in out.stdout and "converged" in out.stdout
    bad = subprocess.run(cmd[:5] + ["--target", "price"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "column 'price' not found" in bad.stderr


def test_dask_input_with_an_in_memory_backend_is_refused():
    require("dask")
    import dask.array as da

    X, y = gdcore.make_linear(n=100, seed=0)
    with pytest.raises(TypeError, match="backend='dask'"):
        gdcore.fit(da.from_array(X), da.from_array(y), lr=0.1, backend="numpy")
