"""Figure A.7: on a stream whose consecutive items share no features, leaky memory (with or
without resets) does not help."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from smoothlearn.claims import Claim, beats
from smoothlearn.figures.plotting import plots, prose
from smoothlearn.figures.plotting.style import MODEL_COLORS, new_figure, panel_title, style_axes
from smoothlearn.figures.unit import SYNTHETIC_QUICK, Drawing, FigureUnit

VARIANT_COLORS = {
    "feedforward": MODEL_COLORS["feedforward"],
    "leaky": MODEL_COLORS["leaky"],
    "leaky + reset at labels": MODEL_COLORS["leaky-reset"],
    "leaky + reset every 2": "#CC79A7",
    "leaky + reset every 3": "#E69F00",
}


def _variant(row: pd.Series) -> str:
    reset = str(row["reset"])
    if row["model"] == "feedforward":
        return "feedforward"
    if reset == "never":
        return "leaky"
    if reset == "label":
        return "leaky + reset at labels"
    return f"leaky + reset {reset.replace('-', ' ')}"


def draw(frame: pd.DataFrame, ctx: plots.Context) -> tuple[Figure, str]:
    frame = frame.copy()
    ff_reset = (frame["model"] == "feedforward") & (frame["reset"] != "never")
    frame = frame[~ff_reset]
    frame["variant"] = frame.apply(_variant, axis=1)
    tasks = [t for t in ("reconstruct", "classify") if t in set(frame["task"])]
    fig = new_figure(3.6 * len(tasks) + 1.9, 3.6)
    axes = fig.subplots(1, len(tasks), squeeze=False)[0]
    variants: list[str] = []
    for ax, task in zip(axes, tasks, strict=True):
        sub = frame[frame["task"] == task]
        got = plots.curves_by(ax, sub, "variant", "test_mse", ctx,
                              lambda v: VARIANT_COLORS.get(v, "#7F7F7F"))
        variants += [v for v in got if v not in variants]
        style_axes(ax, "test_mse")
        panel_title(ax, "", "Reconstruction (16-4-16)" if task == "reconstruct"
                    else "Classification (16-8-4)")
    handles = [Line2D([], [], color=VARIANT_COLORS.get(v, "#7F7F7F"), lw=2.2, label=v)
               for v in variants]
    fig.legend(handles=handles, loc="outside right upper", title="Model", title_fontsize=9)
    caption = ("Figure A.7. On a stream whose consecutive items share no features (A.7), "
               "leaky memory, with or without resets (at category boundaries or every 2 or 3 "
               "items), does not help: test error (MSE) for reconstruction (left) and "
               "classification (right). Feedforward nets are unaffected by resets and shown "
               "once. " + prose.caption_curves(ctx, frame))
    return fig, caption


UNIT = FigureUnit(
    id="figA7",
    paper_ref="A.7",
    drawings=(Drawing("figA7", "Figure A.7: no shared features", draw),),
    claims=(
        Claim("A7-classify-no-leaky-benefit", "A.7 stream (no shared features): leaky memory, "
              "with or without reset, is worse than no memory (classification).", "figA7",
              tuple(beats({"model": "feedforward"}, {"model": m, "reset": r}, f"FF < {m} {r}")
                    for m, r in (("leaky", "never"), ("leaky-reset", "label"),
                                 ("leaky", "every-2"), ("leaky", "every-3"))),
              where={"task": "classify"}, source="A.7 right"),
        Claim("A7-reconstruct-no-leaky-benefit", "A.7 stream: leaky memory, with or without "
              "reset, is worse than no memory (reconstruction).", "figA7",
              tuple(beats({"model": "feedforward", "reset": "never"},
                          {"model": "leaky", "reset": r}, f"FF < leaky {r}")
                    for r in ("never", "every-2", "every-3")),
              where={"task": "reconstruct"}, source="A.7 left"),
    ),
    quick=SYNTHETIC_QUICK,
    claim_order=5,
)
