"""Figure A.3: with cross-entropy loss, feedforward nets order the same way as in Fig 2A."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from smoothlearn.claims import Claim, chain
from smoothlearn.figures.fig2 import FEEDFORWARD, FF_ORDER
from smoothlearn.figures.plotting import plots, prose
from smoothlearn.figures.plotting.style import condition_legend, new_figure, panel_title
from smoothlearn.figures.unit import MNIST_QUICK, Drawing, FigureUnit


def early_late_figure(frame: pd.DataFrame, ctx: plots.Context, metric: str,
                      what: str) -> tuple[Figure, str]:
    """Early and late panels per training order (Figs A.3, A.6)."""
    fig = new_figure(9.0, 3.5)
    ax_e, ax_l = fig.subplots(1, 2)
    conds = plots.early_late(ax_e, ax_l, frame, metric, ctx)
    panel_title(ax_e, "", "Early in training")
    panel_title(ax_l, "", "Later in training")
    condition_legend(fig, conds, plots.exhaustion_handle(ctx, frame))
    caption = (f"{what} on MNIST, per training order; left: the first "
               f"{plots.EARLY_PANEL:.0%} of training, right: the rest. "
               + prose.caption_curves(ctx, frame))
    return fig, caption


def draw(frame: pd.DataFrame, ctx: plots.Context) -> tuple[Figure, str]:
    return early_late_figure(frame, ctx, "test_ce", "Figure A.3. Test error (cross-entropy) "
                             "of feedforward nets trained with cross-entropy loss")


UNIT = FigureUnit(
    id="figA3",
    paper_ref="A.3",
    drawings=(Drawing("figA3", "Figure A.3: cross-entropy loss", draw, exhaustion=True),),
    claims=(Claim("ce-ff-order", "Cross-entropy loss gives the same feedforward ordering: "
                  "repeat-1 < random < repeat-3 < repeat-5 (test CE).", "figA3",
                  chain("condition", FF_ORDER, **FEEDFORWARD), metric="test_ce",
                  source="A.3"),),
    quick=MNIST_QUICK,
    claim_order=1,
)
