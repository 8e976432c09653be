"""gdcore's benchmark suite: ``python -m benchmarks [--quick] [--only NAME ...] [--out PATH]``.

Benchmarks (one module each, see ``benchmarks/README.md``):

* ``seed_fit``   -- the seed problem, one lr: the blog's torch loop vs ``gdcore.fit``
* ``sweep_1000`` -- 1,000 learning rates: the blog's loop once per lr vs ``gdcore.sweep``
* ``large``      -- 1,000,000 x 64: the direct path vs the memory-bandwidth floor, memory
* ``scaling``    -- ``sweep`` time against n and against the number of lrs K
* ``mlp_sweep``  -- a 1-100-1 tanh MLP, 64 lrs x 500 epochs: a loop of ``fit(model=)`` vs one
  ``sweep(model=)``
* ``dask``       -- ``fit(backend="dask")`` on a LocalCluster vs in-memory numpy, and out of
  core (module ``dask_scale.py``)

Each module has ``plan(quick, repeats)`` (the tasks, one worker process each),
``work(**task)`` (runs inside the worker) and ``report(results, quick, out_dir)``
(the table rows).  Importing this package imports no array library.
"""

import sys

__all__ = ["BENCHMARKS"]

BENCHMARKS = ("seed_fit", "sweep_1000", "large", "scaling", "mlp_sweep", "dask")

# The entry point and the worker import ``benchmarks.<name>``.  The ``dask`` benchmark lives in
# ``dask_scale.py`` (a ``dask.py`` here would shadow the library for any script run from this
# folder), so it is registered under its benchmark name; importing it imports no array library.
from benchmarks import dask_scale as _dask_scale  # noqa: E402

sys.modules[__name__ + ".dask"] = _dask_scale
