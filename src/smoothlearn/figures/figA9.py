"""Figure A.9: tested in their training order, the LSTM is best and leaky + reset second,
ahead of the feedforward net (MNIST, repeat-5 and repeat-10)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from smoothlearn.claims import Claim, beats
from smoothlearn.figures.fig2 import (
    AVERAGED,
    CONTROL_VERDICTS,
    FEEDFORWARD,
    PAPER,
    averaging_control,
    averaging_text,
    without_control,
)
from smoothlearn.figures.figA8 import LSTM_STREAMED
from smoothlearn.figures.plotting import plots, prose
from smoothlearn.figures.plotting.style import (
    model_color,
    model_legend,
    new_figure,
    panel_title,
    style_axes,
)
from smoothlearn.figures.unit import LSTM_QUICK, Drawing, FigureUnit

_ORDER = ["lstm", "leaky-reset", "feedforward"]


def _in_training_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs this figure shows: memory nets streamed in their training order, feedforward
    nets with each item alone; any other test stream of the same nets (e.g. A.8's common
    random-order stream) is left out rather than pooled into their curves."""
    if "test_mode" not in frame.columns:
        return frame
    mode = frame["test_mode"]
    return frame[mode.isna() | mode.isin(["same", "off"])]


def _vs_averaging(memory: str) -> Claim:
    """Leaky + reset against the feedforward net with the same averaging at test."""
    statement = ("Tested in their training order (label resets: reads test labels), leaky + "
                 f"reset beats {averaging_text(memory)} (repeat-5 and repeat-10).")
    return Claim(f"lr-beats-ff-{memory}-averaging-a9", statement + CONTROL_VERDICTS, "figA9",
                 tuple(beats({**PAPER.reset, "condition": n},
                             {**averaging_control(memory), "condition": n},
                             f"LR < FF+avg ({n})") for n in ("repeat-5", "repeat-10")),
                 source="A.9 (test-time averaging control)", statement=statement)


def draw(frame: pd.DataFrame, ctx: plots.Context) -> tuple[Figure, str]:
    frame = _in_training_order(frame)
    levels = [c for c in ("repeat-5", "repeat-10") if c in set(frame["condition"])]
    frame = without_control(frame)  # the control is a claim here, not a curve
    fig = new_figure(3.6 * len(levels) + 2.0, 3.6)
    axes = fig.subplots(1, len(levels), sharey=True, squeeze=False)[0]
    models = sorted(frame["model"].unique(),
                    key=lambda m: _ORDER.index(m) if m in _ORDER else 9)
    for ax, level in zip(axes, levels, strict=True):
        for cond, style in ((level, "-"), ("repeat-1", "--")):
            sub = frame[frame["condition"] == cond]
            plots.curves_by(ax, sub, "model", "test_mse", ctx, model_color,
                            style_of=lambda _r, s=style: s)
        style_axes(ax, "test_mse" if ax is axes[0] else None)
        panel_title(ax, "", f"Trained and tested as {level}")
    extra = [Line2D([], [], color="#4D4D4D", ls="-", label="trained as the panel's order"),
             Line2D([], [], color="#4D4D4D", ls="--", label="trained as repeat-1 (reference)")]
    model_legend(fig, models, extra)
    caption = ("Figure A.9. LSTM, leaky memory + reset and feedforward nets on MNIST, trained "
               "on repeat-5 (left) or repeat-10 (right); the LSTM and leaky + reset are tested "
               "streamed in their training order (leaky + reset with label resets: reads test "
               "labels), feedforward with each item alone. Dashed: the same models trained as "
               "repeat-1." + prose.hidden_note(frame) + " " + prose.caption_curves(ctx, frame))
    return fig, caption


UNIT = FigureUnit(
    id="figA9",
    paper_ref="A.9",
    drawings=(Drawing("figA9", "Figure A.9: LSTM vs leaky + reset vs feedforward", draw),),
    claims=(Claim("lstm-best-in-training-order", "Tested in their training order, the LSTM is "
                  "best and leaky + reset second, ahead of the feedforward net.", "figA9",
                  tuple(c for n in ("repeat-5", "repeat-10") for c in (
                      beats({**LSTM_STREAMED, "condition": n}, {**PAPER.reset, "condition": n},
                            f"LSTM < LR ({n})"),
                      beats({**PAPER.reset, "condition": n}, {**FEEDFORWARD, "condition": n},
                            f"LR < FF ({n})"))), source="A.9"),
            *(_vs_averaging(m) for m in AVERAGED)),
    quick=LSTM_QUICK,
    claim_order=7,
)
