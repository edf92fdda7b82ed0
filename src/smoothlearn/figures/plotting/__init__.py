"""What every figure module draws with, below the figures and knowing nothing of the report.

:mod:`~smoothlearn.figures.plotting.style` (colours, labels, the matplotlib look),
:mod:`~smoothlearn.figures.plotting.plots` (curve and bar helpers every figure shares),
:mod:`~smoothlearn.figures.plotting.prose` (caption pieces read from the data) and
:mod:`~smoothlearn.figures.plotting.context` (:class:`Context`: smoothing and the exhaustion
marker a figure function is given). Figures are drawn on ``Figure`` objects (Agg canvas), never
``pyplot``, so drawing needs no display and no global state.
"""

from smoothlearn.figures.plotting.context import Context

__all__ = ["Context"]
