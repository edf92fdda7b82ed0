"""Figure A.8: an LSTM trained per sample with truncated BPTT also learns better from smoother
data (MNIST). The paper tests each LSTM streamed in its own training order, so every arm sees a
different test stream whose order is built from the test labels; the same nets are also tested
on one common random-order stream, which carries no label information, as a claim of its own."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

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
#: Every LSTM tested on the same random-order stream: no order built from test labels.
LSTM_COMMON_STREAM = {"model": "lstm", "test_mode": "random"}
#: Line style per test stream, so the two test modes are never pooled into one curve.
TEST_STREAM_STYLE = {"same": "-", "random": "--"}
SMOOTHEST_FIRST = ["repeat-10", "repeat-5", "repeat-3", "repeat-1"]


def draw(frame: pd.DataFrame, ctx: plots.Context) -> tuple[Figure, str]:
    fig = new_figure(8.6, 3.5)
    axes = fig.subplots(1, 2)
    frame = frame.assign(test_mode=frame["test_mode"].fillna("same")
                         if "test_mode" in frame.columns else "same")
    conds: list[str] = []
    for ax, metric in zip(axes, ("test_mse", "test_acc"), strict=True):
        conds = plots.curves_by(ax, frame, "condition", metric, ctx, condition_color,
                                style_of=lambda r: TEST_STREAM_STYLE.get(str(r["test_mode"]),
                                                                         ":"),
                                extra_keys=["test_mode"]) or conds
        style_axes(ax, metric)
    panel_title(axes[0], "", "LSTM test error")
    panel_title(axes[1], "", "LSTM test accuracy")
    modes = set(frame["test_mode"])
    extra = [Line2D([], [], color="#4D4D4D", ls=style, label=label)
             for mode, style, label in (("same", "-", "tested in its training order"),
                                        ("random", "--", "tested on one random-order stream"))
             if mode in modes]
    condition_legend(fig, conds, extra)
    caption = ("Figure A.8. An LSTM trained per sample with truncated BPTT (10 items) on MNIST, "
               "per training order; solid: tested streamed in its own training order (each "
               "order a different test stream, built from the test labels), dashed: every net "
               "tested on one common random-order stream (no label information)."
               + prose.hidden_note(frame) + " " + prose.caption_curves(ctx, frame))
    return fig, caption


UNIT = FigureUnit(
    id="figA8",
    paper_ref="A.8",
    drawings=(Drawing("figA8", "Figure A.8: LSTM and smoothness", draw),),
    claims=(Claim("lstm-smoothness-helps", "LSTM (BPTT): smoother training data gives lower "
                  "error (tested streamed in its training order: each arm on its own test "
                  "stream, ordered by the test labels).", "figA8",
                  chain("condition", SMOOTHEST_FIRST, **LSTM_STREAMED), source="A.8",
                  statement="LSTM (BPTT): smoother training data gives lower error."),
            Claim("lstm-smoothness-helps-common-stream", "As above, with every arm tested on "
                  "the same random-order test stream (no order built from test labels).",
                  "figA8", chain("condition", SMOOTHEST_FIRST, **LSTM_COMMON_STREAM),
                  source="A.8 (common test stream)", headline="lstm-smoothness-helps")),
    quick=LSTM_QUICK,
    claim_order=6,
)
