"""Figure A.12: the Fig 3 autoencoders at another learning rate and on a second
multi-timescale dataset: learning curves and selectivity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from smoothlearn.figures.fig3 import selectivity_claims, selectivity_figure
from smoothlearn.figures.plotting import plots
from smoothlearn.figures.unit import AUTOENCODER_QUICK, Drawing, FigureUnit


def draw_curves(frame: pd.DataFrame, ctx: plots.Context) -> tuple[Figure, str]:
    return plots.model_curves(frame, ctx, "Figure A.12 (learning curves). The autoencoders at "
                              "another learning rate and on a second multi-timescale dataset.")


def draw_selectivity(inputs: Mapping[str, Any]) -> tuple[Figure, str]:
    return selectivity_figure(inputs, "Figure A.12 (selectivity). ")


UNIT = FigureUnit(
    id="figA12",
    paper_ref="A.12",
    drawings=(Drawing("figA12", "Figure A.12: other learning rate and dataset", draw_curves),
              Drawing("figA12-selectivity", "Figure A.12: selectivity at another lr and "
                      "dataset", draw_selectivity, source="analysis")),
    analysis_claims=selectivity_claims,
    quick=AUTOENCODER_QUICK,
    claim_order=10,
)
