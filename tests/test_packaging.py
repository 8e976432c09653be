"""Import hygiene and the jax compile cache."""

import subprocess
import sys

import gdcore
from conftest import require


def test_import_gdcore_leaves_torch_and_jax_unimported():
    code = (
        "import sys, gdcore\n"
        "X, y = gdcore.make_linear(seed=0)\n"
        "gdcore.fit(X, y, lr=0.7); gdcore.stability(X)\n"
        "bad = [m for m in ('torch', 'jax', 'array_api_strict', 'matplotlib', 'bokeh') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_core_imports_no_array_library():
    import pathlib

    core = pathlib.Path(gdcore.__file__).parent / "core"
    for f in core.glob("*.py"):
        text = f.read_text()
        for lib in ("numpy", "torch", "jax"):
            assert f"import {lib}" not in text and f"from {lib}" not in text, (f.name, lib)


def test_jax_does_not_recompile_for_a_new_learning_rate():
    require("jax")
    from gdcore.backends._jax import trace_count

    X, y = gdcore.make_linear(n=37, seed=5)  # a shape no other test uses
    gdcore.fit(X, y, lr=0.1, backend="jax", epochs=17)
    before = trace_count()
    for lr in (0.2, 0.5, 0.7, 1.01):
        gdcore.fit(X, y, lr=lr, backend="jax", epochs=17)
    assert trace_count() == before
    gdcore.fit(X, y, lr=0.1, backend="jax", epochs=18)  # a new buffer length does compile
    assert trace_count() == before + 1


def test_jax_float64_does_not_flip_the_global_flag():
    require("jax")
    import jax

    X, y = gdcore.make_linear(seed=0)
    r = gdcore.fit(X, y, lr=0.7, backend="jax", dtype="float64")
    assert r.dtype == "float64" and str(r.weights.dtype) == "float64"
    assert jax.config.jax_enable_x64 is False
