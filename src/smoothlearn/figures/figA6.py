"""Figure A.6: mini-batches of 16 learn fastest from repeat-1 early, and from repeat-16
(= the batch size) late."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from smoothlearn.claims import Claim, beats
from smoothlearn.figures.figA3 import early_late_figure
from smoothlearn.figures.plotting import plots
from smoothlearn.figures.unit import MINIBATCH_QUICK, Drawing, FigureUnit

_MB = {"model": "minibatch-feedforward"}


def draw(frame: pd.DataFrame, ctx: plots.Context) -> tuple[Figure, str]:
    return early_late_figure(frame, ctx, "test_mse", "Figure A.6. Test error (MSE) of "
                             "mini-batch training (batch 16)")


UNIT = FigureUnit(
    id="figA6",
    paper_ref="A.6",
    drawings=(Drawing("figA6", "Figure A.6: mini-batches, early and late", draw,
                      exhaustion=True),),
    claims=(
        Claim("minibatch-early", "Mini-batches of 16, early in training: repeat-1 learns "
              "fastest.", "figA6",
              tuple(beats({**_MB, "condition": "repeat-1"}, {**_MB, "condition": c},
                          f"repeat-1 < {c}")
                    for c in ("random", "repeat-5", "repeat-10", "repeat-16", "repeat-24")),
              stage="early", source="A.6 left"),
        Claim("minibatch-late", "Mini-batches of 16, late in training: repeat-16 (= batch "
              "size) beats repeat-10 and repeat-24.", "figA6",
              (beats({**_MB, "condition": "repeat-16"}, {**_MB, "condition": "repeat-10"},
                     "repeat-16 < repeat-10"),
               beats({**_MB, "condition": "repeat-16"}, {**_MB, "condition": "repeat-24"},
                     "repeat-16 < repeat-24")), source="A.6 right"),
    ),
    quick=MINIBATCH_QUICK,
    claim_order=4,
)
