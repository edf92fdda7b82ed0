"""Figure A.8: an LSTM trained per sample with truncated BPTT also learns better from smoother
data (MNIST, tested streamed in its training order)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from smoothlearn.claims import Claim, chain
from smoothlearn.figures.plotting import plots, prose
from smoothlearn.figures.plotting.style import (
    condition_color,
    condition_legend,
    new_figure,
    panel_title,
    style_axes,
)
from smoothlearn.figures.unit import LSTM_QUICK, Drawing, FigureUnit

LSTM_STREAMED = {"model": "lstm", "test_mode": "same"}


def draw(frame: pd.DataFrame, ctx: plots.Context) -> tuple[Figure, str]:
    fig = new_figure(8.6, 3.5)
    axes = fig.subplots(1, 2)
    conds: list[str] = []
    for ax, metric in zip(axes, ("test_mse", "test_acc"), strict=True):
        conds = plots.curves_by(ax, frame, "condition", metric, ctx, condition_color) or conds
        style_axes(ax, metric)
    panel_title(axes[0], "", "LSTM test error")
    panel_title(axes[1], "", "LSTM test accuracy")
    condition_legend(fig, conds)
    caption = ("Figure A.8. An LSTM trained per sample with truncated BPTT (10 items) on MNIST, "
               "per training order, tested streamed in its training order."
               + prose.hidden_note(frame) + " " + prose.caption_curves(ctx, frame))
    return fig, caption


UNIT = FigureUnit(
    id="figA8",
    paper_ref="A.8",
    drawings=(Drawing("figA8", "Figure A.8: LSTM and smoothness", draw),),
    claims=(Claim("lstm-smoothness-helps", "LSTM (BPTT): smoother training data gives lower "
                  "error (tested streamed in its training order).", "figA8",
                  chain("condition", ["repeat-10", "repeat-5", "repeat-3", "repeat-1"],
                        **LSTM_STREAMED), source="A.8"),),
    quick=LSTM_QUICK,
    claim_order=6,
)
