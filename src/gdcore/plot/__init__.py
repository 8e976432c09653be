"""Pictures of the learning-rate study: data, fits, loss curves, sweeps, paths, GIFs.

The only module of gdcore that imports matplotlib; ``import gdcore`` does not
import it, ``import gdcore.plot`` does.  Figures are built as
:class:`matplotlib.figure.Figure` objects, never through ``pyplot``: nothing
is shown, no global figure state is kept, and everything works without a
display (the Agg renderer).  Every function returns the figure it drew on and
takes ``ax=`` to draw into an axes of your own.

Results of every backend are accepted: weights and histories are copied to
the host (numpy float64) for drawing.

Conventions shared by every picture:

* the loss is shown as the gap ``L - L*`` to the least-squares optimum on a
  log scale, clipped below at a floor of a few units of rounding of the run's
  dtype (a converged run's gap is zero or even negative at rounding level);
* the closed-form prediction is drawn dashed on top of the measured curve
  (mini-batch SGD runs have none: they are drawn measured only);
* the regimes use one colour each: monotone (green), oscillating (orange),
  divergent (red);
* a divergent run is drawn up to the epoch it was stopped at (its prediction
  carries on climbing).
"""

try:
    import matplotlib  # noqa: F401  (every submodule draws with it)
except ImportError:  # pragma: no cover - exercised only without matplotlib
    raise ImportError(
        'gdcore.plot needs matplotlib (and pillow for GIFs): pip install "gdcore[plot]"'
    ) from None

from gdcore.plot._animate import animate
from gdcore.plot._common import REGIME_COLORS  # noqa: F401  (the regime colours, for reuse)
from gdcore.plot._curvature import edge_of_stability, model_sweep
from gdcore.plot._linear import data, fit, loss_curves, trajectory
from gdcore.plot._study import lr_find, stability_map, sweep

__all__ = ["animate", "data", "edge_of_stability", "fit", "loss_curves", "lr_find",
           "model_sweep", "stability_map", "sweep", "trajectory"]
