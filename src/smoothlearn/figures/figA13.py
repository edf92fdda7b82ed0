"""Figure A.13: the memory + reset autoencoders reconstruct the slow-changing row better than
the fast-changing one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from smoothlearn import unmixing
from smoothlearn.figures.fig3 import SETTING
from smoothlearn.figures.plotting import plots
from smoothlearn.figures.plotting.style import (
    FEATURE_COLORS,
    SHORT_LABELS,
    ae_order,
    new_figure,
    panel_title,
)
from smoothlearn.figures.unit import AUTOENCODER_QUICK, Drawing, FigureUnit


def draw(inputs: Mapping[str, Any]) -> tuple[Figure, str]:
    table = unmixing.a13_table(inputs["table"])
    panels = plots.panels_of(table, SETTING)
    fig = new_figure(5.6 * len(panels) + 1.6, 3.8)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (name, part) in zip(axes, panels, strict=True):
        part = part.set_index("model").reindex(ae_order(part["model"]))
        series = [(f"{f} row", FEATURE_COLORS[f], part[f"err_{f}"].to_numpy(),
                   part[f"sd_{f}"].to_numpy()) for f in ("fast", "medium", "slow")]
        labels = [SHORT_LABELS.get(m, m) for m in part.index]
        plots.grouped_bars(ax, labels, series)
        ax.tick_params(axis="x", labelsize=8)
        panel_title(ax, "", name or "Per-row reconstruction error")
    axes[0].set_ylabel("Test error of the row (MSE)")
    handles = [Patch(color=FEATURE_COLORS[f], label=f"{f}-changing row")
               for f in ("fast", "medium", "slow")]
    fig.legend(handles=handles, loc="outside right upper", title="Feature", title_fontsize=9)
    n = int(table["n"].max()) if len(table) else 0
    caption = ("Figure A.13. Per-feature test error: the reconstruction error of the fast "
               "(every item), medium and slow rows of the held-out multi-timescale stream at "
               f"the end of training, per autoencoder. Mean over {n} seeds; error bars: SD of "
               "10,000 bootstrap means. The paper predicts slow < fast for the two memory + "
               "reset models.")
    return fig, caption


def feature_claims(table: pd.DataFrame, _curves: pd.DataFrame) -> list[dict[str, Any]]:
    return unmixing.feature_error_claims(table)


UNIT = FigureUnit(
    id="figA13",
    paper_ref="A.13",
    drawings=(Drawing("figA13", "Figure A.13: per-feature error", draw, source="analysis"),),
    analysis_claims=feature_claims,
    quick=AUTOENCODER_QUICK,
    claim_order=11,
)
