"""Figure A.5: mini-batches of 16 and per-sample leaky memory + reset respond differently to
repetition (MNIST)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from smoothlearn.figures.plotting import plots, prose
from smoothlearn.figures.plotting.style import (
    MODEL_LABELS,
    condition_color,
    condition_legend,
    new_figure,
    panel_title,
    style_axes,
)
from smoothlearn.figures.unit import MINIBATCH_QUICK, Drawing, FigureUnit


def draw(frame: pd.DataFrame, ctx: plots.Context) -> tuple[Figure, str]:
    panels = [(m, MODEL_LABELS[m]) for m in ("minibatch-feedforward", "leaky-reset")
              if m in set(frame["model"])]
    fig = new_figure(3.4 * len(panels) + 1.6, 5.8)
    axes = fig.subplots(2, len(panels), sharey="row", squeeze=False)
    conds: list[str] = []
    for col, (model, title) in enumerate(panels):
        sub = frame[frame["model"] == model]
        for row, metric in enumerate(("test_mse", "test_acc")):
            ax = axes[row, col]
            conds = plots.curves_by(ax, sub, "condition", metric, ctx, condition_color) or conds
            style_axes(ax, metric if col == 0 else None, xlabel=row == 1)
            plots.exhaustion_marker(ax, ctx)
            if row == 0:
                panel_title(ax, "", title)
    condition_legend(fig, conds, plots.exhaustion_handle(ctx, frame))
    caption = ("Figure A.5. Mini-batch training (batches of 16 consecutive items, left) and "
               "per-sample leaky memory + reset (memory off at test, right) respond "
               "differently to repetition: test error (top) and accuracy (bottom) on MNIST"
               f"{prose.in_brackets(prose.net_text(frame))}. "
               + prose.caption_curves(ctx, frame))
    return fig, caption


UNIT = FigureUnit(
    id="figA5",
    paper_ref="A.5",
    drawings=(Drawing("figA5", "Figure A.5: mini-batches vs leaky memory", draw,
                      exhaustion=True),),
    quick=MINIBATCH_QUICK,
)
